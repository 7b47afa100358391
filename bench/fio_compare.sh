#!/bin/sh
# Is `llmflash probe` (and the executor, whose reads are the same lf_io_run loop) as fast
# as fio on the same file? At 8, 16 and 64 KiB with 1, 8 and 32 reads in flight:
#   psync pool (llmflash probe --engine psync, one pool thread per read in flight)
#     against fio ioengine=psync with numjobs = reads in flight (group_reporting);
#   io_uring engine (llmflash probe --engine io_uring)
#     against fio ioengine=libaio with iodepth = reads in flight;
# all direct=1, random reads aligned to 4 KiB over the whole file. Each point is run
# $FIO_COMPARE_REPEATS times (default 3) as interleaved quadruples (fio psync, probe
# psync, fio libaio, probe io_uring), each $FIO_COMPARE_SECONDS long (default 1); the
# table gives the medians and their ratios. Target: ratio >= 0.97 at every point
# (MISSED when not; the script then exits 1). Beside each median ratio, the range of the
# rounds' own ratios: a point whose rounds fall on both sides of the target is marked
# NOISY. On a shared or busy machine the figures are noise: run it quietly.
# Pages: fio reads into malloc'd buffers in 4 KiB pages, and on a virtual disk a direct
# read into 4 KiB pages can run several times slower than into a huge page (costmodel/
# README.md, "Huge pages"), so by default the probe runs with LLMFLASH_THP=0 and both
# read into the same kind of memory: the ratio is the reader's overhead alone.
# FIO_COMPARE_PAGES=thp: the probe with its default huge pages (what the executor gets).
# Buffers: fio reads into one buffer per read in flight, so the probe does too
# (--footprint 0); its default, reads cycled through 64 MiB as a run's rows are, ran up to
# 1.75x slower at high throughput on this VM (costmodel/README.md, "Where the reads land").
# Jobs: fio runs its psync jobs as threads (--thread), one address space as the pool's
# threads share; FIO_COMPARE_JOBS=processes: fio's default, a process per job. Threads
# pinning 4 KiB pages of their buffers for direct reads contend in their one address
# space: at 64 KiB x 32 here fio's own jobs read 1029-1186 MB/s as threads against
# 1529-1652 as processes, 2 interleaved pairs of 3 s, 2026-12-02 16:13, and the pool
# 915-1001 (in huge pages, the executor's, 2221-2342): the processes' lead is that, not the
# reader's overhead.
# Usage: bench/fio_compare.sh FILE   (FILE: an existing file of >= 1 GiB on the disk,
#        e.g. the 2 GiB file `llmflash probe --file F` creates)
set -u
file=${1:?usage: bench/fio_compare.sh FILE}
LLMFLASH=${LLMFLASH:-build/llmflash}
secs=${FIO_COMPARE_SECONDS:-1}
reps=${FIO_COMPARE_REPEATS:-3}
target=0.97
pages=${FIO_COMPARE_PAGES:-4k}
case "$pages" in 4k) thp=0 ;; thp) thp=1 ;; *) echo "FIO_COMPARE_PAGES=$pages: use 4k or thp" >&2; exit 2 ;; esac
jobs=${FIO_COMPARE_JOBS:-threads}
case "$jobs" in threads) fio_thread=--thread ;; processes) fio_thread= ;;
  *) echo "FIO_COMPARE_JOBS=$jobs: use threads or processes" >&2; exit 2 ;; esac
if ! command -v fio >/dev/null 2>&1; then
  echo "SKIP: fio not installed (apt-get install fio); no comparison"
  exit 0
