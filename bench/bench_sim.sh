#!/bin/sh
# Benchmarks of the simulator (issue 15 targets), on a synthetic opt-6.7b trace of 1000
# tokens (llmflash trace synth, seed 1; 15.7 M needed units). CPU figures are CPU time
# of one core: commands pinned with `taskset -c 0`, CPU time from build/cpu_time (wait4's
# rusage of the child, in microseconds).
# Medians of $BENCH_RUNS runs (default 3), with their min/median/max.
#   1. whole `llmflash sim` (trace load + replay + run folder), lru and window:k=4:
#      <= 0.08 s CPU, i.e. >= 200 M needed-unit lookups per second including the load;
#      and its peak memory (meta.json's max_rss_bytes, the last run; no target);
#   2. the replay alone (`sim --repeat-configs`, which times only the replays), per
#      policy: lru and window >= 250 M lookups/s; lfu, hot and belady >= 80 M/s;
#   3. `llmflash sweep --jobs 2` over 1000 configurations of that trace: <= 60 s wall,
#      every run with its folder (set BENCH_SWEEP=0 to skip this part).
# Before 3, the first measurement is taken again (the host check: NOISY when the two
# medians differ by more than 10%).
# Each figure is printed next to its target, with MISSED when it misses it. On a shared
# machine the figures are noisy (the load average is printed).
set -u
BIN=${LLMFLASH:-build/llmflash}
DIR=${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/sim
RUNS=${BENCH_RUNS:-3}
DEV=costmodel/devices/m1max.conf
mkdir -p "$DIR"
trap 'rm -rf "$DIR"' EXIT
. "$(dirname "$0")/benchlib.sh"
"$BIN" trace synth --model opt-6.7b --tokens 1000 --seed 1 -o "$DIR/opt.h5" >/dev/null || exit 1
# sim hashes its trace for meta.json and keeps the digest in an extended attribute, but
# only once the file is more than 2 s old (common/lf_shacache.c): a trace this fresh is
# hashed by every run (about 20 ms of CPU here). Measured as a trace is used, settled.
sleep 3
host_line

lookups_of() {  # summary.csv -> hits + misses (the needed-unit lookups of the replay)
  awk -F, 'NR==1 {for (i=1;i<=NF;i++) {if ($i=="total_hits") h=i; if ($i=="total_misses") m=i}}
           NR==2 {print $h + $m}' "$1"
}
# 1. whole sim
for p in lru window:k=4; do
  : >"$DIR/c"
  for i in $(seq "$RUNS"); do
    rm -rf "$DIR/one"
    cpu_of "$DIR/c" "$BIN" sim --trace "$DIR/opt.h5" --device $DEV --policy "$p" --quiet --out "$DIR/one"
  done
  c=$(median <"$DIR/c"); n=$(lookups_of "$DIR/one/summary.csv")
  [ "$p" = lru ] && cp "$DIR/c" "$DIR/host_start"
  r=$(awk -v n="$n" -v c="$c" 'BEGIN { printf "%.0f", (c > 0) ? n / c / 1e6 : 0 }')
  mb=$(sed -n 's/.*"max_rss_bytes":"\([0-9]*\)".*/\1/p' "$DIR/one/meta.json" | awk '{ printf "%.0f", $1 / 1e6 }')
  printf 'whole sim, %-11s %7.3f s cpu (target <= 0.08 s) %-6s  %5s M lookups/s incl. load (target >= 200) %s; peak memory %s MB; s min/median/max %s\n' \
    "$p:" "$c" "$(verdict "$c" "<=" 0.08)" "$r" "$(verdict "$r" ">=" 200)" "$mb" "$(spread "$DIR/c")"
done

# 2. replay alone, per policy (repeat-configs prints "(cpu X s)" for the replays only)
for p in lru window:k=4 lfu hot belady sparse fwlru; do
  case $p in lru|window:k=4) tgt=250 ;; lfu|hot|belady) tgt=80 ;; *) tgt="" ;; esac
  echo "--policy $p" >"$DIR/one.txt"
  : >"$DIR/c"
  for i in $(seq "$RUNS"); do
    $pin "$BIN" sim --trace "$DIR/opt.h5" --device $DEV --repeat-configs "$DIR/one.txt" \
      >"$DIR/one.csv" 2>"$DIR/one.err" || { cat "$DIR/one.err"; exit 1; }
    sed -n 's/.*(cpu \([0-9.]*\) s).*/\1/p' "$DIR/one.err" >>"$DIR/c"
  done
  c=$(median <"$DIR/c"); n=$(lookups_of "$DIR/one.csv")
  r=$(awk -v n="$n" -v c="$c" 'BEGIN { printf "%.0f", (c > 0) ? n / c / 1e6 : 0 }')
  if [ -n "$tgt" ]; then
    printf 'replay %-11s %7.3f s cpu  %5s M lookups/s (target >= %s) %-6s  s min/median/max %s\n' "$p" "$c" "$r" "$tgt" "$(verdict "$r" ">=" "$tgt")" "$(spread "$DIR/c")"
  else
    printf 'replay %-11s %7.3f s cpu  %5s M lookups/s (no target)         s min/median/max %s\n' "$p" "$c" "$r" "$(spread "$DIR/c")"
  fi
