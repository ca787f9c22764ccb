/*
 * Private helper of tt_depthwise_conv2d_s8, not part of the API: its x86-64 AVX2 path for fast
 * host builds (-march=native, codegen/host_build.py), strides 1 and 2, any kernel and padding.
 *
 * Each channel is copied into a stack buffer bordered with x_zero (so every window lies inside it;
 * x_zero adds x_zero * w, which the start value bias - x_zero * sum w removes), then sixteen
 * neighbouring outputs of a row are summed at once, one tap (ky, kx) at a time, by VPMADDWD with
 * the int16 pair (w, 0): stride 1 widens eight int8 inputs to int32 lanes (the low int16 of each is
 * x, so the lane gets x w); stride 2 widens 32 inputs to int16 and the pair keeps the even ones'
 * products. The lanes are independent
 * outputs and each output's sum is an integer sum, exact in any order: the same int32 as the
 * portable loop's, so the output is identical bit for bit (tests/codegen/test_kernels_x86.py);
 * tt_requant_avx2.h requantizes them.
 */
#ifndef TT_DEPTHWISE_AVX2_H
#define TT_DEPTHWISE_AVX2_H

#include <string.h>

#include "tt_kernels.h"
#include "tt_requant_avx2.h"

#if defined(__AVX2__)
#include <immintrin.h>

/* Stack bytes for one padded channel plus the 64 bytes the last block's loads may run past it
 * (a larger map takes the portable loop). */
#define TT_DW_AVX2_BYTES 16384

/* Sixteen outputs from xp (the top-left input of the first window): acc[0] outputs 0-7, acc[1] 8-15. */
static inline void tt_dw_window16_avx2(const int8_t *xp, int32_t pw, int32_t s, const int8_t *wc, int32_t kh,
                                       int32_t kw, __m256i acc[2])
{
    for (int32_t ky = 0; ky < kh; ky++, xp += pw, wc += kw)
        for (int32_t kx = 0; kx < kw; kx++) {
            const __m256i wv = _mm256_set1_epi32((int32_t)(uint16_t)wc[kx]); /* int16 pair (w, 0) */
            if (s == 1) { /* int32 lanes x, whose low int16 is x: VPMADDWD with (w, 0) gives x w */
                const __m256i a = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(xp + kx)));
                const __m256i b = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(xp + kx + 8)));
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(a, wv));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(b, wv));
            } else {
                const __m256i a = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(xp + kx)));
                const __m256i b = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(xp + kx + 16)));
                acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(a, wv));
                acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(b, wv));
            }
        }
}

/* The whole output of tt_depthwise_conv2d_s8 (arguments already checked); 0, computing nothing,
 * for strides other than 1 and 2 or a padded channel larger than the stack buffer. */
static inline int tt_depthwise_avx2(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                                    const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                    const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    const int32_t s = conv->stride, pw = in.w + conv->pad_left + conv->pad_right;
    const int32_t ph = in.h + conv->pad_top + conv->pad_bottom;
    if ((s != 1 && s != 2) || ph * pw + 64 > TT_DW_AVX2_BYTES)
        return 0;
    int8_t padded[TT_DW_AVX2_BYTES];
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    memset(padded + ph * pw, 0, 64);
    for (int32_t c = 0; c < in.c; c++) {
        const int8_t *wc = w + c * kh * kw;
        memset(padded, x_zero, (size_t)(ph * pw));
        for (int32_t iy = 0; iy < in.h; iy++)
            memcpy(padded + (iy + conv->pad_top) * pw + conv->pad_left, x + (c * in.h + iy) * in.w, (size_t)in.w);
        int32_t w_sum = 0;
        for (int32_t i = 0; i < kh * kw; i++)
            w_sum += wc[i];
        const __m256i start = _mm256_set1_epi32(bias[c] - x_zero * w_sum); /* |x_zero w_sum| <= 2^14 kh kw */
        for (int32_t oy = 0; oy < out.h; oy++) {
            int8_t *yr = y + (c * out.h + oy) * out.w;
            for (int32_t ox = 0; ox < out.w; ox += 16) {
                __m256i acc[2] = {start, start};
                tt_dw_window16_avx2(padded + oy * s * pw + ox * s, pw, s, wc, kh, kw, acc);
                tt_requantize16_avx2(acc[0], acc[1], mult[c], shift[c], y_zero, lo, hi, yr + ox,
                                     out.w - ox < 16 ? out.w - ox : 16);
            }
        }
    }
    return 1;
}
#endif

#endif /* TT_DEPTHWISE_AVX2_H */
