# search-parallel.gp -- template of `nnlab report EXPERIMENT` for a random or
# TPE search: parallel coordinates, one vertical axis per searched key and a
# last one for the best validation accuracy; each sample of the searches is
# a line through its values, coloured by its accuracy.
#
# nnlab writes search-parallel.gp into the report folder: these values
# first, then colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          search-parallel.dat, one row per sample: method search
#                     trial runs acc k1 k2 ... (accuracy in %; a log key as
#                     log10 of its value, a choice as its index from 0)
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   nsamples          the rows of datafile
#   naxes             the keys and the accuracy: axis i reads column 5 + i,
#                     the last axis column 5
#   axis_title        array: each axis's name (a key, "(log)" after a log key)
#   axis_kind         array: 0 float, 1 log (log10 values), 2 int, 3 choice,
#                     4 the accuracy
#   axis_min, axis_max   arrays: each axis's range
#   choice_first, choice_count   arrays: where a choice axis's tic labels
#                     start in choice_label, and how many it has
#   choice_label      array: the values of every choice key, in order

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
fig_w = 260 + 190 * naxes
fig_w = fig_w < 900 ? 900 : fig_w
axis_col(i) = i < naxes ? 5 + i : 5

set style data parallelaxes
set style parallelaxis lw 1.5 lc rgb "#444444"
unset border
unset ytics
set xtics scale 0 nomirror
set xrange [0.4:naxes + 0.3]
# room for two-line axis names under the axes
set bmargin 5
set palette defined (0 "#440154", 0.25 "#3b528b", 0.5 "#21908d", 0.75 "#5dc963", 1 "#fde725")
set cbrange [axis_min[naxes]:axis_max[naxes]]
set cblabel "best validation accuracy (%), mean over seeds"
set colorbox
unset key

do for [i=1:naxes] {
    set paxis i range [axis_min[i]:axis_max[i]]
    if (axis_kind[i] == 3) {
        set paxis i range [-0.3:choice_count[i] - 0.7]
        set paxis i tics () scale 0.5
        do for [j=1:choice_count[i]] { set paxis i tics add (choice_label[choice_first[i] + j - 1] j - 1) }
    }
    if (axis_kind[i] == 1) {
        # log10 values, tics at 1, 2 and 5 times each power of ten, labelled with the value
        set paxis i tics () scale 0.5
        do for [k=floor(axis_min[i]):ceil(axis_max[i])] {
            do for [u in "1 2 5"] {
                t = k + log10(real(u))
                if (t >= axis_min[i] && t <= axis_max[i]) { set paxis i tics add (sprintf("%g", real(u) * 10.0**k) t) }
            }
        }
    }
    if (axis_kind[i] != 1 && axis_kind[i] != 3) { set paxis i tics autofreq scale 0.5 format "%g" }
}

do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size fig_w,600 noenhanced font figure_font
        set output out_png
    } else {
        set terminal svg size fig_w,600 dynamic noenhanced font figure_font background "white"
        set output out_svg
    }
    set title full_title
    plot for [i=1:naxes] datafile using (column(axis_col(i))):5 lc palette lw 1.5 title axis_title[i]
}
set output