done

# The host check: the first measurement again. This VM's host has run the same pinned
# replay ~45% slower for minutes at a time with nothing else running here (sim/README.md,
# "Seventh pass"), which the load average does not show: a bench whose first and last
# figures disagree by more than 10% says so, and its verdicts are noise.
: >"$DIR/host_end"
for i in $(seq "$RUNS"); do
  rm -rf "$DIR/one"
  cpu_of "$DIR/host_end" "$BIN" sim --trace "$DIR/opt.h5" --device $DEV --policy lru --quiet --out "$DIR/one"
done
a=$(median <"$DIR/host_start"); b=$(median <"$DIR/host_end")
awk -v a="$a" -v b="$b" 'BEGIN {
  d = (a > 0) ? 100 * (b - a) / a : 0
  printf "host check: whole sim, lru: %.3f s at the start, %.3f s now (%+.1f%%)%s\n", a, b, d,
    (d > 10 || d < -10) ? "; NOISY: the host changed speed during this bench, its verdicts are noise: rerun it" : ""
}'

# 3. a 1000-configuration sweep through `llmflash sweep --jobs 2`
if [ "${BENCH_SWEEP:-1}" != 0 ]; then
  cat >"$DIR/grid.conf" <<EOF
mode = sim
trace = $DIR/opt.h5
device = $DEV
policy = sparse | window:k=2 | window:k=4 | window:k=8 | lru | lfu | lfu:history=1 | fwlru | hot | belady
dram-fraction = 0.5 | 0.55 | 0.6 | 0.65 | 0.7 | 0.75 | 0.8 | 0.85 | 0.9 | 0.95
layout = split | bundled
threads = 8 | 16 | 32 | 64 | 128
quiet =
EOF
  rm -rf "$DIR/sweep"
  t0=$(date +%s.%N)
  "$BIN" sweep "$DIR/grid.conf" --jobs 2 --out "$DIR/sweep" >"$DIR/sweep.out" 2>"$DIR/sweep.err"
  t1=$(date +%s.%N)
  w=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  folders=$(find "$DIR/sweep" -mindepth 2 -maxdepth 2 -name done | wc -l)
  printf 'sweep of 1000 configurations, --jobs 2: %s s wall (target <= 60 s) %s; %s of 1000 runs done %s\n' \
    "$w" "$(verdict "$w" "<=" 60)" "$folders" "$( [ "$folders" = 1000 ] && echo ok || echo MISSED)"
  tail -n 2 "$DIR/sweep.out"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg) (figures on a busy machine are noise)"
