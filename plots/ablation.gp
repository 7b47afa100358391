# Table 2 / Table 3 / Figure 1 of "LLM in a flash": the ablation (naive, hybrid, +sparsity
# with predictor, +windowing, +bundling) as stacked bars of I/O, memory management and
# compute time per token, one group of bars per device. Input: res/ablation/combined.csv,
# written by  llmflash sweep experiments/ablation.conf --out results/ablation
# (collect = ablation.csv: each run's `llmflash sim --ablation` table) with columns
# device (sweep key), configuration (the ablation step), io_ms, mem_ms, compute_ms
# (steady-state means per token) and speedup (over naive, printed above each bar); every
# device has the same steps, in the same order.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "ablation"
f = res."/ablation/combined.csv"
call here."/need.gp" f "device configuration io_ms mem_ms compute_ms speedup" "llmflash sweep experiments/ablation.conf --out results/ablation"
devices = uniq(f, "device")
ndev = words(devices)
nsteps = nrows(f) / ndev
if (nsteps * ndev != nrows(f)) { print "figure ".name.": ".sprintf("%s: %d rows do not split evenly over %d devices", f, nrows(f), ndev); exit status 1 }
xpos(r) = r + floor(r / nsteps)
set style fill solid 0.85 border lc rgb "#333333"
set boxwidth 0.75
set ylabel "time per token (ms)"
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set xtics rotate by -30 nomirror
set key top right
set xrange [-0.7:ndev * (nsteps + 1) - 1.3]
do for [d=1:ndev] {
  set label d stem(word(devices,d), ".conf") at (d - 1) * (nsteps + 1) + (nsteps - 1) / 2.0, graph 1.03 center
}
set title "Ablation: latency breakdown per token (simulated)\n"
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot f using (xpos($0)):(column("io_ms") + column("mem_ms") + column("compute_ms")):xtic(strcol("configuration")) \
         with boxes lc rgb "#4daf4a" title "compute", \
       f using (xpos($0)):(column("io_ms") + column("mem_ms")) with boxes lc rgb "#ff7f00" title "memory management", \
       f using (xpos($0)):(column("io_ms")) with boxes lc rgb "#377eb8" title "flash I/O", \
       f using (xpos($0)):(column("io_ms") + column("mem_ms") + column("compute_ms")):(sprintf("%.1fx", column("speedup"))) \
         with labels offset 0,0.8 font ",9" notitle
  unset output
}
