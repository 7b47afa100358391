# plots/lib.gp: what every figure script shares. Loaded by each plots/*.gp with
#   here = system("dirname '".ARG0."'"); load here."/lib.gp"
# Variables a caller may set with gnuplot -e "...":
#   data the input CSV (default: the figure's file under res, named in its header);
#        plot your own sweep with  gnuplot -e "data='my/combined.csv'; out='figs'" plots/fig7_dram.gp
#   res  the results folder the default inputs are read from (default "results")
#   out  the folder the figures are written to (default: res."/figures")
# Each figure is written as out/NAME.png (pngcairo) and out/NAME.pdf (pdfcairo).
if (!exists("res")) res = "results"
if (!exists("out")) out = res."/figures"
system(sprintf("mkdir -p '%s'", out))
set datafile separator comma
set datafile missing ""
set key noautotitle
set grid lc rgb "#dddddd"
# Line colours: ColorBrewer Set1 without its yellow (unreadable on white), then greys.
array pal[9] = ["#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf", "#666666", "#17becf"]
col(i) = pal[(int(i) - 1) % 9 + 1]
# The input: `data` when the caller gave one, else the default path.
input(default) = exists("data") ? data : default

# The command that selects and opens an output: eval begin("png") / eval begin("pdf").
# A script may set tall = 1 before for a figure 1.4 times as high.
begin(fmt) = (fmt eq "png" ? sprintf("set terminal pngcairo size 1000,%d font 'sans,11' noenhanced", exists("tall") ? 900 : 640) \
                           : sprintf("set terminal pdfcairo size 7in,%.1fin font 'sans,9' noenhanced", exists("tall") ? 6.3 : 4.5)) \
             . sprintf("; set output '%s/%s.%s'", out, name, fmt)

# Header row of a CSV ("" when the file is absent or empty).
header(f) = system(sprintf("head -n 1 '%s' 2>/dev/null | tr -d '\\r'", f))
has_col(f, c) = strstrt(",".header(f).",", ",".c.",") > 0
exists_file(f) = system(sprintf("test -s '%s' && echo 1 || echo 0", f)) eq "1"
# Distinct values of column c, in first-seen order, one per line (for `do for [v in ...]`:
# values must not contain blanks).
uniq(f, c) = system(sprintf("awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i==\"%s\") k=i; next} k && !seen[$k]++ {print $k}' '%s'", c, f))
# Data rows of a CSV.
nrows(f) = int(system(sprintf("awk 'NR>1 && NF' '%s' | wc -l", f)))
# The file's name without folder and without the given suffix.
stem(f, suffix) = system(sprintf("basename '%s' '%s'", f, suffix))
