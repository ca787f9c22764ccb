/*
 * Private helper of tt_conv2d_general_s8, not part of the API: its x86-64 AVX2 path for fast host
 * builds (-march=native, codegen/host_build.py), strides 1 and 2, any groups, kernel and padding
 * (e.g. a network's first 3x3 stride-2 conv over RGB).
 *
 * Per output row, the kh input rows it reads of every channel are copied into a stack strip
 * bordered with x_zero (x_zero adds x_zero * w, which the start value bias - x_zero * sum w
 * removes); then every output channel sums sixteen neighbouring outputs at once over its group's
 * channels and taps with tt_dw_window16_avx2 (tt_depthwise_avx2.h). The lanes are independent
 * outputs and each output's sum is an integer sum, exact in any order: the same int32 as the
 * portable loop's, so the output is identical bit for bit (tests/codegen/test_kernels_x86.py);
 * tt_requant_avx2.h requantizes them.
 */
#ifndef TT_CONV_GENERAL_AVX2_H
#define TT_CONV_GENERAL_AVX2_H

#include <string.h>

#include "tt_depthwise_avx2.h"
#include "tt_kernels.h"
#include "tt_requant_avx2.h"

#if defined(__AVX2__)

/* The whole output of tt_conv2d_general_s8 (arguments already checked); 0, computing nothing, for
 * strides other than 1 and 2 or a strip (in.c * kh padded rows) larger than the stack buffer. */
static inline int tt_conv_general_avx2(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                                       const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                       const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    const int32_t s = conv->stride, pw = in.w + conv->pad_left + conv->pad_right;
    const int32_t cg = in.c / conv->groups, og = out.c / conv->groups, taps = kh * kw;
    if ((s != 1 && s != 2) || in.c * kh * pw + 64 > TT_DW_AVX2_BYTES)
        return 0;
    int8_t strip[TT_DW_AVX2_BYTES];
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    memset(strip + in.c * kh * pw, 0, 64);
    for (int32_t oy = 0; oy < out.h; oy++) {
        for (int32_t c = 0; c < in.c; c++)
            for (int32_t ky = 0; ky < kh; ky++) {
                const int32_t iy = oy * s - conv->pad_top + ky;
                int8_t *row = strip + (c * kh + ky) * pw;
                memset(row, x_zero, (size_t)pw);
                if (iy >= 0 && iy < in.h)
                    memcpy(row + conv->pad_left, x + (c * in.h + iy) * in.w, (size_t)in.w);
            }
        for (int32_t o = 0; o < out.c; o++) {
            const int8_t *wo = w + o * cg * taps, *group = strip + (o / og) * cg * kh * pw;
            int32_t w_sum = 0;
            for (int32_t i = 0; i < cg * taps; i++)
                w_sum += wo[i];
            const __m256i start = _mm256_set1_epi32(bias[o] - x_zero * w_sum); /* |x_zero w_sum| < 2^14 cg taps */
            int8_t *yr = y + (o * out.h + oy) * out.w;
            for (int32_t ox = 0; ox < out.w; ox += 16) {
                __m256i acc[2] = {start, start};
                for (int32_t c = 0; c < cg; c++)
                    tt_dw_window16_avx2(group + c * kh * pw + ox * s, pw, s, wo + c * taps, kh, kw, acc);
                tt_requantize16_avx2(acc[0], acc[1], mult[o], shift[o], y_zero, lo, hi, yr + ox,
                                     out.w - ox < 16 ? out.w - ox : 16);
            }
        }
    }
    return 1;
}
#endif

#endif /* TT_CONV_GENERAL_AVX2_H */
