/*
 * Private entry of the pointwise int8 conv (not part of the API, tt_conv2d_1x1_s8.c) for the fused row kernels'
 * loop (tt_conv_dw_pw_loop.h) on the DSP path: tt_conv2d_1x1_s8 at stride 1 without padding, from four outputs,
 * with output channel o written at y + o * y_plane (y_plane >= in.h * in.w), so that a row of the expansion goes
 * straight into its channels' window of rows instead of through a row buffer and a copy per channel.
 * form -1: the arguments are checked (TT_ERR_ARG: as tt_conv2d_1x1_s8, or out.c < 4 or y_plane < in.h * in.w),
 * else form is what an earlier call with the same layer and shapes returned (the loop's later rows: only x and y
 * move), and both scans over the output channels (the shifts' range and their form, 0.17-0.27 M instructions a
 * forward) are skipped. Returns the form to pass on the next call (1: every channel in the SSAT form, 0: not), or
 * TT_ERR_ARG.
 */
#ifndef TT_CONV2D_1X1_STRIDED_H
#define TT_CONV2D_1X1_STRIDED_H

#include "tt_kernels.h"

#if TT_USE_DSP
int tt_conv2d_1x1_strided_out_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, const tt_quant_params *q, int8_t *y,
                                 int32_t y_plane, tt_dims out, int form);
#endif

#endif /* TT_CONV2D_1X1_STRIDED_H */
