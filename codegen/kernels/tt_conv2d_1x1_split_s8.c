/*
 * Pointwise int8 conv whose weight is stored in two parts: the k leading input channels
 * (w_lead, (out.c, k), trained, in SRAM) and the rest (w_rest, (out.c, in.c - k), frozen, in
 * flash). Same arithmetic as tt_conv2d_1x1_s8 (identical integer sums), any stride and padding.
 * TT_ERR_ARG: as tt_conv2d_1x1_s8, or k outside [1, in.c) / w_rest NULL.
 *
 * DSP path (TT_USE_DSP, stride 1 without padding): as tt_conv2d_1x1_s8's, the two weight parts
 * one after the other: from four outputs, when both parts are multiples of 4 channels and the input is up to
 * 64 channels or above TT_PW_PACK_CHANNELS, eight pixels an output in one asm loop per part (packed8_split_dsp,
 * tt_pointwise_packed_1x8_dsp); a multiple of 4 channels up to 64 cut elsewhere, the same with the quad across the cut
 * made per output (packed8_mixed_dsp); packed blocks of four pixels (up to TT_PW_PACK_CHANNELS input channels, four
 * outputs or more), else tt_pointwise_2x4_dsp and, for an odd last channel, tt_pointwise_1x4_dsp
 * (the same int32 sums, bit for bit).
 * x86-64 path (__AVX2__, same cases): tt_pointwise_avx2 over both parts (tt_pointwise_avx2.h).
 * Helium path (TT_USE_MVE, Cortex-M55; same cases, tt_pointwise_mve_ok): tt_pointwise_mve over both parts.
 */
#include "tt_kernels.h"
#include "tt_pointwise_avx2.h"
#include "tt_pointwise_dsp.h"
#include "tt_pointwise_mve.h"
#include "tt_requant.h"

#if TT_USE_DSP
/* acc + sum_c (x[c * hw] - x_zero) * w[c] over the concatenated weight (lead: c < k, rest: c >= k) */
static int32_t dot_split(const int8_t *x, int32_t hw, int32_t channels, const int8_t *lead, const int8_t *rest,
                         int32_t k, int32_t x_zero, int32_t acc)
{
    for (int32_t c = 0; c < channels; c++)
        acc += (x[c * hw] - x_zero) * (c < k ? lead[c] : rest[c - k]);
    return acc;
}

/* One output at eight pixels from packs of tt_pointwise_pack8_dsp: lq quads of the lead's channels (weights lead) at
 * q, then rq quads of the rest's (weights rest) at q + 16 * lq, either part possibly empty, through
 * tt_pointwise_packed_1x8_dsp; the sums start at b, or at from[0 .. 7] when from is not NULL, and go to to[0 .. 7] when
 * to is not NULL, else are requantized into y[0 .. 7] in the SSAT form (m, t, k). The general requantization is the
 * caller's, from to[]: out of this frame, the chain of frames is no deeper than before the eight-pixel path. */
static __attribute__((noinline)) void split_pixels8(const int32_t *q, int32_t lq, const int8_t *lead, int32_t rq,
                                                    const int8_t *rest, int32_t b, const int32_t *from, int32_t *to,
                                                    int32_t m, int32_t t, int32_t k, int8_t *y)
{
    int32_t a[8] = {b, b, b, b, b, b, b, b};
    if (from)
        a[0] = from[0], a[1] = from[1], a[2] = from[2], a[3] = from[3], a[4] = from[4], a[5] = from[5],
        a[6] = from[6], a[7] = from[7];
    if (lq)
        tt_pointwise_packed_1x8_dsp(q, lq, lead, a);
    if (rq)
        tt_pointwise_packed_1x8_dsp(q + 16 * lq, rq, rest, a);
    if (to)
        to[0] = a[0], to[1] = a[1], to[2] = a[2], to[3] = a[3], to[4] = a[4], to[5] = a[5], to[6] = a[6], to[7] = a[7];
    else
        tt_pointwise_requant8_ssat(a, m, t, k, y);
}

