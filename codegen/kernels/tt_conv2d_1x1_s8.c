/*
 * Pointwise int8 conv (kernel 1x1, groups 1, any stride and padding).
 * Layout: x (in.c, in.h, in.w), w (out.c, in.c), y (out.c, out.h, out.w).
 *   y[o, oy, ox] = requant(bias[o] + sum_c (x[c, oy*s - pad_top, ox*s - pad_left] - x_zero) * w[o, c])
 * An output whose input position lies in the padding is requant(bias[o]).
 * TT_ERR_ARG: as tt_conv_args_ok (tt_requant.h), or groups != 1.
 *
 * DSP path (TT_USE_DSP, stride 1 without padding, i.e. a plain matrix product; tt_pointwise_dsp.h):
 * from four outputs, four pixels at a time packed once as SMLAD pairs less the zero point (1 KB of
 * stack), then one output channel after the other, one weight word and eight SMLAD per four channels;
 * inputs wider than TT_PW_PACK_CHANNELS in chunks, the sums carried between them (packed1x1_dsp).
 * Exactly 8 input channels (the expansions of MbV2 / MCUNet / Proxyless blocks 1-3): up to 64 pixels packed
 * pixel by pixel, and each output's two weight words, bias and requantization constants kept in registers
 * over all of them (pixels_8ch_ssat: 10.5 instructions per 8 multiply-adds and their requantization); exactly 16 the
 * same way, up to 32 pixels a block (pixels_16ch_ssat: 19.75 instructions per 16 multiply-adds). Other multiples
 * of 4 input channels: eight pixels packed at a time and each output's eight sums kept in registers over the channels
 * (pixels8: 28.5 instructions per 32 multiply-adds), above 64 in chunks of 32 (pixels8_acc; from 65 to 128 channels
 * only up to 64 outputs); the pixels left four at a time as above.
 * Fewer outputs: two output channels by four pixels at a time through tt_pointwise_2x4_dsp (SMLAD on
 * channel pairs, weights unpacked once per four channels), an odd last channel (expand_depthwise's
 * one-channel calls on large inputs) by tt_pointwise_1x4_dsp. The int32 sums are the same integers as the
 * portable loop's, so the output is identical bit for bit.
 *
 * x86-64 path (__AVX2__, host builds with -march=native; same cases): four output channels by
 * sixteen pixels at a time through tt_pointwise_avx2 (tt_pointwise_avx2.h), the same int32 sums.
 *
 * Helium path (TT_USE_MVE, Cortex-M55; the same cases, up to 1024 input channels (tt_pointwise_mve_ok), also for
 * tt_conv2d_1x1_strided_out_s8): tt_pointwise_mve (tt_pointwise_mve.h), VMLADAVA.S8 over 16 channels a pixel,
 * the same int32 sums.
 */
#include "tt_conv2d_1x1_strided.h"
#include "tt_kernels.h"
#include "tt_pointwise_avx2.h"
#include "tt_pointwise_dsp.h"
#include "tt_pointwise_mve.h"
#include "tt_requant.h"

/* acc + sum_c (x[c * plane] - x_zero) * w[c] */
static int32_t dot_channels(const int8_t *x, int32_t plane, const int8_t *w, int32_t channels, int32_t x_zero,
                            int32_t acc)
{
    for (int32_t c = 0; c < channels; c++)
        acc += (x[c * plane] - x_zero) * w[c];
    return acc;
}

#if TT_USE_DSP
/* yo[0 .. n) (n a multiple of 4) of one output channel, every pixel in the SSAT form, the sums starting at start:
 * expand_depthwise's one-channel calls (inputs over 512 pixels), whose SSAT test and constants are set once per
 * call here instead of every four pixels, in a loop of its own (noinline: GCC allocates its registers apart from
 * the general one's). */
static __attribute__((noinline)) void channel1x1_ssat_dsp(const int8_t *x, int32_t hw, int32_t n, int32_t channels,
                                                          const int8_t *wo, int32_t start, int32_t m, int32_t t,
                                                          int32_t k, int8_t *yo)
{
    for (int8_t *end = yo + n; yo < end; yo += 4, x += 4) {
        int32_t a[4] = {start, start, start, start};
        tt_pointwise_1x4_dsp(x, hw, channels, wo, a);
        yo[0] = tt_requantize_hi_ssat(a[0], m, t, k);
        yo[1] = tt_requantize_hi_ssat(a[1], m, t, k);
        yo[2] = tt_requantize_hi_ssat(a[2], m, t, k);
        yo[3] = tt_requantize_hi_ssat(a[3], m, t, k);
    }
}

