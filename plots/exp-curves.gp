# exp-curves.gp -- template of `nnlab report EXPERIMENT`: validation accuracy
# (left) and loss (right) against the epoch, one line per variant (grid
# point): the mean over its seeds, in a shaded band from the lowest to the
# highest seed. One legend below both panels.
#
# nnlab writes exp-curves.gp into the report folder: these values first,
# then colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          exp-curves.dat, one block per variant (gnuplot index
#                     0, 1, ...), columns: epoch seeds acc_mean acc_min acc_max
#                     loss_mean loss_min loss_max (accuracy in %)
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   nblocks           the number of blocks (variants with epochs so far)
#   block_title       array: the variant of each block ("activation=relu,pool=max")
#   block_color       array: its variant number, for variant_color()
#   nepochs           the most epochs of any run

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
title_lines = 1
do for [i=1:strlen(full_title)] { if (full_title[i:i] eq "\n") { title_lines = title_lines + 1 } }
key_cols = nblocks < 4 ? nblocks : 4
key_rows = int((nblocks + key_cols - 1) / key_cols)
fig_w = 1200
fig_h = 540 + 24 * key_rows
# the panels end above the legend: its rows, the x label and the tics
panel_bottom = (24.0 * key_rows + 90) / fig_h
panel_top = 1 - (50.0 + 18 * title_lines) / fig_h

# gnuplot 5.4 cannot replot a multiplot: the figure is drawn once per format
do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size fig_w,fig_h noenhanced font figure_font
        set output out_png
    } else {
        set terminal svg size fig_w,fig_h dynamic noenhanced font figure_font background "white"
        set output out_svg
    }
    set multiplot title full_title
    set grid lc rgb "#dddddd"
    set xlabel "epoch"
    set xrange [0.5:nepochs + 0.5]
    if (nepochs <= 20) { set xtics 1 } else { set xtics autofreq }
    set tmargin at screen panel_top
    set bmargin at screen panel_bottom
    set style fill transparent solid 0.18 noborder

    unset key
    set lmargin at screen 0.07
    set rmargin at screen 0.475
    set title "validation accuracy"
    set ylabel "accuracy (%)"
    plot for [i=1:nblocks] datafile index (i - 1) using 1:4:5 with filledcurves \
             lc rgb variant_color(block_color[i]), \
         for [i=1:nblocks] datafile index (i - 1) using 1:3 with linespoints lw 2 pt 7 ps 0.6 \
             lc rgb variant_color(block_color[i])

    set lmargin at screen 0.57
    set rmargin at screen 0.975
    set title "validation loss"
    set ylabel "loss (cross-entropy)"
    plot for [i=1:nblocks] datafile index (i - 1) using 1:7:8 with filledcurves \
             lc rgb variant_color(block_color[i]), \
         for [i=1:nblocks] datafile index (i - 1) using 1:6 with linespoints lw 2 pt 7 ps 0.6 \
             lc rgb variant_color(block_color[i])

    # the legend: an empty plot of its own across the bottom, in columns
    set lmargin at screen 0.03
    set rmargin at screen 0.97
    set tmargin at screen panel_bottom - 60.0 / fig_h
    set bmargin at screen 0.01
    unset border
    unset tics
    unset grid
    unset title
    unset xlabel
    unset ylabel
    set xrange [0:1]
    set yrange [0:1]
    set key center center vertical maxrows key_rows reverse Left width -1 samplen 3
    plot NaN notitle, \
         for [i=1:nblocks] keyentry with linespoints lw 2 pt 7 ps 0.6 lc rgb variant_color(block_color[i]) \
             title block_title[i]
    unset multiplot
}
set output
