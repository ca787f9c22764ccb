/*
 * Private helpers of the int8 kernels' Cortex-M DSP paths (TT_USE_DSP), not part of the API:
 * unaligned 32-bit loads, the packing / extension steps ACLE has no intrinsic for, and a
 * requantization that saturates with SSAT.
 */
#ifndef TT_DSP_H
#define TT_DSP_H

#include <stdint.h>
#include <string.h>

#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
#include <arm_acle.h>

static inline uint32_t tt_load32(const int8_t *p) /* unaligned: Cortex-M4/M7/M55 LDR handles it */
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* PKHBT (low halves of a, b), PKHTB (high halves of a, b), SXTB16 / SXTAB16 of v rotated by 8 (bytes 1 and 3).
 * Written as instructions on Arm (GCC does not always find them: a plain-C PKH costs three
 * instructions and the rotation one more); plain C elsewhere (the host tests, acle_emul). */
#if defined(__arm__)
static inline uint32_t tt_pack_lo(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t tt_pack_hi(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t tt_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
static inline int32_t tt_sxtab16_ror8(int32_t a, uint32_t v) /* a + SXTB16 of v rotated by 8, per halfword */
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}
#else
static inline uint32_t tt_pack_lo(uint32_t a, uint32_t b)
{
    return (a & 0xFFFFu) | (b << 16);
}
static inline uint32_t tt_pack_hi(uint32_t a, uint32_t b)
{
    return (a >> 16) | (b & 0xFFFF0000u);
}
static inline int32_t tt_sxtb16_ror8(uint32_t v)
{
    return __sxtb16((int32_t)((v >> 8) | (v << 24)));
}
static inline int32_t tt_sxtab16_ror8(int32_t a, uint32_t v)
{
    return __sxtab16(a, (int32_t)((v >> 8) | (v << 24)));
}
#endif

/* sum_{c < n} w[c]: with it the zero point leaves the inner loop,
 * sum (x - x_zero) * w = sum x * w - x_zero * sum w (integers: the same value). Four weights per
 * word (SXTB16 pairs summed by SMLAD with (1, 1)): the kernels take it once per output channel and
 * call (a byte loop made a tenth of a one-row 1x1 call), the depthwise conv once per channel. */
static inline int32_t tt_weight_sum(const int8_t *w, int32_t n)
{
    int32_t s = 0, c = 0;
    for (; c + 4 <= n; c += 4) {
        const uint32_t v = tt_load32(w + c);
        s = __smlad(__sxtb16((int32_t)v), 0x00010001, s);
        s = __smlad(tt_sxtb16_ror8(v), 0x00010001, s);
    }
    for (; c < n; c++)
        s += w[c];
    return s;
}

/* dst[0, n) = src[0, n): the depthwise conv's padded copies of rows. Short rows a word at a time (unaligned
 * LDR / STR), where a memcpy call cost more than the copy; longer ones by memcpy (newlib's copies eight
 * words per loop). */
static inline void tt_copy_row(int8_t *dst, const int8_t *src, int32_t n)
{
    if (n >= 32) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v = tt_load32(src + i);
        __asm__("" : "+r"(v)); /* keeps the loop a loop: GCC would make it a call to memmove */
        memcpy(dst + i, &v, 4);
    }
    for (; i < n; i++)
        dst[i] = src[i];
}

/* tt_requantize for 32 < shift <= TT_SSAT_MAX_SHIFT and the full int8 range (act_min -128, act_max 127;
 * every layer of the paper's backbones): ((hi + 2^(t-1)) >> t) + zero saturated by SSAT, t = shift - 32
 * (tt_requant.h explains why the high word hi = floor(acc * mult / 2^32) is enough). The zero point and
 * the rounding go in before the shift as k = 2^(t-1) + zero * 2^t (tt_ssat_k): adding a multiple of 2^t
 * before a floor division by 2^t adds exactly zero after it. SMMLA gives hi + k in one instruction. No
 * overflow: |hi| < 2^30 (|acc * mult| < 2^62) and |k| < 2^29 for t <= 21. */
#define TT_SSAT_MAX_SHIFT 53

static inline int32_t tt_ssat_k(int32_t t, int32_t zero)
{
    return (1 << (t - 1)) + zero * (1 << t);
}

static inline int8_t tt_requantize_hi_ssat(int32_t acc, int32_t mult, int32_t t, int32_t k)
{
#if defined(__thumb2__)
    int32_t v;
    __asm__("smmla %0, %1, %2, %3" : "=r"(v) : "r"(acc), "r"(mult), "r"(k));
#else
    const int32_t v = (int32_t)(((int64_t)acc * mult) >> 32) + k;
#endif
    return (int8_t)__ssat(v >> t, 8);
}

/* The SSAT form applies to a channel (above). */
static inline int tt_ssat_form(int32_t shift, int32_t lo, int32_t hi)
{
    return shift > 32 && shift <= TT_SSAT_MAX_SHIFT && lo == -128 && hi == 127;
}

/* y[0..3] = requantized a[0..3] of one output channel: the SSAT form when it applies, else tt_requantize. */
static inline void tt_requantize4(const int32_t a[4], int32_t mult, int32_t shift, int32_t zero, int32_t lo,
                                  int32_t hi, int8_t *y)
{
    if (tt_ssat_form(shift, lo, hi)) {
        const int32_t t = shift - 32, k = tt_ssat_k(t, zero);
        y[0] = tt_requantize_hi_ssat(a[0], mult, t, k);
        y[1] = tt_requantize_hi_ssat(a[1], mult, t, k);
        y[2] = tt_requantize_hi_ssat(a[2], mult, t, k);
        y[3] = tt_requantize_hi_ssat(a[3], mult, t, k);
    } else {
        y[0] = tt_requantize(a[0], mult, shift, zero, lo, hi);
        y[1] = tt_requantize(a[1], mult, shift, zero, lo, hi);
        y[2] = tt_requantize(a[2], mult, shift, zero, lo, hi);
        y[3] = tt_requantize(a[3], mult, shift, zero, lo, hi);
    }
}
#endif

#endif /* TT_DSP_H */
