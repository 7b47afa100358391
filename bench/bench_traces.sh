#!/bin/sh
# Benchmarks of the trace tools (issue 2 targets): `trace synth` of 1000 tokens of
# opt-6.7b (32 x 16384 neurons; generation + HDF5 write) in <= 10 s, and `trace stats`
# on that file (HDF5 read + statistics, default --max-window 8) in <= 5 s, one core.
# Each figure is the median of 3 runs of the whole command (wall clock).
set -eu
L="${LLMFLASH:-$(pwd)/build/llmflash}"
D="${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}"
mkdir -p "$D"
f="$D/bench_traces_opt67b.h5"
trap 'rm -f "$f"' EXIT

# One core: pinned to CPU 0 when taskset exists (the tools are single-threaded anyway).
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
now() { date +%s.%N; }
run3() { # prints the median seconds of 3 runs of "$@"
  t=""
  for i in 1 2 3; do
    a=$(now); $pin "$@" >/dev/null; b=$(now)
    t="$t $(awk -v a="$a" -v b="$b" 'BEGIN { print b - a }')"
  done
  printf '%s\n' $t | sort -g | sed -n 2p
}
report() { # name seconds target
  awk -v n="$1" -v s="$2" -v t="$3" 'BEGIN {
    printf "%-48s %7.2f s   (target <= %s s)  %s\n", n, s, t, (s <= t ? "ok" : "MISSED") }'
}

s=$(run3 "$L" trace synth --model opt-6.7b --tokens 1000 --seed 1 -o "$f")
report "trace synth opt-6.7b, 1000 tokens (median of 3)" "$s" 10
s=$(run3 "$L" trace stats "$f")
report "trace stats on it, K=8 (median of 3)" "$s" 5