/* split_pixels8 for output o's last part: requantized in the SSAT form there when the channel has it, else its sums
 * into sums[] and requantized here by the general formula. */
static inline __attribute__((always_inline)) void split_pixels8_out(const int32_t *q, int32_t lq, const int8_t *lead,
                                                                    int32_t rq, const int8_t *rest, int32_t b,
                                                                    const int32_t *from, int32_t m, int32_t shift,
                                                                    const tt_quant_params *qp, int32_t *sums, int8_t *y)
{
    const int32_t t = shift - 32;
    if (tt_ssat_form(shift, qp->act_min, qp->act_max)) {
        split_pixels8(q, lq, lead, rq, rest, b, from, NULL, m, t, tt_ssat_k(t, qp->y_zero), y);
        return;
    }
    split_pixels8(q, lq, lead, rq, rest, b, from, sums, m, t, 0, y);
    tt_requantize4(sums, m, shift, qp->y_zero, qp->act_min, qp->act_max, y);
    tt_requantize4(sums + 4, m, shift, qp->y_zero, qp->act_min, qp->act_max, y + 4);
}

/* Input channels of one pack of eight pixels; wider inputs in chunks of SPLIT8_CHUNK channels (each inside the lead or
 * the rest) for blocks of SPLIT8_BLOCK outputs, whose partial sums wait in the other half of the same buffer (as
 * packed8_outputs in tt_conv2d_1x1_s8.c). */
#define SPLIT8_CHANNELS (TT_PW_PACK_CHANNELS / 2)
#define SPLIT8_CHUNK (TT_PW_PACK_CHANNELS / 4)
#define SPLIT8_BLOCK (TT_PW_PACK_CHANNELS / 8)

/* y[o, p .. p + 7] for all o and p a multiple of 8 below hw & ~7, k and channels - k multiples of 4, channels up to
 * SPLIT8_CHANNELS or above TT_PW_PACK_CHANNELS: eight pixels packed once, the lead's quads then the rest's, and read by
 * every output channel one by one (split_pixels8); the same integer sums in another order. */
static void packed8_split_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w_lead,
                              const int8_t *w_rest, int32_t k, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, const tt_quant_params *q, int8_t *y, int32_t out_c, int32_t *buf)
{
    const int32_t rest = channels - k;
    int32_t sums[8];
    for (int32_t p = 0; p + 8 <= hw; p += 8) {
        if (channels <= SPLIT8_CHANNELS) {
            tt_pointwise_pack8_dsp(x + p, hw, k / 4, q->x_zero, buf);
            tt_pointwise_pack8_dsp(x + k * hw + p, hw, rest / 4, q->x_zero, buf + 4 * k);
            for (int32_t o = 0; o < out_c; o++)
                split_pixels8_out(buf, k / 4, w_lead + o * k, rest / 4, w_rest + o * rest, bias[o], NULL, mult[o],
                                  shift[o], q, sums, y + o * hw + p);
            continue;
        }
        int32_t *part = buf + 4 * SPLIT8_CHUNK; /* SPLIT8_BLOCK x 8 partial sums */
        for (int32_t o0 = 0; o0 < out_c; o0 += SPLIT8_BLOCK) {
            const int32_t o1 = out_c - o0 < SPLIT8_BLOCK ? out_c : o0 + SPLIT8_BLOCK;
            for (int32_t c0 = 0; c0 < channels;) { /* chunks of the lead, then of the rest */
                const int32_t end = c0 < k ? k : channels, n = end - c0 < SPLIT8_CHUNK ? end - c0 : SPLIT8_CHUNK;
                tt_pointwise_pack8_dsp(x + c0 * hw + p, hw, n / 4, q->x_zero, buf);
                const int in_lead = c0 < k, lq = in_lead ? n / 4 : 0, rq = in_lead ? 0 : n / 4;
                for (int32_t o = o0; o < o1; o++) {
                    int32_t *s = part + 8 * (o - o0);
                    const int8_t *lead = w_lead + o * k + c0, *rest_o = w_rest + o * rest + (in_lead ? 0 : c0 - k);
                    if (c0 + n < channels)
                        split_pixels8(buf, lq, lead, rq, rest_o, bias[o], c0 ? s : NULL, s, 0, 0, 0, NULL);
                    else
                        split_pixels8_out(buf, lq, lead, rq, rest_o, bias[o], s, mult[o], shift[o], q, sums,
                                          y + o * hw + p);
                }
                c0 += n;
            }
        }
    }
}

