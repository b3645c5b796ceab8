#!/usr/bin/env bash
# The script that trained the bundled model on a lent GPU machine (2026-11-26),
# kept for the next developer with a GPU lease. Renders phantoms from gpu/masks
# (made by scripts/dev/shrink_annotations.py; the device tool does not carry
# ../shared), converts them, trains the three bundled networks, then extra
# candidates while time remains; every stage is capped so the whole run ends
# within BUDGET seconds, and what is worth keeping goes to $OUT as tar files.
# Needs the albumentations wheels for the device's Python in .whl/ (see the
# device tool's README), carried with gpu/ (both listed in .git/info/exclude):
#   cp scripts/dev/train_on_lent_gpu.sh gpu/run.sh; run: bash gpu/run.sh, carry [".whl", "gpu"]
#   MINI=1 OUT=/tmp/x bash gpu/run.sh     (local dry run first: tiny sizes, CPU)
# Users with their own GPU want scripts/train_default_model.sh instead.
set -uo pipefail
BUDGET=${BUDGET:-555}
. "$PWD/scripts/dev/lent_gpu_common.sh"  # T0, REPO, W, log.txt, left, stamp, waitall, use_wheels

if [ -z "${MINI:-}" ]; then
  use_wheels
  NCPU=$(nproc)
  P_TRAIN=""; P_PROC="--patients 500"; E_SCALP=30; S_SCALP=12; E_HL=24; S_HL=10; E_CAND=20; S_CAND=8; BATCH=32
  WK=14; WK2=7; RW=6
else
  export PYTHONPATH=$REPO/src
  NCPU=2
  P_TRAIN="--patients 3"; P_PROC="--patients 3"; E_SCALP=1; S_SCALP=1; E_HL=1; S_HL=1; E_CAND=1; S_CAND=1; BATCH=4
  WK=1; WK2=1; RW=1
fi
export OMP_NUM_THREADS=2 PYTHONUNBUFFERED=1
A="python3 -m alonet"
stamp "start: $(nproc) cpus; $(nvidia-smi -L 2>/dev/null | head -1)"
python3 -c "import torch, albumentations, cv2, alonet; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'albu', albumentations.__version__)" || exit 4

cd "$W"
MASKS=$REPO/gpu/masks
# ---- render (all cores at once)
$A phantom -o ph_train  --masks "$MASKS" --split train --seed 101 --workers $RW $P_TRAIN >ph_train.log 2>&1 &
$A phantom -o ph_train2 --masks "$MASKS" --split train --seed 111 --workers $RW $P_TRAIN >ph_train2.log 2>&1 &
$A phantom -o ph_proc   $P_PROC --seed 404 --workers 2 >ph_proc.log 2>&1 &
$A phantom -o ph_val    --masks "$MASKS" --split val  --seed 202 --workers 1 $P_TRAIN >ph_val.log 2>&1 &
$A phantom -o ph_test   --masks "$MASKS" --split test --seed 303 --workers 1 $P_TRAIN >ph_test.log 2>&1 &
waitall
for n in train train2 proc val test; do tail -c 300 ph_$n.log | tr '\r' '\n' | tail -1; done
stamp "rendered"
for n in train train2 proc val test; do
  $A convert --from ph_$n -o ds_$n --workers 3 >ds_$n.log 2>&1 &
done
waitall
for n in train train2 proc val test; do [ -f ds_$n/dataset.json ] || { echo "convert $n failed"; cat ds_$n.log; exit 5; }; done
stamp "converted: $(du -sh . | cut -f1)"

pack() {  # tar name, run dir, tasks...
  local name=$1 run=$2; shift 2
  local files=("$run/split.json")
  for t in "$@"; do
    for f in best.json best.safetensors history.csv history.png train_config.json; do
      [ -f "$run/$t/$f" ] && files+=("$run/$t/$f")
    done
  done
  tar -cf "$OUT/$name.tar" "${files[@]}" && stamp "packed $name.tar ($(du -h "$OUT/$name.tar" | cut -f1))"
}
train() {  # run dir, seconds allowed, options...
  local run=$1 secs=$2; shift 2
  timeout --signal=INT "$secs" $A train ds_train ds_train2 ds_proc -o "$run" --val-fraction 0.1 --half \
    --seed 0 --device ${DEV:-auto} --quiet "$@"
}
if [ -n "${MINI:-}" ]; then DEV=cpu; fi

# ---- bundled scalp networks (two at once)
T=$(( ($(left) - 40) * 35 / 100 )); [ $T -gt 200 ] && T=200
stamp "scalp networks, up to ${T}s"
train run "$T" --task scalp-midline  --width 16 --input-size 160 --batch $BATCH --epochs $E_SCALP --lr-step $S_SCALP --workers $WK2 &
sleep 5  # let the first write split.json
train run "$T" --task scalp-temporal --width 16 --input-size 160 --batch $BATCH --epochs $E_SCALP --lr-step $S_SCALP --workers $WK2 &
waitall
stamp "scalp done"
tail -n 3 run/scalp-midline/history.csv run/scalp-temporal/history.csv
pack scalp run scalp-midline scalp-temporal

# ---- bundled hair-loss network
T=$(( $(left) - 20 )); [ $T -gt 260 ] && T=260
stamp "hairloss, up to ${T}s"
train run "$T" --task hairloss --width 16 --input-size 256 --batch $BATCH --epochs $E_HL --lr-step $S_HL --workers $WK
stamp "hairloss done"
tail -n 4 run/hairloss/history.csv
pack hairloss run hairloss

# ---- candidates while time remains: hair loss at 320 and scalp at 256
T=$(( $(left) - 15 ))
if [ $T -gt 60 ]; then
  stamp "candidates, up to ${T}s"
  mkdir -p cand && cp run/split.json cand/
  train cand "$T" --task hairloss --width 16 --input-size 320 --batch $BATCH --epochs $E_CAND --lr-step $S_CAND --workers 10 &
  train cand "$T" --task scalp-midline --width 16 --input-size 256 --batch $BATCH --epochs $E_CAND --lr-step $S_CAND --workers 3 &
  waitall
  tail -n 2 cand/*/history.csv
  pack cand cand hairloss scalp-midline
fi
stamp "end"
