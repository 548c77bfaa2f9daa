# run-curves.gp -- template of `nnlab report RUN`: one run's training curves,
# the tutorial's figure: loss (left) and accuracy (right) against the epoch,
# on the training and the validation split.
#
# nnlab writes run-curves.gp into the report folder: these values first,
# then colors.gp, then this text. Edit this file (or a copy in $NNLAB_PLOTS)
# to restyle every report; edit the copy in a report folder and run
# `gnuplot run-curves.gp` there to redraw that one figure.
#   datafile          run-curves.dat, columns: epoch train_loss val_loss
#                     train_acc val_acc lr seconds (accuracy in %, NaN: none)
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   nepochs           epochs recorded
#   best_epoch        the epoch of the best validation accuracy (0: none)

train_color = 0x1f77b4
val_color = 0xff7f0e
full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
title_lines = 1
do for [i=1:strlen(full_title)] { if (full_title[i:i] eq "\n") { title_lines = title_lines + 1 } }

# the panels end above the legend
panel_bottom = 0.2
panel_top = 1 - (50.0 + 18 * title_lines) / 540

# gnuplot 5.4 cannot replot a multiplot: the figure is drawn once per format
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size 1200,540 noenhanced font figure_font
        set output out_png
    } else {
        set terminal svg size 1200,540 dynamic noenhanced font figure_font background "white"
        set output out_svg
    }
    set multiplot title full_title
    set grid lc rgb "#dddddd"
    unset key
    set xlabel "epoch"
    set xrange [0.5:nepochs + 0.5]
    if (nepochs <= 20) { set xtics 1 } else { set xtics autofreq }
    set tmargin at screen panel_top
    set bmargin at screen panel_bottom
    unset arrow
    if (best_epoch > 0) {
        set arrow 1 from best_epoch, graph 0 to best_epoch, graph 1 nohead dt 3 lc rgb "#555555"
    }

    set lmargin at screen 0.07
    set rmargin at screen 0.475
    set title "loss"
    set ylabel "loss (cross-entropy)"
    plot datafile using 1:2 with linespoints lw 2 pt 7 ps 0.7 lc rgb train_color, \
         datafile using 1:3 with linespoints lw 2 pt 5 ps 0.7 dt 2 lc rgb val_color

    set lmargin at screen 0.57
    set rmargin at screen 0.975
    set title "accuracy"
    set ylabel "accuracy (%)"
    plot datafile using 1:4 with linespoints lw 2 pt 7 ps 0.7 lc rgb train_color, \
         datafile using 1:5 with linespoints lw 2 pt 5 ps 0.7 dt 2 lc rgb val_color

    # the legend: an empty plot of its own across the bottom
    set lmargin at screen 0.03
    set rmargin at screen 0.97
    set tmargin at screen panel_bottom - 0.1
    set bmargin at screen 0.01
    unset arrow
    unset border
    unset tics
    unset grid
    unset title
    unset xlabel
    unset ylabel
    set xrange [0:1]
    set yrange [0:1]
    set key center center horizontal maxcols 3 reverse Left width -2 samplen 4
    plot NaN notitle, \
         keyentry with linespoints lw 2 pt 7 ps 0.7 lc rgb train_color title "training", \
         keyentry with linespoints lw 2 pt 5 ps 0.7 dt 2 lc rgb val_color title "validation", \
         for [k=1:(best_epoch > 0)] keyentry with lines dt 3 lc rgb "#555555" title "best validation epoch"
    unset multiplot
}
set output
