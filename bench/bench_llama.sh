#!/bin/sh
# The real-model commands on stories260K (../shared/data): dense generation speed,
# recording overhead, predictor build + scoring time, the FFN streamed from flash.
# Medians of 5 runs, target beside.
# Skips (exit 0, one line) when ../shared/data is absent.
set -u
B="${LLMFLASH:-build/llmflash}"
D="${LLMFLASH_SHARED_DATA:-../shared/data}"
T="${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/llama.$$"
if [ ! -r "$D/stories260K.bin" ] || [ ! -r "$D/tok512.bin" ]; then
  echo "SKIP: $D/stories260K.bin absent"; exit 0
fi
mkdir -p "$T"
trap 'rm -rf "$T"' EXIT
CK="--checkpoint $D/stories260K.bin"
TK="--tokenizer $D/tok512.bin"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
secs() { # seconds a command takes
  s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
  e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN {print e - s}'
}

for i in 1 2 3 4 5; do
  "$B" generate $CK $TK --steps 512 2>&1 >/dev/null | sed -n 's/.*(\([0-9.]*\) tok\/s).*/\1/p'
done | median | awk '{printf "generate (dense, 512 positions): %.0f tok/s   target >= 1000 tok/s\n", $1}'

for i in 1 2 3 4 5; do
  secs "$B" trace record $CK $TK --steps 512 --threshold 0.1 --relative -o "$T/r.h5"
done | median | awk '{printf "trace record (512 tokens, HDF5 written): %.3f s   target <= 1 s\n", $1}'

for i in 1 2 3 4 5; do
  secs "$B" trace predict $CK --trace "$T/r.h5" --rank 4,8,16,32,64 -o "$T/p.h5"
done | median | awk '{printf "trace predict (svd, 5 ranks, 512 tokens): %.3f s   target <= 2 s\n", $1}'

"$B" weights make $CK --file "$T/s.w" >/dev/null || exit 1
for i in 1 2 3 4 5; do
  secs "$B" generate $CK $TK --steps 256 --weights "$T/s.w" --threshold 0.1 --relative
done | median | awk '{printf "generate --weights (FFN from flash, O_DIRECT, rel 0.1, window k=4, 256 positions): %.0f positions/s   target >= 50/s\n", 256 / $1}'
"$B" generate $CK $TK --steps 256 --weights "$T/s.w" --threshold 0.1 --relative | \
  sed -n 's/^stream: positions=\([0-9]*\) identical=\([0-9]*\).*/streamed vs dense, rel 0.1: \2 of \1 positions agree   target >= 90% of them/p'
