/*
 * Private entry of the general int8 conv (not part of the API, tt_conv2d_general_s8.c) for the fused row kernels'
 * loop (tt_conv_dw_pw_loop.h) on the DSP path: tt_conv2d_general_s8 with output channel o written at
 * y + o * y_plane (y_plane >= out.h * out.w), so that a row of a conv other than the straight 1x1 (the stem's 3x3
 * stride 2) goes into its channels' slots of the depthwise's window instead of through a row buffer and a copy per
 * channel. TT_ERR_ARG: as tt_conv2d_general_s8, or y_plane < out.h * out.w.
 */
#ifndef TT_CONV2D_GENERAL_STRIDED_H
#define TT_CONV2D_GENERAL_STRIDED_H

#include "tt_kernels.h"

#if TT_USE_DSP
int tt_conv2d_general_strided_out_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                                     const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                     const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, int32_t y_plane,
                                     tt_dims out);
#endif

#endif /* TT_CONV2D_GENERAL_STRIDED_H */
