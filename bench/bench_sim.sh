#!/bin/sh
# Benchmarks of the simulator (issue 4 targets), on a synthetic opt-6.7b trace of 1000
# tokens (llmflash trace synth, seed 1):
#   1. one replay, window:k=4 + bundled, trace already loaded: seconds (target <= 0.3 s)
#      and needed-neuron lookups per second (aim >= 50 M/s);
#   2. a sweep of 100 configurations over the one loaded trace on 2 jobs (target <= 30 s).
# Both use `llmflash sim --repeat-configs`, which loads the trace once and times only the
# replays (its "N configurations in X s" line). Medians of $BENCH_RUNS runs (default 3).
set -u
BIN=${LLMFLASH:-build/llmflash}
DIR=${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/sim
RUNS=${BENCH_RUNS:-3}
DEV=costmodel/devices/m1max.conf
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT
if ! "$BIN" trace synth --help >/dev/null 2>&1; then
  echo "bench_sim: SKIP: 'llmflash trace synth' is not in this build"; exit 0
fi
"$BIN" trace synth --model opt-6.7b --tokens 1000 --seed 1 -o "$DIR/opt.h5" >/dev/null || exit 1

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
secs() { sed -n 's/.* configurations in \([0-9.]*\) s .*/\1/p' "$1"; }

# 1. one replay
echo "--policy window:k=4 --layout bundled" >"$DIR/one.txt"
: >"$DIR/t1"
for i in $(seq "$RUNS"); do
  "$BIN" sim --trace "$DIR/opt.h5" --device $DEV --repeat-configs "$DIR/one.txt" \
    >"$DIR/one.csv" 2>"$DIR/one.err" || { cat "$DIR/one.err"; exit 1; }
  secs "$DIR/one.err" >>"$DIR/t1"
done
t1=$(median <"$DIR/t1")
# needed-neuron lookups = hits + misses over the run (perfect predictor: the needed set)
lookups=$(awk -F, 'NR==1 {for (i=1;i<=NF;i++) {if ($i=="total_hits") h=i; if ($i=="total_misses") m=i}}
                   NR==2 {print $h + $m}' "$DIR/one.csv")
awk -v t="$t1" -v n="$lookups" 'BEGIN {
  printf "replay 1000 tokens opt-6.7b window:k=4 bundled: %.3f s median of runs (target <= 0.3 s)\n", t
  printf "needed-neuron lookups: %d, %.1f M/s (aim >= 50 M/s)\n", n, n / t / 1e6 }'

# 2. a 100-configuration sweep over the one loaded trace, 2 jobs
# The grid spans the paper's dimensions (window size, layout, budget, predictor error,
# DRAM strategy, reader coalescing, precision, reads in flight) plus each other policy.
G="$DIR/grid.txt"; : >"$G"
for f in 0.45 0.5 0.6; do
  for lay in split bundled; do
    for k in 1 2 3 4 5 6 8; do echo "--policy window:k=$k --layout $lay --dram-fraction $f" >>"$G"; done
    for p in sparse lru hot; do echo "--policy $p --layout $lay --dram-fraction $f" >>"$G"; done
  done
done
for p in lfu fwlru belady; do echo "--policy $p --layout bundled" >>"$G"; done
for s in prealloc realloc; do
  for r in "0 0" "0.05 0.07" "0.1 0.1" "0 0.2" "0.2 0"; do
    set -- $r; echo "--policy window:k=4 --layout bundled --fn-rate $1 --fp-rate $2 --dram-strategy $s --seed 7" >>"$G"
  done
done
for g in 0 16k 64k; do for m in 64k 256k 1m; do
  echo "--policy window:k=4 --layout split --max-gap $g --max-read $m" >>"$G"
done; done
for k in 2 4; do for lay in split bundled; do for f in 0.5 0.6; do
  echo "--policy window:k=$k --layout $lay --dtype-bytes 4 --dram-fraction $f" >>"$G"
done; done; done
for t in 1 4 8 16 64; do echo "--policy window:k=4 --layout bundled --threads $t" >>"$G"; done
echo "--policy naive --layout split --tokens 50" >>"$G"
echo "--policy hybrid:fraction=0.25 --layout split --tokens 50" >>"$G"
echo "--policy window:k=4 --layout coact --tokens 200 --coact-profile-tokens 64" >>"$G"
echo "--policy window:k=4 --layout bundled --dram-fraction 0.4" >>"$G"
echo "--policy window:k=2 --layout bundled --dram-fraction 0.4" >>"$G"
n=$(wc -l <"$G")
: >"$DIR/t2"
for i in $(seq "$RUNS"); do
  "$BIN" sim --trace "$DIR/opt.h5" --device $DEV --repeat-configs "$G" --jobs 2 \
    >"$DIR/grid.csv" 2>"$DIR/grid.err" || { tail -3 "$DIR/grid.err"; exit 1; }
  secs "$DIR/grid.err" >>"$DIR/t2"
done
t2=$(median <"$DIR/t2")
echo "sweep of $n configurations, 1000-token opt-6.7b trace loaded once, 2 jobs: $t2 s median (target <= 30 s)"
