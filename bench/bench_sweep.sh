#!/bin/sh
# The sweep runner's own cost: 200 runs of a trivial command (it only writes
# summary.csv), 2 at a time, then the combine; median of 3 sweeps. Target: <= 20 ms of
# runner overhead per run (fork/exec, folders, log, done marker, combined CSV), small
# next to a simulated run (~1 s).
set -eu
L=${LLMFLASH:-build/llmflash}
dir=${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/sweep
rm -rf "$dir"; mkdir -p "$dir"
vals=$(seq 1 200 | tr '\n' '|' | sed 's/|$//; s/|/ | /g')
printf 'mode = sim\nseed = %s\n' "$vals" > "$dir/bench.conf"
export LLMFLASH_SWEEP_CMD='for a; do d=$a; done; printf "total_ms\n1\n" > "$d/summary.csv"'
times=""
for i in 1 2 3; do
  rm -rf "$dir/out"
  t0=$(date +%s.%N)
  $L sweep "$dir/bench.conf" --jobs 2 --out "$dir/out" >/dev/null
  t1=$(date +%s.%N)
  times="$times $(awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) * 1000 / 200 }')"
done
med=$(printf '%s\n' $times | sort -g | sed -n 2p)
rows=$(($(wc -l < "$dir/out/combined.csv") - 1))
printf 'sweep runner: %.1f ms per run (median of 3 sweeps of 200 runs, %d rows combined; target <= 20 ms)\n' "$med" "$rows"
rm -rf "$dir"
