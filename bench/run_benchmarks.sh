#!/bin/sh
# `make bench`: runs every bench/bench_*.sh in name order; each prints its figures with
# the target beside them. Large files go under $LLMFLASH_BENCH_DIR (default
# /var/tmp/llmflash-bench) and are deleted after.
set -u
export LLMFLASH="${LLMFLASH:-$(pwd)/build/llmflash}"
export LLMFLASH_BENCH_DIR="${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}"
mkdir -p "$LLMFLASH_BENCH_DIR"
status=0
for b in bench/bench_*.sh; do
  [ -e "$b" ] || continue
  echo "=== $b"
  sh "$b" || { echo "!!! $b failed"; status=1; }
done
exit $status
