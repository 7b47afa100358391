# Shared by the bench/bench_*.sh scripts (sourced, not run; its name keeps it out of
# `make bench`'s bench_*.sh glob): medians, CPU time of one pinned command, and the
# ok / MISSED verdict printed beside each target.
# Needs $DIR (a scratch folder) set by the caller.
pin=""
command -v taskset >/dev/null 2>&1 && pin="taskset -c 0"
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
spread() { sort -g "$1" | awk '{a[NR]=$1} END {printf "%.3f/%.3f/%.3f", a[1], (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2, a[NR]}'; }  # FILE -> min/median/max
# Appends to file $1 the CPU seconds (user + system of the child, wait4's rusage in
# microseconds: build/cpu_time, which `make bench` builds) of one run of the rest, pinned
# to CPU 0; -1 when the command fails. (The shell's `times` counts 10 ms ticks.)
CPU_TIME=${CPU_TIME:-build/cpu_time}
cpu_of() {
  out=$1; shift
  if [ ! -x "$CPU_TIME" ]; then
    echo "bench: $CPU_TIME is missing: run make (or make bench) first" >&2; echo -1 >>"$out"
  elif ! $pin "$CPU_TIME" "$out" "$@" >/dev/null 2>"$DIR/cmd.err"; then
    cat "$DIR/cmd.err" >&2; echo -1 >>"$out"
  fi
}
# The machine in one line. CPU-time figures belong to their CPU: the simulator's targets
# were met on an AMD EPYC host and missed by ~25% on a 2.6 GHz Xeon (sim/README.md).
host_line() {
  cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
  echo "host: ${cpu:-unknown CPU}, $(nproc) CPUs, kernel $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
verdict() {  # value op target -> ok | MISSED
  awk -v v="$1" -v o="$2" -v t="$3" 'BEGIN { ok = (o == "<=") ? (v <= t && v >= 0) : (v >= t); print ok ? "ok" : "MISSED" }'
}
# The compute keys of a device profile (calibrate's kernels; the rates by shape and
# columns too: dense_bw_<columns> prices the resident part before dense_bw does; and
# compute_stall, already in those rates, which the drift references compare with).
COMPUTE_KEYS='^(compute_flops|mem_bw|dense_bw(_[0-9]+)?|ffn_row_gap_s|ffn_bw_(relu|swiglu)_[0-9]+|expert_wps_[0-9]+|compute_stall)$'
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
