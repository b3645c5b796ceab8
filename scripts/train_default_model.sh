#!/usr/bin/env bash
# Re-create the U-Net model set that AloNet bundled from 2026-11-26 to 2026-12-03 (later
# candidates/unet-2026-11-26, now in git history) from the shared AloNet annotations. The
# bundled default since 2026-12-03 is made by scripts/train_candidates.sh (sets B and D, then J
# and K for its scalp networks; see the model card).
#
#   scripts/train_default_model.sh [WORK_DIR] [ANNOTATIONS_DIR]
#
# Renders phantom photographs from the real annotation geometry (patient-level
# splits: train / val / test; the training split twice, with two appearance
# seeds), adds procedural phantoms, converts them, trains the three networks,
# evaluates on the phantom test split and copies the best checkpoints into
# WORK_DIR/model (copy that folder to src/alonet/model/weights/default/).
#
# Time: an estimated 12-15 minutes on one H100 GPU with 16 CPU cores (rendering and
# augmentation are CPU-bound); on a 2-core CPU without a GPU expect about
# 11 hours (bfloat16 autocast is used there). An interrupted run continues
# where it stopped: rerun the script.
#
# Environment: WORKERS (data-loading and rendering processes, default: CPU
# count), BATCH (default 32).
set -euo pipefail
# -h / --help: print the comment block above and stop.
case "${1:-}" in -h|--help) sed -n '2,/^[^#]/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
WORK=${1:-default-model-work}
MASKS=${2:-../shared/data/alonet-annotations}
CPUS=$(python3 -c "import os; print(len(os.sched_getaffinity(0)))")
WORKERS=${WORKERS:-$CPUS}
BATCH=${BATCH:-32}
mkdir -p "$WORK" && cd "$WORK"
case "$MASKS" in /*) ;; *) MASKS="$OLDPWD/$MASKS" ;; esac

render() {  # name, phantom options...
  local name=$1; shift
  [ -d "ph_$name" ] || alonet phantom -o "ph_$name" --workers "$WORKERS" "$@"
  [ -d "ds_$name" ] || alonet convert --from "ph_$name" -o "ds_$name" --workers "$WORKERS"
}
render train  --masks "$MASKS" --split train --seed 101
render train2 --masks "$MASKS" --split train --seed 111
render val    --masks "$MASKS" --split val   --seed 202
render test   --masks "$MASKS" --split test  --seed 303 --preview
render proc   --patients 500 --seed 404

precision=()
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || precision=(--cpu-bf16)
train() {  # task, options...
  local task=$1; shift
  local resume=()
  [ -f "run/$task/last.pt" ] && resume=(--resume)
  alonet train ds_train ds_train2 ds_proc -o run --task "$task" --val-fraction 0.1 --half --seed 0 \
    --width 16 --batch "$BATCH" --workers "$WORKERS" --quiet "${precision[@]}" "${resume[@]}" "$@"
}
train scalp-midline  --input-size 160 --epochs 30 --lr-step 12
train scalp-temporal --input-size 160 --epochs 30 --lr-step 12
train hairloss       --input-size 256 --epochs 24 --lr-step 10

mkdir -p model
for task in scalp-midline scalp-temporal hairloss; do
  cp "run/$task/best.json" "model/$task.json"
  cp "run/$task/best.safetensors" "model/$task.safetensors"
done
alonet evaluate ds_test --model model -o eval_test --overwrite
alonet evaluate ds_val --model model -o eval_val --overwrite