/* y[o, :] of one output channel o (an odd last one), four pixels at a time through tt_pointwise_1x4_dsp. */
static void channel1x1_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *wo, int32_t bias_o,
                           int32_t mult_o, int32_t shift_o, const tt_quant_params *q, int8_t *yo)
{
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    const int32_t start = bias_o - x_zero * tt_weight_sum(wo, channels); /* see conv1x1_dsp */
    int32_t p = 0;
    if (tt_ssat_form(shift_o, lo, hi)) {
        const int32_t t = shift_o - 32;
        p = hw & ~3;
        channel1x1_ssat_dsp(x, hw, p, channels, wo, start, mult_o, t, tt_ssat_k(t, y_zero), yo);
    }
    for (; p + 4 <= hw; p += 4) {
        int32_t a[4] = {start, start, start, start};
        tt_pointwise_1x4_dsp(x + p, hw, channels, wo, a);
        tt_requantize4(a, mult_o, shift_o, y_zero, lo, hi, yo + p);
    }
    for (; p < hw; p++)
        yo[p] = tt_requantize(dot_channels(x + p, hw, wo, channels, x_zero, bias_o), mult_o, shift_o, y_zero, lo, hi);
}

/* Every output channel requantizes by tt_requantize_hi_ssat (tt_ssat_form). */
static int ssat_requant(const int32_t *shift, int32_t out_c, const tt_quant_params *q)
{
    for (int32_t o = 0; o < out_c; o++)
        if (!tt_ssat_form(shift[o], q->act_min, q->act_max))
            return 0;
    return 1;
}

/* y[0..3] = the requantized a[0..3] of one output channel by the general formula (tt_requantize4), in a
 * call of its own so that its 64-bit arithmetic stays out of the packed loops' registers. */
static __attribute__((noinline)) void requant4_any(const int32_t a[4], int32_t mult, int32_t shift,
                                                   const tt_quant_params *q, int8_t *y)
{
    tt_requantize4(a, mult, shift, q->y_zero, q->act_min, q->act_max, y);
}

/* Output channels [o0, o1) at four pixels from a packed chunk of n input channels (buf, tt_pointwise_pack4_dsp
 * of xc): each output's four sums start from its bias (first) or from part[4 * (o - o0) ..] (the chunks
 * before), and are requantized into y[o * y_plane ..] (last) or left in part. ssat: every channel takes
 * tt_requantize_hi_ssat (a constant in each copy, so each loop has only the code it runs). */
static inline __attribute__((always_inline)) void packed_outputs(const int32_t *buf, const int8_t *xc, int32_t hw,
                                                                 int32_t n, const int8_t *w, int32_t channels,
                                                                 int32_t o0, int32_t o1, const int32_t *bias,
                                                                 const int32_t *mult, const int32_t *shift,
                                                                 const tt_quant_params *q, int8_t *y, int32_t y_plane,
                                                                 int32_t *part, int first, int last, const int ssat)
{
    const int32_t x_zero = q->x_zero;
    for (int32_t o = o0; o < o1; o++) {
        int32_t *s = part + 4 * (o - o0);
        int32_t a[4];
        if (first)
            a[0] = a[1] = a[2] = a[3] = bias[o];
        else
            a[0] = s[0], a[1] = s[1], a[2] = s[2], a[3] = s[3];
        tt_pointwise_packed_part_dsp(buf, xc, hw, n, x_zero, w + o * channels, a);
        int8_t *yo = y + o * y_plane;
        if (!last) {
            s[0] = a[0], s[1] = a[1], s[2] = a[2], s[3] = a[3];
        } else if (ssat) {
            const int32_t t = shift[o] - 32, k = tt_ssat_k(t, q->y_zero), m = mult[o];
            yo[0] = tt_requantize_hi_ssat(a[0], m, t, k);
            yo[1] = tt_requantize_hi_ssat(a[1], m, t, k);
            yo[2] = tt_requantize_hi_ssat(a[2], m, t, k);
            yo[3] = tt_requantize_hi_ssat(a[3], m, t, k);
        } else {
            requant4_any(a, mult[o], shift[o], q, yo);
        }
    }
}

/* packed_outputs for the common case of one whole pack: every channel in SSAT form and a multiple of four
 * input channels (every 1x1 of the paper's backbones), a loop of its own with its pointers stepping, so
 * that the per-output work beside the packed loop is the bias, the weight row and the requantization. */
