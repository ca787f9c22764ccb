/*
 * Private helper of the pointwise int8 convs (tt_conv2d_1x1_s8, tt_conv2d_1x1_split_s8), not part
 * of the API: the Cortex-M DSP inner block of a 1x1 conv as a matrix product over the pixels of a
 * channel-major input (x (channels, hw)), two output channels by four pixels at a time.
 *
 * Per step of four input channels (c .. c+3): one 32-bit load of each output's weights gives
 * (w[c], w[c+2]) and (w[c+1], w[c+3]) through SXTB16; the four pixels of rows c and c+2 are
 * byte-paired by PKHBT / PKHTB and SXTB16 then gives (x[c], x[c+2]) per pixel, which SMLAD
 * multiplies with both outputs' weight pairs: 32 multiply-adds in about 40 instructions. The zero
 * point is not subtracted in the loop (the caller starts from bias - x_zero * sum w).
 * Pairing channels (c, c+2) instead of (c, c+1) only reorders an integer sum: the int32 result is
 * the same integer as the portable loop's (no intermediate can overflow, docs/int8-semantics.md).
 */
#ifndef TT_POINTWISE_DSP_H
#define TT_POINTWISE_DSP_H

#include "tt_kernels.h"

#if TT_USE_DSP
#include "tt_dsp.h"

/* a[k] += sum_{c < channels} x[c * hw + k] * wa[c] and b[k] likewise with wb, k = 0..3 (raw int8
 * values: the caller folds -x_zero * sum w into the start value). Reads x[c * hw + 0 .. 3] for
 * c < channels and wa, wb [0, channels): nothing outside. */
