# exp-heatmap.gp -- template of `nnlab report EXPERIMENT` for a grid of two
# keys: test accuracy (mean over the finished seeds) in one cell per
# combination, the value written in the cell. A numeric key is a value axis,
# logarithmic when its values are spaced so (0.0003 0.001 0.003 0.01); each
# cell then spans half-way (geometric half-way on a log axis) to its
# neighbours. Any other key is a row or column per value.
#
# nnlab writes exp-heatmap.gp into the report folder: these values first,
# then colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          exp-heatmap.dat; block 0 (index 0): the cells with a
#                     result, columns x y xlo xhi ylo yhi acc seeds (accuracy
#                     in %); block 1: the cells without one, x y xlo xhi ylo yhi
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   xkey, ykey        the keys along x and y ("lr", "batch_size")
#   logx, logy        1: a log axis
#   x_min, x_max, y_min, y_max   the outer edges of the cells
#   xtic_pos, xtic_label, ytic_pos, ytic_label   arrays: the tics
#   cb_min, cb_max    the range of the colour scale (%)
#   n_missing         the number of cells in block 1
#   max_seeds         the most runs of any cell: a cell of fewer finished
#                     seeds says how many

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
# text on the darker half of the colour scale is white
cell_text_color(v) = (v - cb_min) < 0.45 * (cb_max - cb_min) ? 0xffffff : 0x000000
cell_label(v, seeds) = sprintf("%.1f", v) . (seeds < max_seeds ? sprintf("\n%d of %d seeds", seeds, max_seeds) : "")

set terminal pngcairo size 900,700 noenhanced font figure_font
set output out_png
set title full_title
unset key
unset logscale
if (logx) { set logscale x }
if (logy) { set logscale y }
set xrange [x_min:x_max]
set yrange [y_min:y_max]
set tics scale 0 nomirror
set xtics ()
set ytics ()
do for [i=1:|xtic_pos|] { set xtics add (xtic_label[i] xtic_pos[i]) }
do for [i=1:|ytic_pos|] { set ytics add (ytic_label[i] ytic_pos[i]) }
set xlabel xkey . (logx ? " (log scale)" : "")
set ylabel ykey . (logy ? " (log scale)" : "")
set palette defined (0 "#440154", 0.25 "#3b528b", 0.5 "#21908d", 0.75 "#5dc963", 1 "#fde725")
set cbrange [cb_min:cb_max]
set cblabel "test accuracy (%), mean over seeds"
set colorbox
set style fill solid 1.0 border lc rgb "#ffffff"
# block 1 is read only when it has cells: gnuplot warns of an empty block
if (n_missing > 0) {
    plot datafile index 0 using 1:2:3:4:5:6:7 with boxxyerror lc palette, \
         datafile index 1 using 1:2:3:4:5:6 with boxxyerror lc rgb "#e8e8e8", \
         datafile index 0 using 1:2:(cell_label($7, $8)):(cell_text_color($7)) with labels tc rgb variable font ",13", \
         datafile index 1 using 1:2:("no result yet") with labels tc rgb "#666666"
} else {
    plot datafile index 0 using 1:2:3:4:5:6:7 with boxxyerror lc palette, \
         datafile index 0 using 1:2:(cell_label($7, $8)):(cell_text_color($7)) with labels tc rgb variable font ",13"
}

# the same figure as SVG
set terminal svg size 900,700 dynamic noenhanced font figure_font background "white"
set output out_svg
replot
set output
