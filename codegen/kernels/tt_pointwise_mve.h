/*
 * Private helper of the pointwise int8 conv (tt_conv2d_1x1_s8.c), not part of the API: its Cortex-M55 Helium (MVE)
 * path, a 1x1 conv as a matrix product over the pixels of a channel-major input x (channels, hw).
 *
 * VMLADAVA.S8 multiplies 16 int8 pairs and adds them to a 32-bit scalar, so it wants an output's 16 weights (a row
 * of w: contiguous) against one pixel's 16 input channels (strided by hw in x). A block of pixels is therefore
 * copied pixel by pixel into a buffer first (tt_pointwise_pack_mve: one VLDRB.U16 gather of 8 channels, one
 * truncating VSTRB.16), then two outputs by four pixels take 2 + 4 loads and 8 VMLADAVA per 16 channels
 * (tt_pointwise_2x4_mve), the sums go into one vector per output and are requantized four pixels at a time
 * (tt_pointwise_requant4_mve).
 * The zero point is not subtracted in the loop: the sums start from bias - x_zero * sum w. VMLADAVA and VADD wrap
 * modulo 2^32 (no C overflow), and the portable loop's sum bias + sum (x - x_zero) * w fits in int32
 * (docs/int8-semantics.md), so the wrapped sum is that same integer: the output is identical bit for bit.
 */
#ifndef TT_POINTWISE_MVE_H
#define TT_POINTWISE_MVE_H

#include "tt_kernels.h"

/* Integer MVE (bit 0 of __ARM_FEATURE_MVE), only where the DSP paths are on (TT_NO_DSP, the portable build, turns it
 * off too); TT_NO_MVE keeps the DSP path on a Cortex-M55. */
#if TT_USE_DSP && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(TT_NO_MVE)
#define TT_USE_MVE 1
#else
#define TT_USE_MVE 0
#endif

#if TT_USE_MVE
#include <arm_mve.h>

#include "tt_requant.h"

/* The pixel block's buffer (stack): four pixels of up to TT_PW_MVE_MAX_CHANNELS channels, more pixels when fewer. */
#define TT_PW_MVE_BYTES 2048
#define TT_PW_MVE_MAX_CHANNELS (TT_PW_MVE_BYTES / 4)
/* The gather's offsets c * hw (c < 8) are 16-bit. */
#define TT_PW_MVE_MAX_PIXELS (65535 / 7)

static inline int tt_pointwise_mve_ok(int32_t channels, int32_t hw)
{
    return channels <= TT_PW_MVE_MAX_CHANNELS && hw <= TT_PW_MVE_MAX_PIXELS;
}

/* buf[(k * n4 + p) * 16 + i] = x[(16k + i) * hw + p] for p < n and 16k + i < channels: each chunk of 16 channels holds
 * the block's pixels one after the other, 16 bytes each, so that tt_pointwise_2x4_mve reads four pixels from one
 * pointer. The other bytes (the last chunk's lanes from channels on, the pixels from n to n4) are left as they are:
 * the weights' lanes from channels on are loaded as zeros, and the sums of pixels from n on are not stored. Reads
 * nothing outside x's n pixels. */
static inline void tt_pointwise_pack_mve(const int8_t *x, int32_t hw, int32_t channels, int32_t n, int32_t n4,
                                         int8_t *buf)
{
    const uint16x8_t off = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)hw); /* 0, hw, .., 7 hw */
    for (int32_t c = 0; c < channels; c += 8, x += 8 * hw) {
        uint8_t *b = (uint8_t *)buf + (c / 16) * n4 * 16 + c % 16;
        const uint8_t *xp = (const uint8_t *)x;
        if (channels - c >= 8)
            for (const uint8_t *end = xp + n; xp < end; xp++, b += 16)
                vstrbq_u16(b, vldrbq_gather_offset_u16(xp, off));
        else
            for (const mve_pred16_t pr = vctp16q((uint32_t)(channels - c)); xp < (const uint8_t *)x + n; xp++, b += 16)
                vstrbq_u16(b, vldrbq_gather_offset_z_u16(xp, off, pr));
    }
}

/* sum_{c < channels} w[c] */
static inline int32_t tt_weight_sum_mve(const int8_t *w, int32_t channels)
{
    int32_t s = 0, c = 0;
    for (; c + 16 <= channels; c += 16)
        s = vaddvaq_s8(s, vldrbq_s8(w + c));
    if (c < channels)
        s = vaddvaq_s8(s, vldrbq_z_s8(w + c, vctp8q((uint32_t)(channels - c))));
    return s;
}

