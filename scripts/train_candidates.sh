#!/usr/bin/env bash
# Train the issue-14 candidate model sets (pretrained encoder for real photographs) on CPU or GPU.
#
#   scripts/train_candidates.sh [WORK_DIR] [ANNOTATIONS_DIR] [REAL_HEADS_DIR]
#
# Candidates (each a complete model set; networks not trained are carried over from the
# bundled default, see `alonet train --init`):
#   A effl0-phantoms      EfficientNet-Lite0 (ImageNet) encoder U-Nets, phantoms of the renderer
#                         as it is, no real-photograph data
#   B effl0-realstyle     the same encoder, phantoms rendered twice (two appearance seeds) and
#                         every other training photograph given the colour and light of a real head
#                         photograph (--style-images, unlabelled, ../shared/data/real-heads-cc-by)
# Each candidate ends with an evaluation on the phantom test split (seed 303) and on a
# style-held-out test split (same patients, --style heldout: copper hair, black backdrop,
# low side light -- looks no training set contains).
#
# Resumable: rerun the same command after a stop (every stage is skipped once done, every
# training continues from its last epoch). Time on 2 CPU cores: roughly 2 CPU-hours per
# network at the epoch counts below (EPOCHS, EPOCH_SIZE to shorten); on a GPU, minutes.
set -euo pipefail
WORK=${1:-candidates-work}
MASKS=${2:-../shared/data/alonet-annotations}
REAL=${3:-../shared/data/real-heads-cc-by/photos}
WORKERS=${WORKERS:-$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")}
EPOCHS=${EPOCHS:-40}
EPOCH_SIZE=${EPOCH_SIZE:-400}
BATCH=${BATCH:-8}
ONLY=${ONLY:-A B}
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
render test_heldout --masks "$MASKS" --split test  --seed 303 --style heldout

train() {  # run, datasets..., -- options...
  local run=$1; shift
  local data=(); while [ "$1" != "--" ]; do data+=("$1"); shift; done; shift
  local task; task=$(printf '%s\n' "$@" | grep -A1 -- '--task' | tail -1)
  local resume=(); [ -f "$run/$task/last.pt" ] && resume=(--resume)
  alonet train "${data[@]}" -o "$run" --encoder efficientnet-lite0 --depth 4 --width 16 --batch "$BATCH" \
    --lr 5e-4 --epochs "$EPOCHS" --lr-step $(( EPOCHS * 3 / 8 )) --epoch-size "$EPOCH_SIZE" \
    --val-fraction 0.1 --max-val-images 120 --half --workers "$WORKERS" --quiet "${resume[@]}" "$@"
}
finish() {  # run: carry untrained tasks over from the default, evaluate on both test splits
  local run=$1
  python3 -c "from alonet.train.loop import carry_over; import sys; carry_over(sys.argv[1], 'default')" "$run"
  alonet evaluate ds_test --model "$run" -o "eval_${run}_test" --overwrite --quiet
  alonet evaluate ds_test_heldout --model "$run" -o "eval_${run}_heldout" --overwrite --quiet
}

if [[ " $ONLY " == *" A "* ]]; then
  train effl0-phantoms ds_train -- --task hairloss --input-size 256
  train effl0-phantoms ds_train -- --task scalp-midline --input-size 160
  train effl0-phantoms ds_train -- --task scalp-temporal --input-size 160
  finish effl0-phantoms
fi
if [[ " $ONLY " == *" B "* ]]; then
  render train2 --masks "$MASKS" --split train --seed 111
  for task in hairloss scalp-midline scalp-temporal; do
    size=160; [ "$task" = hairloss ] && size=256
    train effl0-realstyle ds_train ds_train2 -- --task "$task" --input-size "$size" --style-images "$REAL"
  done
  finish effl0-realstyle
fi
alonet evaluate ds_test --model default -o eval_default_test --overwrite --quiet
alonet evaluate ds_test_heldout --model default -o eval_default_heldout --overwrite --quiet
