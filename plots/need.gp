# plots/need.gp: call "plots/need.gp" FILE "col1 col2 ..." "how to make FILE"
# Stops the figure with a clear message when FILE is absent or lacks a column.
hdr__ = system(sprintf("head -n 1 '%s' 2>/dev/null | tr -d '\\r'", ARG1))
if (hdr__ eq "") { print "figure ".name.": ".sprintf("%s is missing or empty; it is made by: %s", ARG1, ARG3); exit status 1 }
do for [c__ in ARG2] {
  if (strstrt(",".hdr__.",", ",".c__.",") == 0) {
    print "figure ".name.": ".sprintf("%s has no column '%s' (its columns: %s); plots/README.md lists the columns each figure reads", ARG1, c__, hdr__)
    exit status 1
  }
}
if (nrows(ARG1) < 1) { print "figure ".name.": ".sprintf("%s has a header but no rows; it is made by: %s", ARG1, ARG3); exit status 1 }
