# Appendix D of "LLM in a flash": co-activation. (a) how often units fire (a power law),
# (b) the strength of each unit's closest friend (the share of its activations its friend
# shares), (c) flash->DRAM volume per token of the layouts split, bundled and coact
# (the paper's negative result: bundling with the closest friend reads more).
# Inputs: res/coact/combined.csv (or data=FILE; columns layout, mean_bytes_read; one bar per policy
#   when it has a policy column), written by
#   llmflash sweep experiments/coact.conf --out results/coact
# and, for (a) and (b), friends.csv next to it (or friends=FILE; columns count, friend_count; one row per
# unit: its activations and the co-activations with its closest friend); without it the
# figure has panel (c) only and says so.
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "coact"
vol = input(res."/coact/combined.csv")
fr = exists("friends") ? friends : system(sprintf("dirname '%s'", vol))."/friends.csv"
call here."/need.gp" vol "layout mean_bytes_read" "llmflash sweep experiments/coact.conf --out results/coact"
have_fr = exists_file(fr)
if (have_fr) { call here."/need.gp" fr "count friend_count" "a per-unit closest-friend CSV (plots/README.md)" }
logbin(x) = x > 0 ? 2 ** floor(log(x) / log(2)) : NaN
# bins of 0.05; a strength of exactly 1 (a friend in every activation) goes in the last
# bin, [0.95, 1], instead of past the axis
bin20(x) = x >= 1 ? 19 : floor(x / 0.05)
strength(c, fc) = c > 0 ? 0.05 * bin20(fc / c) + 0.025 : NaN
layouts = uniq(vol, "layout")
# one bar per (layout, policy) when the sweep has a policy column
has_pol = has_col(vol, "policy")
pols = has_pol ? uniq(vol, "policy") : "all"
np = words(pols)
bw = 0.8 / np
pick(l, p) = (strcol("layout") eq l && (!has_pol || strcol("policy") eq p) ? column("mean_bytes_read") / 1048576.0 : NaN)
set style fill solid 0.8 border lc rgb "#333333"
do for [fmt in "png pdf"] {
  eval begin(fmt)
  set multiplot layout 1,(have_fr ? 3 : 1) title "Co-activation (Appendix D)" . (have_fr ? "" : ": no friends.csv, so no unit histograms")
  if (have_fr) {
    unset logscale
    set autoscale
    set logscale xy
    set xlabel "activations of a unit (log2 bins)"
    set ylabel "units"
    set boxwidth 0.9 relative
    set title "(a) activation counts"
    plot fr using (logbin(column("count"))):(1) smooth frequency with linespoints pt 7 lc rgb "#377eb8"
    unset logscale
    set logscale y
    set xlabel "closest-friend strength (co-activations / activations;\nlast bar: 0.95 to 1)"
    set xrange [0:1]
    set boxwidth 0.045 absolute
    set title "(b) closest-friend strength"
    plot fr using (strength(column("count"), column("friend_count"))):(1) smooth frequency with boxes lc rgb "#ff7f00"
  }
  unset logscale
  set xrange [*:*]
  set autoscale
  set yrange [0:*]
  set title (have_fr ? "(c) flash->DRAM volume" : "")
  set xlabel "layout"
  set ylabel "flash->DRAM per token (MiB)"
  set boxwidth bw absolute
  set xtics ()
  set xrange [-0.6:words(layouts) - 0.4]
  set key top left
  plot for [j=1:np] for [i=1:words(layouts)] vol \
         using ((i - 1) + (j - (np + 1) / 2.0) * bw):(pick(word(layouts,i), word(pols,j))) \
         smooth unique with boxes lc rgb col(j) title (i == 1 && has_pol ? word(pols,j) : ""), \
       for [i=1:words(layouts)] vol using (i - 1):(0):xtic(word(layouts,i)) every ::0::0 with points ps 0 notitle
  unset multiplot
  unset xtics
  set xtics
  unset output
}
