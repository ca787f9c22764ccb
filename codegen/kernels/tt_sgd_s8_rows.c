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

#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__) && defined(__ARM_FEATURE_DSP) /* M4, M7, M55 */
/* The loop below for one row in asm, two weights a turn: the same operations on the same values (the hash's integer
 * steps; u = (h >> 8) * 2^-24 by one fixed-point VCVT, exact as h >> 8 < 2^24; t = lr * g; v = w - t; v + u), then
 * floor and clamp (SGD_FLOOR2 / SGD_FLOOR1), and the store unless the sum is NaN (one VCMP of the pair, each alone
 * only when it is unordered): 43 instructions a pair on an FPv5, 45 on an FPv4, two more with the QAS scale (the
 * one-weight loop before: 27 a weight on an FPv5; GCC's C on an FPv4, floorf a library call: about 56).  Registers: s10 / s11 the sums, s8 / s9
 * their floors, t0 / t1 the bytes to store. */
#define SGD_ASM 1
#if __ARM_FP & 8 /* FPv5 with double precision (M7, M55): clamp to [-127, 127] (VMAXNM / VMINNM), VCVTM floors;
                  * floor and clamp commute as the bounds are integers */
#define SGD_FLOOR_OPERANDS [lo] "t"(-127.0f), [hi] "t"(127.0f)
#define SGD_FLOOR2 \
    "vmaxnm.f32 s8, s10, %[lo]\n\t" \
    "vmaxnm.f32 s9, s11, %[lo]\n\t" \
    "vminnm.f32 s8, s8, %[hi]\n\t" \
    "vminnm.f32 s9, s9, %[hi]\n\t" \
    "vcvtm.s32.f32 s8, s8\n\t" \
    "vcvtm.s32.f32 s9, s9\n\t" \
    "vmov %[t0], %[t1], s8, s9\n\t"
/* the pair's two bytes stored (t0, t1); SGD_SPLIT: t1 the second byte for the NaN path's byte stores */
#define SGD_STORE2 \
    "strb %[t0], [%[w], #-2]\n\t" \
    "strb %[t1], [%[w], #-1]\n\t"
#define SGD_SPLIT ""
#define SGD_FLOOR1 \
    "vmaxnm.f32 s8, s10, %[lo]\n\t" \
    "vminnm.f32 s8, s8, %[hi]\n\t" \
    "vcvtm.s32.f32 s8, s8\n\t" \
    "vmov %[t0], s8\n\t"
