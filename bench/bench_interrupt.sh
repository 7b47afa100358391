#!/bin/sh
# Interrupts llmflash commands at random moments and checks what is left (issue 14):
# SIGINT, SIGTERM and SIGKILL, sent to the command's whole process group, while it
# writes its output over an older one. After each interruption the output must be the
# old one or the complete new one (byte for byte, or for calibrate a profile that
# loads); after the same command has run again to the end, no temporary may be left.
#
# usage: bench/bench_interrupt.sh [quick|full] [TRIALS_PER_SIGNAL]
#   quick  weights make, trace synth, trace import, sweep (the `make test` check)
#   full   the same and calibrate (seconds per trial; the default, for `make bench`)
# Env: LLMFLASH_BIN (default build/llmflash), SEED (default 1) for the kill moments,
# TMPDIR for the scratch folder. Prints one line per trial and a closing line:
# "interrupt: N trials (O old, W new), F failed, T temporaries left"; exit 1 on failure.
set -u
mode=${1:-full}
trials=${2:-2}
BIN=${LLMFLASH_BIN:-${LLMFLASH:-build/llmflash}}
case "$BIN" in /*) ;; *) BIN="$(pwd)/$BIN" ;; esac
ROOT=$(pwd)
W=$(mktemp -d "${LLMFLASH_BENCH_DIR:-${TMPDIR:-/var/tmp}}/lf_interrupt.XXXXXX")
trap 'rm -rf "$W"' EXIT
seed=${SEED:-1}
n_trials=0; n_old=0; n_new=0; n_fail=0; n_tmp=0

# the kill moments: uniform in [0, max_s), from the seed
delays() { awk -v s="$1" -v n="$2" -v m="$3" 'BEGIN { srand(s); for (i = 0; i < n; i++) printf "%.3f\n", rand() * m }'; }

# run_killed SIGNAL DELAY CMD...: starts CMD in its own process group, signals the group
run_killed() {
  sig=$1; delay=$2; shift 2
  # a shell starts background commands with SIGINT ignored (and llmflash keeps an
  # ignored signal ignored, as nohup wants): restore it, as in a terminal's Ctrl-C
  setsid env --default-signal=INT,TERM "$@" >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -s "$sig" -- "-$pid" 2>/dev/null || kill -s "$sig" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # children of a sweep that outlived a SIGKILL of the group cannot exist (same group)
}

temporaries() { find "$1" -name '*.tmp.*' 2>/dev/null | wc -l; }

# verdict NAME SIG DELAY RESULT
verdict() {
  n_trials=$((n_trials + 1))
  case "$4" in
    old) n_old=$((n_old + 1)) ;;
    new) n_new=$((n_new + 1)) ;;
    *) n_fail=$((n_fail + 1)) ;;
  esac
  printf 'interrupt %-14s %-4s at %6.3f s: %s\n' "$1" "$2" "$3" "$4"
}

# file_job NAME MAX_S OUT CMD_OLD -- CMD_NEW...  (CMD_* write OUT; REF is the new bytes)
file_job() {
  name=$1; max=$2; out=$3; old_cmd=$4; shift 5
  d=$(dirname "$out")
  "$@" >/dev/null 2>&1 || { echo "interrupt $name: the command fails on its own"; n_fail=$((n_fail + 1)); return; }
  cp "$out" "$W/$name.ref"
  sh -c "$old_cmd" >/dev/null 2>&1 || { echo "interrupt $name: the old command fails"; n_fail=$((n_fail + 1)); return; }
  cp "$out" "$W/$name.old"
  i=0
  for sig in INT TERM KILL; do
    for t in $(delays $((seed + i)) "$trials" "$max"); do
      i=$((i + 1))
      run_killed $sig "$t" "$@"
      if cmp -s "$out" "$W/$name.old"; then r=old
      elif cmp -s "$out" "$W/$name.ref"; then r=new; cp "$out" "$W/$name.old"
      else r="FAILED (neither the old output nor the new one)"; fi
      verdict "$name" $sig "$t" "$r"
    done
  done
  "$@" >/dev/null 2>&1
  left=$(temporaries "$d")
  n_tmp=$((n_tmp + left))
  cmp -s "$out" "$W/$name.ref" || { echo "interrupt $name: the last full run differs"; n_fail=$((n_fail + 1)); }
  [ "$left" -eq 0 ] || { echo "interrupt $name: $left temporaries left after a full run:"; find "$d" -name '*.tmp.*' | head -n 5; }
}

B="$BIN"
mkdir -p "$W/w" "$W/s" "$W/i" "$W/sw" "$W/c"

# weights make: 4 layers of a small model, ~17 MB
file_job weights-make 0.6 "$W/w/w.bin" \
  "'$B' weights make --model custom:4,256,1024 --file '$W/w/w.bin' --seed 7" -- \
  "$B" weights make --model custom:4,256,1024 --file "$W/w/w.bin" --seed 8

# trace synth
file_job trace-synth 0.5 "$W/s/t.h5" \
  "'$B' trace synth --model custom:4,256,1024 --tokens 400 --seed 7 -o '$W/s/t.h5'" -- \
  "$B" trace synth --model custom:4,256,1024 --tokens 400 --seed 8 -o "$W/s/t.h5"

# trace import: a routing log of 20000 records
awk 'BEGIN { print "{\"type\":\"meta\",\"top_k\":2,\"num_experts\":16}";
  for (i = 0; i < 20000; i++) printf "{\"type\":\"route\",\"layer\":0,\"topk_ids\":[%d,%d],\"topk_weights\":[0.6,0.4]}\n", i % 8, 8 + i % 7 }' > "$W/i/log.jsonl"
file_job trace-import 0.6 "$W/i/t.h5" \
  "'$B' trace import '$W/i/log.jsonl' --tokens 100 -o '$W/i/t.h5'" -- \
  "$B" trace import "$W/i/log.jsonl" -o "$W/i/t.h5"

# sweep: 4 small simulations, 2 at a time; resumed runs must give the same combined.csv
"$B" trace synth --model custom:2,256,1024 --tokens 60 -o "$W/sw/t.h5" >/dev/null 2>&1
cat > "$W/sw/sweep.conf" <<EOF
mode = sim
trace = $W/sw/t.h5
device = $ROOT/costmodel/devices/m1max.conf
policy = lru | window:k=2
dram-fraction = 0.5 | 0.7
predictor-rank = 0
quiet =
EOF
if "$B" sweep "$W/sw/sweep.conf" --jobs 2 --out "$W/sw/ref" >/dev/null 2>&1; then
  i=0
  for sig in INT TERM KILL; do
    for t in $(delays $((seed + 100 + i)) "$trials" 1.5); do
      i=$((i + 1))
      rm -rf "$W/sw/out"
      run_killed $sig "$t" "$B" sweep "$W/sw/sweep.conf" --jobs 2 --out "$W/sw/out"
      r=new
      for run in "$W"/sw/out/*/; do
        [ -f "$run/done" ] || continue
        for f in config.conf meta.json tokens.csv summary.csv; do
          [ -s "$run/$f" ] || r="FAILED ($run has done but no $f)"
        done
      done
      [ -f "$W/sw/out/combined.csv" ] || { [ "$r" = new ] && r=old; }
      if [ -f "$W/sw/out/combined.csv" ] && ! cmp -s "$W/sw/out/combined.csv" "$W/sw/ref/combined.csv"; then
        r="FAILED (partial combined.csv)"
      fi
      verdict sweep $sig "$t" "$r"
      "$B" sweep "$W/sw/sweep.conf" --jobs 2 --out "$W/sw/out" >/dev/null 2>&1
      cmp -s "$W/sw/out/combined.csv" "$W/sw/ref/combined.csv" || { echo "interrupt sweep: resumed combined.csv differs"; n_fail=$((n_fail + 1)); }
      left=$(temporaries "$W/sw/out"); n_tmp=$((n_tmp + left))
      [ "$left" -eq 0 ] || { echo "interrupt sweep: $left temporaries left after resuming:"; find "$W/sw/out" -name '*.tmp.*' | head -n 5; }
    done
  done
