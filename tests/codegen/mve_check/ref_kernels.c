/* The portable loops of the 1x1 convs, renamed ref_*, for check_mve.c. */
#define TT_NO_DSP 1
#define tt_conv2d_1x1_s8 ref_conv2d_1x1_s8
#define tt_conv2d_1x1_split_s8 ref_conv2d_1x1_split_s8
#include "tt_conv2d_1x1_s8.c"
#include "tt_conv2d_1x1_split_s8.c"
