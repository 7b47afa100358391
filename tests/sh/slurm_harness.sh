#!/bin/sh
# Drives an emitted Slurm script with a fake sbatch and SLURM_ARRAY_TASK_ID, as a
# cluster would. Usage: slurm_harness.sh LLMFLASH_BIN WORKDIR. Prints "FAIL: why"
# and exits 1 on the first thing that is wrong; "slurm harness ok" at the end.
set -u
bin=$1; w=$2
rm -rf "$w"; mkdir -p "$w/bin"
fail() { echo "FAIL: $*"; exit 1; }
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
# the fake sbatch logs its arguments, keeps the --wrap command, prints a job id
cat > "$w/bin/sbatch" <<'SB'
#!/bin/sh
n=$(($(cat "$FAKE_DIR/jobid" 2>/dev/null || echo 99) + 1)); echo $n > "$FAKE_DIR/jobid"
echo "sbatch $*" >> "$FAKE_DIR/sbatch.log"
for a in "$@"; do case $a in --wrap=*) printf '%s\n' "${a#--wrap=}" > "$FAKE_DIR/wrap.sh" ;; esac; done
echo "$n;cluster"
SB
chmod +x "$w/bin/sbatch"
export FAKE_DIR="$w"
printf 'mode = sim\ntrace = t.h5\ndevice = m1max\nseed = 1|2|3|4|5|6|7\n' > "$w/s.conf"
# the runs: a fake command that writes the run's summary.csv (no simulator needed)
export LLMFLASH_SWEEP_CMD='eval d=\${$#}; mkdir -p "$d"; printf "x,seed_seen\n1,%s\n" "$7" > "$d/summary.csv"'
"$bin" sweep "$w/s.conf" --out "$w/out" --emit-slurm "$w/run.sh" --runs-per-task 3 \
  --sbatch time=00:10:00 --sbatch mem=1G --sbatch cpus-per-task=2 --sbatch partition=p1 \
  --sbatch account=acc --max-running 2 --slurm-combine --exe "$bin" > "$w/emit.out" || fail "emit"
grep -q 'Slurm array of 3 tasks, 3 runs each' "$w/emit.out" || fail "emit message: $(cat "$w/emit.out")"
for l in '--array=0-2%2' '--time=00:10:00' '--mem=1G' '--cpus-per-task=2' '--partition=p1' '--account=acc'; do
  grep -q -- "^#SBATCH $l\$" "$w/run.sh" || fail "no '#SBATCH $l' in run.sh"
done
grep -q "$bin" "$w/out/jobs.txt" || fail "jobs.txt does not run $bin"
# run from a shell: it submits itself as the array, then the combine job after it
PATH="$w/bin:$PATH" sh "$w/run.sh" > "$w/submit.out" || fail "submit"
grep -q "sbatch --parsable $w/run.sh" "$w/sbatch.log" || fail "array not submitted: $(cat "$w/sbatch.log")"
grep -q -- "--dependency=afterok:100 " "$w/sbatch.log" || fail "combine not chained afterok:100"
grep -q -- "--account=acc" "$w/sbatch.log" || fail "combine job without the account"
grep -q "submitted the array job 100 and the combine job 101" "$w/submit.out" || fail "submit message"
# the array tasks, as Slurm runs them; a task past the end fails
for t in 0 1 2; do
  SLURM_ARRAY_TASK_ID=$t sh "$w/run.sh" > "$w/task$t.out" 2>&1 || fail "task $t: $(cat "$w/task$t.out")"
done
SLURM_ARRAY_TASK_ID=3 sh "$w/run.sh" > /dev/null 2>&1 && fail "task 3 of 3 tasks succeeded"
[ "$(ls "$w"/out/*/done | wc -l)" -eq 7 ] || fail "not 7 done markers"
# the combine job's command
sh "$w/wrap.sh" > "$w/combine.out" || fail "combine job: $(cat "$w/combine.out")"
[ "$(wc -l < "$w/out/combined.csv")" -eq 8 ] || fail "combined.csv has not 7 rows"
# a big grid keeps the array under 1000 tasks; too few runs per task is refused
printf 'mode = sim\ntrace = t.h5\nseed = %s\nthreads = 1|2|3|4|5\n' "$(seq -s '|' 1 500)" > "$w/big.conf"
"$bin" sweep "$w/big.conf" --out "$w/big" --emit-slurm "$w/big.sh" > /dev/null || fail "big emit"
grep -q '^#SBATCH --array=0-833$' "$w/big.sh" || fail "2500 runs: $(grep array "$w/big.sh")"
"$bin" sweep "$w/big.conf" --out "$w/big" --emit-slurm "$w/big.sh" --runs-per-task 2 \
  > /dev/null 2> "$w/big.err" && fail "1250 tasks accepted"
grep -q 'MaxArraySize' "$w/big.err" || fail "no MaxArraySize message"
"$bin" sweep "$w/big.conf" --out "$w/big" --emit-slurm "$w/big.sh" --sbatch array=0-5 \
  > /dev/null 2>&1 && fail "--sbatch array accepted"
echo "slurm harness ok"
