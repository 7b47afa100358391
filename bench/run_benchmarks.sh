#!/bin/sh
# `make bench`: runs every bench/bench_*.sh in name order (or those named in $BENCH, e.g.
# BENCH="sim traces"); each prints its figures with the target beside them and "MISSED"
# where a target is missed. Ends with one line per missed figure and exits 1 when any
# target was missed or any script failed: a missed target is never reported as success.
# Large files go under $LLMFLASH_BENCH_DIR (default /var/tmp/llmflash-bench), deleted after.
set -u
export LLMFLASH="${LLMFLASH:-$(pwd)/build/llmflash}"
export LLMFLASH_BENCH_DIR="${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}"
mkdir -p "$LLMFLASH_BENCH_DIR"
log=$(mktemp "$LLMFLASH_BENCH_DIR/bench-log.XXXXXX")
trap 'rm -f "$log"; rmdir "$LLMFLASH_BENCH_DIR" 2>/dev/null' EXIT  # the folder only if empty
failed=""
. bench/benchlib.sh
echo "=== $(date -u '+%Y-%m-%d %H:%M UTC'), $(host_line)"
if [ -n "${BENCH:-}" ]; then
  scripts=$(for n in $BENCH; do printf 'bench/bench_%s.sh\n' "$n"; done)
else
  scripts=$(ls bench/bench_*.sh)
fi
for b in $scripts; do
  [ -e "$b" ] || { echo "!!! $b: no such benchmark (bench/bench_*.sh)"; failed="$failed $b"; continue; }
  echo "=== $b"
  # the figures go to the terminal as they come, and to the log for the summary
  { sh "$b" 2>&1; echo "rc=$?" > "$log.rc"; } | tee -a "$log"
  rc=$(sed 's/rc=//' "$log.rc"); rm -f "$log.rc"
  [ "$rc" -eq 0 ] || { echo "!!! $b failed (exit $rc)"; failed="$failed $b"; }
done
missed=$(grep -c 'MISSED' "$log")
echo "=== summary"
if [ "$missed" -gt 0 ]; then
  echo "$missed line(s) with a MISSED target:"
  grep 'MISSED' "$log" | sed 's/^/  /'
fi
[ -n "$failed" ] && echo "failed scripts:$failed"
# a host that changed speed during a script makes its verdicts, met or missed, noise
noisy=$(grep -c 'host check:.*NOISY' "$log")
[ "$noisy" -gt 0 ] && grep 'host check:.*NOISY' "$log" | sed 's/^/  /'
if [ "$missed" -gt 0 ] || [ -n "$failed" ]; then
  echo "bench: targets MISSED or scripts failed (see above)"
  exit 1
fi
if [ "$noisy" -gt 0 ]; then
  echo "bench: every target met, but the host changed speed during it (NOISY above): rerun it"
  exit 1
fi
echo "bench: every target met"