static __attribute__((noinline)) void packed_outputs_ssat(const int32_t *buf, int32_t quads, const int8_t *w,
                                                          const int32_t *bias, const int32_t *mult,
                                                          const int32_t *shift, int32_t y_zero, int8_t *y,
                                                          int32_t hw, int32_t out_c)
{
    const int32_t channels = 4 * quads;
    for (const int32_t *end = bias + out_c; bias < end; w += channels, y += hw) {
        const int32_t b = *bias++, m = *mult++, t = *shift++ - 32, k = tt_ssat_k(t, y_zero);
        int32_t a[4] = {b, b, b, b};
        tt_pointwise_packed_1x4_dsp(buf, quads, w, a);
        y[0] = tt_requantize_hi_ssat(a[0], m, t, k);
        y[1] = tt_requantize_hi_ssat(a[1], m, t, k);
        y[2] = tt_requantize_hi_ssat(a[2], m, t, k);
        y[3] = tt_requantize_hi_ssat(a[3], m, t, k);
    }
}

/* One output at eight pixels from a pack of tt_pointwise_pack8_dsp (quads >= 1 quads of input channels, weights w,
 * tt_pointwise_packed_1x8_dsp): the sums start at b, or at from[0 .. 7] (the chunks of channels before) when from is
 * not NULL, and are requantized into y[0 .. 7] (in the SSAT form when the channel has it, so that one channel outside it
 * does not send a whole layer to the slow path). */
static __attribute__((noinline)) void pixels8(const int32_t *q, int32_t quads, const int8_t *w, int32_t b,
                                              const int32_t *from, int32_t m, int32_t shift,
                                              const tt_quant_params *qp, int8_t *y)
{
    int32_t a[8] = {b, b, b, b, b, b, b, b};
    if (from)
        a[0] = from[0], a[1] = from[1], a[2] = from[2], a[3] = from[3], a[4] = from[4], a[5] = from[5],
        a[6] = from[6], a[7] = from[7];
    tt_pointwise_packed_1x8_dsp(q, quads, w, a);
    if (tt_ssat_form(shift, qp->act_min, qp->act_max)) {
        const int32_t t = shift - 32, k = tt_ssat_k(t, qp->y_zero);
        tt_pointwise_requant8_ssat(a, m, t, k, y);
    } else { /* in a copy, so that a[] itself stays in registers (and GCC finds registers for the asm) */
        const int32_t r[8] = {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]};
        requant4_any(r, m, shift, qp, y);
        requant4_any(r + 4, m, shift, qp, y + 4);
    }
}

/* s[0 .. 7] += one output's sums at eight pixels over a chunk of quads of input channels (the chunks before the last
 * of an input wider than PW8_CHANNELS): four arguments in registers and no tests, where pixels8 with its ten
 * cost about 40 instructions more a call. */
static __attribute__((noinline)) void pixels8_acc(const int32_t *q, int32_t quads, const int8_t *w, int32_t *s)
{
    int32_t a[8] = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]};
    tt_pointwise_packed_1x8_dsp(q, quads, w, a);
    s[0] = a[0], s[1] = a[1], s[2] = a[2], s[3] = a[3], s[4] = a[4], s[5] = a[5], s[6] = a[6], s[7] = a[7];
}

/* The last chunk of pixels8_acc's sums s[0 .. 7], requantized into y[0 .. 7] in the SSAT form. */
static __attribute__((noinline)) void pixels8_last_ssat(const int32_t *q, int32_t quads, const int8_t *w,
                                                        const int32_t *s, int32_t m, int32_t t, int32_t k, int8_t *y)
{
    int32_t a[8] = {s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]};
    tt_pointwise_packed_1x8_dsp(q, quads, w, a);
    tt_pointwise_requant8_ssat(a, m, t, k, y);
}

/* pixels8 for the common case, one pack of all the channels and an output in the SSAT form: the sums start at b and
 * are requantized straight from their registers (fewer arguments and no tests: about 15 instructions less a call). */
static __attribute__((noinline)) void pixels8_ssat(const int32_t *q, int32_t quads, const int8_t *w, int32_t b,
                                                   int32_t m, int32_t t, int32_t k, int8_t *y)
{
    int32_t a[8] = {b, b, b, b, b, b, b, b};
    tt_pointwise_packed_1x8_dsp(q, quads, w, a);
    tt_pointwise_requant8_ssat(a, m, t, k, y);
}

/* pixels8_ssat for every output channel, all in the SSAT form (q: one pack of all the channels), in a loop of its own
 * with its pointers stepping (inside packed8_outputs, GCC kept them on the stack: 4 instructions more an output). */
static __attribute__((noinline)) void outputs8_ssat(const int32_t *q, int32_t quads, const int8_t *w,
                                                    const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                                    int32_t y_zero, int8_t *y, int32_t y_plane, int32_t out_c)
{
    const int32_t channels = 4 * quads;
    for (const int32_t *end = bias + out_c; bias < end; w += channels, y += y_plane) {
        const int32_t t = *shift++ - 32;
        pixels8_ssat(q, quads, w, *bias++, *mult++, t, tt_ssat_k(t, y_zero), y);
    }
}

