#!/bin/sh
# Benchmarks of the MoE slice (issue 7), each figure printed beside its target:
#   1. the Flash-MoE scenario (llmflash moe-scenario): predicted tok/s beside the published
#      4.36 (4-bit) and 5.74 (2-bit) on the M3 Max and ~0.6 on the iPhone 17 Pro, with the
#      routing fitted to the published LRU curve and, when the real logs are present, to
#      the real Qwen routing log (trace fit); rows in results/moe/scenario*.csv;
#   2. expert hit rate against cache size per policy on the real routing logs
#      (../shared/data; skipped when absent): results/moe/hit_rate.csv with columns
#      policy,cache_size,hit_rate,trace for the figure script;
#   3. speed of the importer and of the scenario: medians of $BENCH_RUNS runs (default 3).
set -u
BIN=${LLMFLASH:-build/llmflash}
DIR=${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/moe
RUNS=${BENCH_RUNS:-3}
DATA=${LLMFLASH_SHARED_DATA:-../shared/data}
OUT=results/moe
mkdir -p "$DIR" "$OUT"
trap 'rm -rf "$DIR"' EXIT
if ! "$BIN" moe-scenario --help >/dev/null 2>&1; then
  echo "bench_moe: SKIP: 'llmflash moe-scenario' is not in this build"; exit 0
fi
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }

# 1. the scenario, routing fitted to the published LRU hit rates
: >"$DIR/t_scen"
for i in $(seq "$RUNS"); do
  t0=$(now)
  "$BIN" moe-scenario --csv "$OUT/scenario.csv" >"$DIR/scen.txt" 2>&1 || { cat "$DIR/scen.txt"; exit 1; }
  awk -v a="$(now)" -v b="$t0" 'BEGIN {print a - b}' >>"$DIR/t_scen"
done
cat "$DIR/scen.txt"
awk -F, 'NR > 1 && $19 != "" {
  m = ($18 == "" ? "-" : sprintf("%.2f", $18))
  printf "%-24s predicted %5.2f tok/s (%s with the published compute) target: published %s tok/s\n",
         $1, $17, m, $19 }' "$OUT/scenario.csv"

# 2. the real routing logs: import, fit, hit-rate curves, scenario with the fitted routing
Q="$DATA/qwen_moe_layer0.jsonl"; O="$DATA/olmoe_l0.jsonl"
if [ -r "$Q" ] && [ -r "$O" ]; then
  : >"$DIR/t_imp"
  for i in $(seq "$RUNS"); do
    t0=$(now)
    "$BIN" trace import --format vllm-moe-jsonl "$Q" --drop-warmup -o "$DIR/qwen1.5-moe.h5" >"$DIR/imp.txt" || exit 1
    awk -v a="$(now)" -v b="$t0" 'BEGIN {print a - b}' >>"$DIR/t_imp"
  done
  cat "$DIR/imp.txt"
  "$BIN" trace import --format vllm-moe-jsonl "$O" --drop-warmup -o "$DIR/olmoe.h5" || exit 1
  awk -v t="$(median <"$DIR/t_imp")" 'BEGIN {
    printf "import of the Qwen log (12805 records): %.3f s median, %.0f records/s (target >= 100000 records/s)\n", t, 12805 / t }'
  "$BIN" trace fit "$DIR/qwen1.5-moe.h5" -o "$DIR/qwen.params.conf" || exit 1
  "$BIN" trace fit "$DIR/olmoe.h5" || exit 1
  "$BIN" moe-scenario --hit-curve "$DIR/qwen1.5-moe.h5,$DIR/olmoe.h5" \
    --sizes 4,8,12,16,24,32,40,48,56 --csv "$OUT/hit_rate.csv" || exit 1
  echo "--- the scenario with the routing fitted to the real Qwen1.5-MoE log (scaled to 512 experts):"
  "$BIN" moe-scenario --params "$DIR/qwen.params.conf" --csv "$OUT/scenario_realfit.csv" \
    | sed -n '1,9p;/Check, per-layer/,/vs 49/p'
else
  echo "bench_moe: real routing logs absent ($DATA): hit-rate curves and the fitted scenario skipped"
fi

# 3. speed
awk -v t="$(median <"$DIR/t_scen")" 'BEGIN {
  printf "moe-scenario (5 configurations, 1500 tokens x 60 layers, LRU fit): %.2f s median (target <= 10 s)\n", t }'
