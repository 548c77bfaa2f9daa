# exp-bars.gp -- template of `nnlab report EXPERIMENT`: test accuracy of each
# variant (grid point): a bar at the mean over its finished seeds, an error
# bar (the 95% interval of the mean with 3 seeds or more, else the lowest to
# the highest seed), a dot per seed, and "within noise" over the points that
# cannot be told apart from the best.
#
# nnlab writes exp-bars.gp into the report folder: these values first, then
# colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          exp-bars.dat; block 0 (index 0), one row per variant:
#                     x variant mean min max std seeds ci_lo ci_hi vs_best
#                     (accuracy in %, NaN: no finished seed; ci_*: NaN under 3
#                     seeds; vs_best: 0 best, 1 worse beyond the seed noise,
#                     2 within it, 3 untested); block 1: x acc, one row per
#                     finished run
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   npoints           the number of variants, at x = 1 .. npoints
#   point_label       array: each variant's tic label (one line per key)
#   label_lines       the most lines of any tic label
#   label_chars       the most characters in a line of a tic label
#   y_min             where the accuracy axis starts (%)
#   max_seeds         the most runs of any variant: a bar of fewer finished
#                     seeds says how many

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
# wide enough for every tic label side by side
fig_w = 120 + npoints * (8 * label_chars + 24)
fig_w = fig_w < 900 ? 900 : fig_w
seeds_note(seeds) = seeds == 0 ? "no seed finished yet" : \
                    seeds < max_seeds ? sprintf("%d of %d seeds", seeds, max_seeds) : ""

set terminal pngcairo size fig_w,600 noenhanced font figure_font
set output out_png
set title full_title
unset key
# room above the tallest bar for its value
set offsets 0, 0, graph 0.14, 0
set grid ytics lc rgb "#dddddd"
set xrange [0.4:npoints + 0.6]
set yrange [y_min:*]
set xtics () scale 0 nomirror
do for [i=1:npoints] { set xtics add (point_label[i] i) }
set ylabel "test accuracy (%)"
set boxwidth 0.7
set style fill solid 0.85 noborder
# error bars: a line from min to max with flat caps
set style arrow 1 heads size screen 0.012,90 lw 1.5 lc rgb "#333333"
# room for tic labels of label_lines lines
set bmargin label_lines + 2
# the error bar's ends: the interval when there is one, else min and max
bar_lo(min, ci) = ci == ci ? ci : min
bar_hi(max, ci) = ci == ci ? ci : max
# the labels sit above the higher of the error bar and the highest seed
top(max, ci) = ci == ci && ci > max ? ci : max
plot datafile index 0 using 1:3:(variant_color($2)) with boxes lc rgb variable, \
     datafile index 0 using 1:(bar_lo($4, $8)):(0):(bar_hi($5, $9) - bar_lo($4, $8)) with vectors arrowstyle 1, \
     datafile index 1 using 1:2 with points pt 7 ps 0.6 lc rgb "#000000", \
     datafile index 0 using 1:(top($5, $9)):(sprintf("%.1f", $3)) with labels offset 0,1.2, \
     datafile index 0 using 1:($7 > 0 ? top($5, $9) : y_min):(seeds_note($7)) with labels offset 0,2.4 tc rgb "#555555", \
     datafile index 0 using 1:($7 > 0 ? top($5, $9) : y_min):($10 == 2 ? "within noise" : $10 == 0 ? "best" : "") \
          with labels offset 0,3.6 tc rgb "#1a5fb4"

# the same figure as SVG
set terminal svg size fig_w,600 dynamic noenhanced font figure_font background "white"
set output out_svg
replot
set output
