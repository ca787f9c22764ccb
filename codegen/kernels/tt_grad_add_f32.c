/* out[i] = a[i] + b[i]: the gradients of two uses of one tensor summed; out may alias a (or b). */
#include "tt_kernels.h"

#if defined(__ARM_FP) && defined(__thumb2__)
/* Eight sums a turn, n >= 1 turns: VLDM of eight a, of eight b, eight VADDs (a + b, the C operand order, so even a
 * NaN's payload is the host's), VSTM: 13 instructions for eight against GCC's 6 a value; each turn reads its
 * sixteen before it stores, so out may be a or b. */
static inline void add8(const float *a, const float *b, float *out, int32_t n)
{
    __asm__ volatile(
        "1:\n\t"
        "vldmia %[a]!, {s0-s7}\n\t"
        "vldmia %[b]!, {s8-s15}\n\t"
        "vadd.f32 s0, s0, s8\n\t"
        "vadd.f32 s1, s1, s9\n\t"
        "vadd.f32 s2, s2, s10\n\t"
        "vadd.f32 s3, s3, s11\n\t"
        "vadd.f32 s4, s4, s12\n\t"
        "vadd.f32 s5, s5, s13\n\t"
        "vadd.f32 s6, s6, s14\n\t"
        "vadd.f32 s7, s7, s15\n\t"
        "vstmia %[out]!, {s0-s7}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [a] "+r"(a), [b] "+r"(b), [out] "+r"(out), [n] "+r"(n)
        :
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "cc",
          "memory");
}
#endif

int tt_grad_add_f32(const float *a, const float *b, int32_t n, float *out)
{
    if (!a || !b || !out || n < 0) return TT_ERR_ARG;
    int32_t i = 0;
#if defined(__ARM_FP) && defined(__thumb2__)
    if (n >= 8) add8(a, b, out, n / 8), i = n / 8 * 8;
#endif
    for (; i < n; ++i) out[i] = a[i] + b[i];
    return TT_OK;
}
