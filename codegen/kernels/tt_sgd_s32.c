/* int32 bias update: b[i] = clamp(b[i] - round_half_even(lr * g[i]), -limit, limit), the float32
 * product rounded to nearest even (rintf, default rounding mode; as numpy/torch round), clipped to
 * [-2^31, 2^31] and subtracted in int64.  A NaN step leaves the bias unchanged. */
#include <math.h>

#include "tt_kernels.h"

int tt_sgd_s32(int32_t *b, const float *g, int32_t n, float lr, int32_t limit)
{
    if (!b || !g || n < 0 || limit < 0) return TT_ERR_ARG;
#if defined(__ARM_FP) && defined(__thumb2__) && defined(__ARM_FEATURE_DSP) /* M4, M7, M55 */
    /* The loop below in asm, 20 instructions a bias (M4: its rintf is a library call): VCVTR rounds lr * g to
     * nearest even (FPSCR's default mode, as rintf) and saturates to [-2^31, 2^31 - 1]; one VCMP against 2^31
     * tells NaN (unordered: skip) and a step of 2^31 or more (ge: the saturated 2^31 - 1 and one more); QSUB
     * saturates where int64 would leave int32, which the clamp to +-limit (within +-(2^31 - 1)) makes the same. */
    if (n > 0) {
        int32_t q, v;
        __asm__ volatile(
            "1:\n\t"
            "vldmia %[g]!, {s14}\n\t"
            "vmul.f32 s14, %[lr], s14\n\t"
            "vcvtr.s32.f32 s15, s14\n\t"
            "vcmp.f32 s14, %[p31]\n\t"
            "vmrs APSR_nzcv, fpscr\n\t"
            "vmov %[q], s15\n\t"
            "ldr %[v], [%[b]], #4\n\t"
            "bvs 2f\n\t"
            "qsub %[v], %[v], %[q]\n\t"
            "it ge\n\t"
            "qsubge %[v], %[v], %[one]\n\t"
            "cmp %[v], %[lim]\n\t"
            "it gt\n\t"
            "movgt %[v], %[lim]\n\t"
            "cmn %[v], %[lim]\n\t"
            "it lt\n\t"
            "rsblt %[v], %[lim], #0\n\t"
            "str %[v], [%[b], #-4]\n\t"
            "2:\n\t"
            "subs %[n], %[n], #1\n\t"
            "bne 1b\n\t"
            : [b] "+r"(b), [g] "+r"(g), [n] "+r"(n), [q] "=&r"(q), [v] "=&r"(v)
            : [lr] "t"(lr), [p31] "t"(0x1p31f), [one] "r"(1), [lim] "r"(limit)
            : "s14", "s15", "cc", "memory");
    }
#else
    for (int32_t i = 0; i < n; ++i) {
        float delta = rintf(lr * g[i]);
        if (delta != delta) continue;
        /* delta clipped to [-2^31, 2^31]: inside, an integer float that int32 holds exactly (one VCVT; a float ->
         * int64 conversion is a library call on a Cortex-M) */
        const int64_t d = delta >= 0x1p31f ? INT64_C(2147483648) : delta <= -0x1p31f ? -INT64_C(2147483648)
                                                                                  : (int64_t)(int32_t)delta;
        int64_t v = (int64_t)b[i] - d;
        if (v < -(int64_t)limit) v = -(int64_t)limit;
        if (v > (int64_t)limit) v = (int64_t)limit;
        b[i] = (int32_t)v;
    }
#endif
    return TT_OK;
}
