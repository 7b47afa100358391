#!/bin/sh
# Cost-model benchmark (issue 3 targets), about 2 minutes:
#  1. llmflash probe over the default grid (chunks 4k..1m x threads 1..32, psync, 3
#     measurements per point, median) on a 1 GiB file under $LLMFLASH_BENCH_DIR;
#  2. llmflash fit: the fitted flash model's median APE     (target <= 10%);
#  3. bench/fio_compare.sh: probe vs fio at 32k/64k/256k x 1/8/32 (target within 10%).
# The file is deleted afterwards.
set -u
LLMFLASH=${LLMFLASH:-build/llmflash}
export LLMFLASH
dir="${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/costmodel.$$"
mkdir -p "$dir" || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
file="$dir/probe.bin"
start=$(date +%s)
"$LLMFLASH" probe --file "$file" --size 1g -o "$dir/probe.csv" 2>"$dir/probe.log" || {
  cat "$dir/probe.log"; exit 1; }
echo "probe grid (psync, median of 3 x 0.4 s per point): $dir/probe.csv"
column -t -s, "$dir/probe.csv" 2>/dev/null || cat "$dir/probe.csv"
"$LLMFLASH" fit "$dir/probe.csv" -o "$dir/fitted.conf" 2>/dev/null >"$dir/fit.txt" || {
  cat "$dir/fit.txt"; exit 1; }
cat "$dir/fit.txt"
mdape=$(sed -n 's/.*median APE \([0-9.]*\)%.*/\1/p' "$dir/fit.txt")
verdict=$(awk -v m="$mdape" 'BEGIN { print (m <= 10) ? "ok" : "MISSED" }')
echo "RESULT fitted flash model median APE: ${mdape}% (target <= 10%): $verdict"
sh "$(dirname "$0")/fio_compare.sh" "$file"
echo "bench_costmodel: $(( $(date +%s) - start )) s"