#else /* FPv4 (M4; an M7 with the single-precision FPv5): no VCVTM, so VCVTR with FPSCR's rounding mode set to
       * round towards minus infinity (rm) for the conversions alone, then the entry mode back (rn: the entry FPSCR;
       * only the exception flags the conversions raise are lost); the int32 saturates to [-128, 127] (SSAT), and
       * a byte below -127 becomes -127 (SSUB8's GE flag against m = -127 in each byte, SEL) */
#define SGD_FLOOR_OPERANDS [rm] "r"((rn & ~0x00C00000u) | 0x00800000u), [rn] "r"(rn), [m] "r"(0x81818181u)
#define SGD_FLOOR2 \
    "vmsr fpscr, %[rm]\n\t" \
    "vcvtr.s32.f32 s8, s10\n\t" \
    "vcvtr.s32.f32 s9, s11\n\t" \
    "vmsr fpscr, %[rn]\n\t" \
    "vmov %[t0], %[t1], s8, s9\n\t" \
    "ssat %[t0], #8, %[t0]\n\t" \
    "ssat %[t1], #8, %[t1]\n\t" \
    "bfi %[t0], %[t1], #8, #8\n\t" \
    "ssub8 %[t1], %[t0], %[m]\n\t" \
    "sel %[t0], %[t0], %[m]\n\t"
/* both bytes by one unaligned STRH (t0's low half); SGD_SPLIT: t1 the second byte for the NaN path's byte stores */
#define SGD_STORE2 "strh %[t0], [%[w], #-2]\n\t"
#define SGD_SPLIT "lsr %[t1], %[t0], #8\n\t"
#define SGD_FLOOR1 \
    "vmsr fpscr, %[rm]\n\t" \
    "vcvtr.s32.f32 s8, s10\n\t" \
    "vmsr fpscr, %[rn]\n\t" \
    "vmov %[t0], s8\n\t" \
    "ssat %[t0], #8, %[t0]\n\t" \
    "ssub8 %[t1], %[t0], %[m]\n\t" \
    "sel %[t0], %[t0], %[m]\n\t"
#endif
/* h = hash(n) >> 8 of the index in IN, into T (tt_uniform_seeded's integer steps) */
#define SGD_HASH(T, IN) \
    "eor %[" T "], %[" IN "], %[" IN "], lsr #16\n\t" \
    "mul %[" T "], %[" T "], %[c1]\n\t" \
    "eor %[" T "], %[" T "], %[" T "], lsr #15\n\t" \
    "mul %[" T "], %[" T "], %[c2]\n\t" \
    "eor %[" T "], %[" T "], %[" T "], lsr #16\n\t" \
    "lsr %[" T "], %[" T "], #8\n\t"
/* n / 2 turns of two weights (k counts down the weights left), then the odd last one; SCALE2 / SCALE1: "", or the
 * QAS scale's multiply of g (s12, s13), whose operand follows (the variadic part: an input operand) */
#define SGD_ROW(SCALE2, SCALE1, ...) \
    int32_t t0, t1, k = n; \
    __asm__ volatile( \
        "subs %[k], %[k], #2\n\t" \
        "blt 5f\n\t" \
        "1:\n\t" \
        SGD_HASH("t0", "i") \
        "add %[t1], %[i], #1\n\t" \
        SGD_HASH("t1", "t1") \
        "vmov s8, s9, %[t0], %[t1]\n\t" \
        "vcvt.f32.u32 s8, s8, #24\n\t" \
        "vcvt.f32.u32 s9, s9, #24\n\t" \
        "ldrsb %[t0], [%[w]], #1\n\t" \
        "ldrsb %[t1], [%[w]], #1\n\t" \
        "vmov s10, s11, %[t0], %[t1]\n\t" \
        "vcvt.f32.s32 s10, s10\n\t" \
        "vcvt.f32.s32 s11, s11\n\t" \
        "vldmia %[g]!, {s12, s13}\n\t" \
        SCALE2 \
        "vmul.f32 s12, %[lr], s12\n\t" \
        "vmul.f32 s13, %[lr], s13\n\t" \
        "vsub.f32 s10, s10, s12\n\t" \
        "vsub.f32 s11, s11, s13\n\t" \
        "vadd.f32 s10, s10, s8\n\t" \
        "vadd.f32 s11, s11, s9\n\t" \
        "vcmp.f32 s10, s11\n\t" \
        "vmrs APSR_nzcv, fpscr\n\t" \
        SGD_FLOOR2 \
        "bvs 3f\n\t" \
        SGD_STORE2 \
        "2:\n\t" \
        "add %[i], %[i], #2\n\t" \
        "subs %[k], %[k], #2\n\t" \
        "bge 1b\n\t" \
        "b 5f\n\t" \
        "3:\n\t" /* a NaN in the pair: each stored unless it is the NaN */ \
        SGD_SPLIT \
        "vcmp.f32 s10, s10\n\t" \
        "vmrs APSR_nzcv, fpscr\n\t" \
        "it vc\n\t" \
        "strbvc %[t0], [%[w], #-2]\n\t" \
        "vcmp.f32 s11, s11\n\t" \
        "vmrs APSR_nzcv, fpscr\n\t" \
        "it vc\n\t" \
        "strbvc %[t1], [%[w], #-1]\n\t" \
        "b 2b\n\t" \
        "5:\n\t" \
        "cmn %[k], #1\n\t" /* k = -1: an odd last weight (-2: none) */ \
        "bne 6f\n\t" \
        SGD_HASH("t0", "i") \
        "vmov s8, %[t0]\n\t" \
        "vcvt.f32.u32 s8, s8, #24\n\t" \
        "ldrsb %[t0], [%[w]]\n\t" \
        "vmov s10, %[t0]\n\t" \
        "vcvt.f32.s32 s10, s10\n\t" \
        "vldr s12, [%[g]]\n\t" \
        SCALE1 \
        "vmul.f32 s12, %[lr], s12\n\t" \
        "vsub.f32 s10, s10, s12\n\t" \
        "vadd.f32 s10, s10, s8\n\t" \
        "vcmp.f32 s10, s10\n\t" \
        "vmrs APSR_nzcv, fpscr\n\t" \
        "bvs 6f\n\t" \
        SGD_FLOOR1 \
        "strb %[t0], [%[w]]\n\t" \
        "6:\n\t" \
        : [w] "+r"(w), [g] "+r"(g), [k] "+r"(k), [i] "+r"(index), [t0] "=&r"(t0), [t1] "=&r"(t1) \
        : [lr] "t"(lr), [c1] "r"(0x7feb352du), [c2] "r"(0x846ca68bu), SGD_FLOOR_OPERANDS __VA_ARGS__ \
        : "s8", "s9", "s10", "s11", "s12", "s13", "cc", "memory")
/* rn: the FPSCR at entry (read once a block; unused on an FPv5) */
static inline void sgd_row(int8_t *w, const float *g, int32_t n, float lr, uint32_t index, uint32_t rn)
{
    (void)rn;
    SGD_ROW("", "", );
}

static inline void sgd_row_scaled(int8_t *w, const float *g, float scale, int32_t n, float lr, uint32_t index,
                                  uint32_t rn)
{
    (void)rn;
    SGD_ROW("vmul.f32 s12, s12, %[scale]\n\tvmul.f32 s13, s13, %[scale]\n\t", "vmul.f32 s12, s12, %[scale]\n\t",
            , [scale] "t"(scale));
}
#endif

/* scale: NULL, or row i's QAS scale at scale[i - row0] */
static int sgd_block(int8_t *w, const float *g, const float *scale, int32_t row0, int32_t n, int32_t col0,
                     int32_t cols, int32_t row_stride, int32_t run, float lr, uint32_t step, int32_t conv_index)
{
    if (!w || !g || row0 < 0 || n < 1 || run < 1 || row_stride < run || col0 < 0 || cols < 1 || col0 + cols > run)
        return TT_ERR_ARG;
    const uint32_t seed = tt_stochastic_seed(step, conv_index); /* u_i = tt_uniform_seeded(i + seed), inline */
    if (!scale && cols == row_stride) { /* whole rows that touch (a depthwise slice): one row of consecutive indices */
        cols *= n;
        n = 1;
    }
#ifdef SGD_ASM
    uint32_t rn = 0;
#if !(__ARM_FP & 8)
    __asm__ volatile("vmrs %0, fpscr" : "=r"(rn));
#endif
#endif
    for (int32_t r = row0; r < row0 + n; ++r, g += cols) {
        int8_t *wr = w + r * row_stride + col0;
        const uint32_t i0 = (uint32_t)r * (uint32_t)run + (uint32_t)col0 + seed;
        const float sc = scale ? scale[r - row0] : 1.0f;
#ifdef SGD_ASM
        if (scale)
            sgd_row_scaled(wr, g, sc, cols, lr, i0, rn);
        else
            sgd_row(wr, g, cols, lr, i0, rn);
        continue;
#endif
        for (int32_t j = 0; j < cols; ++j) {
            const float t = lr * (scale ? g[j] * sc : g[j]);
            const float v = (float)wr[j] - t;
            const float f = floorf(v + tt_uniform_seeded(i0 + (uint32_t)j));
            if (f != f) continue;
            wr[j] = (int8_t)(f < -127.0f ? -127 : f > 127.0f ? 127 : (int32_t)f);
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
