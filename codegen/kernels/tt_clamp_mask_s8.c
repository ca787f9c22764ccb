/* The clamp's gradient as a bit mask: bit i (bit i % 8 of byte i / 8, LSB first) is
 * act_min < y[i] < act_max.  Writes (n + 7) / 8 bytes; unused high bits of the last byte are 0.
 * One unsigned compare per element: act_min < v < act_max <=> (uint32)(v - act_min - 1) < act_max - act_min - 1.
 * The full int8 range (act_min -128, act_max 127: every clamp of the paper's backbones) takes four bytes a
 * word instead (full_range_bits8; on a core with the DSP extension by UADD8 / USUB8's GE flags). */
#include <string.h>

#include "tt_kernels.h"

#if defined(__ARM_FEATURE_DSP) && defined(__thumb2__)
/* APSR with its GE bits 16..19 set where bytes 0..3 of v (y[i..i+3], little-endian) differ from both -128 and 127
 * (its other bits: the flags at 27..31, zeros at 0..15 and 20..26): UADD8 takes each byte to (y + 127) mod 256,
 * which is at most 253 exactly for -127 <= y <= 126, and USUB8's GE flag tells 253 - that >= 0. Three
 * instructions for four bytes (two SSUB8s and an AND of their flags: five; the word test: about 12). */
static inline uint32_t full_range_ge(uint32_t v)
{
    uint32_t t, apsr;
    __asm__("uadd8 %[t], %[v], %[p127]\n\t"
            "usub8 %[t], %[p253], %[t]\n\t"
            "mrs %[apsr], APSR\n\t"
            : [t] "=&r"(t), [apsr] "=r"(apsr)
            : [v] "r"(v), [p127] "r"(0x7F7F7F7Fu), [p253] "r"(0xFDFDFDFDu)
            : "cc");
    return apsr;
}

/* mask bits 0..7 for y[i..i+7] (words w0, w1): GE bits 16..19 of each APSR, the second's four bits up */
static inline uint32_t full_range_bits8(uint32_t w0, uint32_t w1)
{
    return (full_range_ge(w0) >> 16 | full_range_ge(w1) >> 12) & 0xFFu;
}
#else
/* Bits 0..3: bytes 0..3 of v (y[i..i+3], little-endian) differ from both -128 and 127. A byte of v ^ 0x80808080
 * (v ^ 0x7F7F7F7F) is zero exactly where y is -128 (127), and ((a & 0x7F..) + 0x7F..) | a has a byte's high bit
 * set exactly where that byte of a is not zero (the add carries into the high bit only, never across bytes);
 * the multiply moves byte j's bit 0 to bit 24 + j (0x01020408 = 2^24 + 2^17 + 2^10 + 2^3: no two terms meet). */
static inline uint32_t full_range_bits4(uint32_t v)
{
    const uint32_t low7 = 0x7F7F7F7Fu, a = v ^ 0x80808080u, b = v ^ 0x7F7F7F7Fu;
    const uint32_t m = (((a & low7) + low7) | a) & (((b & low7) + low7) | b) & 0x80808080u;
    return ((m >> 7) * 0x01020408u) >> 24;
}

static inline uint32_t full_range_bits8(uint32_t w0, uint32_t w1)
{
    return full_range_bits4(w0) | full_range_bits4(w1) << 4;
}
#endif

int tt_clamp_mask_s8(const int8_t *y, int32_t n, int32_t act_min, int32_t act_max, uint8_t *mask)
{
    if (!y || !mask || n < 0) return TT_ERR_ARG;
    const uint32_t base = (uint32_t)act_min + 1u;
    const uint32_t span = act_max > act_min ? (uint32_t)(act_max - act_min - 1) : 0u; /* values strictly inside */
    int32_t i = 0;
    if (act_min == -128 && act_max == 127) {
        const int8_t *p = y;
        uint8_t *m = mask;
        for (i = n & ~7; p != y + i; p += 8) {
            uint32_t w0, w1;
            memcpy(&w0, p, 4);
            memcpy(&w1, p + 4, 4);
            *m++ = (uint8_t)full_range_bits8(w0, w1);
        }
    }
    for (; i + 8 <= n; i += 8) {
        const int8_t *v = y + i;
        mask[i / 8] = (uint8_t)(((uint32_t)v[0] - base < span) | ((uint32_t)v[1] - base < span) << 1 |
                                ((uint32_t)v[2] - base < span) << 2 | ((uint32_t)v[3] - base < span) << 3 |
                                ((uint32_t)v[4] - base < span) << 4 | ((uint32_t)v[5] - base < span) << 5 |
                                ((uint32_t)v[6] - base < span) << 6 | ((uint32_t)v[7] - base < span) << 7);
    }
    if (i < n) {
        uint32_t byte = 0;
        for (int32_t b = 0; i + b < n; ++b) byte |= (uint32_t)((uint32_t)y[i + b] - base < span) << b;
        mask[i / 8] = (uint8_t)byte;
    }
    return TT_OK;
}
