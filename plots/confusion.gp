# confusion.gp -- template of `nnlab report RUN`: the run's test confusion
# matrix as a heat map, one row per true class and one column per predicted
# class, the count written in each cell, and each class's accuracy (its
# recall: the diagonal over the row) on the right.
#
# nnlab writes confusion.gp into the report folder: these values first, then
# colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          confusion.dat: nclasses rows of nclasses counts,
#                     row = true class, column = predicted class
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   nclasses          the number of classes
#   class_names       array of the class names, class 0 first (tic labels are
#                     formats: a % in a name is written %%)
#   class_acc         array of the per-class accuracies in % (NaN: none)
#   max_count         the largest count, the darkest colour

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
# dark cells get white text
cell_text_color(n) = n == 0 ? 0xbbbbbb : (n > 0.5 * max_count ? 0xffffff : 0x000000)

set terminal pngcairo size 900,820 noenhanced font figure_font
set output out_png
set title full_title
unset key
unset colorbox
set size ratio -1
set palette defined (0 "#f7fbff", 0.35 "#9ecae1", 0.7 "#3182bd", 1 "#08306b")
set cbrange [0:(max_count > 0 ? max_count : 1)]
set xrange [-0.5:nclasses - 0.5]
set yrange [nclasses - 0.5:-0.5]
set y2range [nclasses - 0.5:-0.5]
set tics scale 0
set xtics () rotate by 35 right nomirror
set ytics () nomirror
set y2tics () nomirror
do for [i=1:nclasses] {
    set xtics add (class_names[i] i - 1)
    set ytics add (class_names[i] i - 1)
    set y2tics add (sprintf("%.1f%%%%", class_acc[i]) i - 1)
}
set xlabel "predicted class"
set ylabel "true class"
set y2label "accuracy of the true class (%)"
plot datafile matrix with image pixels, \
     datafile matrix using 1:2:(sprintf("%d", $3)):(cell_text_color($3)) with labels tc rgb variable

# the same figure as SVG
set terminal svg size 900,820 dynamic noenhanced font figure_font background "white"
set output out_svg
replot
set output