/* One output at eight pixels from a pack of all the channels (tt_pointwise_pack8_dsp) when the cut k
 * is not a multiple of 4: lq quads of the lead's weights, the quad across the cut (weights mid: the lead's last k % 4
 * and the rest's first), then rq quads of the rest's weights from rest; the sums start at b, and are requantized into
 * y[0 .. 7] in the SSAT form (m, t, k) or, when to is not NULL, go to to[0 .. 7] for the caller's general one. */
static __attribute__((noinline)) void mixed_pixels8(const int32_t *q, int32_t lq, const int8_t *lead, const int8_t *mid,
                                                    int32_t rq, const int8_t *rest, int32_t b, int32_t *to, int32_t m,
                                                    int32_t t, int32_t k, int8_t *y)
{
    int32_t a[8] = {b, b, b, b, b, b, b, b};
    if (lq)
        tt_pointwise_packed_1x8_dsp(q, lq, lead, a);
    tt_pointwise_packed_1x8_dsp(q + 16 * lq, 1, mid, a);
    if (rq)
        tt_pointwise_packed_1x8_dsp(q + 16 * (lq + 1), rq, rest, a);
    if (to)
        to[0] = a[0], to[1] = a[1], to[2] = a[2], to[3] = a[3], to[4] = a[4], to[5] = a[5], to[6] = a[6], to[7] = a[7];
    else
        tt_pointwise_requant8_ssat(a, m, t, k, y);
}

/* y[o, p .. p + 7] for all o and p a multiple of 8 below hw & ~7 when channels is a multiple of 4 up to SPLIT8_CHANNELS
 * but the cut k is not (the paper's 1/8 of 56 channels on MbV2: k = 7, where the packs of four pixels summed the
 * channels beside the quads one by one): the eight pixels of all the channels packed once and read by every output
 * (mixed_pixels8), its quad across the cut made from its two parts' weights. The same integer sums in another order. */
static void packed8_mixed_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w_lead,
                              const int8_t *w_rest, int32_t k, const int32_t *bias, const int32_t *mult,
                              const int32_t *shift, const tt_quant_params *q, int8_t *y, int32_t out_c, int32_t *buf)
{
    const int32_t rest = channels - k, lq = k / 4, cut = k % 4, rq = channels / 4 - lq - 1;
    int32_t sums[8];
    for (int32_t p = 0; p + 8 <= hw; p += 8) {
        tt_pointwise_pack8_dsp(x + p, hw, channels / 4, q->x_zero, buf);
        for (int32_t o = 0; o < out_c; o++) {
            const int8_t *lead = w_lead + o * k, *rest_o = w_rest + o * rest;
            int8_t mid[4];
            for (int32_t j = 0; j < 4; j++)
                mid[j] = j < cut ? lead[4 * lq + j] : rest_o[j - cut];
            const int32_t t = shift[o] - 32;
            int8_t *yo = y + o * hw + p;
            if (tt_ssat_form(shift[o], q->act_min, q->act_max)) {
                mixed_pixels8(buf, lq, lead, mid, rq, rest_o + 4 - cut, bias[o], NULL, mult[o], t,
                              tt_ssat_k(t, q->y_zero), yo);
                continue;
            }
            mixed_pixels8(buf, lq, lead, mid, rq, rest_o + 4 - cut, bias[o], sums, mult[o], t, 0, yo);
            tt_requantize4(sums, mult[o], shift[o], q->y_zero, q->act_min, q->act_max, yo);
            tt_requantize4(sums + 4, mult[o], shift[o], q->y_zero, q->act_min, q->act_max, yo + 4);
        }
    }
}