/* Input channels of one pack of eight pixels (1 KB); inputs wider than PW8_CHANNELS in chunks of PW8_CHUNK
 * channels for blocks of PW8_BLOCK outputs, whose eight partial sums wait in the other half of the same 1 KB. From 65
 * to 128 channels, which the pack of four pixels holds whole, only up to PW8_OUTPUTS outputs: each block packs its
 * chunks again (on QEMU M7, 96 -> 16 channels at 16x16 484,643 instructions against 532,094, 96 -> 64 at 8x8 484,886
 * against 492,449, but 96 -> 384 at 4x4 733,194 against 727,905). */
#define PW8_CHANNELS (TT_PW_PACK_CHANNELS / 2)
#define PW8_CHUNK (TT_PW_PACK_CHANNELS / 4)
#define PW8_BLOCK (TT_PW_PACK_CHANNELS / 8)
#define PW8_OUTPUTS (4 * PW8_BLOCK)

/* y[o, p .. p + 7] (at y + o * y_plane) for all o, channels a multiple of 4: the eight pixels packed once
 * (tt_pointwise_pack8_dsp) and read by every output channel one by one (pixels8_ssat, pixels8), in chunks of channels
 * above PW8_CHANNELS (integer sums: the same value in any order). ssat: every channel in the SSAT form (a constant in
 * each copy). */
static inline __attribute__((always_inline)) void packed8_outputs(const int8_t *x, int32_t hw, int32_t channels,
                                                                  const int8_t *w, const int32_t *bias,
                                                                  const int32_t *mult, const int32_t *shift,
                                                                  const tt_quant_params *q, int8_t *y, int32_t y_plane,
                                                                  int32_t out_c, int32_t *buf, const int ssat)
{
    if (channels <= PW8_CHANNELS) {
        tt_pointwise_pack8_dsp(x, hw, channels / 4, q->x_zero, buf);
        if (ssat) {
            outputs8_ssat(buf, channels / 4, w, bias, mult, shift, q->y_zero, y, y_plane, out_c);
            return;
        }
        for (int32_t o = 0; o < out_c; o++) {
            const int32_t t = shift[o] - 32;
            if (ssat || tt_ssat_form(shift[o], q->act_min, q->act_max))
                pixels8_ssat(buf, channels / 4, w + o * channels, bias[o], mult[o], t, tt_ssat_k(t, q->y_zero),
                             y + o * y_plane);
            else
                pixels8(buf, channels / 4, w + o * channels, bias[o], NULL, mult[o], shift[o], q, y + o * y_plane);
        }
        return;
    }
    int32_t *part = buf + 4 * PW8_CHUNK; /* PW8_BLOCK x 8 partial sums */
    for (int32_t o0 = 0; o0 < out_c; o0 += PW8_BLOCK) {
        const int32_t o1 = out_c - o0 < PW8_BLOCK ? out_c : o0 + PW8_BLOCK;
        for (int32_t c0 = 0; c0 < channels; c0 += PW8_CHUNK) {
            const int32_t n = channels - c0 < PW8_CHUNK ? channels - c0 : PW8_CHUNK;
            tt_pointwise_pack8_dsp(x + c0 * hw, hw, n / 4, q->x_zero, buf);
            int32_t *s = part;
            if (c0 == 0) /* the sums start at the biases */
                for (int32_t o = o0; o < o1; o++, s += 8)
                    s[0] = s[1] = s[2] = s[3] = s[4] = s[5] = s[6] = s[7] = bias[o];
            s = part;
            if (c0 + n < channels) {
                for (int32_t o = o0; o < o1; o++, s += 8)
                    pixels8_acc(buf, n / 4, w + o * channels + c0, s);
                continue;
            }
            for (int32_t o = o0; o < o1; o++, s += 8) {
                const int32_t t = shift[o] - 32;
                if (ssat || tt_ssat_form(shift[o], q->act_min, q->act_max))
                    pixels8_last_ssat(buf, n / 4, w + o * channels + c0, s, mult[o], t, tt_ssat_k(t, q->y_zero),
                                      y + o * y_plane);
                else
                    pixels8(buf, n / 4, w + o * channels + c0, bias[o], s, mult[o], shift[o], q, y + o * y_plane);
            }
        }
    }
}

/* y[p] for p < n (n > 0, a multiple of 4) of one output of exactly 8 input channels from buf
 * (tt_pointwise_pack_pixels_dsp): b + four SMLAD with the weight pairs w02 .. w57, requantized in the SSAT form, where
 * cp = {w02, w13, w46, w57, b, m, k, t} (four loads: as eleven arguments, seven of them on the stack, GCC's
 * call and entry cost about 20 instructions more an output). A function of its own so that its fourteen registers are
 * free (GCC found the asm's constraints impossible inside the output loop). */