/* The four int32 sums s0 .. s3 as one vector (two VMOV of two lanes each). */
static inline int32x4_t tt_lanes4_mve(int32_t s0, int32_t s1, int32_t s2, int32_t s3)
{
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\t"
            "vmov %q0[3], %q0[1], %2, %4"
            : "=&w"(v)
            : "r"(s0), "r"(s1), "r"(s2), "r"(s3));
    return v;
}

/* a[k] = sum_{c < channels} x_k[c] * wa[c] and b[k] likewise with wb, k = 0..3, where x_k is the pixel k of a packed
 * chunk (tt_pointwise_pack_mve: xb + 16 k, the next chunk at xb + stride). Weights read in [0, channels) only (the
 * last chunk by a predicated load). */
static inline __attribute__((always_inline)) void tt_pointwise_2x4_mve(const int8_t *xb, int32_t stride,
                                                                       int32_t channels, const int8_t *wa,
                                                                       const int8_t *wb, int32x4_t *a, int32x4_t *b)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
    const int8_t *wend = wa + (channels & ~15);
    for (; wa < wend; wa += 16, wb += 16, xb += stride) {
        const int8x16_t va = vldrbq_s8(wa), vb = vldrbq_s8(wb);
        const int8x16_t x0 = vldrbq_s8(xb), x1 = vldrbq_s8(xb + 16), x2 = vldrbq_s8(xb + 32), x3 = vldrbq_s8(xb + 48);
        a0 = vmladavaq_s8(a0, x0, va), b0 = vmladavaq_s8(b0, x0, vb);
        a1 = vmladavaq_s8(a1, x1, va), b1 = vmladavaq_s8(b1, x1, vb);
        a2 = vmladavaq_s8(a2, x2, va), b2 = vmladavaq_s8(b2, x2, vb);
        a3 = vmladavaq_s8(a3, x3, va), b3 = vmladavaq_s8(b3, x3, vb);
    }
    if (channels & 15) {
        const mve_pred16_t pr = vctp8q((uint32_t)(channels & 15));
        const int8x16_t va = vldrbq_z_s8(wa, pr), vb = vldrbq_z_s8(wb, pr);
        const int8x16_t x0 = vldrbq_s8(xb), x1 = vldrbq_s8(xb + 16), x2 = vldrbq_s8(xb + 32), x3 = vldrbq_s8(xb + 48);
        a0 = vmladavaq_s8(a0, x0, va), b0 = vmladavaq_s8(b0, x0, vb);
        a1 = vmladavaq_s8(a1, x1, va), b1 = vmladavaq_s8(b1, x1, vb);
        a2 = vmladavaq_s8(a2, x2, va), b2 = vmladavaq_s8(b2, x2, vb);
        a3 = vmladavaq_s8(a3, x3, va), b3 = vmladavaq_s8(b3, x3, vb);
    }
    *a = tt_lanes4_mve(a0, a1, a2, a3), *b = tt_lanes4_mve(b0, b1, b2, b3);
}

/* tt_pointwise_2x4_mve for one output (an odd last one). */
static inline __attribute__((always_inline)) int32x4_t tt_pointwise_1x4_mve(const int8_t *xb, int32_t stride,
                                                                            int32_t channels, const int8_t *w)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    const int8_t *wend = w + (channels & ~15);
    for (; w < wend; w += 16, xb += stride) {
        const int8x16_t v = vldrbq_s8(w);
        a0 = vmladavaq_s8(a0, vldrbq_s8(xb), v), a1 = vmladavaq_s8(a1, vldrbq_s8(xb + 16), v);
        a2 = vmladavaq_s8(a2, vldrbq_s8(xb + 32), v), a3 = vmladavaq_s8(a3, vldrbq_s8(xb + 48), v);
    }
    if (channels & 15) {
        const int8x16_t v = vldrbq_z_s8(w, vctp8q((uint32_t)(channels & 15)));
        a0 = vmladavaq_s8(a0, vldrbq_s8(xb), v), a1 = vmladavaq_s8(a1, vldrbq_s8(xb + 16), v);
        a2 = vmladavaq_s8(a2, vldrbq_s8(xb + 32), v), a3 = vmladavaq_s8(a3, vldrbq_s8(xb + 48), v);
    }
    return tt_lanes4_mve(a0, a1, a2, a3);
}

