#!/bin/sh
# Executions per second of each libFuzzer harness (tests/fuzz/fuzz_<name>.c): each runs
# alone for FUZZ_BENCH_SECONDS (default 10) from its seeds plus what earlier campaigns
# kept in build/fuzz/corpus/. Prints one line per harness and the totals. Figures on a
# shared machine are noisy. A campaign toward the targets (10 M executions per
# in-process parser, 1 M for HDF5) is `make fuzz FUZZ_SECONDS=3600`, one harness at a time.
set -u
command -v clang >/dev/null 2>&1 || { echo "bench_fuzz: clang absent (scripts/deps.sh fuzz): skipped"; exit 0; }
make --no-print-directory -f mk/build.mk fuzz-build >/dev/null || { echo "bench_fuzz: build failed"; exit 1; }
names=$(ls tests/fuzz/fuzz_*.c | sed 's|tests/fuzz/fuzz_||; s|\.c$||')
secs=${FUZZ_BENCH_SECONDS:-10}
out=$(FUZZ_SECONDS=$secs scripts/fuzz.sh run $names)
rc=$?
echo "$out"
echo "$out" | awk -v s="$secs" '/^fuzz .*executions in/ { n++; e += $3 }
  END { printf "bench_fuzz: %d harnesses, %d executions in about %d s each, %.0f exec/s on average per harness\n", n, e, s, (n ? e / n / s : 0) }'
exit $rc
