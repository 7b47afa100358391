#!/bin/sh
# Runs every ```sh block of README.md, in order, in one shell, in a fresh folder WORK,
# as a new user would after `make` -- with small sizes so that it takes seconds:
#   lines that start with `make` are left out (they are the build and this test);
#   build/llmflash is BIN; /var/tmp/ is WORK/tmp/; opt-1.3b (the executor's model) is
#   custom:2,256,8192; --tokens 1000|2000 are 24, --tokens 64 is 8, --steps N is 8;
#   probe and calibrate use a 64 MiB file, 3 chunk sizes, 2 thread counts, 0.02 s
#   (fit then takes --max-error 1e6: 20 ms points are noise, and a noisy machine must
#   not fail the block on the fit's quality);
#   the copies of experiments/fig7.conf (2 DRAM fractions) and validate.conf (2
#   policies, 8 threads) replay 8 tokens; validate measures once (--repeat 1).
# The blocks that need llama2.c's stories260K.bin and tok512.bin run when they are in
# $LLMFLASH_SHARED_DATA (default ../shared/data) and are skipped, with a line, when not.
# The expert-model block (weights files of hundreds of MB, minutes of measured runs)
# runs only with LLMFLASH_README_SLOW=1 (then with 8 tokens per run).
# Usage: tests/sh/readme_blocks.sh BIN WORK [README]. Prints "readme blocks ok: N run,
# M skipped", or the failing block and exits 1.
set -u
bin=$1; work=$2; readme=${3:-README.md}
repo=$(pwd)
case $bin in /*) ;; *) bin=$repo/$bin ;; esac
case $work in /*) ;; *) work=$repo/$work ;; esac
rm -rf "$work"; mkdir -p "$work/tmp" "$work/tests"
ln -s "$repo/costmodel" "$work/costmodel"
ln -s "$repo/plots" "$work/plots"
ln -s "$repo/tests/fixtures" "$work/tests/fixtures"
cp -r "$repo/experiments" "$work/experiments"
sed -i 's/^dram-fraction = .*/dram-fraction = 0.5 | 0.8/' "$work/experiments/fig7.conf"
printf '\ntokens = 8\n' >> "$work/experiments/fig7.conf"
sed -i 's/^threads .*/threads = 8/; s/^policy .*/policy = window:k=4 | lru/' "$work/experiments/validate.conf"
printf '\ntokens = 8\n' >> "$work/experiments/validate.conf"
[ -f "$work/experiments/moe_validate.conf" ] && printf '\ntokens = 8\n' >> "$work/experiments/moe_validate.conf"
shared=${LLMFLASH_SHARED_DATA:-$repo/../shared/data}
have_llama=0
if [ -s "$shared/stories260K.bin" ] && [ -s "$shared/tok512.bin" ]; then
  ln -s "$shared/stories260K.bin" "$shared/tok512.bin" "$work/"; have_llama=1
fi
# the blocks, one file each
awk -v dir="$work" '
  /^```sh$/ { n++; f = sprintf("%s/block%02d.sh", dir, n); inblock = 1; next }
  /^```/ && inblock { inblock = 0; close(f); next }
  inblock { print > f }
' "$repo/$readme"
script=$work/all.sh
: > "$script"
run=0; skipped=0
for b in "$work"/block*.sh; do
  if grep -q 'stories260K.bin' "$b" && [ $have_llama = 0 ]; then
    echo "readme blocks: skipped $(basename "$b") (no stories260K.bin in $shared)"
    skipped=$((skipped + 1)); continue
  fi
  if grep -q 'moe_validate.conf' "$b" && [ "${LLMFLASH_README_SLOW:-0}" != 1 ]; then
    echo "readme blocks: skipped $(basename "$b") (expert weights files; LLMFLASH_README_SLOW=1 runs it)"
    skipped=$((skipped + 1)); continue
  fi
  run=$((run + 1))
  echo "echo \"== $(basename "$b") \$(date +%s)\"" >> "$script"
  # /var/tmp/ first: the binary's path put in next may itself lie under /var/tmp/ (a
  # clone there), and must not be rewritten
  sed -e '/^make\( \|$\)/d' \
      -e "s|/var/tmp/|$work/tmp/|g" \
      -e "s|build/llmflash|$bin|g" \
      -e 's/opt-1\.3b/custom:2,256,8192/g' \
      -e 's/--tokens 1000/--tokens 24/g; s/--tokens 2000/--tokens 24/g; s/--tokens 64/--tokens 8/g' \
      -e 's/--steps [0-9]*/--steps 8/g' \
      -e 's|--grid experiments/validate.conf|--grid experiments/validate.conf --repeat 1|' \
      -e 's|--grid experiments/moe_validate.conf|--grid experiments/moe_validate.conf --repeat 1|' \
      -e 's|--threads 4 --out results/moe-run|--threads 4 --tokens 8 --out results/moe-run|' \
      -e 's/--size 1g/--size 64m --seconds 0.02 --chunks 4k,16k,64k --threads 1,4/g' \
      -e 's/--chunks 4k,16k,64k,256k,1m --threads 1,8,32//g' \
      -e 's/ fit probe\.csv / fit probe.csv --max-error 1e6 /' \
      "$b" >> "$script"
done
cd "$work" || exit 1
if ! sh -e "$script" > "$work/out.log" 2>&1; then
  last=$(grep '^== block' "$work/out.log" | tail -n 1 | sed 's/^== //; s/ .*//')
  echo "FAIL: README block $last failed; its commands (before the small-size edits):"
  cat "$work/$last" 2>/dev/null
  echo "--- last output:"; tail -n 25 "$work/out.log"
  exit 1
fi
echo "readme blocks ok: $run run, $skipped skipped"
