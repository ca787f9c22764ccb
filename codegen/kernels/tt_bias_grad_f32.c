/* db[c] = sum_{i < spatial} d[c][i], added in order: the bias gradient, d (channels, spatial) row-major
 * (on a Cortex-M FPU eight values a load, tt_sum8_f32; a spatial size of eight values a multiple, as the
 * backbones' 4x4 and 8x8 maps, all channels in one asm loop, channel_sums8). */
#include "tt_float_util.h"
#include "tt_kernels.h"

#ifdef TT_SUM8_ASM
/* db[c] for all channels, spatial = 8 n: each sum from +0.0f (0 + -0.0f is +0.0f, as the C loop's), tt_sum8_f32's
 * adds in its order; 5 instructions a channel around them against about 14 for the C loop's call of it. */
static void channel_sums8(const float *d, int32_t channels, int32_t n, float *db)
{
    int32_t k;
    const int32_t zero = 0;
    __asm__ volatile(
        "1:\n\t"
        "vmov s0, %[zero]\n\t"
        "mov %[k], %[n]\n\t"
        "2:\n\t"
        "vldmia %[d]!, {s8-s15}\n\t"
        "vadd.f32 s0, s0, s8\n\t"
        "vadd.f32 s0, s0, s9\n\t"
        "vadd.f32 s0, s0, s10\n\t"
        "vadd.f32 s0, s0, s11\n\t"
        "vadd.f32 s0, s0, s12\n\t"
        "vadd.f32 s0, s0, s13\n\t"
        "vadd.f32 s0, s0, s14\n\t"
        "vadd.f32 s0, s0, s15\n\t"
        "subs %[k], %[k], #1\n\t"
        "bne 2b\n\t"
        "vstmia %[db]!, {s0}\n\t"
        "subs %[c], %[c], #1\n\t"
        "bne 1b\n\t"
        : [d] "+r"(d), [db] "+r"(db), [c] "+r"(channels), [k] "=&r"(k)
        : [n] "r"(n), [zero] "r"(zero)
        : "s0", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "cc", "memory");
}
#endif

int tt_bias_grad_f32(const float *d, int32_t channels, int32_t spatial, float *db)
{
    if (!d || !db || channels <= 0 || spatial <= 0) return TT_ERR_ARG;
#ifdef TT_SUM8_ASM
    if (spatial % 8 == 0) {
        channel_sums8(d, channels, spatial / 8, db);
        return TT_OK;
    }
#endif
    for (int32_t c = 0; c < channels; ++c) {
        const float *row = d + c * spatial;
        float acc = 0.0f;
        int32_t i = 0;
#ifdef TT_SUM8_ASM
        if (spatial >= 8) acc = tt_sum8_f32(acc, row, spatial / 8), i = spatial / 8 * 8;
#endif
        for (; i < spatial; ++i) acc += row[i];
        db[c] = acc;
    }
    return TT_OK;
}
