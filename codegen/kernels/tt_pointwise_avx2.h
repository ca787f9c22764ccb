/*
 * Private helper of the pointwise int8 convs (tt_conv2d_1x1_s8, tt_conv2d_1x1_split_s8), not part
 * of the API: the x86-64 AVX2 path of a 1x1 conv that is a matrix product over the hw pixels of a
 * channel-major input (x (channels, hw)), for fast host builds (-march=native, codegen/host_build.py).
 *
 * Four output channels by sixteen pixels at a time: the int8 rows of channels c and c + 1 are
 * byte-interleaved and sign-extended to int16 pairs, and VPMADDWD with each output's broadcast
 * weight pair (w[c], w[c+1]) adds x[c] w[c] + x[c+1] w[c+1] to every pixel's int32 sum. Raw int8
 * values (|x w| <= 2^14, a pair's sum fits), the zero point folded into the start value
 * bias - x_zero * sum w. The vector lanes are independent outputs; each output's sum is an integer
 * sum, which any order gives exactly: the same int32 as the portable loop's, so the output is
 * identical bit for bit (tests/codegen/test_kernels_x86.py); tt_requant_avx2.h requantizes them.
 */
#ifndef TT_POINTWISE_AVX2_H
#define TT_POINTWISE_AVX2_H

#include <string.h>

#include "tt_kernels.h"
#include "tt_requant_avx2.h"

#if defined(__AVX2__)
#include <immintrin.h>

/* Weights of four outputs held on the stack as int16: in.c up to 2 * TT_AVX2_PAIRS (else portable). */
#define TT_AVX2_PAIRS 640

/* dst[0 .. n) = row widened to int16, dst[n] = 0 if n is odd (so dst holds whole pairs (w[c], w[c+1]),
 * each one int32); returns sum row[0 .. n). */
static inline int32_t tt_widen_row_avx2(const int8_t *row, int32_t n, int16_t *dst)
{
    __m256i sums = _mm256_setzero_si256();
    int32_t c = 0, total = 0;
    for (; c + 16 <= n; c += 16) {
        const __m256i v = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row + c)));
        _mm256_storeu_si256((__m256i *)(dst + c), v);
        sums = _mm256_add_epi32(sums, _mm256_madd_epi16(v, _mm256_set1_epi16(1)));
    }
    for (; c < n; c++) {
        dst[c] = row[c];
        total += row[c];
    }
    if (n & 1)
        dst[n] = 0;
    int32_t lanes[8];
    _mm256_storeu_si256((__m256i *)lanes, sums);
    for (int32_t i = 0; i < 8; i++)
        total += lanes[i];
    return total;
}

/* acc[2j], acc[2j+1] (pixels 0-7, 8-15) += sum_{c < n} x[c * hw + k] * w_j[c] over `valid` <= 16
 * pixels from x (the lanes past `valid` add products of zeros). Reads only x[c * hw + 0 .. valid). */
static inline void tt_pointwise_4x16_avx2(const int8_t *x, int32_t hw, int32_t n, const int16_t *const w16[4],
                                          int32_t valid, __m256i acc[8])
{
    int8_t tail[2][16] = {{0}};
    for (int32_t c = 0; c < n; c += 2, x += 2 * hw) {
        __m128i r0, r1 = _mm_setzero_si128();
        if (valid == 16) {
            r0 = _mm_loadu_si128((const __m128i *)x);
            if (c + 1 < n)
                r1 = _mm_loadu_si128((const __m128i *)(x + hw));
        } else {
            memcpy(tail[0], x, (size_t)valid);
            if (c + 1 < n)
                memcpy(tail[1], x + hw, (size_t)valid);
            r0 = _mm_loadu_si128((const __m128i *)tail[0]);
            r1 = _mm_loadu_si128((const __m128i *)tail[1]);
        }
        const __m256i lo = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r0, r1)); /* (x[c], x[c+1]) of pixels 0-7 */
        const __m256i hi = _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(r0, r1)); /* pixels 8-15 */
        for (int32_t j = 0; j < 4; j++) {
            int32_t pair; /* (w_j[c], w_j[c+1]) */
            memcpy(&pair, w16[j] + c, 4);
            const __m256i wp = _mm256_set1_epi32(pair);
            acc[2 * j] = _mm256_add_epi32(acc[2 * j], _mm256_madd_epi16(lo, wp));
            acc[2 * j + 1] = _mm256_add_epi32(acc[2 * j + 1], _mm256_madd_epi16(hi, wp));
        }
    }
}

/* The whole output y (out_c, hw) of a stride-1 unpadded 1x1 conv whose weight rows are the k
 * leading input channels (w_lead (out_c, k)) then the rest (w_rest (out_c, rest), none if
 * rest == 0). Returns 0, computing nothing, when the channels exceed the stack's pairs. */
static inline int tt_pointwise_avx2(const int8_t *x, int32_t hw, const int8_t *w_lead, int32_t k,
                                    const int8_t *w_rest, int32_t rest, const int32_t *bias, const int32_t *mult,
                                    const int32_t *shift, const tt_quant_params *q, int8_t *y, int32_t out_c)
{
    const int32_t lead_pairs = (k + 1) / 2, rest_pairs = (rest + 1) / 2;
    if (lead_pairs + rest_pairs > TT_AVX2_PAIRS)
        return 0;
    int16_t w16[4][2 * TT_AVX2_PAIRS];
    const int16_t *lead16[4], *rest16[4];
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    for (int32_t o = 0; o < out_c; o += 4) {
        int32_t oj[4], start[4];
        for (int32_t j = 0; j < 4; j++) { /* the last block repeats its last channel */
            oj[j] = o + j < out_c ? o + j : out_c - 1;
            int32_t w_sum = tt_widen_row_avx2(w_lead + oj[j] * k, k, w16[j]);
            if (rest)
                w_sum += tt_widen_row_avx2(w_rest + oj[j] * rest, rest, w16[j] + 2 * lead_pairs);
            lead16[j] = w16[j];
            rest16[j] = w16[j] + 2 * lead_pairs;
            start[j] = bias[oj[j]] - x_zero * w_sum; /* |x_zero * w_sum| <= 128 * 128 * channels */
        }
        for (int32_t p = 0; p < hw; p += 16) {
            const int32_t valid = hw - p < 16 ? hw - p : 16;
            __m256i acc[8];
            for (int32_t j = 0; j < 4; j++)
                acc[2 * j] = acc[2 * j + 1] = _mm256_set1_epi32(start[j]);
            tt_pointwise_4x16_avx2(x + p, hw, k, lead16, valid, acc);
            if (rest)
                tt_pointwise_4x16_avx2(x + k * hw + p, hw, rest, rest16, valid, acc);
            for (int32_t j = 0; j < 4; j++)
                tt_requantize16_avx2(acc[2 * j], acc[2 * j + 1], mult[oj[j]], shift[oj[j]], y_zero, lo, hi,
                                     y + oj[j] * hw + p, valid);
        }
    }
    return 1;
}
#endif

#endif /* TT_POINTWISE_AVX2_H */
