#!/usr/bin/env bash
# Re-create AloNet's bundled default model from the shared AloNet annotations.
#
#   scripts/train_default_model.sh [WORK_DIR] [ANNOTATIONS_DIR]
#
# Renders phantom photographs from the real annotation geometry (patient-level
# splits: train / val / test), adds procedural phantoms, converts them, trains
# the three networks on CPU (bfloat16 autocast; about 70 minutes on 2 cores),
# evaluates on the phantom test split and copies the best checkpoints into
# WORK_DIR/model (copy that folder to src/alonet/model/weights/default/).
# An interrupted run continues where it stopped: rerun the script.
set -euo pipefail
WORK=${1:-default-model-work}
MASKS=${2:-../shared/data/alonet-annotations}
mkdir -p "$WORK" && cd "$WORK"
case "$MASKS" in /*) ;; *) MASKS="$OLDPWD/$MASKS" ;; esac

render() {  # name, phantom options...
  local name=$1; shift
  [ -d "ph_$name" ] || alonet phantom -o "ph_$name" --workers 2 "$@"
  [ -d "ds_$name" ] || alonet convert --from "ph_$name" -o "ds_$name"
}
render train --masks "$MASKS" --split train --seed 101
render val   --masks "$MASKS" --split val   --seed 202
render test  --masks "$MASKS" --split test  --seed 303 --preview
render proc  --patients 300 --seed 404

train() {  # task, options...
  local task=$1; shift
  local resume=()
  [ -f "run/$task/last.pt" ] && resume=(--resume)
  alonet train ds_train ds_proc -o run --task "$task" --val-fraction 0.1 --cpu-bf16 --half --seed 0 \
    --quiet "${resume[@]}" "$@"
}
train scalp-midline  --width 16 --input-size 160 --batch 8 --epochs 6 --lr-step 4
train scalp-temporal --width 16 --input-size 160 --batch 8 --epochs 6 --lr-step 4
train hairloss       --width 16 --input-size 256 --batch 8 --epochs 4 --lr-step 3

mkdir -p model
for task in scalp-midline scalp-temporal hairloss; do
  cp "run/$task/best.json" "model/$task.json"
  cp "run/$task/best.safetensors" "model/$task.safetensors"
done
alonet evaluate ds_test --model model -o eval_test --overwrite
alonet evaluate ds_val --model model -o eval_val --overwrite