static __attribute__((noinline)) void pixels_8ch_ssat(const int32_t *q, int8_t *y, int32_t n, const int32_t *cp)
{
#if defined(__thumb2__)
    /* four pixels a turn, each pixel's four pairs by two LDRD: 10 instructions a pixel, 10.5 with the loop's */
#define PW8_PIXEL                                                                                                     \
    "ldrd %[e], %[o], [%[q]], #8\n\t" "smlad %[a], %[e], %[w02], %[b]\n\t" "smlad %[a], %[o], %[w13], %[a]\n\t"   \
    "ldrd %[e], %[o], [%[q]], #8\n\t" "smlad %[a], %[e], %[w46], %[a]\n\t" "smlad %[a], %[o], %[w57], %[a]\n\t"   \
    "smmla %[a], %[a], %[m], %[k]\n\t" "asr %[a], %[a], %[t]\n\t" "ssat %[a], #8, %[a]\n\t"                        \
    "strb %[a], [%[y]], #1\n\t"
    /* cp's register is the sum once the constants are loaded, n's the end of y: fourteen registers */
    int32_t e, o, w02, w13, w46, w57, b, m, k, t;
    __asm__ volatile("ldrd    %[w02], %[w13], [%[a]]\n\t" /* volatile: its only results are the stores */
                     "ldrd    %[w46], %[w57], [%[a], #8]\n\t"
                     "ldrd    %[b], %[m], [%[a], #16]\n\t"
                     "ldrd    %[k], %[t], [%[a], #24]\n\t"
                     "add     %[yend], %[y], %[yend]\n\t"
                     "1:\n\t"
                     PW8_PIXEL PW8_PIXEL PW8_PIXEL PW8_PIXEL
                     "cmp     %[y], %[yend]\n\t"
                     "bne     1b"
                     : [q] "+r"(q), [y] "+r"(y), [a] "+r"(cp), [yend] "+r"(n), [e] "=&r"(e), [o] "=&r"(o),
                       [w02] "=&r"(w02), [w13] "=&r"(w13), [w46] "=&r"(w46), [w57] "=&r"(w57), [b] "=&r"(b),
                       [m] "=&r"(m), [k] "=&r"(k), [t] "=&r"(t)
                     :
                     : "cc", "memory");
#undef PW8_PIXEL
#else
    for (int8_t *end = y + n; y < end; y++, q += 4) {
        int32_t a = __smlad(q[0], cp[0], cp[4]);
        a = __smlad(q[1], cp[1], a);
        a = __smlad(q[2], cp[2], a);
        a = __smlad(q[3], cp[3], a);
        *y = tt_requantize_hi_ssat(a, cp[5], cp[7], cp[6]);
    }
#endif
}

/* Outputs of exactly 8 input channels at n pixels (buf: tt_pointwise_pack_pixels_dsp), every channel in the SSAT
 * form: an output's two weight words, bias and requantization constants stay in registers for the n pixels,
 * four SMLAD a pixel. */
static void packed_8ch_outputs_ssat(const int32_t *buf, int32_t n, const int8_t *w, const int32_t *bias,
                                    const int32_t *mult, const int32_t *shift, int32_t y_zero, int8_t *y, int32_t hw,
                                    int32_t out_c)
{
    int32_t cp[8] __attribute__((aligned(8)));
    for (int32_t o = 0; o < out_c; o++, w += 8, y += hw) {
        const uint32_t wv0 = tt_load32(w), wv1 = tt_load32(w + 4);
        const int32_t t = shift[o] - 32;
        cp[0] = __sxtb16((int32_t)wv0), cp[1] = tt_sxtb16_ror8(wv0), cp[2] = __sxtb16((int32_t)wv1);
        cp[3] = tt_sxtb16_ror8(wv1), cp[4] = bias[o], cp[5] = mult[o], cp[6] = tt_ssat_k(t, y_zero), cp[7] = t;
        pixels_8ch_ssat(buf, y, n, cp);
    }
}

/* y[p] for p < n (n > 0, a multiple of 4) of one output of exactly 16 input channels (weights w) from buf
 * (tt_pointwise_pack_pixels_dsp), cp = {b, m, k, t} and on Thumb-2 {y + n, w} after them: the four weight words' eight SXTB16 pairs made once and kept in registers over the n
 * pixels, each pixel b + eight SMLAD and its requantization in the SSAT form with b, m, k, t read from cp (no register
 * is left for them): 19 instructions a pixel, 19.75 with the loop's (four pixels a turn), where an output's two packs
 * of four pixels cost about 220 (the packed loops, the sums and constants around them). */
