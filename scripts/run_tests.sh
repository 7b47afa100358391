#!/bin/sh
# Runs every CMocka test binary of a build and prints one closing line:
# "total: N passed, N failed, N skipped". Exit status 1 if anything failed.
# Usage: scripts/run_tests.sh BUILD_DIR TEST...   (VALGRIND=1 runs them under valgrind)
set -u
dir=$1; shift
export LLMFLASH_BIN="$dir/llmflash"
export LLMFLASH_TMP="${LLMFLASH_TMP:-$(pwd)/build/testtmp}"
mkdir -p "$LLMFLASH_TMP"
# each test binary works in its own $LLMFLASH_TMP/t<pid> and leaves it for a look after a
# failure; the previous run's are removed here, so that the folder holds one run's worth
# (they had grown to 1.9 GB over a day of runs)
rm -rf "$LLMFLASH_TMP"/t[0-9]*
pass=0; fail=0; skip=0; broken=""
for t in "$@"; do
  out="$LLMFLASH_TMP/$t.log"
  if [ "${VALGRIND:-0}" = 1 ]; then
    valgrind -q --error-exitcode=99 --leak-check=full "$dir/tests/$t" >"$out" 2>&1
  else
    "$dir/tests/$t" >"$out" 2>&1
  fi
  rc=$?
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$out" | tail -n 1)
  p=${p:-0}; f=${f:-0}; s=${s:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed or sanitizer abort
  # (cmocka 1.1's PASSED count already leaves the skipped tests out)
  pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
  if [ "$f" -ne 0 ]; then
    broken="$broken $t"
    echo "FAIL $t (exit $rc): see $out"; tail -n 30 "$out"
  else
    printf '%-28s %3d passed' "$t" "$p"; [ "$s" -gt 0 ] && printf ', %d skipped' "$s"; echo
    grep -h '^SKIP:' "$out" | sort -u | sed 's/^/    /'
  fi
done
[ -n "$broken" ] && echo "failed:$broken"
echo "total: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
