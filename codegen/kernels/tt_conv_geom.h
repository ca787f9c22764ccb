/* The geometry check of the tt_conv2d_geom_* kernels (tt_conv_geom in tt_kernels.h). */
#ifndef TT_CONV_GEOM_H
#define TT_CONV_GEOM_H

#include "tt_kernels.h"

/* Output extent along one axis: (size + pads - ((k - 1) * dilation + 1)) / stride + 1, or -1 if the
 * dilated window does not fit. */
static inline int32_t tt_geom_extent(int32_t size, int32_t pad_a, int32_t pad_b, int32_t k, int32_t stride,
                                     int32_t dilation)
{
    const int32_t padded = size + pad_a + pad_b, span = (k - 1) * dilation + 1;
    return padded < span ? -1 : (padded - span) / stride + 1;
}

/* Positive sizes, strides and dilations >= 1, pads >= 0, groups dividing in.c and out.c, and out.h /
 * out.w what the window gives. */
static inline int tt_geom_ok(tt_dims in, int32_t kh, int32_t kw, const tt_conv_geom *g, tt_dims out)
{
    if (!g || in.c < 1 || in.h < 1 || in.w < 1 || out.c < 1 || kh < 1 || kw < 1 || g->stride_h < 1 ||
        g->stride_w < 1 || g->dilation_h < 1 || g->dilation_w < 1 || g->pad_top < 0 || g->pad_left < 0 ||
        g->pad_bottom < 0 || g->pad_right < 0 || g->groups < 1 || in.c % g->groups || out.c % g->groups)
        return 0;
    return out.h == tt_geom_extent(in.h, g->pad_top, g->pad_bottom, kh, g->stride_h, g->dilation_h) &&
           out.w == tt_geom_extent(in.w, g->pad_left, g->pad_right, kw, g->stride_w, g->dilation_w);
}

#endif /* TT_CONV_GEOM_H */
