# Mixture of experts: expert-cache hit rate against cache size (experts per layer), one
# line per policy, Belady (the offline optimum) dashed. Input: res/moe/hitrate.csv with
# columns policy, cache_size, hit_rate (a fraction); when a `layer` column is present,
# only the rows whose layer is "all" are plotted.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "moe_hitrate"
f = res."/moe/hitrate.csv"
call here."/need.gp" f "policy cache_size hit_rate" "the MoE step of plots/make_figures.sh (results/moe/hitrate.csv)"
per_layer = has_col(f, "layer")
policies = uniq(f, "policy")
sel(p) = (strcol("policy") eq p && (!per_layer || strcol("layer") eq "all") ? 100 * column("hit_rate") : NaN)
dash(p) = (p eq "belady" ? 2 : 1)
set logscale x 2
set xlabel "cache size (experts per layer)"
set ylabel "hit rate (%)"
set yrange [0:100]
set key bottom right
set title "Expert cache hit rate against cache size"
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot for [i=1:words(policies)] f using (column("cache_size")):(sel(word(policies,i))) \
         smooth unique with linespoints pt 7 ps 0.7 lw 2 lc i dt dash(word(policies,i)) title word(policies,i)
  unset output
}
