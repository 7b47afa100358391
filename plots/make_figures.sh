#!/bin/sh
# plots/make_figures.sh (`make figures`): every figure of plots/README.md from nothing:
# synthetic traces, a recorded real-model trace (when ../shared/data has the model),
# this machine's probe and profile, the sweeps of experiments/*.conf, the validation on
# this machine, then one gnuplot script per figure. Writes results/figures/NAME.png and
# .pdf, the ablation tables (CSV, Markdown) and results/figures/index.md (each figure,
# the commands and configuration that made it).
# A step that fails says so and the others go on. Finished sweep runs and existing traces are
# reused: delete results/ (or run with --clean) to start from nothing.
# Environment: LLMFLASH (binary, default build/llmflash), LLMFLASH_FIGURES_DIR (large
# scratch files: probe and weights files, default /var/tmp/llmflash-figures, deleted
# after), JOBS (sweep runs at once, default: cores).
set -u
L=${LLMFLASH:-build/llmflash}
R=results
F=$R/figures
DATA=${LLMFLASH_FIGURES_DIR:-/var/tmp/llmflash-figures}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SHARED=${LLMFLASH_SHARED_DATA:-../shared/data}
[ "${1:-}" = "--clean" ] && rm -rf "$R/traces" "$R/fig4a" "$R/probe" "$R/fig7" "$R/fig8" \
  "$R/ablation" "$R/coact" "$R/moe" "$R/validate" "$F"
[ -x "$L" ] || { echo "make_figures: $L is not built (run make)" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "make_figures: gnuplot is missing (scripts/deps.sh installs gnuplot-nox)" >&2; exit 1; }
mkdir -p "$F" "$R/traces" "$R/fig4a" "$R/probe" "$R/coact" "$DATA"
LOG=$F/.commands
: > "$LOG"
START=$(date +%s)
failures=0

# note FIG TEXT: a line for index.md.
note() { printf '%s\t%s\n' "$1" "$2" >> "$LOG"; }
skip() { echo "skipped: $2"; note "$1" "skipped: $2"; }
# The command line of its arguments, those with blanks in single quotes.
cmdline() { for a; do case $a in *" "*) printf "'%s' " "$a" ;; *) printf '%s ' "$a" ;; esac; done; }
# run FIG CMD...: echoes and logs the command, runs it; failure is reported, not fatal.
run() {
  fig=$1; shift
  c=$(cmdline "$@")
  echo "+ $c" >&2
  note "$fig" "\`${c% }\`"
  "$@" || { echo "failed ($?): $c" >&2; note "$fig" "FAILED: \`${c% }\`"; failures=$((failures + 1)); return 1; }
}
elapsed() { echo "   ($(($(date +%s) - START)) s so far)"; }

echo "== traces (synthetic)"
# made FIG OUT CMD...: runs CMD unless OUT already exists (then notes it as reused).
made() {
  fig=$1; out=$2; shift 2
  if [ -s "$out" ]; then c=$(cmdline "$@"); echo "  reuse $out"; note "$fig" "\`${c% }\` (reused $out)"; return 0; fi
  run "$fig" "$@"
}
synth() { # model tokens fig
  made "$3" "$R/traces/$1.h5" $L trace synth --model "$1" --tokens "$2" --seed 1 -o "$R/traces/$1.h5"
}
synth opt-6.7b 1000 fig4a_sagg
for f in fig7_dram fig8_tokens ablation coact; do
  note $f "trace: \`$L trace synth --model opt-6.7b --tokens 1000 --seed 1 -o $R/traces/opt-6.7b.h5\`"
done
for m in opt-1.3b falcon-7b persimmon-8b phi-2 llama2-7b; do synth $m 300 fig4a_sagg; done
synth qwen3.5-397b-a17b 400 moe_hitrate
elapsed

echo "== figure 4a: s_agg(k) and delta(k) per model shape and for a recorded trace"
for t in $R/traces/opt-6.7b.h5 $R/traces/opt-1.3b.h5 $R/traces/falcon-7b.h5 \
           $R/traces/persimmon-8b.h5 $R/traces/phi-2.h5 $R/traces/llama2-7b.h5; do
    [ -s "$t" ] || continue
    s=$R/fig4a/$(basename "$t" .h5).stats.csv
    made fig4a_sagg "$s" $L trace stats "$t" --max-window 16 --friend-sample 64 --csv "$s" >/dev/null
  done
  if [ ! -s "$SHARED/stories260K.bin" ] || [ ! -s "$SHARED/tok512.bin" ]; then
    skip fig4a_sagg "$SHARED/stories260K.bin or tok512.bin absent: no recorded real-model trace in figure 4a"
  else
    t=$R/traces/stories260k.h5
    s=$R/fig4a/stories260k-recorded.stats.csv
    made fig4a_sagg "$t" $L trace record --checkpoint "$SHARED/stories260K.bin" \
      --tokenizer "$SHARED/tok512.bin" --prompt "Once upon a time" --steps 512 \
      --temperature 0.8 --seed 1 --threshold 0.1 --relative -o "$t" &&
      made fig4a_sagg "$s" $L trace stats "$t" --max-window 16 --friend-sample 64 --csv "$s" >/dev/null
  fi
elapsed

echo "== this machine: probe and device profile (figure 2b, ablation)"
P=$R/probe
if [ -s "$P/probe.csv" ] && [ -s "$P/this.conf" ]; then
  echo "  reuse $P/probe.csv and $P/this.conf"
  note fig2b_flash "reused $P/probe.csv and $P/this.conf (delete them to measure again)"
else
  run fig2b_flash $L calibrate --file "$DATA/probe.bin" --size 1g --seconds 0.3 \
    --probe-csv "$P/probe.csv" --name this -o "$P/this.conf"