static inline void tt_pointwise_2x4_dsp(const int8_t *x, int32_t hw, int32_t channels, const int8_t *wa,
                                        const int8_t *wb, int32_t a[4], int32_t b[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
    const int8_t *xc = x;
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4, xc += 4 * hw) {
        const uint32_t wva = tt_load32(wa + c), wvb = tt_load32(wb + c);
        /* channels c and c + 2: t = bytes (c p0, c p1, c+2 p0, c+2 p1), u the same for p2, p3 */
        {
            const int32_t wa02 = __sxtb16((int32_t)wva), wb02 = __sxtb16((int32_t)wvb); /* (w[c], w[c+2]) */
            const uint32_t v0 = tt_load32(xc), v2 = tt_load32(xc + 2 * hw);
            const uint32_t t = tt_pack_lo(v0, v2), u = tt_pack_hi(v0, v2);
            int32_t q = __sxtb16((int32_t)t); /* (x[c] , x[c+2]) at pixel 0 */
            a0 = __smlad(q, wa02, a0);
            b0 = __smlad(q, wb02, b0);
            q = tt_sxtb16_ror8(t); /* pixel 1 */
            a1 = __smlad(q, wa02, a1);
            b1 = __smlad(q, wb02, b1);
            q = __sxtb16((int32_t)u); /* pixel 2 */
            a2 = __smlad(q, wa02, a2);
            b2 = __smlad(q, wb02, b2);
            q = tt_sxtb16_ror8(u); /* pixel 3 */
            a3 = __smlad(q, wa02, a3);
            b3 = __smlad(q, wb02, b3);
        }
        /* channels c + 1 and c + 3 */
        {
            const int32_t wa13 = tt_sxtb16_ror8(wva), wb13 = tt_sxtb16_ror8(wvb); /* (w[c+1], w[c+3]) */
            const uint32_t v1 = tt_load32(xc + hw), v3 = tt_load32(xc + 3 * hw);
            const uint32_t t = tt_pack_lo(v1, v3), u = tt_pack_hi(v1, v3);
            int32_t q = __sxtb16((int32_t)t);
            a0 = __smlad(q, wa13, a0);
            b0 = __smlad(q, wb13, b0);
            q = tt_sxtb16_ror8(t);
            a1 = __smlad(q, wa13, a1);
            b1 = __smlad(q, wb13, b1);
            q = __sxtb16((int32_t)u);
            a2 = __smlad(q, wa13, a2);
            b2 = __smlad(q, wb13, b2);
            q = tt_sxtb16_ror8(u);
            a3 = __smlad(q, wa13, a3);
            b3 = __smlad(q, wb13, b3);
        }
    }
    for (; c < channels; c++, xc += hw) { /* the last channels % 4 one by one */
        a0 += xc[0] * wa[c];
        a1 += xc[1] * wa[c];
        a2 += xc[2] * wa[c];
        a3 += xc[3] * wa[c];
        b0 += xc[0] * wb[c];
        b1 += xc[1] * wb[c];
        b2 += xc[2] * wb[c];
        b3 += xc[3] * wb[c];
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, b[0] = b0, b[1] = b1, b[2] = b2, b[3] = b3;
}

/* a[k] += sum_{c < channels} x[c * hw + k] * w[c], k = 0..3: tt_pointwise_2x4_dsp for one output
 * channel (an odd last channel, and expand_depthwise's one-channel calls on inputs too large for four
 * channels a call, which the 2x4 block computed twice). The same pairing of channels (c, c + 2), so the same integer sums. */
static inline void tt_pointwise_1x4_dsp(const int8_t *x, int32_t hw, int32_t channels, const int8_t *w, int32_t a[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
    const int8_t *xc = x;
    int32_t c = 0;
    for (; c + 4 <= channels; c += 4, xc += 4 * hw) {
        const uint32_t wv = tt_load32(w + c);
        const int32_t w02 = __sxtb16((int32_t)wv), w13 = tt_sxtb16_ror8(wv);
        const uint32_t v0 = tt_load32(xc), v1 = tt_load32(xc + hw), v2 = tt_load32(xc + 2 * hw),
                       v3 = tt_load32(xc + 3 * hw);
        const uint32_t t02 = tt_pack_lo(v0, v2), u02 = tt_pack_hi(v0, v2), t13 = tt_pack_lo(v1, v3),
                       u13 = tt_pack_hi(v1, v3);
        a0 = __smlad(__sxtb16((int32_t)t02), w02, a0);
        a1 = __smlad(tt_sxtb16_ror8(t02), w02, a1);
        a2 = __smlad(__sxtb16((int32_t)u02), w02, a2);
        a3 = __smlad(tt_sxtb16_ror8(u02), w02, a3);
        a0 = __smlad(__sxtb16((int32_t)t13), w13, a0);
        a1 = __smlad(tt_sxtb16_ror8(t13), w13, a1);
        a2 = __smlad(__sxtb16((int32_t)u13), w13, a2);
        a3 = __smlad(tt_sxtb16_ror8(u13), w13, a3);
    }
    for (; c < channels; c++, xc += hw) {
        a0 += xc[0] * w[c];
        a1 += xc[1] * w[c];
        a2 += xc[2] * w[c];
        a3 += xc[3] * w[c];
    }
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* Input channels a packed block of four pixels holds at most: two int16 pairs a channel, 1 KB of stack. */
#define TT_PW_PACK_CHANNELS 128

/* The four pixels x[c * hw + 0 .. 3] of the first 4 * quads channels, less the zero point, as the SMLAD
 * operands of tt_pointwise_packed_1x4_dsp: for channels c = 4g .. 4g + 3 and pixel k, q[8g + 2k] =
 * (x[c, k] - x_zero, x[c+2, k] - x_zero) and q[8g + 2k + 1] the same for c + 1, c + 3 (int16 halves:
 * |x - x_zero| <= 255). Built once per block of pixels, read by every output channel. */
static inline void tt_pointwise_pack4_dsp(const int8_t *x, int32_t hw, int32_t quads, int32_t x_zero, int32_t *q)
{
    const int32_t nz = (int32_t)(((uint32_t)-x_zero & 0xFFFFu) | ((uint32_t)-x_zero << 16)); /* (-x_zero, -x_zero) */
    for (int32_t g = 0; g < quads; g++, x += 4 * hw, q += 8) {
        const uint32_t v0 = tt_load32(x), v1 = tt_load32(x + hw), v2 = tt_load32(x + 2 * hw),
                       v3 = tt_load32(x + 3 * hw);
        const uint32_t t02 = tt_pack_lo(v0, v2), u02 = tt_pack_hi(v0, v2), t13 = tt_pack_lo(v1, v3),
                       u13 = tt_pack_hi(v1, v3); /* bytes (c p0, c p1, c+2 p0, c+2 p1), ... */
        q[0] = __sxtab16(nz, (int32_t)t02), q[1] = __sxtab16(nz, (int32_t)t13);
        q[2] = tt_sxtab16_ror8(nz, t02), q[3] = tt_sxtab16_ror8(nz, t13);
        q[4] = __sxtab16(nz, (int32_t)u02), q[5] = __sxtab16(nz, (int32_t)u13);
        q[6] = tt_sxtab16_ror8(nz, u02), q[7] = tt_sxtab16_ror8(nz, u13);
    }
}

/* tt_pointwise_pack4_dsp of eight pixels x[c * hw + 0 .. 7], the two fours of each quad of channels side by side:
 * q[16g + 2k], q[16g + 2k + 1] for pixel k < 8 as in tt_pointwise_pack4_dsp, so that an output's weight word of a quad
 * meets the eight pixels' pairs in one run (tt_pointwise_packed_1x8_dsp). */
static inline void tt_pointwise_pack8_dsp(const int8_t *x, int32_t hw, int32_t quads, int32_t x_zero, int32_t *q)
{
    for (int32_t g = 0; g < quads; g++, x += 4 * hw, q += 16) {
        tt_pointwise_pack4_dsp(x, hw, 1, x_zero, q);
        tt_pointwise_pack4_dsp(x + 4, hw, 1, x_zero, q + 8);
    }
}

/* a[k] += sum_{c < 4 * quads} (x[c, k] - x_zero) * w[c], k = 0..7 (quads >= 1), from q of tt_pointwise_pack8_dsp: the
 * eight sums stay in registers over all the channels, so a quad is one weight word, two SXTB16, eight LDRD and sixteen
 * SMLAD (28.5 instructions per 32 multiply-adds with the loop's, unrolled by two quads, against 34 for two packs of four
 * pixels, which also set up their sums twice). The same integer sums as tt_pointwise_packed_1x4_dsp's. */
static inline __attribute__((always_inline)) void tt_pointwise_packed_1x8_dsp(const int32_t *q, int32_t quads,
                                                                             const int8_t *w, int32_t a[8])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7];
#if defined(__thumb2__)
    /* fourteen registers for the loop: its end is pushed on the stack and read from there, once per two quads (an odd
     * count enters at the second) */
    int32_t w02, w13, e = (int32_t)(intptr_t)(q + 16 * quads), o;
#define PW8X_PIXEL(A) "ldrd %[e], %[o], [%[q]], #8\n\t" "smlad %[" A "], %[e], %[w02], %[" A "]\n\t" \
    "smlad %[" A "], %[o], %[w13], %[" A "]\n\t"
#define PW8X_QUAD                                                                                                     \
    "ldr     %[w13], [%[w]], #4\n\t" "sxtb16  %[w02], %[w13]\n\t" "sxtb16  %[w13], %[w13], ror #8\n\t"             \
    PW8X_PIXEL("a0") PW8X_PIXEL("a1") PW8X_PIXEL("a2") PW8X_PIXEL("a3")                                              \
    PW8X_PIXEL("a4") PW8X_PIXEL("a5") PW8X_PIXEL("a6") PW8X_PIXEL("a7")
    __asm__("push    {%[e]}\n\t"
            "sub     %[o], %[e], %[q]\n\t" /* 64 bytes a quad: bit 6 set for an odd count */
            "tst     %[o], #64\n\t"
            "bne     2f\n\t"
            "1:\n\t"
            PW8X_QUAD
            "2:\n\t"
            PW8X_QUAD
            "ldr     %[e], [sp]\n\t"
            "cmp     %[q], %[e]\n\t"
            "bne     1b\n\t"
            "add     sp, sp, #4"
            : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5),
              [a6] "+r"(a6), [a7] "+r"(a7), [q] "+r"(q), [w] "+r"(w), [w02] "=&r"(w02), [w13] "=&r"(w13),
              [e] "+r"(e), [o] "=&r"(o)
            :
            : "cc", "memory");
#undef PW8X_QUAD
#undef PW8X_PIXEL
#else
    for (int32_t g = 0; g < quads; g++, q += 16) {
        const uint32_t wv = tt_load32(w + 4 * g);
        const int32_t w02 = __sxtb16((int32_t)wv), w13 = tt_sxtb16_ror8(wv);
        a0 = __smlad(q[1], w13, __smlad(q[0], w02, a0));
        a1 = __smlad(q[3], w13, __smlad(q[2], w02, a1));
        a2 = __smlad(q[5], w13, __smlad(q[4], w02, a2));
        a3 = __smlad(q[7], w13, __smlad(q[6], w02, a3));
        a4 = __smlad(q[9], w13, __smlad(q[8], w02, a4));
        a5 = __smlad(q[11], w13, __smlad(q[10], w02, a5));
        a6 = __smlad(q[13], w13, __smlad(q[12], w02, a6));
        a7 = __smlad(q[15], w13, __smlad(q[14], w02, a7));
    }
#endif
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3, a[4] = a4, a[5] = a5, a[6] = a6, a[7] = a7;
}

