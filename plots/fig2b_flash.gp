# Figure 2b of "LLM in a flash": flash read throughput against chunk size, one colour per
# thread count (reads in flight). Points: this machine measured by `llmflash probe`;
# solid lines: the fitted flash model; dashed: the m1max profile (the paper's M1 Max).
# Inputs (columns chunk, threads, mb_s: the header of `llmflash probe` CSVs):
#   res/probe/probe.csv         llmflash probe ... -o results/probe/probe.csv
#   (or data=FILE; the model files are then read from FILE's folder)
#   res/probe/model-fit.csv     the fitted model's predictions (optional)
#   res/probe/model-m1max.csv   the m1max profile's predictions (optional)
# (model files: same columns, written by plots/make_figures.sh when `llmflash fit` can
# write predicted curves; plots/README.md)
here = system("dirname '".ARG0."'")
load here."/lib.gp"
name = "fig2b_flash"
probe = input(res."/probe/probe.csv")
pdir = system(sprintf("dirname '%s'", probe))
fit = pdir."/model-fit.csv"
m1 = pdir."/model-m1max.csv"
call here."/need.gp" probe "chunk threads mb_s" "llmflash probe (plots/make_figures.sh step 'probe')"
have_fit = exists_file(fit)
have_m1 = exists_file(m1)
if (have_fit) { call here."/need.gp" fit "chunk threads mb_s" "plots/make_figures.sh step 'model curves'" }
if (have_m1) { call here."/need.gp" m1 "chunk threads mb_s" "plots/make_figures.sh step 'model curves'" }
threads = uniq(probe, "threads")
sel(t) = (column("threads") == t ? column("mb_s") : NaN)
set logscale x 2
set xlabel "chunk size (KiB)"
set ylabel "read throughput (MB/s)"
set key top left
set title "Random reads with O_DIRECT: measured (points)" . (have_fit ? ", fitted model (lines)" : "") . (have_m1 ? ", M1 Max profile (dashed)" : "")
do for [fmt in "png pdf"] {
  eval begin(fmt)
  plot for [i=1:words(threads)] probe using (column("chunk")/1024.):(sel(real(word(threads,i)))) \
         with points pt 7 lc rgb col(i) title word(threads,i)." threads", \
       for [i=1:words(threads)] (have_fit ? fit : probe) using (column("chunk")/1024.):(have_fit ? sel(real(word(threads,i))) : NaN) \
         smooth unique with lines lw 2 lc rgb col(i) notitle, \
       for [i=1:words(threads)] (have_m1 ? m1 : probe) using (column("chunk")/1024.):(have_m1 ? sel(real(word(threads,i))) : NaN) \
         smooth unique with lines dt 2 lc rgb col(i) notitle
  unset output
}
