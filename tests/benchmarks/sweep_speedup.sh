#!/bin/bash
# the sweep speed-up of PERFORMANCE.md "Sweeps", on a machine with no other job: warm the graph cache, then
# --workers 1 and --workers 2 (fresh BENCH_HOME each, so no cell is skipped), then again in the other order
cd "$(dirname "$0")/../.."
export BENCH_DATA_DIR=${BENCH_DATA_DIR:-../shared/data} OMP_NUM_THREADS=1 BENCH_CACHE_DIR=/tmp/meas/cache
rm -rf /tmp/meas; mkdir -p /tmp/meas/none
G="--task devi2024-pz --strategies scratch --ft-sizes 100 --trials 1-4 --budget quick --epochs 20 --results-dir /tmp/meas/none"
BENCH_HOME=/tmp/meas/h0 ${BENCH:-bench} sweep $G --workers 1 > /tmp/meas/warm.log 2>&1
for order in "1 2" "2 1"; do for w in $order; do
  h=/tmp/meas/h$w-$RANDOM; l1=$(cut -d' ' -f1 /proc/loadavg); t0=$(date +%s.%N)
  BENCH_HOME=$h ${BENCH:-bench} sweep $G --workers $w > /tmp/meas/w$w.log 2>&1
  t1=$(date +%s.%N); l2=$(cut -d' ' -f1 /proc/loadavg)
  echo "workers $w: $(echo "$t1 - $t0" | bc) s, load $l1 -> $l2, cells: $(grep -o 'in [0-9.]* s' /tmp/meas/w$w.log | tr '\n' ' ')"
done; done