static __attribute__((noinline)) void pixels_16ch_ssat(const int32_t *q, int8_t *y, int32_t n, const int8_t *w,
                                                       const int32_t *cp)
{
#if defined(__thumb2__)
    (void)n, (void)w; /* in cp */
#define PW16_PAIR(A, B) "ldrd %[e], %[o], [%[q]], #8\n\t" "smlad %[a], %[e], %[" #A "], %[a]\n\t" \
    "smlad %[a], %[o], %[" #B "], %[a]\n\t"
#define PW16_PIXEL                                                                                                    \
    "ldr %[a], [%[cp]]\n\t" PW16_PAIR(w0, w1) PW16_PAIR(w2, w3) PW16_PAIR(w4, w5) PW16_PAIR(w6, w7)                  \
    "ldrd %[e], %[o], [%[cp], #4]\n\t" "smmla %[a], %[a], %[e], %[o]\n\t" "ldr %[e], [%[cp], #12]\n\t"          \
    "asr %[a], %[a], %[e]\n\t" "ssat %[a], #8, %[a]\n\t" "strb %[a], [%[y]], #1\n\t"
    int32_t a, e, o, w0, w1, w2, w3, w4, w5, w6, w7;
    __asm__ volatile("ldr     %[e], [%[cp], #20]\n\t" /* volatile: its only results are the stores */
                     "ldr     %[o], [%[e]]\n\t"
                     "sxtb16  %[w0], %[o]\n\t"
                     "sxtb16  %[w1], %[o], ror #8\n\t"
                     "ldr     %[o], [%[e], #4]\n\t"
                     "sxtb16  %[w2], %[o]\n\t"
                     "sxtb16  %[w3], %[o], ror #8\n\t"
                     "ldr     %[o], [%[e], #8]\n\t"
                     "sxtb16  %[w4], %[o]\n\t"
                     "sxtb16  %[w5], %[o], ror #8\n\t"
                     "ldr     %[o], [%[e], #12]\n\t"
                     "sxtb16  %[w6], %[o]\n\t"
                     "sxtb16  %[w7], %[o], ror #8\n\t"
                     "1:\n\t"
                     PW16_PIXEL PW16_PIXEL PW16_PIXEL PW16_PIXEL
                     "ldr     %[e], [%[cp], #16]\n\t"
                     "cmp     %[y], %[e]\n\t"
                     "bne     1b"
                     : [q] "+r"(q), [y] "+r"(y), [a] "=&r"(a), [e] "=&r"(e), [o] "=&r"(o), [w0] "=&r"(w0),
                       [w1] "=&r"(w1), [w2] "=&r"(w2), [w3] "=&r"(w3), [w4] "=&r"(w4), [w5] "=&r"(w5), [w6] "=&r"(w6),
                       [w7] "=&r"(w7)
                     : [cp] "r"(cp)
                     : "cc", "memory");
#undef PW16_PIXEL
#undef PW16_PAIR
#else
    int32_t wp[8];
    for (int32_t g = 0; g < 4; g++) {
        const uint32_t v = tt_load32(w + 4 * g);
        wp[2 * g] = __sxtb16((int32_t)v), wp[2 * g + 1] = tt_sxtb16_ror8(v);
    }
    for (int8_t *end = y + n; y < end; y++, q += 8) {
        int32_t a = cp[0];
        for (int32_t j = 0; j < 8; j++)
            a = __smlad(q[j], wp[j], a);
        *y = tt_requantize_hi_ssat(a, cp[1], cp[3], cp[2]);
    }
#endif
}

/* Outputs of exactly 16 input channels at n pixels (buf: tt_pointwise_pack_pixels_dsp), every channel in the SSAT
 * form, one pixels_16ch_ssat call an output. */
static void packed_16ch_outputs_ssat(const int32_t *buf, int32_t n, const int8_t *w, const int32_t *bias,
                                     const int32_t *mult, const int32_t *shift, int32_t y_zero, int8_t *y, int32_t hw,
                                     int32_t out_c)
{
    int32_t cp[6] __attribute__((aligned(8)));
    for (int32_t o = 0; o < out_c; o++, w += 16, y += hw) {
        const int32_t t = shift[o] - 32;
        cp[0] = bias[o], cp[1] = mult[o], cp[2] = tt_ssat_k(t, y_zero), cp[3] = t;
#if defined(__thumb2__)
        cp[4] = (int32_t)(intptr_t)(y + n), cp[5] = (int32_t)(intptr_t)w;
#endif
        pixels_16ch_ssat(buf, y, n, w, cp);
    }
}

/* Wider inputs than TT_PW_PACK_CHANNELS: input channels per packed chunk and output channels per block,
 * whose partial sums wait in the other half of the same 1 KB while the next chunk is packed. */
