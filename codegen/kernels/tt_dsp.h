/*
 * Private helpers of the int8 kernels' Cortex-M DSP paths (TT_USE_DSP), not part of the API:
 * unaligned 32-bit loads and the packing / extension steps ACLE has no intrinsic for.
 */
#ifndef TT_DSP_H
#define TT_DSP_H

#include <stdint.h>
#include <string.h>

#include "tt_kernels.h"

#if TT_USE_DSP
#include <arm_acle.h>

static inline uint32_t tt_load32(const int8_t *p) /* unaligned: Cortex-M4/M7/M55 LDR handles it */
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* PKHBT (low halves of a, b), PKHTB (high halves of a, b), SXTB16 of v rotated by 8 (bytes 1 and 3).
 * Written as instructions on Arm (GCC does not always find them: a plain-C PKH costs three
 * instructions and the rotation one more); plain C elsewhere (the host tests, acle_emul). */
#if defined(__arm__)
static inline uint32_t tt_pack_lo(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline uint32_t tt_pack_hi(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("pkhtb %0, %2, %1, asr #16" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t tt_sxtb16_ror8(uint32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}
#else
static inline uint32_t tt_pack_lo(uint32_t a, uint32_t b)
{
    return (a & 0xFFFFu) | (b << 16);
}
static inline uint32_t tt_pack_hi(uint32_t a, uint32_t b)
{
    return (a >> 16) | (b & 0xFFFF0000u);
}
static inline int32_t tt_sxtb16_ror8(uint32_t v)
{
    return __sxtb16((int32_t)((v >> 8) | (v << 24)));
}
#endif

#endif

#endif /* TT_DSP_H */
