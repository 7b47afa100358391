# Table 2 / Table 3 / Figure 1 of "LLM in a flash": the ablation (naive, hybrid, +sparsity
# with predictor, +windowing, +bundling) as stacked bars of I/O, memory management and
# compute time per token; one column of panels per device, each with its own time axis
# (a slow device would otherwise flatten the others), the speed-up over naive above each
# bar; below, the three parts side by side on a log axis (memory management is
# microseconds once windowed: invisible in a stack).
# Input: res/ablation/combined.csv (or data=FILE), written by
#   llmflash sweep experiments/ablation.conf --out results/ablation
# (collect = ablation.csv: each run's `llmflash sim --ablation` table) with columns
# device (sweep key), configuration (the ablation step), io_ms, mem_ms, compute_ms
# (steady-state means per token) and speedup (over naive); every device has the same
# steps, in the same order.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "ablation"
f = input(res."/ablation/combined.csv")
call here."/need.gp" f "device configuration io_ms mem_ms compute_ms speedup" "llmflash sweep experiments/ablation.conf --out results/ablation"
devices = uniq(f, "device")
ndev = words(devices)
nsteps = nrows(f) / ndev
if (nsteps * ndev != nrows(f)) { print "figure ".name.": ".sprintf("%s: %d rows do not split evenly over %d devices", f, nrows(f), ndev); exit status 1 }
# x of a row inside its device's panel; NaN for the other devices' rows
xin(d) = (strcol("device") eq word(devices, d) ? $0 - (d - 1) * nsteps : NaN)
# the step names, from the first device's rows, as the x tics of every panel
cfg(k) = system(sprintf("awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i==\"configuration\") c=i; next} NR==%d{print $c}' '%s' | tr -d '\"'", k + 2, f))
steptics = "set xtics ()"
do for [k=0:nsteps-1] { steptics = steptics . sprintf("; set xtics add ('%s' %d)", cfg(k), k) }
tall = 1
set style fill solid 0.85 border lc rgb "#333333"
set boxwidth 0.75
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set xtics rotate by -35 nomirror font ",9"
set xrange [-0.6:nsteps - 0.4]
set key top right font ",9"
# bottom row: the three parts side by side on a log axis, so that a part of a few
# microseconds (memory management once windowed) is as readable as the flash I/O
pos(v) = v > 0 ? v : NaN
do for [fmt in "png pdf"] {
  eval begin(fmt)
  set multiplot layout 2,ndev title "Ablation: latency per token (simulated), one column and scale per device"
  do for [d=1:ndev] {
    set title stem(word(devices,d), ".conf")
    set ylabel (d == 1 ? "time per token (ms)" : "")
    set boxwidth 0.75
    unset logscale y
    set yrange [0:*]
    set offsets 0, 0, graph 0.12, 0
    unset xtics
    if (d > 1) { unset key } else { set key top right font ",9" }
    plot f using (xin(d)):(column("io_ms") + column("mem_ms") + column("compute_ms")) \
           with boxes lc rgb "#4daf4a" title "compute", \
         f using (xin(d)):(column("io_ms") + column("mem_ms")) with boxes lc rgb "#ff7f00" title "memory management", \
         f using (xin(d)):(column("io_ms")) with boxes lc rgb "#377eb8" title "flash I/O", \
         f using (xin(d)):(column("io_ms") + column("mem_ms") + column("compute_ms")):(sprintf("%.1fx", column("speedup"))) \
           with labels offset 0,0.8 font ",8" notitle
  }
  do for [d=1:ndev] {
    set title ""
    set ylabel (d == 1 ? "each part (ms, log)" : "")
    set logscale y
    set yrange [*:*]
    set offsets 0, 0, 0, 0
    set xtics rotate by -35 nomirror font ",9"
    eval steptics
    set boxwidth 0.24
    unset key
    plot f using (xin(d) - 0.25):(pos(column("io_ms"))) with boxes lc rgb "#377eb8" notitle, \
         f using (xin(d)):(pos(column("mem_ms"))) with boxes lc rgb "#ff7f00" notitle, \
         f using (xin(d) + 0.25):(pos(column("compute_ms"))) with boxes lc rgb "#4daf4a" notitle
  }
  unset multiplot
  unset output
}