else
  echo "interrupt sweep: the sweep fails on its own"; n_fail=$((n_fail + 1))
fi

# calibrate: the probe file (64 MiB, created by the first run) and the profile
if [ "$mode" = full ]; then
  "$B" trace synth --model custom:2,256,1024 --tokens 8 -o "$W/c/t.h5" >/dev/null 2>&1
  set -- "$B" calibrate --file "$W/c/probe.bin" --size 64m --chunks 4k,16k,64k --threads 1,4 \
         --seconds 0.05 --repeats 1 -o "$W/c/c.conf"
  cal() { "$@"; }
  loads() { "$B" sim --trace "$W/c/t.h5" --device "$1" --predictor-rank 0 --policy lru >/dev/null 2>&1; }
  cal "$@" >/dev/null 2>&1 || { echo "interrupt calibrate: fails on its own (O_DIRECT on $W?)"; n_fail=$((n_fail + 1)); }
  cp "$W/c/c.conf" "$W/c.old"
  i=0
  for sig in INT TERM KILL; do
    for t in $(delays $((seed + 200 + i)) "$trials" 8); do
      i=$((i + 1))
      [ $((i % 2)) -eq 1 ] && rm -f "$W/c/probe.bin"   # half the trials interrupt its creation
      run_killed $sig "$t" "$@"
      if cmp -s "$W/c/c.conf" "$W/c.old"; then r=old
      elif loads "$W/c/c.conf"; then r=new; cp "$W/c/c.conf" "$W/c.old"
      else r="FAILED (a profile that does not load)"; fi
      if [ -f "$W/c/probe.bin" ] && [ "$(stat -c %s "$W/c/probe.bin")" -ne 67108864 ]; then
        r="FAILED (a partial probe file)"
      fi
      verdict calibrate $sig "$t" "$r"
    done
  done
  cal "$@" >/dev/null 2>&1
  left=$(temporaries "$W/c"); n_tmp=$((n_tmp + left))
  [ "$left" -eq 0 ] || { echo "interrupt calibrate: $left temporaries left"; find "$W/c" -name '*.tmp.*'; }
fi

echo "interrupt: $n_trials trials ($n_old old, $n_new new), $n_fail failed, $n_tmp temporaries left"
[ "$n_fail" -eq 0 ] && [ "$n_tmp" -eq 0 ]
