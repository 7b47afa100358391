#!/bin/sh
# `make demo`: the main job end to end on synthetic data (no ../shared/data needed).
set -eu
L=build/llmflash
out=results/demo
mkdir -p "$out"
echo "== 1. synthesise a trace: opt-1.3b, 256 tokens"
$L trace synth --model opt-1.3b --tokens 256 --seed 1 -o "$out/opt-1.3b.h5"
echo "== 2. its statistics"
$L trace stats "$out/opt-1.3b.h5" --max-window 8 --csv "$out/opt-1.3b.stats.csv"
