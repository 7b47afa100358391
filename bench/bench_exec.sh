#!/bin/sh
# Benchmarks of the executor and the validation (issue 5 targets), on this machine:
#   0. one device profile calibrated here (llmflash calibrate: probe + fit + DRAM/compute,
#      its batches probed after 5 and 0.25 ms of compute: each layer's batch is priced by
#      its own compute between the two), for both models;
#   1. opt-1.3b (FFN only, fp16, bundled and split files, 1.6 GB each): llmflash validate
#      over experiments/validate.conf (12 configurations), $EXEC_REPEAT measured runs each
#      (median): MdAPE of predicted vs measured steady-state per-token latency (target
#      <= 10%), the worst configuration (target <= 25%);
#   2. executor read throughput vs `llmflash probe` at the same chunk (8 KiB, one opt-1.3b
#      fp16 neuron) and reads in flight (32), interleaved, medians (target >= 90%), and
#      the executor's max RSS against its DRAM managers plus the stated fixed overhead;
#   3. the full opt-6.7b (fp16 FFN, 8.6 GB per file, bundled and split, made here and
#      deleted after): the same validation as 1, and the throughput of 2 at 16 KiB.
# Files live under $LLMFLASH_BENCH_DIR (default /var/tmp/llmflash-bench) and are removed
# at the end. Takes tens of minutes on a slow disk; EXEC_TOKENS_13 / EXEC_TOKENS_67 /
# EXEC_REPEAT shorten it, EXEC_SKIP_67=1 skips part 3.
set -u
BIN=${LLMFLASH:-build/llmflash}
DIR=${LLMFLASH_BENCH_DIR:-/var/tmp/llmflash-bench}/exec
T13=${EXEC_TOKENS_13:-64}
T67=${EXEC_TOKENS_67:-32}
REP=${EXEC_REPEAT:-3}
mkdir -p "$DIR"
# issue 5's targets are for the FFN stream: this bench validates at scope ffn (the whole
# token is bench/bench_fidelity.sh's)
GRID=$DIR/validate-ffn.conf
{ cat experiments/validate.conf; echo "scope = ffn"; } >"$GRID"
trap 'rm -rf "$DIR"' EXIT INT TERM
for c in validate calibrate "weights make" "trace synth"; do
  if ! $BIN $c --help >/dev/null 2>&1; then
    echo "bench_exec: SKIP: 'llmflash $c' is not in this build"; exit 0
  fi
done
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
status=0

# the device profile $DIR/thisbox.conf; its batch pass after calibrate's two default gaps
# (costmodel/README.md, "Two gaps, and each layer's own": opt-1.3b's layers compute
# 0.2-0.6 ms between their reads at scope ffn, opt-6.7b's 1.1-3.5 ms)
echo "--- device profile of this machine (llmflash calibrate)"
"$BIN" calibrate --file "$DIR/probe.bin" --size 2g -o "$DIR/thisbox.conf" \
  --chunks 4k,8k,16k,32k,64k,256k,1m --threads 1,4,8,16,32 2>"$DIR/cal.err" >"$DIR/cal.out" \
  || { cat "$DIR/cal.err"; exit 1; }
grep -v 'probe \[' "$DIR/cal.err"
grep 'calibrate: flash\|calibrate: after' "$DIR/cal.out"

