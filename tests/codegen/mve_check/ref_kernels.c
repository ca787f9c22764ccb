/* The portable loop of tt_conv2d_1x1_s8, renamed ref_conv2d_1x1_s8, for check_mve.c. */
#define TT_NO_DSP 1
#define tt_conv2d_1x1_s8 ref_conv2d_1x1_s8
#include "tt_conv2d_1x1_s8.c"
