# colors.gp -- the colour of each variant of an experiment, shared by every
# figure of `nnlab report`: variant i (the i-th grid point in the report's
# stable order) is drawn in variant_color(i) in the curves, the bars and the
# seconds, so one variant looks the same everywhere. nnlab copies this file
# into every figure's script, between its values and the template.
#
# Twelve colours (matplotlib's tab10 and two darker ones); a thirteenth
# variant takes the first colour again.
array variant_colors[12] = [0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, \
                            0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf, 0x393b79, 0x637939]
variant_color(i) = variant_colors[(int(i) - 1) % |variant_colors| + 1]

# the page, text and font of every figure
figure_font = "sans,11"
