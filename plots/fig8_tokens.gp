# Figure 8 of "LLM in a flash": latency of each of the first 1000 tokens, cold start
# included, one line per policy. Input: res/fig8/combined-tokens.csv, written by
#   llmflash sweep experiments/fig8.conf --out results/fig8    (collect = summary.csv | tokens.csv)
# columns policy (sweep key), token and total_ms (from each run's tokens.csv).
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "fig8_tokens"
f = res."/fig8/combined-tokens.csv"
call here."/need.gp" f "policy token total_ms" "llmflash sweep experiments/fig8.conf --out results/fig8"
policies = uniq(f, "policy")
sel(p) = (strcol("policy") eq p ? column("total_ms") : NaN)
set xlabel "token"
set ylabel "latency (ms)"
set logscale y
set key outside right
set title "Per-token latency from a cold start (simulated)"
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot for [i=1:words(policies)] f using (column("token")):(sel(word(policies,i))) \
         with lines lw 1.5 lc i title word(policies,i)
  unset output
}
