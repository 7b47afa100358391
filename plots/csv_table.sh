#!/bin/sh
# plots/csv_table.sh IN.csv COLUMNS OUT.csv OUT.md [TITLE]
# Selects the named columns (comma-separated: "device,configuration,total_ms") of a CSV
# with a header row and writes them as CSV and as a Markdown table. Quoted cells
# (RFC 4180) are kept whole; their quotes are dropped in the Markdown, where numbers
# with a fraction are shown to 4 significant digits. A column that is
# not in IN.csv is an error naming it. Used by plots/make_figures.sh for the tables.
set -eu
[ $# -ge 4 ] || { echo "usage: plots/csv_table.sh IN.csv COLUMNS OUT.csv OUT.md [TITLE]" >&2; exit 2; }
in=$1; cols=$2; csv=$3; md=$4; title=${5:-}
[ -s "$in" ] || { echo "csv_table: $in is missing or empty" >&2; exit 1; }
awk -v cols="$cols" -v csv="$csv.tmp.$$" -v md="$md.tmp.$$" -v title="$title" -v src="$in" '
function split_csv(line, out,    n, i, c, q, cell) {
  n = 0; cell = ""; q = 0
  for (i = 1; i <= length(line); i++) {
    c = substr(line, i, 1)
    if (c == "\"") q = !q
    if (c == "," && !q) { out[++n] = cell; cell = ""; continue }
    cell = cell c
  }
  out[++n] = cell
  return n
}
function mdcell(s) { s = unquote(s); if (s ~ /^-?[0-9]+\.[0-9]+([eE][-+]?[0-9]+)?$/ || s ~ /^-?[0-9]+[eE][-+]?[0-9]+$/) s = sprintf("%.4g", s + 0); return s }
function unquote(s) { if (s ~ /^".*"$/) { s = substr(s, 2, length(s) - 2); gsub(/""/, "\"", s) } return s }
NR == 1 {
  sub(/\r$/, "")
  nh = split_csv($0, h)
  nc = split(cols, want, ",")
  for (j = 1; j <= nc; j++) {
    idx[j] = 0
    for (i = 1; i <= nh; i++) if (h[i] == want[j]) idx[j] = i
    if (!idx[j]) { printf "csv_table: %s has no column %s (its columns: %s)\n", src, want[j], $0 > "/dev/stderr"; bad = 1; exit 1 }
  }
  if (title != "") printf "%s\n\n", title > md
  line = ""; sep = ""
  for (j = 1; j <= nc; j++) { printf "%s%s", (j > 1 ? "," : ""), want[j] > csv; line = line "| " want[j] " "; sep = sep "| --- " }
  printf "\n" > csv; printf "%s|\n%s|\n", line, sep > md
  next
}
NF {
  sub(/\r$/, "")
  split_csv($0, r)
  line = ""
  for (j = 1; j <= nc; j++) { printf "%s%s", (j > 1 ? "," : ""), r[idx[j]] > csv; line = line "| " mdcell(r[idx[j]]) " " }
  printf "\n" > csv; printf "%s|\n", line > md
}
END { if (bad) exit 1 }
' "$in" || { rm -f "$csv.tmp.$$" "$md.tmp.$$"; exit 1; }
mv "$csv.tmp.$$" "$csv"
mv "$md.tmp.$$" "$md"