fi
rm -f "$DATA/probe.bin"
[ -s "$P/probe.csv" ] && [ -s "$P/this.conf" ] &&
  run fig2b_flash $L fit "$P/probe.csv" --profile "$P/this.conf" --curves "$P/model-fit.csv" >/dev/null
[ -s "$P/probe.csv" ] &&
  run fig2b_flash $L fit "$P/probe.csv" --profile costmodel/devices/m1max.conf --curves "$P/model-m1max.csv" >/dev/null
elapsed

sweep() { # fig name
  if [ ! -s "$R/traces/opt-6.7b.h5" ] && [ "$2" != moe ]; then skip "$1" "$2 sweep: no trace"; return 1; fi
  note "$1" "configuration: [experiments/$2.conf](../../experiments/$2.conf)"
  run "$1" $L sweep "experiments/$2.conf" --jobs "$JOBS" --out "$R/$2"
}
echo "== sweeps (simulator): figures 7, 8, ablation, co-activation, MoE hit rates"
sweep fig7_dram fig7
sweep fig8_tokens fig8
sweep ablation ablation
sweep coact coact
if [ -s "$R/traces/qwen3.5-397b-a17b.h5" ]; then sweep moe_hitrate moe
else skip moe_hitrate "no MoE trace (trace synth --model qwen3.5-397b-a17b)"; fi
elapsed

echo "== co-activation: per-unit closest friends (Appendix D)"
run coact $L trace stats "$R/traces/opt-6.7b.h5" --layer 0 --friend-sample 0 \
  --friends-csv "$R/coact/friends.csv" >/dev/null

echo "== validation: predicted against measured on this machine"
# The grid (the executor's) names layouts bundled and split: one weights file each.
t=$R/traces/opt-1.3b-validate.h5
wb=$DATA/opt-1.3b-bundled.weights
ws=$DATA/opt-1.3b-split.weights
dev=$R/probe/this.conf
[ -s "$dev" ] || dev=costmodel/devices/m1max.conf
made validate "$t" $L trace synth --model opt-1.3b --tokens 64 --seed 2 -o "$t"
if [ -s "$R/validate/validate.csv" ]; then
  echo "  reuse $R/validate/validate.csv"
  note validate "reused $R/validate/validate.csv (delete it to measure again)"
else
  run validate $L weights make --model opt-1.3b --layout bundled --dtype fp16 --file "$wb" &&
    run validate $L weights make --model opt-1.3b --layout split --dtype fp16 --file "$ws" &&
    run validate $L validate --trace "$t" --weights "$wb" --weights "$ws" --device "$dev" \
      --grid experiments/validate.conf --tokens 64 --out "$R/validate"
  rm -f "$wb" "$ws"
fi
note validate "configuration: [experiments/validate.conf](../../experiments/validate.conf)"
# the validation targets: a miss is printed (and noted in index.md) as MISSED with the figure
missed=0
verdict=$(plots/validate_check.sh "$R/validate/validate.csv") || missed=1
echo "  $verdict"
note validate "$verdict"
elapsed

echo "== figures"
drawn=""
for gp in plots/*.gp; do
  name=$(basename "$gp" .gp)
  case $name in lib|need) continue ;; esac
  if out=$(gnuplot "$gp" 2>&1); then
    echo "  $F/$name.png, $F/$name.pdf"
    drawn="$drawn $name"
  else
    echo "  not made: $name: $(printf '%s' "$out" | tail -n 1)"
    note "$name" "NOT MADE: $(printf '%s' "$out" | tail -n 1)"
  fi
  note "$name" "\`gnuplot $gp\`"
done
if [ -s "$R/ablation/combined.csv" ]; then
  plots/csv_table.sh "$R/ablation/combined.csv" \
    device,configuration,out_policy,layout,dram_gb,flash_gb_per_token,throughput_gbps,io_ms,mem_ms,compute_ms,total_ms,speedup \
    "$F/ablation.csv" "$F/ablation.md" \
    "# Ablation per device (simulated; steady-state means per token)" &&
    note ablation "tables: [ablation.csv](ablation.csv), [ablation.md](ablation.md) (\`plots/csv_table.sh\`)"
fi

# index.md: one section per figure.
{
  echo "# Figures"
  echo
  echo "Made by \`plots/make_figures.sh\` ($($L version | head -n 1)) on $(hostname) at $(date -u +%Y-%m-%dT%H:%MZ) in $(($(date +%s) - START)) s."
  echo "Each figure's inputs and columns: [plots/README.md](../../plots/README.md)."
  for gp in plots/*.gp; do
    name=$(basename "$gp" .gp)
    case $name in lib|need) continue ;; esac
    echo
    echo "## $name"
    echo
    sed -n '1,/^here = /p' "$gp" | grep '^#' | sed 's/^# \{0,1\}//'
    echo
    case " $drawn " in
      *" $name "*) echo "![$name]($name.png) ([PDF]($name.pdf))" ;;
      *) echo "(not made)" ;;
    esac
    echo
    awk -F '\t' -v n="$name" '$1 == n { print "- " $2 }' "$LOG" | awk '!seen[$0]++'
  done
} > "$F/index.md.tmp" && mv "$F/index.md.tmp" "$F/index.md"
rm -f "$LOG"
if [ "$missed" -ne 0 ]; then
  echo "== done in $(($(date +%s) - START)) s: $F/index.md; figures made:${drawn:- none}; failed steps: $failures; validation targets MISSED: $verdict"
else
  echo "== done in $(($(date +%s) - START)) s: $F/index.md; figures made:${drawn:- none}; failed steps: $failures; validation targets met"
fi
