/* Private helpers of the float (backward / update) kernels: static inline, not part of the API. */
#ifndef TT_FLOAT_UTIL_H
#define TT_FLOAT_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tt_kernels.h"

/* exp and log written out in float arithmetic, so every target computes the same bits: the C
 * libraries do not (newlib's expf / logf on a Cortex-M4, which has no double-precision FPU,
 * differ from glibc's and from its own Cortex-M7 build in the last bit, and a loss one bit
 * apart flips stochastic roundings of the update).  About one ulp from the exact value. */
static inline float tt_pow2i(int32_t k) /* 2^k for -126 <= k <= 127 */
{
    uint32_t u = (uint32_t)(k + 127) << 23;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 (ln 2 in two parts, so r is exact),
 * |r| <= ln(2) / 2, exp(r) by its degree-7 Taylor polynomial; 0 below -80 (no subnormal result,
 * whose rounding could depend on the FPU's flush-to-zero mode). */
static inline float tt_expf(float x)
{
    if (x < -80.0f) return 0.0f;
    if (x > 88.0f) return INFINITY;
    float kf = x * 1.44269504f;
    int32_t k = (int32_t)(kf + (kf < 0.0f ? -0.5f : 0.5f));
    float r = (x - (float)k * 0.693145752f) - (float)k * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f
              + r * (1.38888889e-3f + r * 1.98412698e-4f))))));
    return p * tt_pow2i(k);
}

/* log(s) for a positive normal s = m 2^e, m in [sqrt(1/2), sqrt(2)): e ln 2 + 2 atanh(t),
 * t = (m - 1) / (m + 1), |t| < 0.172, atanh by its series to t^9. */
static inline float tt_logf(float s)
{
    uint32_t u;
    memcpy(&u, &s, sizeof u);
    int32_t e = (int32_t)((u >> 23) & 0xffu) - 127;
    u = (u & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &u, sizeof m);
    if (m > 1.41421356f) {
        m *= 0.5f;
        e += 1;
    }
    float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    float a = t * (2.0f + t2 * (6.66666667e-1f + t2 * (4.0e-1f + t2 * (2.85714286e-1f + t2 * 2.22222222e-1f))));
    return (float)e * 0.693147181f + a;
}

/* log(sum(exp(l))) computed as m + log(sum(exp(l - m))), m = max(l): the loss and its gradient
 * share it so both see the same float value. */
static inline float tt_log_sum_exp(const float *logits, int32_t n)
{
    float m = logits[0];
    for (int32_t i = 1; i < n; ++i)
        if (logits[i] > m) m = logits[i];
    float sum = 0.0f;
    for (int32_t i = 0; i < n; ++i) sum += tt_expf(logits[i] - m);
    return m + tt_logf(sum);
}

/* acc + a * b, the product rounded before the add, as the host computes it (-ffp-contract=off).
 * GCC emits no multiply-accumulate under -ffp-contract=off; with a single-precision FPU, VMLA.F32 is
 * this operation in one instruction (unfused: it rounds the product, unlike VFMA, so device == host
 * bit for bit). */
static inline float tt_mla_f32(float acc, float a, float b)
{
#if defined(__ARM_FP) && (__ARM_FP & 4)
    __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
    return acc;
#else
    return acc + a * b;
#endif
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