/* y[0 .. 7] = a[0 .. 7] requantized in the SSAT form (inlined, without a loop: a[] stays in registers). On Thumb-2 in
 * asm with m, t, k and y in registers throughout: 32 instructions, where GCC's code read m, t and k from the stack
 * again and again (about 44). */
static inline __attribute__((always_inline)) void tt_pointwise_requant8_ssat(const int32_t a[8], int32_t m, int32_t t,
                                                                             int32_t k, int8_t *y)
{
#if defined(__thumb2__)
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], a4 = a[4], a5 = a[5], a6 = a[6], a7 = a[7];
#define PW8R(A, I) "smmla %[" A "], %[" A "], %[m], %[k]\n\t" "asr %[" A "], %[" A "], %[t]\n\t" \
    "ssat %[" A "], #8, %[" A "]\n\t" "strb %[" A "], [%[y], #" I "]\n\t"
    __asm__ volatile(PW8R("a0", "0") PW8R("a1", "1") PW8R("a2", "2") PW8R("a3", "3") /* volatile: stores only */
                     PW8R("a4", "4") PW8R("a5", "5") PW8R("a6", "6") PW8R("a7", "7")
                     : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [a4] "+r"(a4), [a5] "+r"(a5),
                       [a6] "+r"(a6), [a7] "+r"(a7)
                     : [m] "r"(m), [t] "r"(t), [k] "r"(k), [y] "r"(y)
                     : "memory");
