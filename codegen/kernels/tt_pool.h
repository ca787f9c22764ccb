/* Pooling window helpers shared by the pool kernels (tt_pool_params in tt_kernels.h). */
#ifndef TT_POOL_H
#define TT_POOL_H

#include "tt_kernels.h"

/* Positive sizes and strides, pads >= 0, out.c == in.c and out.h/out.w what the window gives. */
static inline int tt_pool_ok(tt_dims in, const tt_pool_params *p, tt_dims out)
{
    if (!p || in.c < 1 || in.h < 1 || in.w < 1 || out.c != in.c || p->kh < 1 || p->kw < 1 || p->stride_h < 1 ||
        p->stride_w < 1 || p->pad_top < 0 || p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0)
        return 0;
    const int32_t hp = in.h + p->pad_top + p->pad_bottom, wp = in.w + p->pad_left + p->pad_right;
    return hp >= p->kh && wp >= p->kw && out.h == (hp - p->kh) / p->stride_h + 1 &&
           out.w == (wp - p->kw) / p->stride_w + 1;
}

/* The input rows [*lo, *hi) of the window starting at padded position `start` of extent k. */
static inline void tt_pool_span(int32_t start, int32_t k, int32_t size, int32_t *lo, int32_t *hi)
{
    *lo = start < 0 ? 0 : start;
    *hi = start + k > size ? size : start + k;
}

#endif /* TT_POOL_H */
