/* Private helpers of the float (backward / update) kernels: static inline, not part of the API. */
#ifndef TT_FLOAT_UTIL_H
#define TT_FLOAT_UTIL_H

#include <math.h>
#include <stdint.h>

#include "tt_kernels.h"

/* log(sum(exp(l))) computed as m + log(sum(exp(l - m))), m = max(l): the loss and its gradient
 * share it so both see the same float value. */
static inline float tt_log_sum_exp(const float *logits, int32_t n)
{
    float m = logits[0];
    for (int32_t i = 1; i < n; ++i)
        if (logits[i] > m) m = logits[i];
    float sum = 0.0f;
    for (int32_t i = 0; i < n; ++i) sum += expf(logits[i] - m);
    return m + logf(sum);
}

/* Output positions [*lo, *hi) along one axis whose input position o * stride + tap - pad lies
 * inside [0, n_in): the positions where kernel tap `tap` reads the input rather than padding. */
static inline void tt_tap_range(int32_t tap, int32_t pad, int32_t stride, int32_t n_in, int32_t n_out,
                                int32_t *lo, int32_t *hi)
{
    int32_t first = pad - tap;            /* o * stride >= first */
    int32_t last = n_in - 1 + pad - tap;  /* o * stride <= last */
    int32_t a = first <= 0 ? 0 : (first + stride - 1) / stride;
    int32_t b = last < 0 ? 0 : last / stride + 1;
    if (b > n_out) b = n_out;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* 1 if `out` is the output of a window kh x kw with these stride/padding over `in` (spatially). */
static inline int tt_window_dims_ok(tt_dims in, tt_dims out, int32_t kh, int32_t kw, const tt_conv_params *p)
{
    if (in.c <= 0 || in.h <= 0 || in.w <= 0 || out.c <= 0 || out.h <= 0 || out.w <= 0 || kh <= 0 || kw <= 0)
        return 0;
    if (p->stride <= 0 || p->pad_top < 0 || p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0)
        return 0;
    int32_t hp = in.h + p->pad_top + p->pad_bottom, wp = in.w + p->pad_left + p->pad_right;
    return hp >= kh && wp >= kw && out.h == (hp - kh) / p->stride + 1 && out.w == (wp - kw) / p->stride + 1;
}

/* dx[c][p] = sum over o (in order) of d[o][p] * (w_scale[o] * w[o * w_stride + c]) for c < channels,
 * p < hw: the input gradient of a stride-1 unpadded pointwise conv (tt_conv2d_grad_input_f32.c). */
void tt_pointwise_grad_input_f32(const float *d, int32_t out_c, int32_t hw, const int8_t *w, int32_t w_stride,
                                 const float *w_scale, int32_t channels, float *dx);

#endif /* TT_FLOAT_UTIL_H */