#define PW_CHUNK (TT_PW_PACK_CHANNELS / 2)
#define PW_BLOCK (TT_PW_PACK_CHANNELS / 4)

/* y[o, :] (at y + o * y_plane, y_plane >= hw) for all o (out_c >= 4; ssat: ssat_requant's, from the caller), four
 * pixels at a time packed (tt_pointwise_pack4_dsp) and read by every output channel one by one: all channels in one
 * pack up to TT_PW_PACK_CHANNELS; wider inputs in chunks of PW_CHUNK channels for blocks of PW_BLOCK outputs, each
 * output's four int32 sums carried from chunk to chunk (integer sums: the same value in any order). */
static void packed1x1_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int32_t *shift, const tt_quant_params *q, int8_t *y,
                          int32_t y_plane, int32_t out_c, const int ssat)
{
    const int32_t x_zero = q->x_zero;
    int32_t buf[2 * TT_PW_PACK_CHANNELS];
    int32_t p = 0;
    if (ssat && channels == 8) /* whole blocks of pixels per output */
        for (int32_t n; p + 4 <= hw; p += n) { /* n: a multiple of 4, the last block's the pixels left */
            n = hw - p < TT_PW_8CH_PIXELS ? (hw - p) & ~3 : TT_PW_8CH_PIXELS;
            tt_pointwise_pack_pixels_dsp(x + p, hw, n, 2, x_zero, buf);
            packed_8ch_outputs_ssat(buf, n, w, bias, mult, shift, q->y_zero, y + p, y_plane, out_c);
        }
    if (ssat && channels == 16) /* likewise */
        for (int32_t n; p + 4 <= hw; p += n) {
            n = hw - p < TT_PW_16CH_PIXELS ? (hw - p) & ~3 : TT_PW_16CH_PIXELS;
            tt_pointwise_pack_pixels_dsp(x + p, hw, n, 4, x_zero, buf);
            packed_16ch_outputs_ssat(buf, n, w, bias, mult, shift, q->y_zero, y + p, y_plane, out_c);
        }
    /* eight pixels at a time */
    if (channels % 4 == 0 && (channels <= PW8_CHANNELS || channels > TT_PW_PACK_CHANNELS || out_c <= PW8_OUTPUTS))
        for (; p + 8 <= hw; p += 8) {
            if (ssat) /* every channel in the SSAT form: a loop without the test */
                packed8_outputs(x + p, hw, channels, w, bias, mult, shift, q, y + p, y_plane, out_c, buf, 1);
            else
                packed8_outputs(x + p, hw, channels, w, bias, mult, shift, q, y + p, y_plane, out_c, buf, 0);
        }
    for (; p + 4 <= hw; p += 4) {
        if (channels <= TT_PW_PACK_CHANNELS) {
            tt_pointwise_pack4_dsp(x + p, hw, channels / 4, x_zero, buf);
            if (ssat && channels % 4 == 0)
                packed_outputs_ssat(buf, channels / 4, w, bias, mult, shift, q->y_zero, y + p, y_plane, out_c);
            else if (ssat)
                packed_outputs(buf, x + p, hw, channels, w, channels, 0, out_c, bias, mult, shift, q, y + p, y_plane,
                               buf, 1, 1, 1);
            else
                packed_outputs(buf, x + p, hw, channels, w, channels, 0, out_c, bias, mult, shift, q, y + p, y_plane,
                               buf, 1, 1, 0);
            continue;
        }
        int32_t *part = buf + 2 * PW_CHUNK; /* PW_BLOCK x 4 partial sums */
        for (int32_t o0 = 0; o0 < out_c; o0 += PW_BLOCK) {
            const int32_t o1 = out_c - o0 < PW_BLOCK ? out_c : o0 + PW_BLOCK;
            for (int32_t c0 = 0; c0 < channels; c0 += PW_CHUNK) {
                const int32_t n = channels - c0 < PW_CHUNK ? channels - c0 : PW_CHUNK;
                const int8_t *xc = x + c0 * hw + p;
                tt_pointwise_pack4_dsp(xc, hw, n / 4, x_zero, buf);
                if (ssat)
                    packed_outputs(buf, xc, hw, n, w + c0, channels, o0, o1, bias, mult, shift, q, y + p, y_plane,
                                   part, c0 == 0, c0 + n == channels, 1);
                else
                    packed_outputs(buf, xc, hw, n, w + c0, channels, o0, o1, bias, mult, shift, q, y + p, y_plane,
                                   part, c0 == 0, c0 + n == channels, 0);
            }
        }
    }
    for (; p < hw; p++)
        for (int32_t o = 0; o < out_c; o++)
            y[o * y_plane + p] = tt_requantize(dot_channels(x + p, hw, w + o * channels, channels, x_zero, bias[o]),
                                               mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
}

/* y[o, :] for all o when the conv is a matrix product over hw = in.h * in.w pixels. */
static void conv1x1_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const tt_quant_params *q, int8_t *y,
                        int32_t out_c)
{
    /* in locals: the int8 stores to y may alias anything, so the compiler would reload them */
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    int32_t o = 0;
    for (; o + 2 <= out_c; o += 2) {
        const int32_t o1 = o + 1;
        const int8_t *wa = w + o * channels, *wb = w + o1 * channels;
        const int32_t mult_a = mult[o], shift_a = shift[o], mult_b = mult[o1], shift_b = shift[o1];
        int8_t *ya = y + o * hw, *yb = y + o1 * hw;
        /* sum (x - x_zero) * w = sum x * w - x_zero * sum w: |x_zero * sum w| <= 128 * 128 * channels, no overflow */
        const int32_t start_a = bias[o] - x_zero * tt_weight_sum(wa, channels);
        const int32_t start_b = bias[o1] - x_zero * tt_weight_sum(wb, channels);
        int32_t p = 0;
        for (; p + 4 <= hw; p += 4) {
            int32_t a[4] = {start_a, start_a, start_a, start_a}, b[4] = {start_b, start_b, start_b, start_b};
            tt_pointwise_2x4_dsp(x + p, hw, channels, wa, wb, a, b);
            tt_requantize4(a, mult_a, shift_a, y_zero, lo, hi, ya + p);
            tt_requantize4(b, mult_b, shift_b, y_zero, lo, hi, yb + p);
        }
        for (; p < hw; p++) {
            ya[p] = tt_requantize(dot_channels(x + p, hw, wa, channels, x_zero, bias[o]), mult_a, shift_a, y_zero, lo,
                                  hi);
            yb[p] = tt_requantize(dot_channels(x + p, hw, wb, channels, x_zero, bias[o1]), mult_b, shift_b, y_zero,
                                  lo, hi);
        }
    }
    if (o < out_c) /* an odd last channel, alone */
        channel1x1_dsp(x, channels, hw, w + o * channels, bias[o], mult[o], shift[o], q, y + o * hw);
}
#endif