/* The whole output as packed1x1_dsp (tt_conv2d_1x1_s8.c) computes it, each packed block of four pixels
 * in two parts, the lead's channels then the rest's: channels <= TT_PW_PACK_CHANNELS. */
static void packed_split_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w_lead,
                             const int8_t *w_rest, int32_t k, const int32_t *bias, const int32_t *mult,
                             const int32_t *shift, const tt_quant_params *q, int8_t *y, int32_t out_c)
{
    const int32_t rest = channels - k, rest_at = 8 * (k / 4); /* the rest's quads follow the lead's */
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* see conv1x1_dsp */
    int32_t packed[2 * TT_PW_PACK_CHANNELS];
    int32_t p = 0;
    if (k % 4 == 0 && rest % 4 == 0 && (channels <= SPLIT8_CHANNELS || channels > TT_PW_PACK_CHANNELS)) {
        packed8_split_dsp(x, channels, hw, w_lead, w_rest, k, bias, mult, shift, q, y, out_c, packed);
        p = hw & ~7;
    } else if (channels % 4 == 0 && channels <= SPLIT8_CHANNELS) {
        packed8_mixed_dsp(x, channels, hw, w_lead, w_rest, k, bias, mult, shift, q, y, out_c, packed);
        p = hw & ~7;
    }
    for (; channels <= TT_PW_PACK_CHANNELS && p + 4 <= hw; p += 4) { /* above, the pixels left one by one */
        tt_pointwise_pack4_dsp(x + p, hw, k / 4, x_zero, packed);
        tt_pointwise_pack4_dsp(x + k * hw + p, hw, rest / 4, x_zero, packed + rest_at);
        for (int32_t o = 0; o < out_c; o++) {
            int32_t a[4] = {bias[o], bias[o], bias[o], bias[o]};
            tt_pointwise_packed_part_dsp(packed, x + p, hw, k, x_zero, w_lead + o * k, a);
            tt_pointwise_packed_part_dsp(packed + rest_at, x + k * hw + p, hw, rest, x_zero, w_rest + o * rest, a);
            tt_requantize4(a, mult[o], shift[o], y_zero, lo, hi, y + o * hw + p);
        }
    }
    for (; p < hw; p++)
        for (int32_t o = 0; o < out_c; o++)
            y[o * hw + p] = tt_requantize(dot_split(x + p, hw, channels, w_lead + o * k, w_rest + o * rest, k, x_zero,
                                                    bias[o]),
                                          mult[o], shift[o], y_zero, lo, hi);
}

/* The whole output when the conv is a matrix product over hw = in.h * in.w pixels (noinline: its locals stay out of
 * the frame of tt_conv2d_1x1_split_s8, below packed_split_dsp's on the stack). */
