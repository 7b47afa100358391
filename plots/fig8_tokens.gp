# Figure 8 of "LLM in a flash": latency of each of the first 1000 tokens, cold start
# included, one line per policy. Input: res/fig8/combined-tokens.csv (or data=FILE),
# written by
#   llmflash sweep experiments/fig8.conf --out results/fig8    (collect = summary.csv | tokens.csv)
# columns policy (sweep key), token and total_ms (from each run's tokens.csv).
# The token axis is logarithmic (token 1 = the first) so the cold-start spike of the
# first tokens is as wide as the steady state; each policy has its own colour and dash.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "fig8_tokens"
f = input(res."/fig8/combined-tokens.csv")
call here."/need.gp" f "policy token total_ms" "llmflash sweep experiments/fig8.conf --out results/fig8"
policies = uniq(f, "policy")
sel(p) = (strcol("policy") eq p ? column("total_ms") : NaN)
set xlabel "token (1 = the first, cold DRAM; log scale)"
set ylabel "latency (ms)"
set logscale xy
set autoscale xfixmax
set format x "%g"
set key inside top right box opaque
set title "Per-token latency from a cold start (simulated)"
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot for [i=1:words(policies)] f using (column("token") + 1):(sel(word(policies,i))) \
         with lines lw 2.2 dt i lc rgb col(i) title word(policies,i)
  unset output
}
