# Figure 4a of "LLM in a flash": s_agg(k), the mean union of the neurons active in k
# consecutive tokens, and Δ(k) = s_agg(k+1) - s_agg(k), the neurons a window of k loads
# per token, against the window size k; one line per trace (model shape), a recorded
# real-model trace included. Input: every res/fig4a/*.stats.csv (or data="A.csv B.csv"),
# written by
#   llmflash trace stats T.h5 --max-window 16 --csv results/fig4a/NAME.stats.csv
# in long form: columns layer, metric, k, value; the rows plotted are those of layer -1
# (the mean over layers) with metric s_agg or delta (fractions of the layer's units).
# The y axes are logarithmic (a recorded trace far denser than the synthetic shapes would
# flatten them); synthetic shapes with the same sparsity coincide, so every line has its
# own marker and dash, is nudged sideways by a few hundredths of a token so that equal
# curves stay visible, and the legend sits below the panels.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "fig4a_sagg"
files = exists("data") ? data : system(sprintf("ls '%s'/fig4a/*.stats.csv 2>/dev/null", res))
if (words(files) == 0) { print "figure ".name.": ".sprintf("no %s/fig4a/*.stats.csv; they are made by: llmflash trace stats T.h5 --max-window 16 --csv results/fig4a/NAME.stats.csv", res); exit status 1 }
do for [f in files] { call here."/need.gp" f "layer metric k value" "llmflash trace stats --csv" }
# each line nudged sideways by a few hundredths of a token so equal curves stay visible
nudge(k, i) = k + 0.05 * (i - (words(files) + 1) / 2.0)
all(m) = (column("layer") == -1 && strcol("metric") eq m ? 100 * column("value") : NaN)
set xlabel "window size k (tokens)"
set xrange [0.7:*]
set autoscale xfixmax
set offsets 0, 0.3, 0, 0
set logscale y
set format y "%g"
set bmargin 7
# one legend for both panels, under them
set key at screen 0.5, screen 0.07 center horizontal maxcols 4 font ",10" samplen 3 spacing 1.2
do for [fmt in "png pdf"] {
  eval begin(fmt)
  set multiplot layout 1,2 title "Windowing: aggregated usage and incremental transfer"
  set ylabel "s_agg(k): units used in the window (% of FFN)"
  plot for [i=1:words(files)] word(files,i) using (nudge(column("k"), i)):(all("s_agg")) \
         with linespoints pt (3 + i) ps 0.8 lw 2 dt i lc rgb col(i) title stem(word(files,i), ".stats.csv")
  unset key
  set ylabel "Δ(k): units loaded per token (% of FFN)"
  plot for [i=1:words(files)] word(files,i) using (nudge(column("k"), i)):(all("delta")) \
         with linespoints pt (3 + i) ps 0.8 lw 2 dt i lc rgb col(i) title stem(word(files,i), ".stats.csv")
  unset multiplot
  set key at screen 0.5, screen 0.07 center horizontal maxcols 4 font ",10" samplen 3 spacing 1.2
  unset output
}