static __attribute__((noinline)) void split_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w_lead,
                                                const int8_t *w_rest, int32_t k, const int32_t *bias,
                                                const int32_t *mult, const int32_t *shift, const tt_quant_params *q,
                                                int8_t *y, int32_t out_c)
{
    const int32_t rest = channels - k;
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* see conv1x1_dsp */
    int32_t o = 0;
    for (; o + 2 <= out_c; o += 2) {
        const int32_t o1 = o + 1;
        const int8_t *la = w_lead + o * k, *lb = w_lead + o1 * k, *ra = w_rest + o * rest, *rb = w_rest + o1 * rest;
        const int32_t mult_a = mult[o], shift_a = shift[o], mult_b = mult[o1], shift_b = shift[o1];
        const int32_t start_a = bias[o] - x_zero * (tt_weight_sum(la, k) + tt_weight_sum(ra, rest));
        const int32_t start_b = bias[o1] - x_zero * (tt_weight_sum(lb, k) + tt_weight_sum(rb, rest));
        int8_t *ya = y + o * hw, *yb = y + o1 * hw;
        int32_t p = 0;
        for (; p + 4 <= hw; p += 4) {
            int32_t a[4] = {start_a, start_a, start_a, start_a}, b[4] = {start_b, start_b, start_b, start_b};
            tt_pointwise_2x4_dsp(x + p, hw, k, la, lb, a, b);
            tt_pointwise_2x4_dsp(x + k * hw + p, hw, rest, ra, rb, a, b);
            tt_requantize4(a, mult_a, shift_a, y_zero, lo, hi, ya + p);
            tt_requantize4(b, mult_b, shift_b, y_zero, lo, hi, yb + p);
        }
        for (; p < hw; p++) {
            ya[p] = tt_requantize(dot_split(x + p, hw, channels, la, ra, k, x_zero, bias[o]), mult_a, shift_a, y_zero,
                                  lo, hi);
            yb[p] = tt_requantize(dot_split(x + p, hw, channels, lb, rb, k, x_zero, bias[o1]), mult_b, shift_b,
                                  y_zero, lo, hi);
        }
    }
    if (o < out_c) { /* an odd last channel, alone (tt_pointwise_1x4_dsp) */
        const int8_t *la = w_lead + o * k, *ra = w_rest + o * rest;
        const int32_t start = bias[o] - x_zero * (tt_weight_sum(la, k) + tt_weight_sum(ra, rest));
        int8_t *ya = y + o * hw;
        int32_t p = 0;
        for (; p + 4 <= hw; p += 4) {
            int32_t a[4] = {start, start, start, start};
            tt_pointwise_1x4_dsp(x + p, hw, k, la, a);
            tt_pointwise_1x4_dsp(x + k * hw + p, hw, rest, ra, a);
            tt_requantize4(a, mult[o], shift[o], y_zero, lo, hi, ya + p);
        }
        for (; p < hw; p++)
            ya[p] = tt_requantize(dot_split(x + p, hw, channels, la, ra, k, x_zero, bias[o]), mult[o], shift[o], y_zero,
                                  lo, hi);
    }
}
#endif

int tt_conv2d_1x1_split_s8(const int8_t *x, tt_dims in, const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w_lead, 1, 1, bias, mult, shift, conv, q, y, out) || conv->groups != 1 ||
        !w_rest || k < 1 || k >= in.c)
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w, rest = in.c - k;
#if TT_USE_DSP
    if (s == 1 && out.h == in.h && out.w == in.w) { /* no padding */
#if TT_USE_MVE
        if (tt_pointwise_mve_ok(k, rest, plane)) {
            tt_pointwise_mve(x, plane, w_lead, k, w_rest, rest, bias, mult, shift, q, y, plane, out.c);
            return TT_OK;
        }
#endif
        if (out.c >= 4 && (in.c <= TT_PW_PACK_CHANNELS || (k % 4 == 0 && rest % 4 == 0))) /* as tt_conv2d_1x1_s8 */
            packed_split_dsp(x, in.c, plane, w_lead, w_rest, k, bias, mult, shift, q, y, out.c);
        else
            split_dsp(x, in.c, plane, w_lead, w_rest, k, bias, mult, shift, q, y, out.c);
        return TT_OK;
    }
#endif
#if defined(__AVX2__)
    if (s == 1 && out.h == in.h && out.w == in.w && /* no padding */
        tt_pointwise_avx2(x, plane, w_lead, k, w_rest, rest, bias, mult, shift, q, y, out.c))
        return TT_OK;
#endif
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *lead_o = w_lead + o * k, *rest_o = w_rest + o * rest;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy = oy * s - conv->pad_top;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix = ox * s - conv->pad_left;
                int32_t acc = bias[o];
                if (iy >= 0 && iy < in.h && ix >= 0 && ix < in.w) {
                    const int8_t *xp = x + iy * in.w + ix;
                    for (int32_t c = 0; c < k; c++)
                        acc += (xp[c * plane] - q->x_zero) * lead_o[c];
                    for (int32_t c = 0; c < rest; c++)
                        acc += (xp[(k + c) * plane] - q->x_zero) * rest_o[c];
                }
                y[(o * out.h + oy) * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
