/*
 * Private helper of the x86-64 AVX2 paths of the forward int8 kernels, not part of the API:
 * tt_requantize (tt_requant.h) of sixteen int32 sums of one output channel at once.
 *
 * Shifts of 32 and more take tt_requantize's high-word formulas lane by lane: the exact int64
 * products acc * mult (VPMULDQ on the even and the odd lanes), their high words (plus 2^31 first
 * when shift == 32), then (hi + 2^(t-1)) >> t for shift = 32 + t: the same integer operations, so
 * the same bytes. Smaller shifts (none in the paper's backbones) call tt_requantize per value.
 */
#ifndef TT_REQUANT_AVX2_H
#define TT_REQUANT_AVX2_H

#include <string.h>

#include "tt_requant.h"

#if defined(__AVX2__)
#include <immintrin.h>

/* floor((acc * mult + add) / 2^32) per lane, add a 64-bit constant */
static inline __m256i tt_high_words_avx2(__m256i acc, __m256i mult, __m256i add)
{
    const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(acc, mult), add);
    const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), mult), add);
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

/* y[i] = tt_requantize(sum i, mult, shift, zero, lo, hi) for i < valid (<= 16), sums 0-7 in a0 and
 * 8-15 in a1; writes nothing past y[valid - 1]. */
static inline void tt_requantize16_avx2(__m256i a0, __m256i a1, int32_t mult, int32_t shift, int32_t zero,
                                        int32_t lo, int32_t hi, int8_t *y, int32_t valid)
{
    int8_t out[16];
    if (shift < 32) {
        int32_t sums[16];
        _mm256_storeu_si256((__m256i *)sums, a0);
        _mm256_storeu_si256((__m256i *)(sums + 8), a1);
        for (int32_t i = 0; i < valid; i++)
            y[i] = tt_requantize(sums[i], mult, shift, zero, lo, hi);
        return;
    }
    const __m256i m = _mm256_set1_epi32(mult);
    const __m256i add = _mm256_set1_epi64x(shift == 32 ? 0x80000000ll : 0);
    __m256i v0 = tt_high_words_avx2(a0, m, add), v1 = tt_high_words_avx2(a1, m, add);
    if (shift > 32) {
        const __m128i t = _mm_cvtsi32_si128(shift - 32);
        const __m256i round = _mm256_set1_epi32(1 << (shift - 33));
        v0 = _mm256_sra_epi32(_mm256_add_epi32(v0, round), t);
        v1 = _mm256_sra_epi32(_mm256_add_epi32(v1, round), t);
    }
    const __m256i z = _mm256_set1_epi32(zero), l = _mm256_set1_epi32(lo), h = _mm256_set1_epi32(hi);
    v0 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v0, z), l), h);
    v1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_add_epi32(v1, z), l), h);
    /* int16 lanes (v0 0-3, v1 0-3 | v0 4-7, v1 4-7) put in order, then bytes */
    const __m256i w16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xD8);
    const __m128i b = _mm_packs_epi16(_mm256_castsi256_si128(w16), _mm256_extracti128_si256(w16, 1));
    if (valid == 16) {
        _mm_storeu_si128((__m128i *)y, b);
    } else {
        _mm_storeu_si128((__m128i *)out, b);
        memcpy(y, out, (size_t)valid);
    }
}
#endif

#endif /* TT_REQUANT_AVX2_H */
