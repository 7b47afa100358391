# Shared by the bench/bench_*.sh scripts (sourced, not run; its name keeps it out of
# `make bench`'s bench_*.sh glob): medians, CPU time of one pinned command, and the
# ok / MISSED verdict printed beside each target.
# Needs $DIR (a scratch folder) set by the caller.
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
spread() { sort -g "$1" | awk '{a[NR]=$1} END {printf "%.3f/%.3f/%.3f", a[1], (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2, a[NR]}'; }  # FILE -> min/median/max
# children's user+system seconds in a `times` output file (its second line)
secs_in() { sed -n 2p "$1" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] } printf "%.6f", s }'; }
# Appends to file $1 the CPU seconds (user + system, getrusage of the child) of one run
# of the rest, pinned to CPU 0: build/cpu_time's (wait4, microseconds; `make bench`
# builds it), else the shell's `times` before and after (10 ms ticks; it runs in this
# shell, a subshell's children would be others); -1 when the command fails.
CPU_TIME=${CPU_TIME:-build/cpu_time}
cpu_of() {
  out=$1; shift
  if [ -x "$CPU_TIME" ]; then
    if ! $pin "$CPU_TIME" "$out" "$@" >/dev/null 2>"$DIR/cmd.err"; then
      cat "$DIR/cmd.err" >&2; echo -1 >>"$out"
    fi
    return
  fi
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
# The compute keys of a device profile (calibrate's kernels; the rates by shape and
# columns too: dense_bw_<columns> prices the resident part before dense_bw does).
COMPUTE_KEYS='^(compute_flops|mem_bw|dense_bw(_[0-9]+)?|ffn_row_gap_s|ffn_bw_(relu|swiglu)_[0-9]+|expert_wps_[0-9]+)$'
# compute_keys copy|mean FROM INTO: INTO's compute keys replaced by FROM's (copy) or by the
# geometric mean of the two (mean: both measured, else their arithmetic mean), in place.
compute_keys() {
  awk -v re="$COMPUTE_KEYS" -v mode="$1" 'FNR == NR { if ($1 ~ re && $2 == "=") { line[$1] = $0; v[$1] = $3 }; next }
    ($1 ~ re) && ($2 == "=") && ($1 in v) {
      if (mode == "copy") { print line[$1]; next }
      a = $3 + 0; b = v[$1] + 0; m = (a > 0 && b > 0) ? sqrt(a * b) : (a + b) / 2
      printf "%-20s = %g  # the geometric mean of two calibrations (%g, %g)\n", $1, m, a, b
      next }
    { print }' "$2" "$3" >"$3.tmp" && mv "$3.tmp" "$3"
}
