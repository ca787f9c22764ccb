/*
 * Pointwise int8 conv (kernel 1x1, groups 1, any stride and padding).
 * Layout: x (in.c, in.h, in.w), w (out.c, in.c), y (out.c, out.h, out.w).
 *   y[o, oy, ox] = requant(bias[o] + sum_c (x[c, oy*s - pad_top, ox*s - pad_left] - x_zero) * w[o, c])
 * An output whose input position lies in the padding is requant(bias[o]).
 * TT_ERR_ARG: as tt_conv_args_ok (tt_requant.h), or groups != 1.
 *
 * DSP path (TT_USE_DSP, stride 1 without padding, i.e. a plain matrix product; tt_pointwise_dsp.h):
 * up to TT_PW_PACK_CHANNELS input channels and from four outputs, four pixels at a time packed once as
 * SMLAD pairs less the zero point (1 KB of stack), then one output channel after the other, one weight
 * word and eight SMLAD per four channels. Wider inputs: two output channels by four pixels at a time
 * through tt_pointwise_2x4_dsp (SMLAD on channel pairs, weights unpacked once per four channels), an
 * odd last channel (expand_depthwise's one-channel calls) by tt_pointwise_1x4_dsp. The int32 sums are
 * the same integers as the portable loop's, so the output is identical bit for bit.
 *
 * x86-64 path (__AVX2__, host builds with -march=native; same cases): four output channels by
 * sixteen pixels at a time through tt_pointwise_avx2 (tt_pointwise_avx2.h), the same int32 sums.
 */
#include "tt_kernels.h"
#include "tt_pointwise_avx2.h"
#include "tt_pointwise_dsp.h"
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
/* y[o, :] of one output channel o (an odd last one), four pixels at a time through tt_pointwise_1x4_dsp. */
static void channel1x1_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *wo, int32_t bias_o,
                           int32_t mult_o, int32_t shift_o, const tt_quant_params *q, int8_t *yo)
{
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    const int32_t start = bias_o - x_zero * tt_weight_sum(wo, channels); /* see conv1x1_dsp */
    int32_t p = 0;
    for (; p + 4 <= hw; p += 4) {
        int32_t a[4] = {start, start, start, start};
        tt_pointwise_1x4_dsp(x + p, hw, channels, wo, a);
        tt_requantize4(a, mult_o, shift_o, y_zero, lo, hi, yo + p);
    }
    for (; p < hw; p++)
        yo[p] = tt_requantize(dot_channels(x + p, hw, wo, channels, x_zero, bias_o), mult_o, shift_o, y_zero, lo, hi);
}

/* Every output channel requantizes by tt_requantize_hi_ssat: shifts above 32, the full int8 range. */
static int ssat_requant(const int32_t *shift, int32_t out_c, const tt_quant_params *q)
{
    if (q->act_min != -128 || q->act_max != 127)
        return 0;
    for (int32_t o = 0; o < out_c; o++)
        if (shift[o] <= 32)
            return 0;
    return 1;
}

/* y[o, :] for all o, four pixels at a time packed once (tt_pointwise_pack4_dsp) and read by every
 * output channel one by one: channels <= TT_PW_PACK_CHANNELS. When every channel takes the SSAT
 * requantization (the paper's backbones) its loop is one of its own: a small body whose sums and
 * pointers stay in registers. */
static void packed1x1_dsp(const int8_t *x, int32_t channels, int32_t hw, const int8_t *w, const int32_t *bias,
                          const int32_t *mult, const int32_t *shift, const tt_quant_params *q, int8_t *y,
                          int32_t out_c)
{
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* see conv1x1_dsp */
    const int ssat = ssat_requant(shift, out_c, q);
    int32_t packed[2 * TT_PW_PACK_CHANNELS];
    int32_t p = 0;
    for (; p + 4 <= hw; p += 4) {
        tt_pointwise_pack4_dsp(x + p, hw, channels / 4, x_zero, packed);
        const int8_t *wo = w;
        int8_t *yo = y + p;
        if (ssat)
            for (int32_t o = 0; o < out_c; o++, wo += channels, yo += hw) {
                int32_t a[4] = {bias[o], bias[o], bias[o], bias[o]};
                tt_pointwise_packed_part_dsp(packed, x + p, hw, channels, x_zero, wo, a);
                const int32_t t = shift[o] - 32, round = 1 << (t - 1), m = mult[o];
                yo[0] = tt_requantize_hi_ssat(a[0], m, t, round, y_zero);
                yo[1] = tt_requantize_hi_ssat(a[1], m, t, round, y_zero);
                yo[2] = tt_requantize_hi_ssat(a[2], m, t, round, y_zero);
                yo[3] = tt_requantize_hi_ssat(a[3], m, t, round, y_zero);
            }
        else
            for (int32_t o = 0; o < out_c; o++, wo += channels, yo += hw) {
                int32_t a[4] = {bias[o], bias[o], bias[o], bias[o]};
                tt_pointwise_packed_part_dsp(packed, x + p, hw, channels, x_zero, wo, a);
                tt_requantize4(a, mult[o], shift[o], y_zero, lo, hi, yo);
            }
    }
    for (; p < hw; p++)
        for (int32_t o = 0; o < out_c; o++)
            y[o * hw + p] = tt_requantize(dot_channels(x + p, hw, w + o * channels, channels, x_zero, bias[o]), mult[o],
                                          shift[o], y_zero, lo, hi);
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

int tt_conv2d_1x1_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                     const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                     tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w, 1, 1, bias, mult, shift, conv, q, y, out) || conv->groups != 1)
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w;
#if TT_USE_DSP
    if (s == 1 && out.h == in.h && out.w == in.w) { /* no padding */
        if (in.c <= TT_PW_PACK_CHANNELS && out.c >= 4) /* packing pays for itself from four outputs */
            packed1x1_dsp(x, in.c, plane, w, bias, mult, shift, q, y, out.c);
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
