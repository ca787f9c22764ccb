/*
 * Host stand-in for the ACLE DSP intrinsics the forward kernels use, so that their TT_USE_DSP
 * paths run (and are property-tested) on the host: tests/codegen/test_kernels_forward.py builds the
 * kernels with -D__ARM_FEATURE_DSP=1 and this directory on the include path. Semantics as the
 * Armv7-M Architecture Reference Manual gives SXTAB16, SXTB16, SMLAD, SMLABB, SMLATB and SSAT (the
 * real instructions are run under QEMU by test_dsp_paths_under_qemu, tests/codegen/dsp_check/).
 * Not part of the kernel library.
 */
#ifndef TT_TEST_ACLE_EMUL_H
#define TT_TEST_ACLE_EMUL_H

#include <stdint.h>

/* lanes: a[15:0] + sext(b[7:0]), a[31:16] + sext(b[23:16]), each modulo 2^16 */
static inline int32_t __sxtab16(int32_t a, int32_t b)
{
    const uint32_t ua = (uint32_t)a, ub = (uint32_t)b;
    const uint32_t lo = (ua + (uint32_t)(int32_t)(int8_t)(ub & 0xFFu)) & 0xFFFFu;
    const uint32_t hi = ((ua >> 16) + (uint32_t)(int32_t)(int8_t)((ub >> 16) & 0xFFu)) & 0xFFFFu;
    return (int32_t)(lo | (hi << 16));
}

static inline int32_t __sxtb16(int32_t a)
{
    return __sxtab16(0, a);
}

/* c + a[15:0] * b[15:0] + a[31:16] * b[31:16] (signed halves), modulo 2^32 */
static inline int32_t __smlad(int32_t a, int32_t b, int32_t c)
{
    const int64_t lo = (int64_t)(int16_t)((uint32_t)a & 0xFFFFu) * (int16_t)((uint32_t)b & 0xFFFFu);
    const int64_t hi = (int64_t)(int16_t)((uint32_t)a >> 16) * (int16_t)((uint32_t)b >> 16);
    return (int32_t)(uint32_t)((uint64_t)(int64_t)c + (uint64_t)(lo + hi));
}

/* a saturated to the signed range of `bits` bits (1..32) */
static inline int32_t __ssat(int32_t a, uint32_t bits)
{
    const int32_t max = (int32_t)((1u << (bits - 1)) - 1u), min = -max - 1;
    return a < min ? min : a > max ? max : a;
}

/* c + a[15:0] * b[15:0] and c + a[31:16] * b[15:0] (signed halves), modulo 2^32 */
static inline int32_t __smlabb(int32_t a, int32_t b, int32_t c)
{
    const int64_t p = (int64_t)(int16_t)((uint32_t)a & 0xFFFFu) * (int16_t)((uint32_t)b & 0xFFFFu);
    return (int32_t)(uint32_t)((uint64_t)(int64_t)c + (uint64_t)p);
}
static inline int32_t __smlatb(int32_t a, int32_t b, int32_t c)
{
    const int64_t p = (int64_t)(int16_t)((uint32_t)a >> 16) * (int16_t)((uint32_t)b & 0xFFFFu);
    return (int32_t)(uint32_t)((uint64_t)(int64_t)c + (uint64_t)p);
}

#endif
