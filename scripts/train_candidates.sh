#!/usr/bin/env bash
# Train the issue-14 model sets with the pretrained EfficientNet-Lite0 encoder on CPU (or GPU).
#
#   scripts/train_candidates.sh [WORK_DIR] [ANNOTATIONS_DIR] [REAL_HEADS_DIR]
#
# B effl0-realstyle  the bundled default of 2026-12-03 and the start of every later one
#                    (candidates/README.md; its scalp-temporal network is in default-2026-12-05 and effl0-enc001):
#                    phantoms of the current renderer (train split, seed 101), every other
#                    training photograph given the colour and light of a real head photograph
#                    (--style-images: unlabelled, ../shared/data/real-heads-cc-by, CC BY 4.0);
#                    scalp networks from the ImageNet weights, 160 px, 45 (midline) and 30
#                    (temporal) epochs of 200 photographs; the hair-loss network continues
#                    effl0-early's (a candidate until 2026-12-04, taken from git history,
#                    commit 64b7e3a) for 750 steps of 8 at 256 px.
#                    This is the exact recipe of those networks: on 2 CPU cores the three
#                    jobs took about 1.7 hours side by side (two at a time, one thread each).
#                    Set B's midline and hair-loss networks were trained on the renderer as
#                    it was before facial hair and zoomed-out framing (commit 72f076a); its
#                    temporal network on the current renderer (2 threads, about 45 minutes).
#                    The bundled networks' later fine-tunes (D, J, K) used the current renderer.
#                    Rerunning B today trains all three on the current renderer.
# A effl0-phantoms   the same encoder and sizes, the same phantoms, no real-photograph style,
#                    hair loss from the ImageNet weights (ablation; ONLY=A).
# C effl0-realpseudo the bundled default with its hair-loss network fine-tuned on phantoms plus
#                    real head photographs labelled by the default itself (top/back views of the
#                    publisher's train/valid splits, confident photographs only, specks of loss
#                    dropped: scripts/dev/pseudo_label.py), 3:1, 300 steps, the last epoch kept
#                    (the validation set holds such pseudo-labels, which favour the start);
#                    about 50 minutes on one thread (ONLY=C).
# D effl0-diffuse    the bundled hair-loss network since the sixth session: effl0-realstyle's hair-loss
#                    network fine-tuned on phantoms plus phantoms of diffuse loss (many fine
#                    hairs over the skin of every loss region: scripts/dev/render_diffuse.py),
#                    3:1, 300 steps, best epoch; about 22 minutes on 2 threads (ONLY=D).
# G effl0-shaved     the default's hair-loss network fine-tuned on ordinary, diffuse-loss and
#                    cropped/shaved phantoms (scripts/dev/render_shaved.py), 3:1:1, --relight 0.5,
#                    300 steps from the bundled default, last epoch (ONLY=G; about 18 minutes
#                    of training on 2 threads). Measured in the eighth session and NOT shipped:
#                    shaved-set bias +7.15 -> -0.45, but a little worse on the other phantom
#                    sets and it under-calls real bare crowns (candidates/README.md).
# H effl0-glossy     the default's hair-loss network fine-tuned on ordinary, diffuse-loss and
#                    glossy-bald-skin phantoms (scripts/dev/render_glossy.py: a broad soft
#                    highlight on bald skin, still loss), 3:1:1, 300 steps from the bundled
#                    default, last epoch (ONLY=H; aimed at real bald tops read as hair-bearing,
#                    seen with scripts/dev/norwood_check.py).
# I effl0-front      the default with its midline scalp network fine-tuned on ordinary phantoms
#                    plus phantoms whose top views are shot from in front and above (forehead,
#                    brows, eyes: scripts/dev/render_front_top.py), 1 : 1, 300 steps (ONLY=I).
# J effl0-realcut    the default of 2026-12-05 (candidates/default-2026-12-05): the 2026-12-04 default with its
#                    midline scalp network fine-tuned on ordinary phantoms plus 32 real back
#                    views whose targets stop above the nape (their hand-drawn bottom edge +
#                    CUT_MARGIN px, default 0), 1 : 1, 300 steps, seed 1 (ONLY=J; about 17
#                    minutes of training on 2 threads). The bundled midline network is still this
#                    run's; with seed 0 a first run gave nearly the same numbers.
# K effl0-realside  THE BUNDLED DEFAULT since 2026-12-06: the 2026-12-05 default (set J) with its
#                    temporal scalp network fine-tuned on ordinary phantoms plus 60 real side
#                    views whose targets are that model's own temporal region cut at hand-drawn
#                    limits (a front line at the temple and sideburn, the ear-lobe row:
#                    scripts/dev/real_side_lines.py folder --cut), 1 : 1, 300 steps of 8 at 2e-4,
#                    last epoch, seed 1 (ONLY=K; about 15 minutes of training on 2 threads
#                    alone). With WEIGHTS=2,1 (phantoms twice as often) a second run gave nearly
#                    the same figures (docs/history.md, sixteenth session).
# L effl0-norwood    candidates/effl0-norwood: the default's hair-loss network fine-tuned on
#                    ordinary, diffuse-loss and cropped/shaved phantoms plus real head photographs
#                    labelled by their Norwood level (scripts/dev/real_norwood_pairs.py, learn
#                    part: 62 Norwood-2 top/back/side views with empty hair loss and 24 Norwood
#                    6-7 top views whose whole region is loss), 3 : 1 : 1 : 1, the set G recipe
#                    (300 steps of 8 at 1e-4, last epoch, no relighting), seed 1 (ONLY=L; about
#                    25 minutes on 1 thread with a second run beside it). NO_SHAVED=1 leaves the
#                    shaved phantoms out (3 : 1 : 1) and NEGATIVES_ONLY=1 the Norwood 6-7 tops:
#                    both ablations are in docs/history.md (seventeenth session).
# N fringe CV        not a candidate: a 3-fold cross-validation of set L's recipe plus real Norwood
#                    6-7 back views whose hair loss is the region above a hand-drawn fringe line
#                    (scripts/dev/real_back_fringe.py; 24 sources, folds by source group), 3 : 1 :
#                    1 : 1 : 1, each fold scored on the lines it never saw (ONLY=N; three runs of
#                    about 25 minutes, two side by side). It lowered the held-out hair-loss IoU
#                    (docs/history.md, eighteenth session), so the lines stay a test.
# O effl0-total      measured in the twenty-ninth session and NOT shipped (candidates/README.md: it
#                    trades total loss against shaved heads, and all four runs are worse on the
#                    style-held-out SALT and rank real back views lower): the default's hair-loss network
#                    fine-tuned on ordinary, diffuse-loss and procedural total and near-total loss
#                    phantoms (alonet phantom --pattern total / near_total, 100 patients each,
#                    640 px: whole heads of bald skin with scattered remnant hairs, vellus and
#                    regrowth, all labelled loss), 3 : 1 : 1 : 1, the set L recipe (300 steps of 8
#                    at 1e-4, last epoch), seed 1 (ONLY=O). WITH_SHAVED=1 adds the cropped/shaved
#                    negatives (3 : 1 : 1 : 1 : 1, run effl0-total-shaved); SPARSE=1 renders the
#                    total and near-total patients with remnant hairs in 35 % of them on at most
#                    10 % of the bald skin (the renderer's default: 30 %; scripts/dev/render_diffuse.py
#                    --share 0.35 --max-cover 0.1; run effl0-totalsparse[-shaved]). Aimed at the
#                    total-loss limit of the model card (the default reads such heads 11.7 points low).
#                    CLEAN=1 (thirtieth session, "P" in candidates/README.md, not kept) draws them
#                    as total_test_clean below: remnant hairs also at least 5 % of the head long, no
#                    dark regrowth stubble (run effl0-totalclean[-shaved]).
# Q effl0-darkskin   the default's hair-loss network, set L's recipe, on ordinary, diffuse-loss,
#                    shaved and dark-skin phantoms (scripts/dev/render_dark_skin.py: 150 train-split
#                    patients, Fitzpatrick V and VI only, seed 939), 3 : 1 : 1 : 1, seed 1 (ONLY=Q).
#                    Aimed at the dark-skin under-call scripts/dev/error_by_look.py shows on the test
#                    split (Fitzpatrick V and VI views 3.8-6.4 points off, types II-IV 0.9-1.7).
# R recipe control   not a candidate: set L's recipe on the data the default was last tuned on
#                    (ordinary and diffuse-loss phantoms, 3 : 1), nothing new, seed 1 (ONLY=R). Sets
#                    G, H, L, O, P (O with CLEAN=1) and Q add data to that recipe and are compared
#                    with the default; this run tells what the 300 extra steps do by themselves
#                    (SEED=2 gives a second draw, run effl0-recipe-seed2).
# S effl0-dim        set R with one more augmentation: dim, warm light (brightness times 0.4-0.7,
#                    often warmer) on DIM_P (default 0.3) of the training photographs
#                    (scripts/dev/train_dim.py), seed 1 (ONLY=S; SEED=2 gives effl0-dim-seed2).
#                    Aimed at darker-looking bald skin read as hair on real heads (norwood_check.py
#                    "tone"); compared with R at the same seed on all real sources (no real labels).
# T effl0-enc001-norwood  measured in the thirty-second session and NOT shipped (candidates/README.md:
#                    seed 2 gave a different model, worse than the default on real back views):
#                    effl0-enc001's hair-loss network (its encoder kept close to ImageNet's) with
#                    set L's data and recipe (ordinary, diffuse-loss and shaved phantoms plus the
#                    real Norwood pairs, 3 : 1 : 1 : 1, 300 steps of 8 at 1e-4, last epoch), its
#                    encoder at ENC_SCALE (default 0.01) of the decoder's rate, as effl0-enc001 was
#                    trained; the default's scalp networks; seed 1 (ONLY=T). Aimed at keeping what
#                    effl0-enc001 gains on real bald tops (darker skin too) while the Norwood-2 and
#                    shaved negatives take away its false alarms on full heads of hair.
# Each set ends with an evaluation on the phantom test split (seed 303) and on a
# style-held-out split (test-split patients, one visit each, --style heldout: copper hair,
# black backdrop, low side light -- looks no training set contains).
#
# Resumable: rerun the same command after a stop (a stage is skipped once done, a training
# continues from its last epoch). ONLY="A B" picks the sets (default: B).
set -euo pipefail
# -h / --help: print the comment block above and stop.
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${1:-candidates-work}
MASKS=${2:-../shared/data/alonet-annotations}
REAL=${3:-../shared/data/real-heads-cc-by/photos}
WORKERS=${WORKERS:-$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")}
ONLY=${ONLY:-B}
case "$MASKS" in /*) ;; *) MASKS="$PWD/$MASKS" ;; esac
case "$REAL" in /*) ;; *) REAL="$PWD/$REAL" ;; esac
mkdir -p "$WORK" && cd "$WORK"

render() {  # name, phantom options...
  local name=$1; shift
  [ -d "ph_$name" ] || alonet phantom -o "ph_$name" --workers "$WORKERS" "$@"
  [ -d "ds_$name" ] || alonet convert --from "ph_$name" -o "ds_$name" --workers "$WORKERS"
}
render train        --masks "$MASKS" --split train --seed 101
render test         --masks "$MASKS" --split test  --seed 303
render test_heldout --masks "$MASKS" --split test  --seed 707 --visits 1 --size 640 --style heldout

COMMON=(--batch 8 --epoch-size 200 --val-fraction 0.1 --max-val-images 120 --half --workers 0 --quiet)
train() {  # run task options...  (one thread per job, so two jobs share 2 cores)
  local run=$1 task=$2; shift 2
  local resume=(); [ -f "$run/$task/last.pt" ] && resume=(--resume)
  OMP_NUM_THREADS=${THREADS:-1} alonet train ds_train -o "$run" --task "$task" "${COMMON[@]}" "${resume[@]}" "$@"
}
scalp() {  # run task epochs options...
  local run=$1 task=$2 epochs=$3; shift 3
  train "$run" "$task" --encoder efficientnet-lite0 --depth 4 --width 16 --input-size 160 \
    --lr 5e-4 --epochs "$epochs" --lr-step $(( epochs * 2 / 3 )) "$@"
}
assemble() {  # run -> model set folder run-set (best checkpoint of each task, from run-hl / run-sc)
  local run=$1; mkdir -p "$run-set"
  for task in hairloss scalp-midline scalp-temporal; do
    local from="$run-sc"; [ "$task" = hairloss ] && from="$run-hl"
    cp "$from/$task/best.json" "$run-set/$task.json"
    cp "$from/$task/best.safetensors" "$run-set/$task.safetensors"
  done
  alonet evaluate ds_test --model "$run-set" -o "eval_${run}_test" --overwrite --quiet
  alonet evaluate ds_test_heldout --model "$run-set" -o "eval_${run}_heldout" --overwrite --quiet
}

dev_render() {  # name script options...: phantoms from a scripts/dev renderer, then a dataset
  local name=$1 script=$2; shift 2
  [ -d "ph_$name" ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/$script" -o "ph_$name" --masks "$MASKS" "$@"
  [ -d "ds_$name" ] || alonet convert --from "ph_$name" -o "ds_$name" --workers "$WORKERS"
}
finetune() {  # run "datasets" options...: a resumable hair-loss fine-tune into run-hl
  local run=$1 datasets=$2; shift 2
  local resume=(); [ -f "$run-hl/hairloss/last.pt" ] && resume=(--resume)
  local trainer=(alonet train) script options=()  # TRAINER="script options": a scripts/dev wrapper of `alonet train`
  if [ -n "${TRAINER:-}" ]; then
    read -r -a options <<< "$TRAINER"; script=${options[0]}; options=("${options[@]:1}")
    trainer=(env "PYTHONPATH=$HERE/src" python "$HERE/scripts/dev/$script" "${options[@]}")
  fi
  # shellcheck disable=SC2086  # datasets is a list of folder names
  "${trainer[@]}" $datasets -o "$run-hl" --task hairloss --steps 300 --lr 1e-4 --lr-step 8 --lr-gamma 0.3 \
    --freeze-bn encoder --encoder-lr-scale 0.1 --style-images "$REAL" "${COMMON[@]}" "${resume[@]}" "$@"
}
one_network_set() {  # run task trained base: run-set = base's networks, task's kept one from trained/task
  local run=$1 task=$2 trained=$3 base=$4; mkdir -p "$run-set"
  for other in hairloss scalp-midline scalp-temporal; do
    [ "$other" = "$task" ] || cp "$base/$other.json" "$base/$other.safetensors" "$run-set/"
  done
  cp "$trained/$task/best.json" "$run-set/$task.json"
  cp "$trained/$task/best.safetensors" "$run-set/$task.safetensors"
}
hairloss_set() {  # run scalp-folder: run-set = run-hl's kept hair-loss network + the folder's scalp networks
  one_network_set "$1" hairloss "$1-hl" "$2"
}
evaluate_set() {  # run sets...: evaluate run-set (or the bundled default) on ds_<set> into eval_<run>_<set>
  local run=$1 model="$1-set"; shift
  [ "$run" = default ] && model=default
  for set in "$@"; do
    alonet evaluate "ds_$set" --model "$model" -o "eval_${run}_$set" --overwrite --quiet
  done
}
DEFAULT="$HERE/src/alonet/model/weights/default"
from_history() {  # name commit: a model set that left candidates/, copied out of git history
  local name=$1 commit=$2
  [ -d "$name" ] && return
  mkdir -p "$name.tmp"
  for f in hairloss.json hairloss.safetensors scalp-midline.json scalp-midline.safetensors \
           scalp-temporal.json scalp-temporal.safetensors; do
    git -C "$HERE" show "$commit:candidates/$name/$f" > "$name.tmp/$f"
  done
  mv "$name.tmp" "$name"
}

if [[ " $ONLY " == *" B "* ]]; then
  # Two run folders, so that the jobs running side by side never write the same file.
  # effl0-early left candidates/ on 2026-12-04 (for effl0-gpu, itself in git history since 2026-12-06,
  # commit 7bc2a2e); its files come from git history.
  from_history effl0-early 64b7e3a
  train effl0-realstyle-hl hairloss --init effl0-early --steps 750 --lr 3e-4 \
    --lr-step 20 --lr-gamma 0.3 --freeze-bn encoder --encoder-lr-scale 0.1 --style-images "$REAL" &
  ( scalp effl0-realstyle-sc scalp-midline 45 --style-images "$REAL"
    scalp effl0-realstyle-sc scalp-temporal 30 --style-images "$REAL" ) &
  wait
  assemble effl0-realstyle
fi
if [[ " $ONLY " == *" A "* ]]; then
  train effl0-phantoms-hl hairloss --encoder efficientnet-lite0 --depth 4 --width 16 --input-size 256 \
    --lr 5e-4 --epochs 30 --lr-step 20 &
  ( scalp effl0-phantoms-sc scalp-midline 45; scalp effl0-phantoms-sc scalp-temporal 30 ) &
  wait
  assemble effl0-phantoms
fi
if [[ " $ONLY " == *" C "* ]]; then
  [ -d real_pseudo ] || python "$HERE/scripts/dev/pseudo_label.py" "$(dirname "$REAL")" --model default -o real_pseudo
  [ -d ds_real ] || alonet convert --from real_pseudo -o ds_real --workers "$WORKERS"
  OMP_NUM_THREADS=${THREADS:-1} finetune effl0-realpseudo "ds_train ds_real" --init default --dataset-weights 3,1 --keep last
  hairloss_set effl0-realpseudo "$DEFAULT"
  alonet evaluate ds_test --model effl0-realpseudo-set -o eval_effl0-realpseudo_test --overwrite --quiet
  alonet evaluate ds_test_heldout --model effl0-realpseudo-set -o eval_effl0-realpseudo_heldout --overwrite --quiet
fi
if [[ " $ONLY " == *" D "* ]]; then
  # The default since the sixth session: effl0-realstyle's hair-loss network fine-tuned on the
  # ordinary phantoms plus phantoms of diffuse loss (scripts/dev/render_diffuse.py), 3 : 1.
  # Start from effl0-realstyle (the default before it; a candidate until 2026-12-05, now from git
  # history). About 22 minutes on 2 threads.
  from_history effl0-realstyle a2da662
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  dev_render diffuse_test render_diffuse.py --split test --patients 40 --visits 1 --seed 313
  OMP_NUM_THREADS=${THREADS:-2} finetune effl0-diffuse "ds_train ds_diffuse" --init effl0-realstyle \
    --dataset-weights 3,1
  hairloss_set effl0-diffuse effl0-realstyle
  evaluate_set effl0-diffuse test test_heldout diffuse_test
fi
if [[ " $ONLY " == *" G "* ]]; then
  # The default's hair-loss network fine-tuned on ordinary, diffuse-loss and cropped/shaved
  # phantoms (scripts/dev/render_shaved.py: hard negatives for real failure mode 2), 3 : 1 : 1,
  # with uneven light (--relight 0.5). 300 steps from the bundled default; about 18 minutes on
  # 2 threads. Needs set D's diffuse-loss phantoms (rendered here if missing).
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  dev_render shaved render_shaved.py --split train --patients 150 --visits 1 --seed 919
  OMP_NUM_THREADS=${THREADS:-2} finetune effl0-shaved "ds_train ds_diffuse ds_shaved" --init default \
    --dataset-weights 3,1,1 --relight 0.5 --keep last
  hairloss_set effl0-shaved "$DEFAULT"
fi
if [[ " $ONLY " == *" H "* ]]; then
  # The default's hair-loss network fine-tuned on ordinary, diffuse-loss and glossy-bald-skin
  # phantoms (scripts/dev/render_glossy.py), 3 : 1 : 1. About 15 minutes on 2 threads.
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  dev_render glossy render_glossy.py --split train --patients 150 --visits 1 --seed 929
  OMP_NUM_THREADS=${THREADS:-2} finetune effl0-glossy "ds_train ds_diffuse ds_glossy" --init default \
    --dataset-weights 3,1,1 --keep last
  hairloss_set effl0-glossy "$DEFAULT"
fi
if [[ " $ONLY " == *" I "* ]]; then
  # The default's midline scalp network fine-tuned on ordinary phantoms plus phantoms whose top
  # views are all shot from in front and above (scripts/dev/render_front_top.py: forehead, brows,
  # eyes and nose below the frontal hairline, skin that is not scalp), 1 : 1, 300 steps of 8 at
  # 2e-4, last epoch; the default's temporal and hair-loss networks (ONLY=I). Aimed at real top
  # views whose scalp region runs down the forehead (scripts/dev/norwood_check.py, Norwood 2-3).
  dev_render front render_front_top.py --split train --patients 150 --visits 1 --seed 939
  dev_render front_test render_front_top.py --split test --patients 40 --visits 1 --seed 949
  resume=(); [ -f effl0-front-sc/scalp-midline/last.pt ] && resume=(--resume)
  OMP_NUM_THREADS=${THREADS:-2} alonet train ds_train ds_front -o effl0-front-sc --task scalp-midline \
    --init default --steps 300 --lr 2e-4 --dataset-weights 1,1 --keep last --style-images "$REAL" \
    "${COMMON[@]}" "${resume[@]}"
  one_network_set effl0-front scalp-midline effl0-front-sc "$DEFAULT"
  evaluate_set effl0-front test test_heldout front_test
  evaluate_set default front_test
fi
if [[ " $ONLY " == *" J "* ]]; then
  # The midline scalp network of the 2026-12-04 default (default-2026-12-04, git history dad72a8) fine-tuned
  # on ordinary phantoms plus 32 real back views (the learn part of scripts/dev/real_back_regions.json)
  # whose targets are that model's own scalp region cut CUT_MARGIN px below the hand-drawn bottom
  # edge (real_scalp_regions.py folder --cut: the region stops above the nape, real failure mode
  # 4), 1 : 1, 300 steps of 8 at 2e-4, last epoch; its temporal and hair-loss networks (ONLY=J).
  # The default of 2026-12-05 (candidates/default-2026-12-05) is this set with CUT_MARGIN=0 and SEED=1.
  from_history default-2026-12-04 dad72a8  # a candidate until 2026-12-06
  PREV="$PWD/default-2026-12-04"
  [ -d real_cut ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_scalp_regions.py" folder \
    "$(dirname "$REAL")" --part learn --cut "$PREV" --margin "${CUT_MARGIN:-0}" -o real_cut
  [ -d ds_real_cut ] || alonet convert real_cut/photographs real_cut/scalp real_cut/hairloss \
    --manifest real_cut/manifest.csv -o ds_real_cut
  resume=(); [ -f effl0-realcut-sc/scalp-midline/last.pt ] && resume=(--resume)
  OMP_NUM_THREADS=${THREADS:-2} alonet train ds_train ds_real_cut -o effl0-realcut-sc --task scalp-midline \
    --init "$PREV" --steps 300 --lr 2e-4 --dataset-weights 1,1 --keep last --style-images "$REAL" \
    --seed "${SEED:-1}" "${COMMON[@]}" "${resume[@]}"
  one_network_set effl0-realcut scalp-midline effl0-realcut-sc "$PREV"
  evaluate_set effl0-realcut test test_heldout
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_scalp_regions.py" score "$(dirname "$REAL")" \
    --model "$PREV" --model effl0-realcut-set --part test -o score_realcut
fi
if [[ " $ONLY " == *" K "* ]]; then
  # The temporal scalp network of the 2026-12-05 default (candidates/default-2026-12-05) fine-tuned on
  # ordinary phantoms plus the 60 real side views of the learn part of scripts/dev/real_side_lines.json,
  # whose targets are that model's own temporal region within the hand-drawn limits (the region stops
  # at the temple and sideburn, not on the face, and above the ear lobe), 1 : 1, 300 steps of 8 at
  # 2e-4, last epoch, seed 1; its midline and hair-loss networks (ONLY=K).
  PREV="$HERE/candidates/default-2026-12-05"
  [ -d real_sides_cut ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_side_lines.py" folder \
    "$(dirname "$REAL")" --part learn --cut "$PREV" -o real_sides_cut
  [ -d ds_real_sides ] || alonet convert real_sides_cut/photographs real_sides_cut/scalp \
    real_sides_cut/hairloss --manifest real_sides_cut/manifest.csv -o ds_real_sides
  resume=(); [ -f effl0-realside-sc/scalp-temporal/last.pt ] && resume=(--resume)
  OMP_NUM_THREADS=${THREADS:-2} alonet train ds_train ds_real_sides -o effl0-realside-sc --task scalp-temporal \
    --init "$PREV" --steps 300 --lr 2e-4 --dataset-weights "${WEIGHTS:-1,1}" --keep last \
    --style-images "$REAL" --seed "${SEED:-1}" "${COMMON[@]}" "${resume[@]}"
  one_network_set effl0-realside scalp-temporal effl0-realside-sc "$PREV"
  evaluate_set effl0-realside test test_heldout
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_side_lines.py" score "$(dirname "$REAL")" \
    --model "$PREV" --model effl0-realside-set --part test -o score_realside
fi
norwood_pairs() {  # name [--positives]: real head photographs labelled by their Norwood level, as a dataset
  local name=$1; shift
  [ -d "$name" ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_norwood_pairs.py" "$(dirname "$REAL")" \
    --model "$DEFAULT" --part learn "$@" -o "$name"
  [ -d "ds_$name" ] || alonet convert "$name/photographs" "$name/scalp" "$name/hairloss" \
    --manifest "$name/manifest.csv" -o "ds_$name"
}
if [[ " $ONLY " == *" L "* ]]; then
  # The default's hair-loss network, real Norwood-labelled pairs (see the header), set G's recipe.
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  name=real_norwood_pos; pos=(--positives); [ "${NEGATIVES_ONLY:-0}" = 1 ] && { name=real_norwood; pos=(); }
  norwood_pairs "$name" "${pos[@]}"
  datasets="ds_train ds_diffuse ds_shaved ds_$name" weights=3,1,1,1 run=effl0-norwood
  if [ "${NO_SHAVED:-0}" = 1 ]; then datasets="ds_train ds_diffuse ds_$name" weights=3,1,1 run=effl0-$name; else
    dev_render shaved render_shaved.py --split train --patients 150 --visits 1 --seed 919; fi
  OMP_NUM_THREADS=${THREADS:-2} finetune "$run" "$datasets" --init "$DEFAULT" \
    --dataset-weights "$weights" --keep last --seed "${SEED:-1}"
  hairloss_set "$run" "$DEFAULT"
  evaluate_set "$run" test test_heldout
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/norwood_check.py" "$(dirname "$REAL")" --model "$DEFAULT" \
    --model "$run-set" --part test -o "norwood_$run"
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/norwood_check.py" "$(dirname "$REAL")" --model "$DEFAULT" \
    --model "$run-set" --part test --views left,right --upright "$HERE/scripts/dev/real_side_upright.json" \
    -o "norwood_${run}_sides"
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_back_fringe.py" score "$(dirname "$REAL")" --part all \
    --model "$DEFAULT" --model "$run-set" -o "fringe_$run"
fi
# Total-loss phantoms whose label a person would agree with (remnant hairs few and long, no dark
# regrowth stubble: either one over a whole head reads as cropped or shaved hair).
clean=(--share 0.35 --max-cover 0.1 --min-length 0.05 --no-dark-regrowth)
total_test_clean() {
  [ -d ph_total_test_clean ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/render_diffuse.py" "${clean[@]}" \
    -o ph_total_test_clean --pattern total --patients 40 --seed 11 --size 640
  [ -d ds_total_test_clean ] || alonet convert --from ph_total_test_clean -o ds_total_test_clean --workers "$WORKERS"
}
failure_mode_test_sets() {  # the diffuse-loss, shaved-head and clean total-loss test sets of sets O, Q and R
  dev_render diffuse_test render_diffuse.py --split test --patients 40 --visits 1 --seed 313
  dev_render shaved_test render_shaved.py --split test --patients 40 --visits 1 --seed 323
  total_test_clean
}
if [[ " $ONLY " == *" O "* ]]; then
  # The default's hair-loss network, total and near-total loss phantoms (see the header), set L's recipe.
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  render total        --pattern total      --patients 100 --seed 1011 --size 640
  render near_total   --pattern near_total --patients 100 --seed 1013 --size 640
  render total_test   --pattern total --patients 40 --seed 11 --size 640
  render total_test_heldout --pattern total --patients 40 --seed 11 --size 640 --style heldout
  failure_mode_test_sets
  datasets="ds_train ds_diffuse ds_total ds_near_total" weights=3,1,1,1 run=effl0-total
  if [ "${SPARSE:-0}" = 1 ] || [ "${CLEAN:-0}" = 1 ]; then
    # the same patients, remnant hairs on at most 10 % of bald skin (SPARSE); CLEAN also makes them
    # at least 5 % of the head long and draws no dark regrowth stubble (both read as cropped hair)
    kind=sparse look=(--share 0.35 --max-cover 0.1); [ "${CLEAN:-0}" = 1 ] && kind=clean look=("${clean[@]}")
    for pattern in total near_total; do
      seed=1011; [ "$pattern" = near_total ] && seed=1013
      [ -d "ph_${pattern}_$kind" ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/render_diffuse.py" \
        "${look[@]}" -o "ph_${pattern}_$kind" --pattern "$pattern" --patients 100 --seed "$seed" --size 640
      [ -d "ds_${pattern}_$kind" ] || alonet convert --from "ph_${pattern}_$kind" -o "ds_${pattern}_$kind" \
        --workers "$WORKERS"
    done
    datasets="ds_train ds_diffuse ds_total_$kind ds_near_total_$kind" run=effl0-total$kind
  fi
  if [ "${WITH_SHAVED:-0}" = 1 ]; then
    dev_render shaved render_shaved.py --split train --patients 150 --visits 1 --seed 919
    datasets="$datasets ds_shaved" weights=$weights,1 run=$run-shaved
  fi
  OMP_NUM_THREADS=${THREADS:-2} finetune "$run" "$datasets" --init "$DEFAULT" \
    --dataset-weights "$weights" --keep last --seed "${SEED:-1}"
  hairloss_set "$run" "$DEFAULT"
  evaluate_set "$run" test test_heldout diffuse_test shaved_test total_test total_test_heldout total_test_clean
  [ -f eval_default_total_test_heldout/summary.json ] ||
    evaluate_set default test test_heldout diffuse_test shaved_test total_test total_test_heldout
  [ -f eval_default_total_test_clean/summary.json ] || evaluate_set default total_test_clean
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/norwood_check.py" "$(dirname "$REAL")" --model "$DEFAULT" \
    --model "$run-set" --part test -o "norwood_$run"
fi
if [[ " $ONLY " == *" Q "* ]]; then
  # The default's hair-loss network, dark-skin phantoms added (see the header), set L's recipe.
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  dev_render shaved render_shaved.py --split train --patients 150 --visits 1 --seed 919
  dev_render dark_skin render_dark_skin.py --split train --patients 150 --visits 1 --seed 939
  failure_mode_test_sets
  dev_render dark_skin_test render_dark_skin.py --split test --patients 40 --visits 1 --seed 343
  # the test split again, for its manifest's look columns (same seed: the same images)
  [ -d ph_test_looks ] || alonet phantom -o ph_test_looks --masks "$MASKS" --split test --seed 303 --workers "$WORKERS"
  run=effl0-darkskin
  OMP_NUM_THREADS=${THREADS:-2} finetune "$run" "ds_train ds_diffuse ds_shaved ds_dark_skin" --init "$DEFAULT" \
    --dataset-weights 3,1,1,1 --keep last --seed "${SEED:-1}"
  hairloss_set "$run" "$DEFAULT"
  evaluate_set "$run" test test_heldout diffuse_test shaved_test dark_skin_test total_test_clean
  for set in test diffuse_test shaved_test dark_skin_test total_test_clean; do
    [ -f "eval_default_$set/summary.json" ] || evaluate_set default "$set"
  done
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/error_by_look.py" ph_test_looks eval_default_test \
    "eval_${run}_test" -o "by_look_${run}_test"
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/error_by_look.py" ph_dark_skin_test eval_default_dark_skin_test \
    "eval_${run}_dark_skin_test" -o "by_look_${run}_dark_skin_test"
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/norwood_check.py" "$(dirname "$REAL")" --model "$DEFAULT" \
    --model "$run-set" --part test -o "norwood_$run"
fi
if [[ " $ONLY " == *" T "* ]]; then
  # effl0-enc001's hair-loss network, set L's data and recipe, its encoder at ENC_SCALE (see the header).
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  dev_render shaved render_shaved.py --split train --patients 150 --visits 1 --seed 919
  norwood_pairs real_norwood_pos --positives
  failure_mode_test_sets
  run=effl0-enc001-norwood; [ -n "${SEED:-}" ] && [ "$SEED" != 1 ] && run=$run-seed$SEED
  OMP_NUM_THREADS=${THREADS:-2} finetune "$run" "ds_train ds_diffuse ds_shaved ds_real_norwood_pos" \
    --init "$HERE/candidates/effl0-enc001" --dataset-weights 3,1,1,1 --keep last --seed "${SEED:-1}" \
    --encoder-lr-scale "${ENC_SCALE:-0.01}"
  hairloss_set "$run" "$DEFAULT"
  evaluate_set "$run" test test_heldout diffuse_test shaved_test
  for set in test test_heldout diffuse_test shaved_test; do
    [ -f "eval_default_$set/summary.json" ] || evaluate_set default "$set"
  done
  for part in test all; do
    PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/norwood_check.py" "$(dirname "$REAL")" --model "$DEFAULT" \
      --model "$HERE/candidates/effl0-norwood" --model "$HERE/candidates/effl0-enc001" --model "$run-set" \
      --part "$part" -o "norwood_${run}_$part"
  done
fi
if [[ " $ONLY " == *" R "* ]]; then
  # Set L's recipe with no new data (see the header): the control for the fine-tunes above.
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  failure_mode_test_sets
  run=effl0-recipe; [ "${SEED:-1}" = 1 ] || run=effl0-recipe-seed$SEED
  OMP_NUM_THREADS=${THREADS:-2} finetune "$run" "ds_train ds_diffuse" --init "$DEFAULT" \
    --dataset-weights 3,1 --keep last --seed "${SEED:-1}"
  hairloss_set "$run" "$DEFAULT"
  evaluate_set "$run" test test_heldout diffuse_test shaved_test total_test_clean
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/norwood_check.py" "$(dirname "$REAL")" --model "$DEFAULT" \
    --model "$run-set" --part test -o "norwood_$run"
fi
if [[ " $ONLY " == *" S "* ]]; then
  # Set R's recipe and data plus dim, warm light (see the header); compared with R at the same seed.
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  failure_mode_test_sets
  dev_render dark_skin_test render_dark_skin.py --split test --patients 40 --visits 1 --seed 343
  run=effl0-dim control=effl0-recipe
  [ "${SEED:-1}" = 1 ] || { run=effl0-dim-seed$SEED; control=effl0-recipe-seed$SEED; }
  TRAINER="train_dim.py --dim-p ${DIM_P:-0.3}" OMP_NUM_THREADS=${THREADS:-2} finetune "$run" "ds_train ds_diffuse" \
    --init "$DEFAULT" --dataset-weights 3,1 --keep last --seed "${SEED:-1}"
  hairloss_set "$run" "$DEFAULT"
  evaluate_set "$run" test test_heldout diffuse_test shaved_test total_test_clean dark_skin_test
  controls=(); [ -d "$control-set" ] && controls=(--model "$control-set")
  PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/norwood_check.py" "$(dirname "$REAL")" --model "$DEFAULT" \
    "${controls[@]}" --model "$run-set" --part all -o "norwood_$run"
fi
if [[ " $ONLY " == *" N "* ]]; then
  # Set L's data and recipe plus the fringe-line pairs of two folds; scored on the third.
  dev_render diffuse render_diffuse.py --split train --patients 150 --visits 1 --seed 909
  dev_render shaved render_shaved.py --split train --patients 150 --visits 1 --seed 919
  [ -d real_norwood_pos ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_norwood_pairs.py" \
    "$(dirname "$REAL")" --model "$DEFAULT" --part learn --positives -o real_norwood_pos
  [ -d ds_real_norwood_pos ] || alonet convert real_norwood_pos/photographs real_norwood_pos/scalp \
    real_norwood_pos/hairloss --manifest real_norwood_pos/manifest.csv -o ds_real_norwood_pos
  for fold in 0 1 2; do
    [ -d "fringe_no$fold" ] || PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_back_fringe.py" folder \
      "$(dirname "$REAL")" --fold "$fold" --model "$DEFAULT" -o "fringe_no$fold"
    [ -d "ds_fringe_no$fold" ] || alonet convert "fringe_no$fold/photographs" "fringe_no$fold/scalp" \
      "fringe_no$fold/hairloss" --manifest "fringe_no$fold/manifest.csv" -o "ds_fringe_no$fold"
    OMP_NUM_THREADS=${THREADS:-2} finetune "fringe$fold" \
      "ds_train ds_diffuse ds_shaved ds_real_norwood_pos ds_fringe_no$fold" --init "$DEFAULT" \
      --dataset-weights 3,1,1,1,1 --keep last --seed "${SEED:-1}"
    hairloss_set "fringe$fold" "$DEFAULT"
    PYTHONPATH="$HERE/src" python "$HERE/scripts/dev/real_back_fringe.py" score "$(dirname "$REAL")" \
      --fold "$fold" --model "$DEFAULT" --model "fringe$fold-set" -o "score_fringe$fold"
  done
fi
if [[ " $ONLY " == *" D "* || " $ONLY " == *" G "* || " $ONLY " == *" H "* ]]; then
  dev_render diffuse_test render_diffuse.py --split test --patients 40 --visits 1 --seed 313
  dev_render shaved_test render_shaved.py --split test --patients 40 --visits 1 --seed 323
  evaluate_set default diffuse_test shaved_test
  if [[ " $ONLY " == *" G "* ]]; then evaluate_set effl0-shaved test test_heldout diffuse_test shaved_test; fi
  if [[ " $ONLY " == *" H "* ]]; then evaluate_set effl0-glossy test test_heldout diffuse_test shaved_test; fi
fi
alonet evaluate ds_test --model default -o eval_default_test --overwrite --quiet
alonet evaluate ds_test_heldout --model default -o eval_default_heldout --overwrite --quiet
