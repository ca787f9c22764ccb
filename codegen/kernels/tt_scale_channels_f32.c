/* out[c][i] = g[c][i] * scale[c], g (channels, inner) row-major (per-output-channel gradient
 * scaling, e.g. QAS); out may alias g. */
#include "tt_kernels.h"

#if defined(__ARM_FP) && defined(__thumb2__)
/* Eight products a turn, n >= 1 turns: VLDM of eight g, eight VMULs (g * f, the C operand order, so even a NaN's
 * payload is the host's), VSTM; each turn reads its eight before it stores them, so out may be g. F0..F7: the
 * scale, "%[f]" (one for all: inner >= 8) or "s8".."s15" (LOAD_SCALE, a VLDM of s[i..i+8): inner 1, a bias
 * gradient). */
#define TT_MUL8(LOAD_SCALE, F0, F1, F2, F3, F4, F5, F6, F7) \
    __asm__ volatile( \
        "1:\n\t" \
        "vldmia %[g]!, {s0-s7}\n\t" \
        LOAD_SCALE \
        "vmul.f32 s0, s0, " F0 "\n\t" \
        "vmul.f32 s1, s1, " F1 "\n\t" \
        "vmul.f32 s2, s2, " F2 "\n\t" \
        "vmul.f32 s3, s3, " F3 "\n\t" \
        "vmul.f32 s4, s4, " F4 "\n\t" \
        "vmul.f32 s5, s5, " F5 "\n\t" \
        "vmul.f32 s6, s6, " F6 "\n\t" \
        "vmul.f32 s7, s7, " F7 "\n\t" \
        "vstmia %[out]!, {s0-s7}\n\t" \
        "subs %[n], %[n], #1\n\t" \
        "bne 1b\n\t" \
        : [g] "+r"(g), [out] "+r"(out), [n] "+r"(n), [s] "+r"(s) \
        : [f] "t"(f) \
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "cc", \
          "memory")

/* out[i] = g[i] * f for i < 8 n */
static inline void scale8(const float *g, float f, float *out, int32_t n)
{
    const float *s = g; /* unused */
    TT_MUL8("", "%[f]", "%[f]", "%[f]", "%[f]", "%[f]", "%[f]", "%[f]", "%[f]");
}

/* out[i] = g[i] * s[i] for i < 8 n */
static inline void mul8(const float *g, const float *s, float *out, int32_t n)
{
    const float f = 0.0f; /* unused */
    TT_MUL8("vldmia %[s]!, {s8-s15}\n\t", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15");
}
#endif

int tt_scale_channels_f32(const float *g, int32_t channels, int32_t inner, const float *scale, float *out)
{
    if (!g || !scale || !out || channels <= 0 || inner <= 0) return TT_ERR_ARG;
    int32_t c = 0;
#if defined(__ARM_FP) && defined(__thumb2__)
    if (inner == 1 && channels >= 8) { /* the bias gradient: channel c's value times scale[c] */
        mul8(g, scale, out, channels / 8);
        c = channels / 8 * 8;
    }
#endif
    for (; c < channels; ++c) {
        const float f = scale[c];
        int32_t i = c * inner;
#if defined(__ARM_FP) && defined(__thumb2__)
        if (inner >= 8) scale8(g + i, f, out + i, inner / 8), i += inner / 8 * 8;
#endif
        for (; i < (c + 1) * inner; ++i) out[i] = g[i] * f;
    }
    return TT_OK;
}
