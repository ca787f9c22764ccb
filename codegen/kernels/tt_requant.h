/*
 * Private helpers of the forward int8 kernels (not part of the API): requantization exactly as
 * docs/int8-semantics.md, clamping, and the argument checks the conv kernels share.
 */
#ifndef TT_REQUANT_H
#define TT_REQUANT_H

#include <stdint.h>

#include "tt_kernels.h"

/* (v + 2^(shift-1)) >> shift, round half towards +infinity; shift in [1, 62].
 * >> of a negative int64 is an arithmetic shift with GCC and Clang (implementation-defined in C99). */
static inline int64_t tt_rshift_round(int64_t v, int32_t shift)
{
    return (v + ((int64_t)1 << (shift - 1))) >> shift;
}

static inline int32_t tt_clamp64(int64_t v, int32_t lo, int32_t hi)
{
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* clamp(rshift_round((int64)acc * mult, shift) + zero, lo, hi); |acc * mult| < 2^62 for any int32 acc.
 *
 * Shifts of 32 and more (every layer of the paper's backbones) need only the high word of the
 * product, hi = floor(acc * mult / 2^32) (one SMULL / SMMUL on Cortex-M):
 *   shift == 32:        (P + 2^31) >> 32
 *   shift == 32 + t>0:  (P + 2^(31+t)) >> (32+t) = (hi + 2^(t-1)) >> t   (the low word, in [0, 2^32),
 *                       cannot move floor((hi * 2^32 + lo + 2^(31+t)) / 2^(32+t)) since the rest is a
 *                       multiple of 2^32), and |hi| <= 2^30 so everything stays in int32.
 * Smaller shifts take the plain int64 formula. All three are the same integer, bit for bit.
 * >> of a negative int32 is an arithmetic shift with GCC and Clang (implementation-defined in C99). */
static inline int8_t tt_requantize(int32_t acc, int32_t mult, int32_t shift, int32_t zero, int32_t lo, int32_t hi)
{
    int32_t v;
    if (shift > 32) {
        const int32_t t = shift - 32;
        v = ((int32_t)(((int64_t)acc * mult) >> 32) + (1 << (t - 1))) >> t;
    } else if (shift == 32) {
        v = (int32_t)(((int64_t)acc * mult + 0x80000000ll) >> 32);
    } else {
        return (int8_t)tt_clamp64(tt_rshift_round((int64_t)acc * mult, shift) + zero, lo, hi);
    }
    v += zero;
    return (int8_t)(v < lo ? lo : v > hi ? hi : v);
}

static inline int tt_is_s8(int32_t v)
{
    return v >= -128 && v <= 127;
}

/* Zero points in int8 range (so |x - x_zero| <= 255 and the accumulator bound holds) and
 * -128 <= act_min <= act_max <= 127. */
static inline int tt_quant_ok(const tt_quant_params *q)
{
    return q && tt_is_s8(q->x_zero) && tt_is_s8(q->y_zero) && tt_is_s8(q->act_min) && tt_is_s8(q->act_max) &&
           q->act_min <= q->act_max;
}

/* Every shift in [1, 62] (anything else would be an undefined shift). */
static inline int tt_shifts_ok(const int32_t *shift, int32_t n)
{
    for (int32_t i = 0; i < n; i++)
        if (shift[i] < 1 || shift[i] > 62)
            return 0;
    return 1;
}

/* Output extent of a window sweep: (size + pads - k) / stride + 1, or -1 if the window does not fit. */
static inline int32_t tt_out_extent(int32_t size, int32_t pad_a, int32_t pad_b, int32_t k, int32_t stride)
{
    int32_t padded = size + pad_a + pad_b;
    return padded < k ? -1 : (padded - k) / stride + 1;
}

/* Geometry of a window op: positive sizes, stride >= 1, pads >= 0, out.h/out.w what the window gives. */
static inline int tt_window_ok(tt_dims in, int32_t kh, int32_t kw, const tt_conv_params *p, tt_dims out)
{
    if (!p || in.c < 1 || in.h < 1 || in.w < 1 || out.c < 1 || kh < 1 || kw < 1 || p->stride < 1 ||
        p->pad_top < 0 || p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0)
        return 0;
    return out.h == tt_out_extent(in.h, p->pad_top, p->pad_bottom, kh, p->stride) &&
           out.w == tt_out_extent(in.w, p->pad_left, p->pad_right, kw, p->stride);
}

/* The checks every int8 conv kernel makes (TT_ERR_ARG on failure): no null pointer, the window
 * geometry above, groups >= 1 dividing in.c and out.c, quant params and shifts in range. */
static inline int tt_conv_args_ok(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                                  const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                  const tt_conv_params *conv, const tt_quant_params *q, const int8_t *y,
                                  tt_dims out)
{
    return x && w && bias && mult && shift && y && tt_window_ok(in, kh, kw, conv, out) && conv->groups >= 1 &&
           in.c % conv->groups == 0 && out.c % conv->groups == 0 && tt_quant_ok(q) && tt_shifts_ok(shift, out.c);
}

#endif /* TT_REQUANT_H */
