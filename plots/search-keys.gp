# search-keys.gp -- template of `nnlab report EXPERIMENT` for a random or
# TPE search: the best validation accuracy of each sample against each
# searched key, one panel per key, the samples marked by the method that
# drew them. A key drawn from a log distribution gets a log axis; a choice
# key a column per value.
#
# nnlab writes search-keys.gp into the report folder: these values first,
# then colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          search-keys.dat, one row per sample: method search
#                     trial runs acc k1 k2 ... (method 1 random, 2 tpe;
#                     accuracy in %; a choice as its index from 0)
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   nkeys             the searched keys: key i in column 5 + i
#   key_title         array: each key's name
#   axis_kind         array: 0 float, 1 log, 2 int, 3 choice
#   choice_first, choice_count, choice_label   a choice key's tic labels, as
#                     in search-parallel.gp
#   nmethods, method_id   the methods among the samples (1 random, 2 tpe)

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
cols = nkeys < 3 ? nkeys : 3
rows = int((nkeys + cols - 1) / cols)
fig_w = 120 + 420 * cols
fig_w = fig_w < 900 ? 900 : fig_w
fig_h = 120 + 360 * rows
method_name(m) = m == 1 ? "random" : "TPE"
method_pt(m) = m == 1 ? 6 : 9
method_ps(m) = m == 1 ? 1.1 : 1.3

do for [fmt in "png svg"] {
    if (fmt eq "png") {
        set terminal pngcairo size fig_w,fig_h noenhanced font figure_font
        set output out_png
    } else {
        set terminal svg size fig_w,fig_h dynamic noenhanced font figure_font background "white"
        set output out_svg
    }
    set multiplot layout rows,cols title full_title
    set grid lc rgb "#dddddd"
    set ylabel "best validation accuracy (%)"
    set key outside top center horizontal samplen 1
    do for [i=1:nkeys] {
        unset logscale x
        set xrange [*:*]
        set xtics autofreq
        set format x "%g"
        set xlabel key_title[i] . (axis_kind[i] == 1 ? " (log scale)" : "")
        if (axis_kind[i] == 1) { set logscale x }
        if (axis_kind[i] == 3) {
            set xrange [-0.5:choice_count[i] - 0.5]
            set xtics ()
            do for [j=1:choice_count[i]] { set xtics add (choice_label[choice_first[i] + j - 1] j - 1) }
        }
        plot for [j=1:nmethods] datafile \
                 using (column(5 + i)):(column(1) == method_id[j] ? column(5) : NaN) with points \
                 pt method_pt(method_id[j]) ps method_ps(method_id[j]) lw 1.5 \
                 lc rgb variant_color(method_id[j]) title method_name(method_id[j])
    }
    unset multiplot
}
set output
