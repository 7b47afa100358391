# Predicted against measured latency per token on this machine: one point per
# configuration of the validation grid, the line y = x and a ±10% band; the median
# absolute percentage error is in the title. Input: res/validate/validate.csv, written by
#   llmflash validate ... --grid experiments/validate.conf --out results/validate
# columns predicted_ms, measured_ms.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "validate"
f = res."/validate/validate.csv"
call here."/need.gp" f "predicted_ms measured_ms" "llmflash validate --grid experiments/validate.conf --out results/validate"
stats f using (100 * abs(column("predicted_ms") - column("measured_ms")) / column("measured_ms")) name "E" nooutput
stats f using (column("measured_ms")):(column("predicted_ms")) name "V" nooutput
lo = 0.8 * (V_min_x < V_min_y ? V_min_x : V_min_y)
hi = 1.25 * (V_max_x > V_max_y ? V_max_x : V_max_y)
set logscale xy
set xrange [lo:hi]
set yrange [lo:hi]
set size square
set xlabel "measured (ms per token)"
set ylabel "predicted (ms per token)"
set key top left
set title sprintf("Predicted vs measured, %d configurations: median |error| %.1f%%, max %.1f%%", E_records, E_median, E_max)
set style fill transparent solid 0.2 noborder
set samples 200
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot '+' using 1:(0.9 * $1):(1.1 * $1) with filledcurves lc rgb "#377eb8" title "±10%", \
       x with lines lc rgb "#333333" title "y = x", \
       f using (column("measured_ms")):(column("predicted_ms")) with points pt 7 ps 1 lc rgb "#e41a1c" title "configurations"
  unset output
}
