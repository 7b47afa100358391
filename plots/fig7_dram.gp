# Figure 7 of "LLM in a flash": mean per-token latency against the share of the model that
# fits in DRAM, one line per policy. Input: res/fig7/combined.csv, written by
#   llmflash sweep experiments/fig7.conf --out results/fig7
# (or data=FILE) columns policy, dram_fraction (sweep keys) and mean_total_ms (each run's summary.csv:
# the steady-state mean per token, cold start excluded).
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "fig7_dram"
f = input(res."/fig7/combined.csv")
call here."/need.gp" f "policy dram_fraction mean_total_ms" "llmflash sweep experiments/fig7.conf --out results/fig7"
policies = uniq(f, "policy")
sel(p) = (strcol("policy") eq p ? column("mean_total_ms") : NaN)
set xlabel "DRAM available (fraction of the model size)"
set ylabel "latency per token (ms)"
set logscale y
set key outside right
set title "Latency against DRAM budget per policy (simulated)"
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot for [i=1:words(policies)] f using (column("dram_fraction")):(sel(word(policies,i))) \
         smooth unique with linespoints pt (4 + i) ps 0.9 lw 2 dt i lc rgb col(i) title word(policies,i)
  unset output
}
