# exp-seconds.gp -- template of `nnlab report EXPERIMENT`: the wall time of
# an epoch (training plus validation) of each variant (grid point): a bar at
# the mean over its runs and epochs, an error bar from the fastest to the
# slowest run's mean.
#
# nnlab writes exp-seconds.gp into the report folder: these values first,
# then colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          exp-seconds.dat, one row per variant: x variant mean min
#                     max epochs (seconds; NaN: no epoch yet)
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   npoints           the number of variants, at x = 1 .. npoints
#   point_label       array: each variant's tic label (one line per key)
#   label_lines       the most lines of any tic label
#   label_chars       the most characters in a line of a tic label

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
# wide enough for every tic label side by side
fig_w = 120 + npoints * (8 * label_chars + 24)
fig_w = fig_w < 900 ? 900 : fig_w

set terminal pngcairo size fig_w,600 noenhanced font figure_font
set output out_png
set title full_title
unset key
# room above the tallest bar for its value
set offsets 0, 0, graph 0.1, 0
set grid ytics lc rgb "#dddddd"
set xrange [0.4:npoints + 0.6]
set yrange [0:*]
set xtics () scale 0 nomirror
do for [i=1:npoints] { set xtics add (point_label[i] i) }
set ylabel "seconds per epoch"
set boxwidth 0.7
set style fill solid 0.85 noborder
# error bars: a line from min to max with flat caps
set style arrow 1 heads size screen 0.012,90 lw 1.5 lc rgb "#333333"
# room for tic labels of label_lines lines
set bmargin label_lines + 2
plot datafile using 1:3:(variant_color($2)) with boxes lc rgb variable, \
     datafile using 1:4:(0):($5 - $4) with vectors arrowstyle 1, \
     datafile using 1:5:(sprintf("%.3g s", $3)) with labels offset 0,1.2

# the same figure as SVG
set terminal svg size fig_w,600 dynamic noenhanced font figure_font background "white"
set output out_svg
replot
set output
