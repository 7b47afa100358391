# Mixture of experts: expert-cache hit rate against cache size (experts per layer), one
# line per policy, Belady (the offline optimum) dashed. Input: res/moe/combined.csv,
# written by  llmflash sweep experiments/moe.conf --out results/moe  (or data=FILE) with columns
# policy_name, cache_size (sweep variables) and hit_rate (each run's summary.csv: a
# fraction, steady state).
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "moe_hitrate"
f = input(res."/moe/combined.csv")
call here."/need.gp" f "policy_name cache_size hit_rate" "llmflash sweep experiments/moe.conf --out results/moe"
policies = uniq(f, "policy_name")
sel(p) = (strcol("policy_name") eq p ? 100 * column("hit_rate") : NaN)
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
         smooth unique with linespoints pt (4 + i) ps 0.9 lw 2 lc rgb col(i) dt dash(word(policies,i)) title word(policies,i)
  unset output
}