#undef PW8R
#else
    y[0] = tt_requantize_hi_ssat(a[0], m, t, k), y[1] = tt_requantize_hi_ssat(a[1], m, t, k);
    y[2] = tt_requantize_hi_ssat(a[2], m, t, k), y[3] = tt_requantize_hi_ssat(a[3], m, t, k);
    y[4] = tt_requantize_hi_ssat(a[4], m, t, k), y[5] = tt_requantize_hi_ssat(a[5], m, t, k);
    y[6] = tt_requantize_hi_ssat(a[6], m, t, k), y[7] = tt_requantize_hi_ssat(a[7], m, t, k);
#endif
}

/* Pixels per block of tt_pointwise_pack_pixels_dsp in the same 1 KB as a pack of four pixels: four words a pixel
 * for 8 input channels, eight for 16. */
#define TT_PW_8CH_PIXELS (TT_PW_PACK_CHANNELS / 2)
#define TT_PW_16CH_PIXELS (TT_PW_PACK_CHANNELS / 4)

/* The pixels x[c * hw + p], p < n (n a multiple of 4, at most TT_PW_PACK_CHANNELS / quads), of exactly 4 * quads input
 * channels (8 or 16), less the zero point, pixel by pixel: q[2 * quads * p + 2g], q[2 * quads * p + 2g + 1] =
 * (x[4g], x[4g+2]), (x[4g+1], x[4g+3]) at pixel p as int16 pairs, the SMLAD operands of tt_pointwise_pack4_dsp's
 * quads in the order of one pixel, so that an output's weight words meet a whole row of pixels (tt_conv2d_1x1_s8's
 * layers from 8 and 16 channels, where per-output work beside 8 or 16 MACs a pixel dominated). */
static inline void tt_pointwise_pack_pixels_dsp(const int8_t *x, int32_t hw, int32_t n, int32_t quads, int32_t x_zero,
                                                int32_t *q)
{
    const int32_t nz = (int32_t)(((uint32_t)-x_zero & 0xFFFFu) | ((uint32_t)-x_zero << 16)); /* (-x_zero, -x_zero) */
    const int32_t step = 2 * quads; /* words a pixel */
    for (int32_t p = 0; p < n; p += 4, x += 4, q += 4 * step)
        for (int32_t g = 0; g < quads; g++) {
            const int8_t *xg = x + 4 * g * hw;
            const uint32_t v0 = tt_load32(xg), v1 = tt_load32(xg + hw), v2 = tt_load32(xg + 2 * hw),
                           v3 = tt_load32(xg + 3 * hw);
            const uint32_t t02 = tt_pack_lo(v0, v2), u02 = tt_pack_hi(v0, v2), t13 = tt_pack_lo(v1, v3),
                           u13 = tt_pack_hi(v1, v3); /* bytes (c p0, c p1, c+2 p0, c+2 p1), ... */
            int32_t *qg = q + 2 * g;
            qg[0] = __sxtab16(nz, (int32_t)t02), qg[1] = __sxtab16(nz, (int32_t)t13);
            qg[step] = tt_sxtab16_ror8(nz, t02), qg[step + 1] = tt_sxtab16_ror8(nz, t13);
            qg[2 * step] = __sxtab16(nz, (int32_t)u02), qg[2 * step + 1] = __sxtab16(nz, (int32_t)u13);
            qg[3 * step] = tt_sxtab16_ror8(nz, u02), qg[3 * step + 1] = tt_sxtab16_ror8(nz, u13);
        }
}

