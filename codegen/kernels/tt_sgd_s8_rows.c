/* tt_sgd_s8 for a block of rows only: rows [row0, row0 + n) of the updated slice, whose gradient
 * g (n, run) is all a fused gradient + update keeps (passes/fuse_grad_update.py).  Row r of the slice
 * is the `run` contiguous weights at w + r * row_stride, and its element j has slice index
 * i = r * run + j, the index tt_sgd_s8 gives it, so updating a weight a block of rows at a time gives
 * exactly tt_sgd_s8's result:
 *   t = lr * g;  v = (float)w - t;  w = clamp(floor(v + u_i), -127, 127);  a NaN leaves w unchanged.
 * Pointwise / dense slice w[:, :k]: row_stride = cols * inner, run = k * inner; depthwise w[:k]:
 * row_stride = run = inner.
 * tt_sgd_s8_block takes columns [col0, col0 + cols) of those rows only (g (n, cols)): the same indices.
 * tt_sgd_s8_block_scaled first scales row i's gradient by scale[i] (QAS: g * scale, rounded, then t = lr * that),
 * the floats tt_scale_channels_f32 followed by tt_sgd_s8_block give, without the pass that stores them. */
#include <math.h>

#include "tt_float_util.h"
#include "tt_kernels.h"

#if defined(__ARM_FP) && (__ARM_FP & 8) && defined(__thumb2__) /* FPv5 with double precision (M7, M55) */
/* The loop below for one row of n >= 1 weights in asm: the same operations on the same values (the hash's
 * integer steps; u = (h >> 8) * 2^-24 by one fixed-point VCVT, exact as h >> 8 < 2^24; t = lr * g; v = w - t;
 * VRINTM is floorf; a NaN skips the store; VMAXNM / VMINNM clamp), 27 instructions a weight (GCC: 31). */
#define SGD_ROW_ASM 1
/* SCALE: "", or the QAS scale's multiply of g (s6), whose operand follows (the variadic part: an input operand) */
#define SGD_ROW(SCALE, ...) \
    int32_t t0, t1; \
    __asm__ volatile( \
        "1:\n\t" \
        "eor %[t1], %[i], %[i], lsr #16\n\t" \
        "mul %[t1], %[t1], %[c1]\n\t" \
        "eor %[t1], %[t1], %[t1], lsr #15\n\t" \
        "mul %[t1], %[t1], %[c2]\n\t" \
        "eor %[t1], %[t1], %[t1], lsr #16\n\t" \
        "lsr %[t1], %[t1], #8\n\t" \
        "vmov s5, %[t1]\n\t" \
        "vcvt.f32.u32 s5, s5, #24\n\t" \
        "ldrsb %[t0], [%[w]], #1\n\t" \
        "vldmia %[g]!, {s6}\n\t" \
        SCALE \
        "vmul.f32 s6, %[lr], s6\n\t" \
        "vmov s7, %[t0]\n\t" \
        "vcvt.f32.s32 s7, s7\n\t" \
        "vsub.f32 s7, s7, s6\n\t" \
        "vadd.f32 s7, s7, s5\n\t" \
        "vrintm.f32 s7, s7\n\t" \
        "vcmp.f32 s7, s7\n\t" \
        "vmrs APSR_nzcv, fpscr\n\t" \
        "bvs 2f\n\t" \
        "vmaxnm.f32 s7, s7, %[lo]\n\t" \
        "vminnm.f32 s7, s7, %[hi]\n\t" \
        "vcvt.s32.f32 s7, s7\n\t" \
        "vmov %[t0], s7\n\t" \
        "strb %[t0], [%[w], #-1]\n\t" \
        "2:\n\t" \
        "add %[i], %[i], #1\n\t" \
        "subs %[n], %[n], #1\n\t" \
        "bne 1b\n\t" \
        : [w] "+r"(w), [g] "+r"(g), [n] "+r"(n), [i] "+r"(index), [t0] "=&r"(t0), [t1] "=&r"(t1) \
        : [lr] "t"(lr), [lo] "t"(-127.0f), [hi] "t"(127.0f), [c1] "r"(0x7feb352du), [c2] "r"(0x846ca68bu) __VA_ARGS__ \
        : "s5", "s6", "s7", "cc", "memory")
