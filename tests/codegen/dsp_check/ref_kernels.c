/* The portable loops of the kernels that have DSP paths, renamed ref_*, for check_dsp.c. */
#define TT_NO_DSP 1
#define tt_conv2d_1x1_s8 ref_conv2d_1x1_s8
#define tt_depthwise_conv2d_s8 ref_depthwise_conv2d_s8
#define tt_depthwise_conv2d_strided_s8 ref_depthwise_conv2d_strided_s8
#define tt_expand_depthwise_s8_get_buffer_size ref_expand_depthwise_s8_get_buffer_size
#define tt_depthwise_inplace_s8_get_buffer_size ref_depthwise_inplace_s8_get_buffer_size
#define tt_depthwise_inplace_s8 ref_depthwise_inplace_s8
#define tt_conv2d_1x1_split_s8 ref_conv2d_1x1_split_s8
#define tt_conv2d_general_s8 ref_conv2d_general_s8
#define tt_add_s8 ref_add_s8
#define tt_add_s8_rows ref_add_s8_rows
#include "tt_conv2d_1x1_s8.c"
#include "tt_depthwise_conv2d_s8.c"
#include "tt_conv2d_1x1_split_s8.c"
#include "tt_conv2d_general_s8.c"
#include "tt_add_s8.c"
