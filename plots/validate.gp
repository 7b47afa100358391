# Predicted against measured latency per token on this machine: one point per
# configuration of the validation grid (shape: layout; colour: policy), horizontal bars
# from the fastest to the slowest measured repeat, the line y = x and a ±10% band; the
# median absolute percentage error is in the title. Input: res/validate/validate.csv (or
# data=FILE), written by
#   llmflash validate ... --grid experiments/validate.conf --out results/validate
# columns predicted_ms, measured_ms, measured_min_ms, measured_max_ms, layout, policy.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "validate"
f = input(res."/validate/validate.csv")
call here."/need.gp" f "predicted_ms measured_ms measured_min_ms measured_max_ms layout policy" "llmflash validate --grid experiments/validate.conf --out results/validate"
stats f using (100 * abs(column("predicted_ms") - column("measured_ms")) / column("measured_ms")) name "E" nooutput
stats f using (column("measured_ms")):(column("predicted_ms")) name "V" nooutput
lo = 0.8 * (V_min_x < V_min_y ? V_min_x : V_min_y)
hi = 1.25 * (V_max_x > V_max_y ? V_max_x : V_max_y)
layouts = system(sprintf("awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i==\"layout\") k=i; next} k && !s[$k]++ {print $k}' '%s' | tr -d '\"'", f))
policies = system(sprintf("awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i==\"policy\") k=i; next} k && !s[$k]++ {print $k}' '%s' | tr -d '\"'", f))
sel(l, p) = (strcol("layout") eq l && strcol("policy") eq p ? column("predicted_ms") : NaN)
set logscale xy
set xrange [lo:hi]
set yrange [lo:hi]
# ticks at 1-1.5-2-3-5-7 steps with plain numbers: a grid spans less than a decade, and
# coarser steps leave one label per axis
set xtics (0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10000)
set ytics (0.1, 0.15, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000, 3000, 5000, 7000, 10000)
set mxtics 10
set mytics 10
set format xy "%g"
set size square
set xlabel "measured (ms per token)"
set ylabel "predicted (ms per token)"
set key inside top left box opaque font ",10"
set title sprintf("Predicted vs measured, %d configurations: median |error| %.1f%%, max %.1f%%\nbelow the line: the model under-predicts", E_records, E_median, E_max)
set style fill transparent solid 0.2 noborder
set samples 200
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot '+' using 1:(0.9 * $1):(1.1 * $1) with filledcurves lc rgb "#999999" title "±10%", \
       x with lines lc rgb "#333333" title "y = x", \
       for [j=1:words(policies)] for [i=1:words(layouts)] f \
         using (column("measured_ms")):(sel(word(layouts,i), word(policies,j))):(column("measured_min_ms")):(column("measured_max_ms")) \
         with xerrorbars pt (4 + 2 * (i - 1)) ps 1.3 lw 1.5 lc rgb col(j) \
         title word(layouts,i)." / ".word(policies,j)
  unset output
}