/* a[k] += sum_{c < 4 * quads} (x[c, k] - x_zero) * w[c], k = 0..3, from q of tt_pointwise_pack4_dsp: per
 * four channels one weight word and eight SMLAD, the pixels' pairs read in order. The sum of
 * tt_conv2d_1x1_s8's portable loop, the zero point inside (no weight sum): the same integers.
 * On Thumb-2 an asm loop reads each pixel's two pairs with one LDRD, unrolled by two quads: 16 instructions per 16
 * multiply-adds (17 a quad not unrolled; GCC's loop: 22, one LDR a pair). */
static inline void tt_pointwise_packed_1x4_dsp(const int32_t *q, int32_t quads, const int8_t *w, int32_t a[4])
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3];
#if defined(__thumb2__)
    if (quads > 0) {
        const int32_t *end = q + 8 * quads;
        int32_t wv, w02, w13, e, o;
#define PW4X_QUAD                                                                                                     \
    "ldr     %[wv], [%[w]], #4\n\t" "sxtb16  %[w02], %[wv]\n\t" "sxtb16  %[w13], %[wv], ror #8\n\t"               \
    "ldrd    %[e], %[o], [%[q]], #8\n\t" "smlad   %[a0], %[e], %[w02], %[a0]\n\t"                                   \
    "smlad   %[a0], %[o], %[w13], %[a0]\n\t" "ldrd    %[e], %[o], [%[q]], #8\n\t"                                   \
    "smlad   %[a1], %[e], %[w02], %[a1]\n\t" "smlad   %[a1], %[o], %[w13], %[a1]\n\t"                               \
    "ldrd    %[e], %[o], [%[q]], #8\n\t" "smlad   %[a2], %[e], %[w02], %[a2]\n\t"                                   \
    "smlad   %[a2], %[o], %[w13], %[a2]\n\t" "ldrd    %[e], %[o], [%[q]], #8\n\t"                                   \
    "smlad   %[a3], %[e], %[w02], %[a3]\n\t" "smlad   %[a3], %[o], %[w13], %[a3]\n\t"
        __asm__("sub     %[e], %[end], %[q]\n\t" /* 32 bytes a quad: bit 5 set for an odd count, which enters at 2 */
                "tst     %[e], #32\n\t"
                "bne     2f\n\t"
                "1:\n\t"
                PW4X_QUAD
                "2:\n\t"
                PW4X_QUAD
                "cmp     %[q], %[end]\n\t"
                "bne     1b"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [q] "+r"(q), [w] "+r"(w),
                  [wv] "=&r"(wv), [w02] "=&r"(w02), [w13] "=&r"(w13), [e] "=&r"(e), [o] "=&r"(o)
                : [end] "r"(end)
                : "cc", "memory");
#undef PW4X_QUAD
    }
#else
    for (const int32_t *end = q + 8 * quads; q < end; q += 8, w += 4) {
        const uint32_t wv = tt_load32(w);
        const int32_t w02 = __sxtb16((int32_t)wv), w13 = tt_sxtb16_ror8(wv);
        int32_t e = q[0], o = q[1];
        a0 = __smlad(o, w13, __smlad(e, w02, a0));
        e = q[2], o = q[3];
        a1 = __smlad(o, w13, __smlad(e, w02, a1));
        e = q[4], o = q[5];
        a2 = __smlad(o, w13, __smlad(e, w02, a2));
        e = q[6], o = q[7];
        a3 = __smlad(o, w13, __smlad(e, w02, a3));
    }
#endif
    a[0] = a0, a[1] = a1, a[2] = a2, a[3] = a3;
}

/* a[k] += sum_{c < channels} (x[c * hw + k] - x_zero) * w[c], k = 0..3: the channels' quads from q
 * (tt_pointwise_pack4_dsp of x), the last channels % 4 one by one from x. */
static inline void tt_pointwise_packed_part_dsp(const int32_t *q, const int8_t *x, int32_t hw, int32_t channels,
                                                int32_t x_zero, const int8_t *w, int32_t a[4])
{
    const int32_t quads = channels / 4;
    tt_pointwise_packed_1x4_dsp(q, quads, w, a);
    for (int32_t c = 4 * quads; c < channels; c++) { /* four statements: a[] stays in registers */
        const int8_t *xc = x + c * hw;
        const int32_t wc = w[c];
        a[0] += (xc[0] - x_zero) * wc;
        a[1] += (xc[1] - x_zero) * wc;
        a[2] += (xc[2] - x_zero) * wc;
        a[3] += (xc[3] - x_zero) * wc;
    }
}
#endif

#endif /* TT_POINTWISE_DSP_H */