# validate MODEL TOKENS: trace, bundled + split weights, llmflash validate; prints the
# per-configuration table and the MdAPE line; checks the targets.
validate() {
  m=$1; tok=$2
  "$BIN" trace synth --model "$m" --tokens $((tok + 8)) --seed 7 -o "$DIR/$m.h5" >/dev/null || return 1
  for lay in bundled split; do
    "$BIN" weights make --model "$m" --layout $lay --file "$DIR/$m-$lay.w" || return 1
  done
  "$BIN" validate --trace "$DIR/$m.h5" --weights "$DIR/$m-bundled.w" --weights "$DIR/$m-split.w" \
    --device "$DIR/thisbox.conf" --grid $GRID --tokens "$tok" --repeat "$REP" \
    --out "$DIR/val-$m" --drift-refs >"$DIR/val-$m.txt" 2>"$DIR/val-$m.err" \
    || { cat "$DIR/val-$m.err"; return 1; }
  # validate's own MdAPE line is against issue 12's whole-token targets (5% / 15%); this
  # bench's (issue 5's, 10% / 25%) are printed below
  sed 1d "$DIR/val-$m.txt" | grep -v '^MdAPE .* over .* configurations'
  echo "parts (ms per token, predicted/measured): io, mem, compute; executor GB/s"
  awk -F, 'NR > 1 { printf "  %s  io %7.2f/%7.2f  mem %5.2f/%5.2f  compute %6.2f/%6.2f  %.3f\n",
    $1, $14, $15, $16, $17, $18, $19, $24 }' "$DIR/val-$m/validate.csv"
  # the drift-normalised errors (each run priced at the disk's and kernels' speeds
  # measured just before it) say how much of a miss is the host's drift since the
  # calibration; the targets are on the raw errors
  errors "$m" norm_error_pct "$DIR/val-$m/validate.csv" || :
  errors "$m" error_pct "$DIR/val-$m/validate.csv"
}

# errors MODEL COLUMN CSV: MdAPE and worst of COLUMN (error_pct: against issue 5's
# targets, exit 1 when one is missed; norm_error_pct: the same figures, no target)
errors() {
  t=none
  [ "$2" = error_pct ] && t=10,25
  VALIDATE_LABEL=$1 VALIDATE_TARGETS=$t sh plots/validate_check.sh "$3" "$2"
}

echo "--- 1. opt-1.3b: predicted vs measured, $T13 tokens, $REP runs per configuration"
validate opt-1.3b "$T13" || status=1

# throughput M CHUNK: executor (window:k=4, bundled, 32 in flight) vs the probe at the
# record size and 32 in flight, three interleaved pairs, medians.
throughput() {
  m=$1; chunk=$2; tok=$3
  : >"$DIR/probe.mb"; : >"$DIR/exec.gb"
  for i in 1 2 3; do
    "$BIN" probe --file "$DIR/$m-bundled.w" --chunks "$chunk" --threads 32 --seconds 3 2>/dev/null \
      | awk -F, 'NR == 2 {print $6}' >>"$DIR/probe.mb"
    "$BIN" run --trace "$DIR/$m.h5" --weights "$DIR/$m-bundled.w" --policy window:k=4 \
      --threads 32 --dram-fraction 0.5 --tokens "$tok" --scope ffn --out "$DIR/tp$i" >"$DIR/tp$i.txt" 2>&1 \
      || { cat "$DIR/tp$i.txt"; return 1; }
    sed -n 's/.*"read_gb_per_s":"\([0-9.e+-]*\)".*/\1/p' "$DIR/tp$i/meta.json" >>"$DIR/exec.gb"
  done
  grep '^memory' "$DIR/tp1.txt"
  pm=$(median <"$DIR/probe.mb"); eg=$(median <"$DIR/exec.gb")
  awk -v m="$m" -v c="$chunk" -v p="$pm" -v e="$eg" 'BEGIN { r = 100 * e * 1000 / p
    printf "%s: executor %.1f MB/s vs probe %.1f MB/s at %s reads, 32 in flight (medians of 3, interleaved): %.0f%% (target >= 90%%) %s\n",
      m, e * 1000, p, c, r, (r >= 90) ? "ok" : "MISSED"; exit !(r >= 90) }'
}

echo "--- 2. executor read throughput vs llmflash probe (same chunk, 32 in flight)"
throughput opt-1.3b 8k "$T13" || status=1
rm -f "$DIR"/opt-1.3b-*.w

if [ "${EXEC_SKIP_67:-0}" = 1 ]; then
  echo "--- 3. opt-6.7b: skipped (EXEC_SKIP_67=1)"
else
  echo "--- 3. opt-6.7b (full FFN, 8.6 GB per file): predicted vs measured, $T67 tokens"
  validate opt-6.7b "$T67" || status=1
  throughput opt-6.7b 16k "$T67" || status=1
  rm -f "$DIR"/opt-6.7b-*.w
fi
exit $status
