#!/bin/sh
# Is `llmflash probe` a faithful instrument? At 32k, 64k and 256k with 1, 8 and 32 reads
# in flight, runs Debian's fio (ioengine=io_uring, direct=1, randread, same block size,
# iodepth and 4 KiB block alignment, same file) and llmflash probe (psync and io_uring
# engines), interleaved, 5 times each, and prints the ratio of the medians per point.
# Target: the like-for-like ratio (probe's io_uring engine / fio's io_uring) within 10%
# of 1 (0.90..1.10) at every point; the psync ratio (a thread pool against fio's queue)
# is printed for information.
# Usage: bench/fio_compare.sh FILE   (FILE: an existing file of >= 256 MiB on the disk)
set -u
file=${1:?usage: bench/fio_compare.sh FILE}
LLMFLASH=${LLMFLASH:-build/llmflash}
secs=${FIO_COMPARE_SECONDS:-0.3}
reps=${FIO_COMPARE_REPEATS:-5}
if ! command -v fio >/dev/null 2>&1; then
  echo "SKIP: fio not installed (apt-get install fio); no comparison"
  exit 0
fi
ms=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1000 }')
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
fio_mbs() {  # bs depth -> MB/s (1e6 bytes/s); terse v3 field 7 is read bandwidth in KiB/s
  fio --name=cmp --filename="$file" --readonly --rw=randread --bs="$1" --blockalign=4k \
      --iodepth="$2" --ioengine=io_uring --direct=1 --runtime="${ms}ms" --time_based \
      --norandommap --randrepeat=0 --output-format=terse --terse-version=3 2>/dev/null |
    awk -F';' '{ printf "%.2f", $7 * 1024 / 1e6 }'
}
probe_mbs() {  # engine bs depth -> MB/s
  "$LLMFLASH" probe --file "$file" --engine "$1" --chunks "$2" --threads "$3" \
      --seconds "$secs" --repeats 1 -o - 2>/dev/null | awk -F, 'NR == 2 { print $6 }'
}
printf '%-6s %6s %10s %10s %10s %8s %8s  %s\n' bs depth fio_MB/s psync_MB/s uring_MB/s \
  psync/fio uring/fio "uring/fio target 0.90..1.10"
pass=0; total=0
for bs in 32k 64k 256k; do
  for depth in 1 8 32; do
    f=""; p=""; u=""
    i=0
    while [ "$i" -lt "$reps" ]; do
      f="$f $(fio_mbs "$bs" "$depth")"
      p="$p $(probe_mbs psync "$bs" "$depth")"
      u="$u $(probe_mbs io_uring "$bs" "$depth")"
      i=$((i + 1))
    done
    fm=$(echo "$f" | median); pm=$(echo "$p" | median); um=$(echo "$u" | median)
    line=$(awk -v f="$fm" -v p="$pm" -v u="$um" 'BEGIN {
      if (f <= 0) { print "nan nan FAIL"; exit }
      rp = p / f; ru = u / f
      ok = (ru >= 0.9 && ru <= 1.1) ? "ok" : "OUT"
      printf "%.3f %.3f %s", rp, ru, ok }')
    set -- $line
    printf '%-6s %6s %10s %10s %10s %8s %8s  %s\n' "$bs" "$depth" "$fm" "$pm" "$um" "$1" "$2" "$3"
    total=$((total + 1)); [ "$3" = ok ] && pass=$((pass + 1))
  done
done
echo "RESULT probe (io_uring) vs fio (io_uring): $pass of $total points within 10% (target: $total of $total)"
