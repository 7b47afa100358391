#!/bin/sh
# Cost-model benchmark (issue 3 targets), about 2 minutes:
#  1. llmflash probe over the default grid (chunks 4k..1m x threads 1..32, 5
#     measurements of 0.25 s per point, median) on a 2 GiB file under $LLMFLASH_BENCH_DIR, with
#     the psync and the io_uring engines;
#  2. llmflash fit of each: the fitted flash model's median APE   (target <= 10%);
#  3. bench/fio_compare.sh: probe vs fio at 8k/16k/64k x 1/8/32 (psync pool vs fio psync
#     jobs, io_uring vs fio libaio; target >= 0.97x fio), on the same 2 GiB file.
# The file is deleted afterwards.
set -u
LLMFLASH=${LLMFLASH:-build/llmflash}
export LLMFLASH
dir="${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/costmodel.$$"
mkdir -p "$dir" || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
file="$dir/probe.bin"
start=$(date +%s)
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
echo "machine: $(nproc) cores, load average $load (a loaded machine or disk disturbs these figures)"
for engine in psync io_uring; do
  csv="$dir/probe_$engine.csv"
  "$LLMFLASH" probe --file "$file" --size 2g --engine "$engine" --seconds 0.25 --repeats 5 \
      -o "$csv" 2>"$dir/probe.log" || {
    cat "$dir/probe.log"; exit 1; }
  echo "probe grid ($engine engine, median of 5 x 0.25 s per point):"
  column -t -s, "$csv" 2>/dev/null || cat "$csv"
  "$LLMFLASH" fit "$csv" -o "$dir/fitted_$engine.conf" 2>/dev/null >"$dir/fit.txt" || {
    cat "$dir/fit.txt"; exit 1; }
  cat "$dir/fit.txt"
  mdape=$(sed -n 's/.*median APE \([0-9.]*\)%.*/\1/p' "$dir/fit.txt")
  verdict=$(awk -v m="$mdape" 'BEGIN { print (m <= 10) ? "ok" : "MISSED" }')
  echo "RESULT fitted flash model ($engine) median APE: ${mdape}% (target <= 10%): $verdict"
done
sh "$(dirname "$0")/fio_compare.sh" "$file"
echo "bench_costmodel: $(( $(date +%s) - start )) s"
