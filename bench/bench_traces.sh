#!/bin/sh
# Benchmarks of the trace tools: `trace synth` of 1000 tokens of opt-6.7b (32 x 16384
# neurons; generation + HDF5 write) in <= 1 s CPU of one core (issue 15; the command's
# own "generated in" figure, wall, is shown beside it), and `trace stats` on that file
# (HDF5 read + statistics, default --max-window 8) in <= 5 s (issue 2, wall). Medians of
# 3 runs, pinned to CPU 0.
set -eu
L="${LLMFLASH:-$(pwd)/build/llmflash}"
D="${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}"
mkdir -p "$D"
f="$D/bench_traces_opt67b.h5"
trap 'rm -f "$f" "$D/synth.cpu" "$D/t0" "$D/t1" "$D/cmd.err"' EXIT

DIR="$D"
# pin (CPU 0 when taskset exists), median, cpu_of, verdict
. "$(dirname "$0")/benchlib.sh"
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

: >"$D/synth.cpu"
for i in 1 2 3; do
  cpu_of "$D/synth.cpu" "$L" trace synth --model opt-6.7b --tokens 1000 --seed 1 -o "$f"
done
c=$(median <"$D/synth.cpu")
g=$($pin "$L" trace synth --model opt-6.7b --tokens 1000 --seed 1 -o "$f" | sed -n 's/.*(generated in \([0-9.]*\) s, written in \([0-9.]*\) s).*/generation \1 s, write \2 s (wall)/p')
printf '%-48s %7.2f s cpu (target <= 1 s)  %s   [%s]\n' "trace synth opt-6.7b, 1000 tokens (median of 3)" \
  "$c" "$(verdict "$c" "<=" 1)" "$g"
s=$(run3 "$L" trace stats "$f")
report "trace stats on it, K=8 (median of 3)" "$s" 5
