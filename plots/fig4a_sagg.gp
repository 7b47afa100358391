# Figure 4a of "LLM in a flash": s_agg(k), the mean union of the neurons active in k
# consecutive tokens, and Δ(k) = s_agg(k+1) - s_agg(k), the neurons a window of k loads
# per token, against the window size k; one line per trace (model shape), a recorded
# real-model trace included. Input: every res/fig4a/*.stats.csv, written by
#   llmflash trace stats T.h5 --max-window 16 --csv results/fig4a/NAME.stats.csv
# in long form: columns layer, metric, k, value; the rows plotted are those of layer -1
# (the mean over layers) with metric s_agg or delta (fractions of the layer's units).
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "fig4a_sagg"
files = system(sprintf("ls '%s'/fig4a/*.stats.csv 2>/dev/null", res))
if (words(files) == 0) { print "figure ".name.": ".sprintf("no %s/fig4a/*.stats.csv; they are made by: llmflash trace stats T.h5 --max-window 16 --csv results/fig4a/NAME.stats.csv", res); exit status 1 }
do for [f in files] { call here."/need.gp" f "layer metric k value" "llmflash trace stats --csv" }
all(m) = (column("layer") == -1 && strcol("metric") eq m ? 100 * column("value") : NaN)
set xlabel "window size k (tokens)"
set xrange [1:*]
do for [fmt in "png pdf"] {
  eval begin(fmt)
  set multiplot layout 1,2 title "Windowing: aggregated usage and incremental transfer"
  set key bottom right
  set ylabel "s_agg(k): units used in the window (% of FFN)"
  plot for [i=1:words(files)] word(files,i) using (column("k")):(all("s_agg")) \
         with linespoints pt 7 ps 0.6 lw 2 lc i title stem(word(files,i), ".stats.csv")
  set key top right
  set ylabel "Δ(k): units loaded per token (% of FFN)"
  plot for [i=1:words(files)] word(files,i) using (column("k")):(all("delta")) \
         with linespoints pt 7 ps 0.6 lw 2 lc i title stem(word(files,i), ".stats.csv")
  unset multiplot
  unset output
}
