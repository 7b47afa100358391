#!/bin/sh
# Runs the libFuzzer harnesses built by `make fuzz-build` (build/fuzz/fuzz_<name>).
#   scripts/fuzz.sh run NAME...    each for $FUZZ_SECONDS s (default 60), or for $FUZZ_RUNS
#                                  executions when that is set, one after another;
#                                  new inputs kept in build/fuzz/corpus/NAME, crashes in
#                                  build/fuzz/artifacts/NAME/
#   scripts/fuzz.sh smoke NAME...  each over its seeds plus $FUZZ_RUNS mutations (default
#                                  2000), in a scratch corpus: the short check of `make test`
# One plain line per harness: "fuzz NAME: N executions in S s (E exec/s): ok" or FAILED.
# Exit status 1 when any harness crashed, hung (> 10 s), leaked or tripped a sanitizer.
set -u
mode=$1; shift
root=build/fuzz
fail=0
for name in "$@"; do
  bin=$root/fuzz_$name
  seeds=tests/fuzz/corpus/$name
  [ -x "$bin" ] || { echo "fuzz $name: $bin not built (make fuzz-build)"; fail=1; continue; }
  mkdir -p "$root/artifacts/$name" "$root/logs"
  log=$root/logs/$name.$mode.log
  if [ "$mode" = smoke ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/lf_fuzz_smoke.XXXXXX")
    set -- -runs="${FUZZ_RUNS:-2000}" -seed=1 "$work"
  else
    work=$root/corpus/$name
    mkdir -p "$work"
    if [ -n "${FUZZ_RUNS:-}" ]; then
      set -- -runs="$FUZZ_RUNS" "$work"
    else
      set -- -max_total_time="${FUZZ_SECONDS:-60}" "$work"
    fi
  fi
  [ -d "$seeds" ] && set -- "$@" "$seeds"
  # -timeout: an input taking over 10 s is a hang; -rss_limit_mb: a parser must not
  # balloon on small inputs; -max_len: inputs stay small (parsers are bounded anyway)
  start=$(date +%s)
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
    "$bin" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$root/artifacts/$name/" "$@" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  [ "$mode" = smoke ] && rm -rf "$work"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $name: ${execs:-?} executions in ${secs} s (${rate:-?} exec/s): ok"
  else
    fail=1
    echo "fuzz $name: FAILED (exit $rc) after ${execs:-?} executions: see $log"
    grep -E "^==[0-9]+==ERROR|SUMMARY|runtime error|Test unit written|ALARM|out-of-memory" "$log" | head -n 8
  fi
done
exit $fail