#if TT_USE_DSP
int tt_conv2d_1x1_strided_out_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias,
                                 const int32_t *mult, const int32_t *shift, const tt_quant_params *q, int8_t *y,
                                 int32_t y_plane, tt_dims out, int form)
{
    if (form < 0) {
        const tt_conv_params conv = {1, 0, 0, 0, 0, 1};
        if (!tt_conv_args_ok(x, in, w, 1, 1, bias, mult, shift, &conv, q, y, out) || out.c < 4 ||
            y_plane < in.h * in.w)
            return TT_ERR_ARG;
        form = ssat_requant(shift, out.c, q);
    }
#if TT_USE_MVE
    if (tt_pointwise_mve_ok(in.c, 0, in.h * in.w)) {
        tt_pointwise_mve(x, in.h * in.w, w, in.c, w, 0, bias, mult, shift, q, y, y_plane, out.c);
        return form;
    }
#endif
    packed1x1_dsp(x, in.c, in.h * in.w, w, bias, mult, shift, q, y, y_plane, out.c, form);
    return form;
}
#endif

int tt_conv2d_1x1_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                     const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                     tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w, 1, 1, bias, mult, shift, conv, q, y, out) || conv->groups != 1)
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w;
#if TT_USE_DSP
    if (s == 1 && out.h == in.h && out.w == in.w) { /* no padding */
#if TT_USE_MVE
        if (tt_pointwise_mve_ok(in.c, 0, plane)) {
            tt_pointwise_mve(x, plane, w, in.c, w, 0, bias, mult, shift, q, y, plane, out.c);
            return TT_OK;
        }
#endif
        if (out.c >= 4) /* packing pays for itself from four outputs */
            packed1x1_dsp(x, in.c, plane, w, bias, mult, shift, q, y, plane, out.c, ssat_requant(shift, out.c, q));
        else
            conv1x1_dsp(x, in.c, plane, w, bias, mult, shift, q, y, out.c);
        return TT_OK;
    }
#endif
#if defined(__AVX2__)
    if (s == 1 && out.h == in.h && out.w == in.w && /* no padding */
        tt_pointwise_avx2(x, plane, w, in.c, w, 0, bias, mult, shift, q, y, out.c))
        return TT_OK;
#endif
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *wo = w + o * in.c;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy = oy * s - conv->pad_top;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix = ox * s - conv->pad_left;
                int32_t acc = bias[o];
                if (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w)
                    acc = dot_channels(x + iy * in.w + ix, plane, wo, in.c, q->x_zero, acc);
                y[(o * out.h + oy) * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
