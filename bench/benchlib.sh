# Shared by the bench/bench_*.sh scripts (sourced, not run; its name keeps it out of
# `make bench`'s bench_*.sh glob): medians, CPU time of one pinned command, and the
# ok / MISSED verdict printed beside each target.
# Needs $DIR (a scratch folder) set by the caller.
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# children's user+system seconds in a `times` output file (its second line)
secs_in() { sed -n 2p "$1" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] } printf "%.6f", s }'; }
# Appends to file $1 the CPU seconds (user + system, getrusage of the child) of one run
# of the rest, pinned to CPU 0. `times` runs in this shell (a subshell's children would
# be others), before and after; -1 when the command fails.
cpu_of() {
  out=$1; shift
  times >"$DIR/t0"
  if $pin "$@" >/dev/null 2>"$DIR/cmd.err"; then
    times >"$DIR/t1"
    awk -v a="$(secs_in "$DIR/t0")" -v b="$(secs_in "$DIR/t1")" 'BEGIN { printf "%.4f\n", b - a }' >>"$out"
  else
    cat "$DIR/cmd.err" >&2; echo -1 >>"$out"
  fi
}
verdict() {  # value op target -> ok | MISSED
  awk -v v="$1" -v o="$2" -v t="$3" 'BEGIN { ok = (o == "<=") ? (v <= t && v >= 0) : (v >= t); print ok ? "ok" : "MISSED" }'
}