static inline void sgd_row(int8_t *w, const float *g, int32_t n, float lr, uint32_t index)
{
    SGD_ROW("", );
}

static inline void sgd_row_scaled(int8_t *w, const float *g, float scale, int32_t n, float lr, uint32_t index)
{
    SGD_ROW("vmul.f32 s6, s6, %[scale]\n\t", , [scale] "t"(scale));
}
#endif

/* scale: NULL, or row i's QAS scale at scale[i - row0] */
static int sgd_block(int8_t *w, const float *g, const float *scale, int32_t row0, int32_t n, int32_t col0,
                     int32_t cols, int32_t row_stride, int32_t run, float lr, uint32_t step, int32_t conv_index)
{
    if (!w || !g || row0 < 0 || n < 1 || run < 1 || row_stride < run || col0 < 0 || cols < 1 || col0 + cols > run)
        return TT_ERR_ARG;
    const uint32_t seed = tt_stochastic_seed(step, conv_index); /* u_i = tt_uniform_seeded(i + seed), inline */
    for (int32_t r = row0; r < row0 + n; ++r, g += cols) {
        int8_t *wr = w + r * row_stride + col0;
        const uint32_t i0 = (uint32_t)r * (uint32_t)run + (uint32_t)col0 + seed;
        const float sc = scale ? scale[r - row0] : 1.0f;
#ifdef SGD_ROW_ASM
        if (scale)
            sgd_row_scaled(wr, g, sc, cols, lr, i0);
        else
            sgd_row(wr, g, cols, lr, i0);
        continue;
#endif
        for (int32_t j = 0; j < cols; ++j) {
            const float t = lr * (scale ? g[j] * sc : g[j]);
            const float v = (float)wr[j] - t;
            const float f = floorf(v + tt_uniform_seeded(i0 + (uint32_t)j));
            if (f != f) continue;
#if defined(__ARM_FP) && (__ARM_FP & 8) && defined(__thumb2__) /* FPv5 with double precision (M7, M55): VMAXNM */
            wr[j] = (int8_t)(int32_t)fminf(fmaxf(f, -127.0f), 127.0f); /* the same clamp, f not NaN */
#else
            wr[j] = (int8_t)(f < -127.0f ? -127 : f > 127.0f ? 127 : (int32_t)f);
#endif
        }
    }
    return TT_OK;
}

int tt_sgd_s8_block(int8_t *w, const float *g, int32_t row0, int32_t n, int32_t col0, int32_t cols,
                    int32_t row_stride, int32_t run, float lr, uint32_t step, int32_t conv_index)
{
    return sgd_block(w, g, NULL, row0, n, col0, cols, row_stride, run, lr, step, conv_index);
}

int tt_sgd_s8_block_scaled(int8_t *w, const float *g, const float *scale, int32_t row0, int32_t n, int32_t col0,
                           int32_t cols, int32_t row_stride, int32_t run, float lr, uint32_t step, int32_t conv_index)
{
    if (!scale) return TT_ERR_ARG;
    return sgd_block(w, g, scale, row0, n, col0, cols, row_stride, run, lr, step, conv_index);
}

int tt_sgd_s8_rows(int8_t *w, const float *g, int32_t row0, int32_t n, int32_t row_stride, int32_t run,
                   float lr, uint32_t step, int32_t conv_index)
{
    return tt_sgd_s8_block(w, g, row0, n, 0, run, row_stride, run, lr, step, conv_index);
}

int32_t tt_grad_update_get_buffer_size(int32_t rows, int32_t run, int32_t cols)
{
    if (cols > run) cols = run;
    int32_t block = TT_UPDATE_BYTES / (cols * (int32_t)sizeof(float)) / 4 * 4;
    if (block < TT_UPDATE_ROWS) block = TT_UPDATE_ROWS;
    return (rows < block ? rows : block) * cols * (int32_t)sizeof(float);
}
