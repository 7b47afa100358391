#!/bin/sh
# `make demo`: the main job end to end on synthetic data (no ../shared/data needed), in
# a few minutes: a trace and its statistics, the paper's ablation simulated on two
# devices (table and figure), and a small predicted-vs-measured table on this machine.
set -eu
L=build/llmflash
out=results/demo
scratch=${LLMFLASH_DEMO_DIR:-/var/tmp/llmflash-demo}
mkdir -p "$out" "$scratch"
# the scratch files go, and the scratch folder with them when the demo made it empty
trap 'rm -f "$scratch/opt-1.3b-bundled.weights" "$scratch/opt-1.3b-split.weights"; rmdir "$scratch" 2>/dev/null || true' EXIT

echo "== 1. synthesise a trace: opt-1.3b, 256 tokens"
$L trace synth --model opt-1.3b --tokens 256 --seed 1 -o "$out/opt-1.3b.h5"

echo "== 2. its statistics"
$L trace stats "$out/opt-1.3b.h5" --max-window 8 --csv "$out/opt-1.3b.stats.csv"

echo "== 3. the paper's ablation (Table 2), simulated on the M1 Max and M3 Max profiles"
rm -rf "$out/ablation"   # the trace was just remade: no stale runs
$L sweep experiments/demo-ablation.conf --out "$out/ablation"
plots/csv_table.sh "$out/ablation/combined.csv" \
  device,configuration,dram_gib,flash_gib_per_token,io_ms,mem_ms,compute_ms,total_ms,speedup \
  "$out/ablation.csv" "$out/ablation.md" "# Ablation (simulated, steady-state ms per token)"
cat "$out/ablation.md"
if command -v gnuplot >/dev/null; then
  gnuplot -e "res='$out'" plots/ablation.gp && echo "figure: $out/figures/ablation.png (and .pdf)"
else echo "skipped: the ablation figure (gnuplot missing)"; fi

echo "== 4. predicted against measured on this machine (small grid)"
dev=$out/this.conf
$L trace synth --model opt-1.3b --tokens 32 --seed 2 -o "$out/opt-1.3b-32.h5"
wb=$scratch/opt-1.3b-bundled.weights
ws=$scratch/opt-1.3b-split.weights
$L weights make --model opt-1.3b --layout bundled --dtype fp16 --file "$wb"
$L weights make --model opt-1.3b --layout split --dtype fp16 --file "$ws"
# The profile is measured now, on the weights file the runs read: a virtual disk cached
# by its host reads a file at a rate that depends on the file (and on the minute). Its
# chunks include the runs' own reads (records of 4 KiB split, 8 KiB bundled): a flash
# model fitted from 16 KiB up extrapolates below it. --drift-refs measures the disk and
# the kernels again next to every run: a shared host's speed moves by 10-30% within
# minutes, and the drift-normalised error says how much of a miss is that. Its batches
# are probed after 5 and 0.25 ms of compute (calibrate's default), and each layer's batch
# is priced by its own compute between the two (a batch after a longer idle spell reads
# slower: costmodel/README.md, "A batch after compute").
$L calibrate --file "$wb" --chunks 4k,8k,16k,64k,256k --threads 1,8,32 --seconds 0.2 \
  -o "$dev"
$L validate --trace "$out/opt-1.3b-32.h5" --weights "$wb" --weights "$ws" --device "$dev" \
  --grid experiments/validate.conf --tokens 32 --repeat 2 --drift-refs --out "$out/validate" \
  || echo "validate failed"
rm -f "$wb" "$ws"
if command -v gnuplot >/dev/null && [ -s "$out/validate/validate.csv" ]; then
  gnuplot -e "res='$out'" plots/validate.gp && echo "figure: $out/figures/validate.png (and .pdf)"
fi
# the validation targets: MISSED with the figure when missed (never a plain "done")
# The verdict is the raw one; the drift-normalised figures are printed beside it, as a
# diagnosis (never as the verdict).
norm=$(plots/validate_check.sh "$out/validate/validate.csv" norm_error_pct || true)
if verdict=$(plots/validate_check.sh "$out/validate/validate.csv"); then
  echo "$verdict"
  echo "  $norm"
  echo "== demo done: $out"
else
  echo "$verdict"
  echo "  $norm"
  echo "== demo done: $out; validation targets MISSED (see above; on a busy machine the"
  echo "   measured side is noisy, and the drift-normalised line says how much of the miss"
  echo "   is the machine's speed moving: rerun quietly before reading it as a model error)"
fi
