# search-best.gp -- template of `nnlab report EXPERIMENT` for random and TPE
# searches: the best validation accuracy found so far against the runs
# spent, a thin step line per search and a thick one for the mean of each
# method's searches. Random searches are dashed, TPE solid; each group
# (experiment and method) has its colour.
#
# nnlab writes search-best.gp into the report folder: these values first,
# then colors.gp, then this text (see run-curves.gp on editing it).
#   datafile          search-best.dat, one block per line (gnuplot index 0,
#                     1, ...): runs best_acc (accuracy in %)
#   out_png, out_svg  the two files to write
#   title_text        the figure's title; title_note: "" or a second line
#   nblocks           the blocks: the searches, then the means
#   block_group       array: each block's group, 1, 2, ... (its colour)
#   block_mean        array: 1 for the mean of a group's searches
#   ngroups           the groups
#   group_label       array: each group's name ("random", "act-pool: TPE")
#   group_method      array: 1 random, 2 tpe (the dash)
#   group_searches    array: the searches drawn of each group

full_title = title_note eq "" ? title_text : title_text . "\n" . title_note
group_dt(g) = group_method[g] == 1 ? 2 : 1
each_title(g) = group_searches[g] > 1 ? sprintf("%s, each of %d searches", group_label[g], group_searches[g]) \
                                     : group_label[g]

set terminal pngcairo size 1000,620 noenhanced font figure_font
set output out_png
set title full_title
set grid lc rgb "#dddddd"
set xlabel "runs spent (samples x seeds, in trial order)"
set ylabel "best validation accuracy so far (%)"
set xrange [0:*]
# the curves rise and level off: the bottom right stays free for the legend
set key bottom right opaque box reverse Left samplen 4 spacing 1.2
plot for [b=1:nblocks] datafile index (b - 1) using 1:2 with steps \
         lw (block_mean[b] ? 3.5 : 1.2) dt group_dt(block_group[b]) lc rgb variant_color(block_group[b]) notitle, \
     for [g=1:ngroups] keyentry with lines lw 1.2 dt group_dt(g) lc rgb variant_color(g) title each_title(g), \
     for [g=1:ngroups] keyentry with lines lw 3.5 dt group_dt(g) lc rgb variant_color(g) \
         title (group_searches[g] > 1 ? sprintf("%s, mean of %d searches", group_label[g], group_searches[g]) : "")

# the same figure as SVG
set terminal svg size 1000,620 dynamic noenhanced font figure_font background "white"
set output out_svg
replot
set output