/* y[0 .. n) (n in 1..4) = tt_requantize(start + s[k], mult, shift, zero, lo, hi), s's lanes wrapping (see above).
 * Shifts above 32 (every layer of the paper's backbones) four lanes at a time with tt_requantize's arithmetic:
 * VMULH.S32 is its high word floor(acc * mult / 2^32), VRSHL by -(shift - 32) its (hi + 2^(t-1)) >> t (no
 * overflow: |hi| <= 2^30, t <= 30), then + zero and the clamp; a truncating VSTRB.32 stores the low bytes. Other
 * shifts through tt_requantize lane by lane. */
static inline __attribute__((always_inline)) void tt_pointwise_requant4_mve(int32x4_t s, int32_t start, int32_t mult,
                                                                            int32_t shift, const tt_quant_params *q,
                                                                            int8_t *y, int32_t n)
{
    s = vaddq_n_s32(s, start);
    if (shift > 32) {
        int32x4_t v = vrshlq_n_s32(vmulhq_s32(s, vdupq_n_s32(mult)), 32 - shift);
        v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, q->y_zero), vdupq_n_s32(q->act_min)), vdupq_n_s32(q->act_max));
        if (n == 4)
            vstrbq_s32(y, v);
        else
            vstrbq_p_s32(y, v, vctp32q((uint32_t)n));
        return;
    }
    int32_t acc[4];
    vst1q_s32(acc, s);
    for (int32_t k = 0; k < n; k++)
        y[k] = tt_requantize(acc[k], mult, shift, q->y_zero, q->act_min, q->act_max);
}

/* y[o * y_plane + p] for o < out_c, p < hw: the 1x1 conv of x (channels, hw) by w (out_c, channels), blocks of pixels
 * packed once (tt_pointwise_pack_mve), outputs two at a time (tt_pointwise_2x4_mve), an odd last one alone, each
 * output's start bias - x_zero * sum w once per block. Needs tt_pointwise_mve_ok(channels, hw). */
static inline void tt_pointwise_mve(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w,
                                    const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                    const tt_quant_params *q, int8_t *y, int32_t y_plane, int32_t out_c)
{
    int8_t buf[TT_PW_MVE_BYTES] __attribute__((aligned(16)));
    const int32_t block = (TT_PW_MVE_BYTES / ((channels + 15) & ~15)) & ~3; /* pixels, >= 4 */
    const uint32_t x_zero = (uint32_t)q->x_zero;
    for (int32_t p0 = 0; p0 < hw; p0 += block) {
        const int32_t n = hw - p0 < block ? hw - p0 : block, n4 = (n + 3) & ~3, stride = 16 * n4;
        tt_pointwise_pack_mve(x + p0, hw, channels, n, n4, buf);
        int32_t o = 0;
        for (; o + 2 <= out_c; o += 2) {
            const int8_t *wa = w + o * channels, *wb = wa + channels;
            /* wrapping arithmetic, see above */
            const int32_t sa = (int32_t)((uint32_t)bias[o] - x_zero * (uint32_t)tt_weight_sum_mve(wa, channels));
            const int32_t sb = (int32_t)((uint32_t)bias[o + 1] - x_zero * (uint32_t)tt_weight_sum_mve(wb, channels));
            int8_t *ya = y + o * y_plane + p0, *yb = ya + y_plane;
            for (int32_t g = 0; g < n4; g += 4) {
                int32x4_t a, b;
                tt_pointwise_2x4_mve(buf + 16 * g, stride, channels, wa, wb, &a, &b);
                const int32_t k = n - g < 4 ? n - g : 4;
                tt_pointwise_requant4_mve(a, sa, mult[o], shift[o], q, ya + g, k);
                tt_pointwise_requant4_mve(b, sb, mult[o + 1], shift[o + 1], q, yb + g, k);
            }
        }
        if (o < out_c) {
            const int8_t *wo = w + o * channels;
            const int32_t so = (int32_t)((uint32_t)bias[o] - x_zero * (uint32_t)tt_weight_sum_mve(wo, channels));
            for (int32_t g = 0; g < n4; g += 4)
                tt_pointwise_requant4_mve(tt_pointwise_1x4_mve(buf + 16 * g, stride, channels, wo), so, mult[o],
                                          shift[o], q, y + o * y_plane + p0 + g, n - g < 4 ? n - g : 4);
        }
    }
}
#endif

#endif /* TT_POINTWISE_MVE_H */
