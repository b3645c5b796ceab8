# Shared start of the lent-GPU scripts (scripts/dev/train_on_lent_gpu.sh,
# scripts/dev/train_effl0_on_lent_gpu.sh): sourced from the repository root with BUDGET set.
# Sets T0, REPO, W (work folder), sends all output to $OUT/log.txt too, and defines
#   left     seconds of BUDGET left      stamp MSG  print MSG with the seconds since start
#   waitall  wait for this shell's jobs (not plain wait: it would wait for tee)
#   use_wheels  install .whl/*.whl into /tmp/site and put it and src/ on PYTHONPATH (device only)
T0=$(date +%s)
REPO=$PWD
W=${WORK:-/tmp/w}
mkdir -p "$W" "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
left() { echo $(( BUDGET - ($(date +%s) - T0) )); }
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
waitall() { local p; for p in $(jobs -p); do wait "$p"; done; }
use_wheels() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$REPO/src
}