fi
ms=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fio_mbs() {  # engine bs depth -> MB/s (1e6 bytes/s); terse v3 field 7 is read bandwidth in KiB/s
  if [ "$1" = psync ]; then par="--ioengine=psync --numjobs=$3 --group_reporting --iodepth=1 $fio_thread"
  else par="--ioengine=libaio --iodepth=$3"; fi
  # shellcheck disable=SC2086
  fio --name=cmp --filename="$file" --readonly --rw=randread --bs="$2" --blockalign=4k \
      $par --direct=1 --runtime="${ms}ms" --time_based --norandommap --randrepeat=0 \
      --output-format=terse --terse-version=3 2>/dev/null |
    awk -F';' 'NR == 1 { printf "%.2f", $7 * 1024 / 1e6 }'
}
probe_mbs() {  # engine bs depth -> MB/s
  LLMFLASH_THP=$thp "$LLMFLASH" probe --file "$file" --engine "$1" --chunks "$2" --threads "$3" \
      --footprint 0 --seconds "$secs" --repeats 1 -o - 2>/dev/null | awk -F, 'NR == 2 { print $6 }'
}
# each ratio also per interleaved round (probe / the fio run next to it), min-max: a
# point whose rounds fall on both sides of the target is NOISY, its verdict says little
range() {  # "probe values" "fio values" -> min-max of the rounds' ratios
  awk -v p="$1" -v f="$2" 'BEGIN { n = split(p, a, " "); split(f, b, " "); lo = 1e9; hi = 0
    for (i = 1; i <= n; i++) if (b[i] > 0) { r = a[i] / b[i]; lo = r < lo ? r : lo; hi = r > hi ? r : hi }
    printf "%.2f-%.2f", (hi > 0) ? lo : 0, hi }'
}
straddles() {  # "lo-hi" -> 1 when the target lies inside
  echo "$1" | awk -F- -v t="$target" '{ print ($1 < t && $2 >= t) ? 1 : 0 }'
}
printf '%-4s %5s %10s %10s %7s %9s  %10s %10s %7s %9s  %s\n' bs depth fio_psync pool pool/fio \
  rounds fio_libaio io_uring uring/fio rounds "target >= $target"
pass=0; total=0; noisy=0
for bs in 8k 16k 64k; do
  for depth in 1 8 32; do
    fp=""; pp=""; fa=""; pu=""
    i=0
    while [ "$i" -lt "$reps" ]; do
      fp="$fp $(fio_mbs psync "$bs" "$depth")"
      pp="$pp $(probe_mbs psync "$bs" "$depth")"
      fa="$fa $(fio_mbs libaio "$bs" "$depth")"
      pu="$pu $(probe_mbs io_uring "$bs" "$depth")"
      i=$((i + 1))
    done
    m1=$(echo "$fp" | median); m2=$(echo "$pp" | median)
    m3=$(echo "$fa" | median); m4=$(echo "$pu" | median)
    line=$(awk -v a="$m1" -v b="$m2" -v c="$m3" -v d="$m4" -v t="$target" 'BEGIN {
      r1 = (a > 0) ? b / a : 0; r2 = (c > 0) ? d / c : 0
      ok = (r1 >= t && r2 >= t) ? "ok" : "MISSED"
      printf "%.3f %.3f %s", r1, r2, ok }')
    set -- $line
    g1=$(range "$pp" "$fp"); g2=$(range "$pu" "$fa"); mark=""
    if [ "$(straddles "$g1")" = 1 ] || [ "$(straddles "$g2")" = 1 ]; then
      mark=" NOISY"; noisy=$((noisy + 1))
    fi
    printf '%-4s %5s %10s %10s %7s %9s  %10s %10s %7s %9s  %s\n' "$bs" "$depth" "$m1" "$m2" "$1" \
      "$g1" "$m3" "$m4" "$2" "$g2" "$3$mark"
    total=$((total + 1)); [ "$3" = ok ] && pass=$((pass + 1))
  done
done
echo "RESULT probe vs fio: $pass of $total points at >= $target x fio for both engines" \
     "(probe buffers: $pages pages; fio's psync jobs as $jobs; medians of $reps interleaved runs of $secs s;" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg))"
if [ "$noisy" -gt 0 ]; then
  echo "NOISY: at $noisy of $total points the rounds' ratios fall on both sides of $target:" \
       "those verdicts, met or missed, are the disk's noise (more FIO_COMPARE_REPEATS, a quieter disk)"
fi
[ "$pass" -eq "$total" ]  # exit 1 when a point missed its target
