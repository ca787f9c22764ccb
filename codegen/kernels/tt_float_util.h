/* Private helpers of the float (backward / update) kernels: static inline, not part of the API. */
#ifndef TT_FLOAT_UTIL_H
#define TT_FLOAT_UTIL_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tt_kernels.h"

/* exp and log written out in float arithmetic, so every target computes the same bits: the C
 * libraries do not (newlib's expf / logf on a Cortex-M4, which has no double-precision FPU,
 * differ from glibc's and from its own Cortex-M7 build in the last bit, and a loss one bit
 * apart flips stochastic roundings of the update).  About one ulp from the exact value. */
static inline float tt_pow2i(int32_t k) /* 2^k for -126 <= k <= 127 */
{
    uint32_t u = (uint32_t)(k + 127) << 23;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 (ln 2 in two parts, so r is exact),
 * |r| <= ln(2) / 2, exp(r) by its degree-7 Taylor polynomial; 0 below -80 (no subnormal result,
 * whose rounding could depend on the FPU's flush-to-zero mode). */
static inline float tt_expf(float x)
{
    if (x < -80.0f) return 0.0f;
    if (x > 88.0f) return INFINITY;
    float kf = x * 1.44269504f;
    int32_t k = (int32_t)(kf + (kf < 0.0f ? -0.5f : 0.5f));
    float r = (x - (float)k * 0.693145752f) - (float)k * 1.42860677e-6f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f
              + r * (1.38888889e-3f + r * 1.98412698e-4f))))));
    return p * tt_pow2i(k);
}

/* log(s) for a positive normal s = m 2^e, m in [sqrt(1/2), sqrt(2)): e ln 2 + 2 atanh(t),
 * t = (m - 1) / (m + 1), |t| < 0.172, atanh by its series to t^9. */
static inline float tt_logf(float s)
{
    uint32_t u;
    memcpy(&u, &s, sizeof u);
    int32_t e = (int32_t)((u >> 23) & 0xffu) - 127;
    u = (u & 0x007fffffu) | 0x3f800000u;
    float m;
    memcpy(&m, &u, sizeof m);
    if (m > 1.41421356f) {
        m *= 0.5f;
        e += 1;
    }
    float t = (m - 1.0f) / (m + 1.0f), t2 = t * t;
    float a = t * (2.0f + t2 * (6.66666667e-1f + t2 * (4.0e-1f + t2 * (2.85714286e-1f + t2 * 2.22222222e-1f))));
    return (float)e * 0.693147181f + a;
}

/* log(sum(exp(l))) computed as m + log(sum(exp(l - m))), m = max(l): the loss and its gradient
 * share it so both see the same float value. */
static inline float tt_log_sum_exp(const float *logits, int32_t n)
{
    float m = logits[0];
    for (int32_t i = 1; i < n; ++i)
        if (logits[i] > m) m = logits[i];
    float sum = 0.0f;
    for (int32_t i = 0; i < n; ++i) sum += tt_expf(logits[i] - m);
    return m + tt_logf(sum);
}

/* The stochastic rounding's uniform number (tt_sgd_s8.c states the formula) in two parts, so an update
 * loop computes the part shared by all its elements, seed = 0x9E3779B9 step + 0x85EBCA6B conv_index,
 * once: tt_stochastic_uniform(i, step, conv_index) == tt_uniform_seeded(i + seed) (uint32 wrapping). */
static inline uint32_t tt_stochastic_seed(uint32_t step, int32_t conv_index)
{
    return 0x9E3779B9u * step + 0x85EBCA6Bu * (uint32_t)conv_index;
}

static inline float tt_uniform_seeded(uint32_t n)
{
    n ^= n >> 16;
    n *= 0x7feb352du;
    n ^= n >> 15;
    n *= 0x846ca68bu;
    n ^= n >> 16;
    return (float)(n >> 8) * 0x1p-24f;
}

/* acc + a * b, the product rounded before the add, as the host computes it (-ffp-contract=off).
 * GCC emits no multiply-accumulate under -ffp-contract=off; with a single-precision FPU, VMLA.F32 is
 * this operation in one instruction (unfused: it rounds the product, unlike VFMA, so device == host
 * bit for bit). */
static inline float tt_mla_f32(float acc, float a, float b)
{
#if defined(__ARM_FP) && (__ARM_FP & 4)
    __asm__("vmla.f32 %0, %1, %2" : "+t"(acc) : "t"(a), "t"(b));
    return acc;
#else
    return acc + a * b;
#endif
}

/* Two rows of eight sums over n terms, in order: x0[j] = init0[j] + sum_i d_i[j] * w[2i],
 * x1[j] = init1[j] + sum_i d_i[j] * w[2i + 1], with d_i = d + i * d_step floats, n >= 1; each term
 * a tt_mla_f32 (VMLA: product rounded, then the add), so the sums are the C loop's, bit for bit.
 * On a Cortex-M FPU one loop in asm: the 16 sums stay in s16-s31, each term's eight d values come in
 * one VLDM and four terms' weights in one more (148 instructions per 128 multiply-adds against the C loop's
 * ~240, whose separate VLDRs the compiler does not merge). Defined there only (TT_MLA_2X8_ASM). */
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__)
#define TT_MLA_2X8_ASM 1
/* s16..s23 += s8..s15 * a, s24..s31 += s8..s15 * b (a, b: S registers, as strings) */
#define TT_VMLA_2X8_WITH(a, b) \
    "vmla.f32 s16, s8, " a "\n\t" \
    "vmla.f32 s17, s9, " a "\n\t" \
    "vmla.f32 s18, s10, " a "\n\t" \
    "vmla.f32 s19, s11, " a "\n\t" \
    "vmla.f32 s20, s12, " a "\n\t" \
    "vmla.f32 s21, s13, " a "\n\t" \
    "vmla.f32 s22, s14, " a "\n\t" \
    "vmla.f32 s23, s15, " a "\n\t" \
    "vmla.f32 s24, s8, " b "\n\t" \
    "vmla.f32 s25, s9, " b "\n\t" \
    "vmla.f32 s26, s10, " b "\n\t" \
    "vmla.f32 s27, s11, " b "\n\t" \
    "vmla.f32 s28, s12, " b "\n\t" \
    "vmla.f32 s29, s13, " b "\n\t" \
    "vmla.f32 s30, s14, " b "\n\t" \
    "vmla.f32 s31, s15, " b "\n\t"
#define TT_VMLA_2X8 TT_VMLA_2X8_WITH("s0", "s1")
/* four terms: their eight weights by one VLDM, each term's eight d values by one more */
#define TT_MLA_2X8_FOUR \
    "vldmia %[w]!, {s0-s7}\n\t" \
    "vldmia %[d], {s8-s15}\n\t" \
    "add %[d], %[d], %[step]\n\t" \
    TT_VMLA_2X8_WITH("s0", "s1") \
    "vldmia %[d], {s8-s15}\n\t" \
    "add %[d], %[d], %[step]\n\t" \
    TT_VMLA_2X8_WITH("s2", "s3") \
    "vldmia %[d], {s8-s15}\n\t" \
    "add %[d], %[d], %[step]\n\t" \
    TT_VMLA_2X8_WITH("s4", "s5") \
    "vldmia %[d], {s8-s15}\n\t" \
    "add %[d], %[d], %[step]\n\t" \
    TT_VMLA_2X8_WITH("s6", "s7")
/* Eight terms a turn (the loop's count and branch per 128 multiply-adds, not 64), then four, then the n % 4 left
 * one at a time, in order. */
static inline void tt_mla_2x8_f32(float *x0, float *x1, const float *init0, const float *init1, const float *d,
                                  int32_t d_step, const float *w, int32_t n)
{
    const int32_t step_bytes = d_step * (int32_t)sizeof(float);
    int32_t eights = n >> 3, four = n & 4, ones = n & 3;
    __asm__ volatile(
        "vldmia %[i0], {s16-s23}\n\t"
        "vldmia %[i1], {s24-s31}\n\t"
        "cmp %[eights], #0\n\t"
        "beq 2f\n\t"
        "1:\n\t"
        TT_MLA_2X8_FOUR
        TT_MLA_2X8_FOUR
        "subs %[eights], %[eights], #1\n\t"
        "bne 1b\n\t"
        "2:\n\t"
        "cmp %[four], #0\n\t"
        "beq 6f\n\t"
        TT_MLA_2X8_FOUR
        "6:\n\t"
        "cmp %[ones], #0\n\t"
        "beq 4f\n\t"
        "3:\n\t"
        "vldmia %[w]!, {s0-s1}\n\t"
        "vldmia %[d], {s8-s15}\n\t"
        "add %[d], %[d], %[step]\n\t"
        TT_VMLA_2X8
        "subs %[ones], %[ones], #1\n\t"
        "bne 3b\n\t"
        "4:\n\t"
        "vstmia %[x0], {s16-s23}\n\t"
        "vstmia %[x1], {s24-s31}\n\t"
        : [d] "+r"(d), [w] "+r"(w), [eights] "+r"(eights), [ones] "+r"(ones)
        : [i0] "r"(init0), [i1] "r"(init1), [x0] "r"(x0), [x1] "r"(x1), [step] "r"(step_bytes), [four] "r"(four)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
          "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30",
          "s31", "cc", "memory");
}

/* col[2i] = scale[i] * (float)w[i * stride], col[2i + 1] = scale[i] * (float)w[i * stride + 1], i < n (n >= 1):
 * two channels' scaled weights, as tt_pointwise_grad_input_f32's C loop makes them (one product each, rounded
 * once); four outputs a turn, each pair of weights moved to the FPU by one VMOV, the four scales loaded by one VLDM
 * and the eight results stored by one VSTM: 36 instructions per eight weights (GCC's loop: 60); then two outputs
 * a turn (20 per four) and the odd one. */
static inline void tt_scaled_pairs_f32(float *col, const int8_t *w, int32_t stride, const float *scale, int32_t n)
{
    int32_t fours = n >> 2, twos = (n >> 1) & 1, odd = n & 1;
    int32_t t0, t1, t2, t3;
    __asm__ volatile(
        "cmp %[fours], #0\n\t"
        "beq 4f\n\t"
        "3:\n\t"
        "ldrsb %[t0], [%[w]]\n\t"
        "ldrsb %[t1], [%[w], #1]\n\t"
        "add %[w], %[w], %[stride]\n\t"
        "ldrsb %[t2], [%[w]]\n\t"
        "ldrsb %[t3], [%[w], #1]\n\t"
        "add %[w], %[w], %[stride]\n\t"
        "vmov s4, s5, %[t0], %[t1]\n\t"
        "vmov s6, s7, %[t2], %[t3]\n\t"
        "ldrsb %[t0], [%[w]]\n\t"
        "ldrsb %[t1], [%[w], #1]\n\t"
        "add %[w], %[w], %[stride]\n\t"
        "ldrsb %[t2], [%[w]]\n\t"
        "ldrsb %[t3], [%[w], #1]\n\t"
        "add %[w], %[w], %[stride]\n\t"
        "vmov s8, s9, %[t0], %[t1]\n\t"
        "vmov s10, s11, %[t2], %[t3]\n\t"
        "vldmia %[scale]!, {s0-s3}\n\t"
        "vcvt.f32.s32 s4, s4\n\t"
        "vcvt.f32.s32 s5, s5\n\t"
        "vcvt.f32.s32 s6, s6\n\t"
        "vcvt.f32.s32 s7, s7\n\t"
        "vcvt.f32.s32 s8, s8\n\t"
        "vcvt.f32.s32 s9, s9\n\t"
        "vcvt.f32.s32 s10, s10\n\t"
        "vcvt.f32.s32 s11, s11\n\t"
        "vmul.f32 s4, s4, s0\n\t"
        "vmul.f32 s5, s5, s0\n\t"
        "vmul.f32 s6, s6, s1\n\t"
        "vmul.f32 s7, s7, s1\n\t"
        "vmul.f32 s8, s8, s2\n\t"
        "vmul.f32 s9, s9, s2\n\t"
        "vmul.f32 s10, s10, s3\n\t"
        "vmul.f32 s11, s11, s3\n\t"
        "vstmia %[col]!, {s4-s11}\n\t"
        "subs %[fours], %[fours], #1\n\t"
        "bne 3b\n\t"
        "4:\n\t"
        "cmp %[twos], #0\n\t"
        "beq 2f\n\t"
        "ldrsb %[t0], [%[w]]\n\t"
        "ldrsb %[t1], [%[w], #1]\n\t"
        "add %[w], %[w], %[stride]\n\t"
        "ldrsb %[t2], [%[w]]\n\t"
        "ldrsb %[t3], [%[w], #1]\n\t"
        "add %[w], %[w], %[stride]\n\t"
        "vldmia %[scale]!, {s2-s3}\n\t"
        "vmov s4, s5, %[t0], %[t1]\n\t"
        "vmov s6, s7, %[t2], %[t3]\n\t"
        "vcvt.f32.s32 s4, s4\n\t"
        "vcvt.f32.s32 s5, s5\n\t"
        "vcvt.f32.s32 s6, s6\n\t"
        "vcvt.f32.s32 s7, s7\n\t"
        "vmul.f32 s4, s4, s2\n\t"
        "vmul.f32 s5, s5, s2\n\t"
        "vmul.f32 s6, s6, s3\n\t"
        "vmul.f32 s7, s7, s3\n\t"
        "vstmia %[col]!, {s4-s7}\n\t"
        "2:\n\t"
        "cmp %[odd], #0\n\t"
        "beq 5f\n\t"
        "ldrsb %[t0], [%[w]]\n\t"
        "ldrsb %[t1], [%[w], #1]\n\t"
        "vldmia %[scale]!, {s2}\n\t"
        "vmov s4, s5, %[t0], %[t1]\n\t"
        "vcvt.f32.s32 s4, s4\n\t"
        "vcvt.f32.s32 s5, s5\n\t"
        "vmul.f32 s4, s4, s2\n\t"
        "vmul.f32 s5, s5, s2\n\t"
        "vstmia %[col]!, {s4-s5}\n\t"
        "5:\n\t"
        : [col] "+r"(col), [w] "+r"(w), [scale] "+r"(scale), [fours] "+r"(fours), [t0] "=&r"(t0), [t1] "=&r"(t1),
          [t2] "=&r"(t2), [t3] "=&r"(t3)
        : [stride] "r"(stride), [twos] "r"(twos), [odd] "r"(odd)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "cc", "memory");
}

/* tt_mla_2x8_f32 with the terms (d_i[j] * w[3i + 2]) * w[3i] and (d_i[j] * w[3i + 2]) * w[3i + 1]: each d value
 * scaled (rounded) first, then multiplied and added, per term in order (the split 1x1 input gradient's
 * rounding, tt_conv2d_1x1_grad_input_split_f32.c); w holds (weight a, weight b, scale) triplets. */
static inline void tt_mla_2x8_scaled_f32(float *x0, float *x1, const float *init0, const float *init1,
                                         const float *d, int32_t d_step, const float *w, int32_t n)
{
    const int32_t step_bytes = d_step * (int32_t)sizeof(float);
    __asm__ volatile(
        "vldmia %[i0], {s16-s23}\n\t"
        "vldmia %[i1], {s24-s31}\n\t"
        "1:\n\t"
        "vldmia %[w]!, {s0-s2}\n\t"
        "vldmia %[d], {s8-s15}\n\t"
        "add %[d], %[d], %[step]\n\t"
        "vmul.f32 s8, s8, s2\n\t"
        "vmul.f32 s9, s9, s2\n\t"
        "vmul.f32 s10, s10, s2\n\t"
        "vmul.f32 s11, s11, s2\n\t"
        "vmul.f32 s12, s12, s2\n\t"
        "vmul.f32 s13, s13, s2\n\t"
        "vmul.f32 s14, s14, s2\n\t"
        "vmul.f32 s15, s15, s2\n\t"
        TT_VMLA_2X8
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "vstmia %[x0], {s16-s23}\n\t"
        "vstmia %[x1], {s24-s31}\n\t"
        : [d] "+r"(d), [w] "+r"(w), [n] "+r"(n)
        : [i0] "r"(init0), [i1] "r"(init1), [x0] "r"(x0), [x1] "r"(x1), [step] "r"(step_bytes)
        : "s0", "s1", "s2", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19",
          "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
}

/* col[5i .. 5i + 3] = (float)w[i * stride .. i * stride + 3], col[5i + 4] = scale[i], i < n (n >= 1): the (four
 * weights, scale) columns of tt_mla_4x4_scaled_f32, as its caller's C loop makes them (an exact conversion and a
 * copy): 15 instructions an output (GCC's loop: 22). */
static inline void tt_quad_columns_f32(float *col, const int8_t *w, int32_t stride, const float *scale, int32_t n)
{
    int32_t t0, t1;
    __asm__ volatile(
        "1:\n\t"
        "ldrsb %[t0], [%[w]]\n\t"
        "ldrsb %[t1], [%[w], #1]\n\t"
        "vmov s0, s1, %[t0], %[t1]\n\t"
        "ldrsb %[t0], [%[w], #2]\n\t"
        "ldrsb %[t1], [%[w], #3]\n\t"
        "vmov s2, s3, %[t0], %[t1]\n\t"
        "add %[w], %[w], %[stride]\n\t"
        "vcvt.f32.s32 s0, s0\n\t"
        "vcvt.f32.s32 s1, s1\n\t"
        "vcvt.f32.s32 s2, s2\n\t"
        "vcvt.f32.s32 s3, s3\n\t"
        "vldmia %[scale]!, {s4}\n\t"
        "vstmia %[col]!, {s0-s4}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [col] "+r"(col), [w] "+r"(w), [scale] "+r"(scale), [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1)
        : [stride] "r"(stride)
        : "s0", "s1", "s2", "s3", "s4", "cc", "memory");
}

/* Four rows (channels) of four sums over n >= 1 terms, in order, the terms' d values scaled first:
 * x_c[j] = init_c[j] + sum_i (d_i[j] * w[5i + 4]) * w[5i + c], c, j < 4, rows x_c = x + c * x_step floats (init
 * likewise, init_step 0: every row starts from the same four values); d_i = d + i * d_step floats. The split 1x1
 * input gradient's terms (tt_mla_2x8_scaled_f32's rounding), each scaled d value serving four channels instead
 * of two: two terms a turn, their ten (weight x 4, scale) values in one VLDM: 47 instructions per 32
 * multiply-adds (the 2 x 8 loop: 29 per 16). */
static inline void tt_mla_4x4_scaled_f32(float *x, int32_t x_step, const float *init, int32_t init_step,
                                         const float *d, int32_t d_step, const float *w, int32_t n)
{
    const int32_t step = d_step * (int32_t)sizeof(float), xs = x_step * (int32_t)sizeof(float);
    const int32_t is = init_step * (int32_t)sizeof(float);
    int32_t twos = n >> 1, one = n & 1;
#define TT_SPLIT_TERM(wa, wb, wc, wd, sc) \
    "vldmia %[d], {s10-s13}\n\t" \
    "add %[d], %[d], %[step]\n\t" \
    "vmul.f32 s10, s10, " sc "\n\t" \
    "vmul.f32 s11, s11, " sc "\n\t" \
    "vmul.f32 s12, s12, " sc "\n\t" \
    "vmul.f32 s13, s13, " sc "\n\t" \
    "vmla.f32 s16, s10, " wa "\n\t" "vmla.f32 s17, s11, " wa "\n\t" \
    "vmla.f32 s18, s12, " wa "\n\t" "vmla.f32 s19, s13, " wa "\n\t" \
    "vmla.f32 s20, s10, " wb "\n\t" "vmla.f32 s21, s11, " wb "\n\t" \
    "vmla.f32 s22, s12, " wb "\n\t" "vmla.f32 s23, s13, " wb "\n\t" \
    "vmla.f32 s24, s10, " wc "\n\t" "vmla.f32 s25, s11, " wc "\n\t" \
    "vmla.f32 s26, s12, " wc "\n\t" "vmla.f32 s27, s13, " wc "\n\t" \
    "vmla.f32 s28, s10, " wd "\n\t" "vmla.f32 s29, s11, " wd "\n\t" \
    "vmla.f32 s30, s12, " wd "\n\t" "vmla.f32 s31, s13, " wd "\n\t"
    __asm__ volatile(
        "vldmia %[i], {s16-s19}\n\t"
        "add %[i], %[i], %[is]\n\t"
        "vldmia %[i], {s20-s23}\n\t"
        "add %[i], %[i], %[is]\n\t"
        "vldmia %[i], {s24-s27}\n\t"
        "add %[i], %[i], %[is]\n\t"
        "vldmia %[i], {s28-s31}\n\t"
        "cmp %[twos], #0\n\t"
        "beq 2f\n\t"
        "1:\n\t"
        "vldmia %[w]!, {s0-s9}\n\t"
        TT_SPLIT_TERM("s0", "s1", "s2", "s3", "s4")
        TT_SPLIT_TERM("s5", "s6", "s7", "s8", "s9")
        "subs %[twos], %[twos], #1\n\t"
        "bne 1b\n\t"
        "2:\n\t"
        "cmp %[one], #0\n\t"
        "beq 3f\n\t"
        "vldmia %[w]!, {s0-s4}\n\t"
        TT_SPLIT_TERM("s0", "s1", "s2", "s3", "s4")
        "3:\n\t"
        "ldr %[i], %[xs]\n\t"
        "vstmia %[x], {s16-s19}\n\t"
        "add %[x], %[x], %[i]\n\t"
        "vstmia %[x], {s20-s23}\n\t"
        "add %[x], %[x], %[i]\n\t"
        "vstmia %[x], {s24-s27}\n\t"
        "add %[x], %[x], %[i]\n\t"
        "vstmia %[x], {s28-s31}\n\t"
        : [d] "+r"(d), [w] "+r"(w), [twos] "+r"(twos), [x] "+r"(x), [i] "+r"(init)
        : [one] "r"(one), [step] "r"(step), [xs] "m"(xs), [is] "r"(is) /* xs: no core register is left (M55) */
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s16", "s17",
          "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc",
          "memory");
#undef TT_SPLIT_TERM
}
#endif

#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__)
/* Four neighbouring sums of a stride-1 depthwise input gradient (tt_conv2d_grad_input_f32.c's zero-bordered
 * gather; a strided one's phase: its taps' sub-kernel) over `rows` tap rows of a kw-wide kernel, kw 1 to 5 or
 * 7: o[j] = sum over tap rows r < rows (in order) and kx ascending of q_r[j + kw - 1 - kx] * w_r[kx], from +0,
 * with q_r = q - r * q_step and w_r = w + r * kw floats;
 * each term a VMLA (the C loop's tt_mla_f32), so the sums are the C loop's, bit for bit. A tap row's kw + 3 d
 * values come in one VLDM and its kw weights in another: 4 kw + 5 instructions per 4 kw multiply-adds (GCC
 * loads each value by a VLDR of its own). Defined on a Cortex-M FPU only (TT_DW_ROW4_ASM). */
#define TT_DW_ROW4_ASM 1
/* s0..s3 += four d registers (as strings) times the weight register w */
#define TT_DW_MLA4(q0, q1, q2, q3, w) \
    "vmla.f32 s0, " q0 ", " w "\n\t" \
    "vmla.f32 s1, " q1 ", " w "\n\t" \
    "vmla.f32 s2, " q2 ", " w "\n\t" \
    "vmla.f32 s3, " q3 ", " w "\n\t"
/* the loop over tap rows around one row's loads (qlist, wlist: VLDM register lists) and multiply-adds */
#define TT_DW_ROW4(qlist, wlist, MLAS) \
    __asm__ volatile( \
        "vldmia %[z], {s0-s3}\n\t" \
        "cmp %[rows], #0\n\t" \
        "ble 2f\n\t" \
        "1:\n\t" \
        "vldmia %[q], {" qlist "}\n\t" \
        "sub %[q], %[q], %[step]\n\t" \
        "vldmia %[w]!, {" wlist "}\n\t" \
        MLAS \
        "subs %[rows], %[rows], #1\n\t" \
        "bne 1b\n\t" \
        "2:\n\t" \
        "vstmia %[o], {s0-s3}\n\t" \
        : [q] "+r"(q), [w] "+r"(w), [rows] "+r"(rows) \
        : [z] "r"(zeros), [o] "r"(o), [step] "r"(step) \
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", \
          "s16", "s17", "s18", "s19", "s20", "cc", "memory")
__attribute__((always_inline)) static inline void tt_dw_row4_f32(float *o, const float *q, int32_t q_step,
                                                             const float *w, int32_t rows, int32_t kw)
{
    static const float zeros[4];
    const int32_t step = q_step * (int32_t)sizeof(float);
    if (kw == 1)
        TT_DW_ROW4("s4-s7", "s8", TT_DW_MLA4("s4", "s5", "s6", "s7", "s8"));
    else if (kw == 2)
        TT_DW_ROW4("s4-s8", "s9-s10",
                   TT_DW_MLA4("s5", "s6", "s7", "s8", "s9") TT_DW_MLA4("s4", "s5", "s6", "s7", "s10"));
    else if (kw == 3)
        TT_DW_ROW4("s4-s9", "s10-s12",
                   TT_DW_MLA4("s6", "s7", "s8", "s9", "s10") TT_DW_MLA4("s5", "s6", "s7", "s8", "s11")
                   TT_DW_MLA4("s4", "s5", "s6", "s7", "s12"));
    else if (kw == 4)
        TT_DW_ROW4("s4-s10", "s11-s14",
                   TT_DW_MLA4("s7", "s8", "s9", "s10", "s11") TT_DW_MLA4("s6", "s7", "s8", "s9", "s12")
                   TT_DW_MLA4("s5", "s6", "s7", "s8", "s13") TT_DW_MLA4("s4", "s5", "s6", "s7", "s14"));
    else if (kw == 5)
        TT_DW_ROW4("s4-s11", "s12-s16",
                   TT_DW_MLA4("s8", "s9", "s10", "s11", "s12") TT_DW_MLA4("s7", "s8", "s9", "s10", "s13")
                   TT_DW_MLA4("s6", "s7", "s8", "s9", "s14") TT_DW_MLA4("s5", "s6", "s7", "s8", "s15")
                   TT_DW_MLA4("s4", "s5", "s6", "s7", "s16"));
    else
        TT_DW_ROW4("s4-s13", "s14-s20",
                   TT_DW_MLA4("s10", "s11", "s12", "s13", "s14") TT_DW_MLA4("s9", "s10", "s11", "s12", "s15")
                   TT_DW_MLA4("s8", "s9", "s10", "s11", "s16") TT_DW_MLA4("s7", "s8", "s9", "s10", "s17")
                   TT_DW_MLA4("s6", "s7", "s8", "s9", "s18") TT_DW_MLA4("s5", "s6", "s7", "s8", "s19")
                   TT_DW_MLA4("s4", "s5", "s6", "s7", "s20"));
}
/* One channel of a 3x3 stride-1 depthwise input gradient with padding 1 on each side, h >= 2 rows of 4 or 8 (w):
 * o[iy][ix] = sum over ky (d row iy + 1 - ky inside the map), then kx (column ix + 1 - kx inside) ascending of
 * q[iy + 1 - ky][ix + 1 - kx] * (scale * (float)wk[3 ky + kx]), from +0: the zero-bordered gather's terms in its
 * order without those that read the border (a +-0 term leaves a sum that started from +0 unchanged: such a sum is
 * never -0), so the same floats bit for bit. o is written row by row while q is read: they must not overlap. The
 * nine weights are converted into s0-s8 once for the channel (the products of dw_scaled_taps), a row of sums stays in
 * s24-s31, and each tap row's d row comes by one VLDM (the row below by a VLDMDB): a middle row of eight takes 3
 * loads, 66 VMLAs, a VSTM and 4 instructions of loop, where the bordered gather's rows of eight also copy the
 * channel, load the weights per tap row and add the border's zero terms (72 multiply-adds a row). Defined on a
 * Cortex-M FPU only (TT_DW_ROW4_ASM). */
/* a row of four / eight sums (s24-) += one tap row: d row in s16- times weights wa, wb, wc (kx = 0, 1, 2) */
#define TT_DW3_ROW4(wa, wb, wc) \
    "vmla.f32 s24, s17, " wa "\n\t" "vmla.f32 s25, s18, " wa "\n\t" "vmla.f32 s26, s19, " wa "\n\t" \
    "vmla.f32 s24, s16, " wb "\n\t" "vmla.f32 s25, s17, " wb "\n\t" "vmla.f32 s26, s18, " wb "\n\t" \
    "vmla.f32 s27, s19, " wb "\n\t" \
    "vmla.f32 s25, s16, " wc "\n\t" "vmla.f32 s26, s17, " wc "\n\t" "vmla.f32 s27, s18, " wc "\n\t"
#define TT_DW3_ROW8(wa, wb, wc) \
    "vmla.f32 s24, s17, " wa "\n\t" "vmla.f32 s25, s18, " wa "\n\t" "vmla.f32 s26, s19, " wa "\n\t" \
    "vmla.f32 s27, s20, " wa "\n\t" "vmla.f32 s28, s21, " wa "\n\t" "vmla.f32 s29, s22, " wa "\n\t" \
    "vmla.f32 s30, s23, " wa "\n\t" \
    "vmla.f32 s24, s16, " wb "\n\t" "vmla.f32 s25, s17, " wb "\n\t" "vmla.f32 s26, s18, " wb "\n\t" \
    "vmla.f32 s27, s19, " wb "\n\t" "vmla.f32 s28, s20, " wb "\n\t" "vmla.f32 s29, s21, " wb "\n\t" \
    "vmla.f32 s30, s22, " wb "\n\t" "vmla.f32 s31, s23, " wb "\n\t" \
    "vmla.f32 s25, s16, " wc "\n\t" "vmla.f32 s26, s17, " wc "\n\t" "vmla.f32 s27, s18, " wc "\n\t" \
    "vmla.f32 s28, s19, " wc "\n\t" "vmla.f32 s29, s20, " wc "\n\t" "vmla.f32 s30, s21, " wc "\n\t" \
    "vmla.f32 s31, s22, " wc "\n\t"
/* s0-s8 = scale * (float)wk[k], k < 9 (dw_scaled_taps' products): a channel's 3x3 taps, two bytes a VMOV */
#define TT_DW3_WEIGHTS \
    "ldrsb %[t0], [%[wk]]\n\t" "ldrsb %[t1], [%[wk], #1]\n\t" "vmov s0, s1, %[t0], %[t1]\n\t" \
    "ldrsb %[t0], [%[wk], #2]\n\t" "ldrsb %[t1], [%[wk], #3]\n\t" "vmov s2, s3, %[t0], %[t1]\n\t" \
    "ldrsb %[t0], [%[wk], #4]\n\t" "ldrsb %[t1], [%[wk], #5]\n\t" "vmov s4, s5, %[t0], %[t1]\n\t" \
    "ldrsb %[t0], [%[wk], #6]\n\t" "ldrsb %[t1], [%[wk], #7]\n\t" "vmov s6, s7, %[t0], %[t1]\n\t" \
    "ldrsb %[t0], [%[wk], #8]\n\t" "vmov s8, %[t0]\n\t" \
    "vcvt.f32.s32 s0, s0\n\t" "vcvt.f32.s32 s1, s1\n\t" "vcvt.f32.s32 s2, s2\n\t" \
    "vcvt.f32.s32 s3, s3\n\t" "vcvt.f32.s32 s4, s4\n\t" "vcvt.f32.s32 s5, s5\n\t" \
    "vcvt.f32.s32 s6, s6\n\t" "vcvt.f32.s32 s7, s7\n\t" "vcvt.f32.s32 s8, s8\n\t" \
    "vmul.f32 s0, s0, %[sc]\n\t" "vmul.f32 s1, s1, %[sc]\n\t" "vmul.f32 s2, s2, %[sc]\n\t" \
    "vmul.f32 s3, s3, %[sc]\n\t" "vmul.f32 s4, s4, %[sc]\n\t" "vmul.f32 s5, s5, %[sc]\n\t" \
    "vmul.f32 s6, s6, %[sc]\n\t" "vmul.f32 s7, s7, %[sc]\n\t" "vmul.f32 s8, s8, %[sc]\n\t"
/* the weights, then the first output row (tap rows 0 and 1: d rows 1, 0), the middle ones (d rows iy + 1, iy,
 * iy - 1), the last (tap rows 1 and 2: d rows h - 1, h - 2); q steps from row to row by VLDMDB's write-back and one
 * add a row (row, row2, row3: a row's bytes and their multiples, as "#n" immediates) */
#define TT_DW3_CHANNEL(qlist, alist, ROW, row, row2, row3) \
    __asm__ volatile( \
        TT_DW3_WEIGHTS \
        "vldmia %[z], {" alist "}\n\t" \
        "add %[q], %[q], " row "\n\t" \
        "vldmia %[q], {" qlist "}\n\t" \
        ROW("s0", "s1", "s2") \
        "vldmdb %[q]!, {" qlist "}\n\t" \
        ROW("s3", "s4", "s5") \
        "vstmia %[o]!, {" alist "}\n\t" \
        "add %[q], %[q], " row2 "\n\t" \
        "cmp %[n], #0\n\t" \
        "beq 2f\n\t" \
        "1:\n\t" \
        "vldmia %[z], {" alist "}\n\t" \
        "vldmia %[q], {" qlist "}\n\t" \
        ROW("s0", "s1", "s2") \
        "vldmdb %[q]!, {" qlist "}\n\t" \
        ROW("s3", "s4", "s5") \
        "vldmdb %[q]!, {" qlist "}\n\t" \
        ROW("s6", "s7", "s8") \
        "vstmia %[o]!, {" alist "}\n\t" \
        "add %[q], %[q], " row3 "\n\t" \
        "subs %[n], %[n], #1\n\t" \
        "bne 1b\n\t" \
        "2:\n\t" \
        "vldmia %[z], {" alist "}\n\t" \
        "vldmdb %[q]!, {" qlist "}\n\t" \
        ROW("s3", "s4", "s5") \
        "vldmdb %[q]!, {" qlist "}\n\t" \
        ROW("s6", "s7", "s8") \
        "vstmia %[o]!, {" alist "}\n\t" \
        : [q] "+r"(q), [o] "+r"(o), [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1) \
        : [wk] "r"(wk), [sc] "t"(scale), [z] "r"(zeros) \
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s16", "s17", "s18", "s19", "s20", "s21", "s22", \
          "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory")
/* dst[i] = src[i], i < 16 n (n >= 1, no overlap): sixteen floats a VLDM / VSTM pair (a channel of d copied
 * before tt_dw3_channel_f32 writes over it) */
static inline void tt_copy16_f32(float *dst, const float *src, int32_t n)
{
    __asm__ volatile(
        "1:\n\t"
        "vldmia %[s]!, {s16-s31}\n\t"
        "vstmia %[d]!, {s16-s31}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [s] "+r"(src), [d] "+r"(dst), [n] "+r"(n)
        :
        : "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30",
          "s31", "cc", "memory");
}
static inline void tt_dw3_channel_f32(float *o, const float *q, const int8_t *wk, float scale, int32_t h, int32_t w)
{
    static const float zeros[8];
    int32_t n = h - 2, t0, t1;
    if (w == 8)
        TT_DW3_CHANNEL("s16-s23", "s24-s31", TT_DW3_ROW8, "#32", "#64", "#96");
    else
        TT_DW3_CHANNEL("s16-s19", "s24-s27", TT_DW3_ROW4, "#16", "#32", "#48");
}
/* One channel of a 3x3 stride-2 depthwise input gradient with padding 1 at the top and the left, h = 2 oh rows of
 * 8 (oh >= 1) from d rows of 4: o[iy][ix] = sum over ky, then kx ascending of the terms whose d[(iy + 1 - ky) / 2]
 * [(ix + 1 - kx) / 2] exists (the quotient exact and inside the map) times scale * (float)wk[3 ky + kx], from +0:
 * the scatter's terms in its order. Row 2r takes tap row 1 from d row r, row 2r + 1 tap row 0 from d row r + 1 (if
 * any) then tap row 2 from d row r; in each, an even column 2c takes the tap kx = 1 from d column c and an odd one
 * 2c + 1 the taps kx = 0 (d column c + 1, if any) then kx = 2 (d column c). The weights in s0-s8, the rows of sums
 * in s24-s31, d rows r, r + 1 in s16-s19, s20-s23: 44 instructions a pair of output rows (the strided gather's
 * phases: about 380). Defined on a Cortex-M FPU only (TT_DW_ROW4_ASM). */
/* one tap row (weights wa, wb, wc: kx = 0, 1, 2) from a d row of four (q0-q3) into a row of eight sums */
#define TT_DW3S2_TAPS(q0, q1, q2, q3, wa, wb, wc) \
    "vmla.f32 s24, " q0 ", " wb "\n\t" "vmla.f32 s26, " q1 ", " wb "\n\t" "vmla.f32 s28, " q2 ", " wb "\n\t" \
    "vmla.f32 s30, " q3 ", " wb "\n\t" \
    "vmla.f32 s25, " q1 ", " wa "\n\t" "vmla.f32 s27, " q2 ", " wa "\n\t" "vmla.f32 s29, " q3 ", " wa "\n\t" \
    "vmla.f32 s25, " q0 ", " wc "\n\t" "vmla.f32 s27, " q1 ", " wc "\n\t" "vmla.f32 s29, " q2 ", " wc "\n\t" \
    "vmla.f32 s31, " q3 ", " wc "\n\t"
#define TT_DW3S2_LOW TT_DW3S2_TAPS("s16", "s17", "s18", "s19", "s6", "s7", "s8")
static inline void tt_dw3s2_channel_f32(float *o, const float *q, const int8_t *wk, float scale, int32_t oh)
{
    static const float zeros[8];
    int32_t n = oh - 1, t0, t1;
    __asm__ volatile(
        TT_DW3_WEIGHTS
        "cmp %[n], #0\n\t"
        "beq 2f\n\t"
        "1:\n\t"
        "vldmia %[z], {s24-s31}\n\t"
        "vldmia %[q]!, {s16-s19}\n\t"
        TT_DW3S2_TAPS("s16", "s17", "s18", "s19", "s3", "s4", "s5")
        "vstmia %[o]!, {s24-s31}\n\t"
        "vldmia %[z], {s24-s31}\n\t"
        "vldmia %[q], {s20-s23}\n\t"
        TT_DW3S2_TAPS("s20", "s21", "s22", "s23", "s0", "s1", "s2")
        TT_DW3S2_LOW
        "vstmia %[o]!, {s24-s31}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "2:\n\t"
        "vldmia %[z], {s24-s31}\n\t"
        "vldmia %[q], {s16-s19}\n\t"
        TT_DW3S2_TAPS("s16", "s17", "s18", "s19", "s3", "s4", "s5")
        "vstmia %[o]!, {s24-s31}\n\t"
        "vldmia %[z], {s24-s31}\n\t"
        TT_DW3S2_LOW
        "vstmia %[o], {s24-s31}\n\t"
        : [q] "+r"(q), [o] "+r"(o), [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1)
        : [wk] "r"(wk), [sc] "t"(scale), [z] "r"(zeros)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s16", "s17", "s18", "s19", "s20", "s21", "s22",
          "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30", "s31", "cc", "memory");
}
/* xt[4 p + j] = (float)(x[j * hw + p] - x_zero), j < 4, p < hw (hw >= 1): four int8 channels of hw values as
 * floats, transposed position by position for tt_mla_4x4_f32 (the integer difference converted, as in C); one
 * VSTM per position: 17 instructions per four values (GCC's loop over a channel at a time: about 14 a value). */
static inline void tt_int8_columns4_f32(float *xt, const int8_t *x, int32_t hw, int32_t x_zero)
{
    const int8_t *x1 = x + hw, *x2 = x1 + hw, *x3 = x2 + hw;
    int32_t t0, t1;
    __asm__ volatile(
        "1:\n\t"
        "ldrsb %[t0], [%[x0]], #1\n\t"
        "ldrsb %[t1], [%[x1]], #1\n\t"
        "sub %[t0], %[t0], %[z]\n\t"
        "sub %[t1], %[t1], %[z]\n\t"
        "vmov s0, s1, %[t0], %[t1]\n\t"
        "ldrsb %[t0], [%[x2]], #1\n\t"
        "ldrsb %[t1], [%[x3]], #1\n\t"
        "sub %[t0], %[t0], %[z]\n\t"
        "sub %[t1], %[t1], %[z]\n\t"
        "vmov s2, s3, %[t0], %[t1]\n\t"
        "vcvt.f32.s32 s0, s0\n\t"
        "vcvt.f32.s32 s1, s1\n\t"
        "vcvt.f32.s32 s2, s2\n\t"
        "vcvt.f32.s32 s3, s3\n\t"
        "vstmia %[xt]!, {s0-s3}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [xt] "+r"(xt), [x0] "+r"(x), [x1] "+r"(x1), [x2] "+r"(x2), [x3] "+r"(x3), [n] "+r"(hw), [t0] "=&r"(t0),
          [t1] "=&r"(t1)
        : [z] "r"(x_zero)
        : "s0", "s1", "s2", "s3", "cc", "memory");
}
#if defined(__ARM_FEATURE_DSP)
#define TT_INT8_WORDS4 1
/* tt_int8_columns4_f32 when hw % 4 == 0 and x is word-aligned: four positions a turn, each channel's four int8 by
 * one LDR and each value sign-extended and offset by -x_zero in one SXTAB (the same integer x - x_zero, converted
 * exactly), the turn's sixteen floats stored by one VSTM: 47 instructions per sixteen values (68 a value at a
 * time). Defined on a DSP core (TT_INT8_WORDS4). */
/* xt of one position (sa..sd: four S registers, as strings) from byte `ror` of the four channels' words */
#define TT_INT8_POSITION(sa, sb, sc, sd, ror) \
    "sxtab %[a], %[nz], %[t0]" ror "\n\t" \
    "sxtab %[b], %[nz], %[t1]" ror "\n\t" \
    "vmov " sa ", " sb ", %[a], %[b]\n\t" \
    "sxtab %[a], %[nz], %[t2]" ror "\n\t" \
    "sxtab %[b], %[nz], %[t3]" ror "\n\t" \
    "vmov " sc ", " sd ", %[a], %[b]\n\t"
/* The next four positions of the four channels at x0, x0 + hw, x2, x2 + hw as floats x - x_zero in s0-s15
 * (position-major: s0-s3 position 0's channels 0-3, ...), the two pointers moved on a word. */
#define TT_INT8_WORDS4_TO_S0_S15 \
        "ldr %[t1], [%[x0], %[hw]]\n\t" \
        "ldr %[t3], [%[x2], %[hw]]\n\t" \
        "ldr %[t0], [%[x0]], #4\n\t" \
        "ldr %[t2], [%[x2]], #4\n\t" \
        TT_INT8_POSITION("s0", "s1", "s2", "s3", "") \
        TT_INT8_POSITION("s4", "s5", "s6", "s7", ", ror #8") \
        TT_INT8_POSITION("s8", "s9", "s10", "s11", ", ror #16") \
        TT_INT8_POSITION("s12", "s13", "s14", "s15", ", ror #24") \
        "vcvt.f32.s32 s0, s0\n\t" "vcvt.f32.s32 s1, s1\n\t" "vcvt.f32.s32 s2, s2\n\t" "vcvt.f32.s32 s3, s3\n\t" \
        "vcvt.f32.s32 s4, s4\n\t" "vcvt.f32.s32 s5, s5\n\t" "vcvt.f32.s32 s6, s6\n\t" "vcvt.f32.s32 s7, s7\n\t" \
        "vcvt.f32.s32 s8, s8\n\t" "vcvt.f32.s32 s9, s9\n\t" "vcvt.f32.s32 s10, s10\n\t" "vcvt.f32.s32 s11, s11\n\t" \
        "vcvt.f32.s32 s12, s12\n\t" "vcvt.f32.s32 s13, s13\n\t" "vcvt.f32.s32 s14, s14\n\t" "vcvt.f32.s32 s15, s15\n\t"
static inline void tt_int8_words4_f32(float *xt, const int8_t *x, int32_t hw, int32_t x_zero)
{
    const int8_t *x2 = x + 2 * hw; /* channels 1 and 3 at +hw from x (channel 0) and x2 (channel 2) */
    int32_t n = hw >> 2, t0, t1, t2, t3, a, b;
    __asm__ volatile(
        "1:\n\t"
        TT_INT8_WORDS4_TO_S0_S15
        "vstmia %[xt]!, {s0-s15}\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [xt] "+r"(xt), [x0] "+r"(x), [x2] "+r"(x2), [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),
          [t3] "=&r"(t3), [a] "=&r"(a), [b] "=&r"(b)
        : [hw] "r"(hw), [nz] "r"(-x_zero)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "cc",
          "memory");
}
#endif
/* tt_dw_row4_f32 for eight neighbouring sums of a stride-1 row, kw 3, 5 or 7: o[j] = sum over tap rows r < rows (in
 * order) and kx ascending of q_r[j + kw - 1 - kx] * w_r[kx], j < 8, from +0 (the same terms in the same order as
 * two calls of tt_dw_row4_f32): a tap row's kw + 7 d values by one VLDM and its weights by another, 8 kw + 5
 * instructions per 8 kw multiply-adds (two rows of four: 8 kw + 10), and one call per eight sums. */
/* s0..s7 += eight d registers (as strings) times the weight register w */
#define TT_DW_MLA8(q0, q1, q2, q3, q4, q5, q6, q7, w) \
    TT_DW_MLA4(q0, q1, q2, q3, w) \
    "vmla.f32 s4, " q4 ", " w "\n\t" \
    "vmla.f32 s5, " q5 ", " w "\n\t" \
    "vmla.f32 s6, " q6 ", " w "\n\t" \
    "vmla.f32 s7, " q7 ", " w "\n\t"
#define TT_DW_ROW8(qlist, wlist, MLAS) \
    __asm__ volatile( \
        "vldmia %[z], {s0-s7}\n\t" \
        "cmp %[rows], #0\n\t" \
        "ble 2f\n\t" \
        "1:\n\t" \
        "vldmia %[q], {" qlist "}\n\t" \
        "sub %[q], %[q], %[step]\n\t" \
        "vldmia %[w]!, {" wlist "}\n\t" \
        MLAS \
        "subs %[rows], %[rows], #1\n\t" \
        "bne 1b\n\t" \
        "2:\n\t" \
        "vstmia %[o], {s0-s7}\n\t" \
        : [q] "+r"(q), [w] "+r"(w), [rows] "+r"(rows) \
        : [z] "r"(zeros), [o] "r"(o), [step] "r"(step) \
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", \
          "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "cc", "memory")
__attribute__((always_inline)) static inline void tt_dw_row8_f32(float *o, const float *q, int32_t q_step,
                                                             const float *w, int32_t rows, int32_t kw)
{
    static const float zeros[8];
    const int32_t step = q_step * (int32_t)sizeof(float);
    if (kw == 3)
        TT_DW_ROW8("s8-s17", "s18-s20",
                   TT_DW_MLA8("s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18")
                   TT_DW_MLA8("s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s19")
                   TT_DW_MLA8("s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s20"));
    else if (kw == 5)
        TT_DW_ROW8("s8-s19", "s20-s24",
                   TT_DW_MLA8("s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20")
                   TT_DW_MLA8("s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s21")
                   TT_DW_MLA8("s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s22")
                   TT_DW_MLA8("s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s23")
                   TT_DW_MLA8("s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s24"));
    else
        TT_DW_ROW8("s8-s21", "s22-s28",
                   TT_DW_MLA8("s14", "s15", "s16", "s17", "s18", "s19", "s20", "s21", "s22")
                   TT_DW_MLA8("s13", "s14", "s15", "s16", "s17", "s18", "s19", "s20", "s23")
                   TT_DW_MLA8("s12", "s13", "s14", "s15", "s16", "s17", "s18", "s19", "s24")
                   TT_DW_MLA8("s11", "s12", "s13", "s14", "s15", "s16", "s17", "s18", "s25")
                   TT_DW_MLA8("s10", "s11", "s12", "s13", "s14", "s15", "s16", "s17", "s26")
                   TT_DW_MLA8("s9", "s10", "s11", "s12", "s13", "s14", "s15", "s16", "s27")
                   TT_DW_MLA8("s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "s28"));
}
/* A 4 x 4 block of a 1x1 weight gradient: dw[o * dw_stride + j] = x_scale * sum over p < 2 pairs (in order) of
 * d[o * d_step + p] * xt[4 p + j], o, j < 4, each sum from +0 by VMLAs (tt_conv2d_grad_weight_f32.c's C loop,
 * bit for bit): xt holds four input channels' values transposed (position by position). The 16 sums stay in
 * s16-s31; two positions a pair, their eight input values in one VLDM and each row's two d values in one, two
 * pairs a turn: 75 instructions per 64 multiply-adds (one pair a turn: 78; the C loop: 27 per 16). Defined on a
 * Cortex-M FPU only (TT_GW_4X4_ASM). */
#define TT_GW_4X4_ASM 1
/* one pair of positions: eight input values, two d values a row, 32 multiply-adds */
#define TT_GW_PAIR \
    "vldmia %[xt]!, {s0-s7}\n\t" \
    "vldmia %[d0]!, {s8-s9}\n\t" \
    "vldmia %[d1]!, {s10-s11}\n\t" \
    "vldmia %[d2]!, {s12-s13}\n\t" \
    "vldmia %[d3]!, {s14-s15}\n\t" \
    "vmla.f32 s16, s8, s0\n\t" "vmla.f32 s17, s8, s1\n\t" "vmla.f32 s18, s8, s2\n\t" "vmla.f32 s19, s8, s3\n\t" \
    "vmla.f32 s20, s10, s0\n\t" "vmla.f32 s21, s10, s1\n\t" "vmla.f32 s22, s10, s2\n\t" "vmla.f32 s23, s10, s3\n\t" \
    "vmla.f32 s24, s12, s0\n\t" "vmla.f32 s25, s12, s1\n\t" "vmla.f32 s26, s12, s2\n\t" "vmla.f32 s27, s12, s3\n\t" \
    "vmla.f32 s28, s14, s0\n\t" "vmla.f32 s29, s14, s1\n\t" "vmla.f32 s30, s14, s2\n\t" "vmla.f32 s31, s14, s3\n\t" \
    "vmla.f32 s16, s9, s4\n\t" "vmla.f32 s17, s9, s5\n\t" "vmla.f32 s18, s9, s6\n\t" "vmla.f32 s19, s9, s7\n\t" \
    "vmla.f32 s20, s11, s4\n\t" "vmla.f32 s21, s11, s5\n\t" "vmla.f32 s22, s11, s6\n\t" "vmla.f32 s23, s11, s7\n\t" \
    "vmla.f32 s24, s13, s4\n\t" "vmla.f32 s25, s13, s5\n\t" "vmla.f32 s26, s13, s6\n\t" "vmla.f32 s27, s13, s7\n\t" \
    "vmla.f32 s28, s15, s4\n\t" "vmla.f32 s29, s15, s5\n\t" "vmla.f32 s30, s15, s6\n\t" "vmla.f32 s31, s15, s7\n\t"
static inline void tt_mla_4x4_f32(float *dw, int32_t dw_stride, const float *xt, const float *d, int32_t d_step,
                                  int32_t pairs, float x_scale)
{
    static const float zeros[16];
    const float *d1 = d + d_step, *d2 = d1 + d_step, *d3 = d2 + d_step;
    const int32_t stride = dw_stride * (int32_t)sizeof(float);
    /* stride and x_scale are memory operands: the M55 build has no core register left for them */
    __asm__ volatile(
        "vldmia %[z], {s16-s31}\n\t"
        "lsrs %[pairs], %[pairs], #1\n\t" /* a pair alone first when they are odd, then two a turn */
        "bcc 1f\n\t"
        TT_GW_PAIR
        "cmp %[pairs], #0\n\t"
        "beq 2f\n\t"
        "1:\n\t"
        TT_GW_PAIR
        TT_GW_PAIR
        "subs %[pairs], %[pairs], #1\n\t"
        "bne 1b\n\t"
        "2:\n\t"
        "vldr s0, %[scale]\n\t"
        "ldr %[d1], %[stride]\n\t"
        "vmul.f32 s16, s16, s0\n\t" "vmul.f32 s17, s17, s0\n\t" "vmul.f32 s18, s18, s0\n\t" "vmul.f32 s19, s19, s0\n\t"
        "vmul.f32 s20, s20, s0\n\t" "vmul.f32 s21, s21, s0\n\t" "vmul.f32 s22, s22, s0\n\t" "vmul.f32 s23, s23, s0\n\t"
        "vmul.f32 s24, s24, s0\n\t" "vmul.f32 s25, s25, s0\n\t" "vmul.f32 s26, s26, s0\n\t" "vmul.f32 s27, s27, s0\n\t"
        "vmul.f32 s28, s28, s0\n\t" "vmul.f32 s29, s29, s0\n\t" "vmul.f32 s30, s30, s0\n\t" "vmul.f32 s31, s31, s0\n\t"
        "vstmia %[dw], {s16-s19}\n\t"
        "add %[dw], %[dw], %[d1]\n\t"
        "vstmia %[dw], {s20-s23}\n\t"
        "add %[dw], %[dw], %[d1]\n\t"
        "vstmia %[dw], {s24-s27}\n\t"
        "add %[dw], %[dw], %[d1]\n\t"
        "vstmia %[dw], {s28-s31}\n\t"
        : [dw] "+r"(dw), [xt] "+r"(xt), [d0] "+r"(d), [d1] "+r"(d1), [d2] "+r"(d2), [d3] "+r"(d3), [pairs] "+r"(pairs)
        : [z] "r"(zeros), [stride] "m"(stride), [scale] "Uv"(x_scale)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
          "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30",
          "s31", "cc", "memory");
}
/* The rows a 4 x 4 block leaves (rows % 4 of them): two (tt_mla_2x4_f32) or one (tt_mla_1x4_f32) output channels
 * by the same four transposed input channels xt, over hw >= 1 positions: dw[o * dw_stride + j] = x_scale * sum
 * over p < hw (in order) of d[o * d_step + p] * xt[4 p + j], each sum from +0 by VMLAs (the C loop's, bit for
 * bit). An odd position alone first (p = 0), then pairs as in TT_GW_PAIR: 21 instructions per 16 multiply-adds
 * with two rows, 12 per 8 with one (the C loop converting each input value per multiply-add: about 9 a MAC). */
/* four sums a0..a3 (as strings) += the d value e times four input values v0..v3 */
#define TT_GW_MLA4(a0, a1, a2, a3, e, v0, v1, v2, v3) \
    "vmla.f32 " a0 ", " e ", " v0 "\n\t" "vmla.f32 " a1 ", " e ", " v1 "\n\t" \
    "vmla.f32 " a2 ", " e ", " v2 "\n\t" "vmla.f32 " a3 ", " e ", " v3 "\n\t"
#define TT_GW_ROW0(e, v0, v1, v2, v3) TT_GW_MLA4("s16", "s17", "s18", "s19", e, v0, v1, v2, v3)
#define TT_GW_ROW1(e, v0, v1, v2, v3) TT_GW_MLA4("s20", "s21", "s22", "s23", e, v0, v1, v2, v3)
/* the loop over positions around ONE (a position) and PAIR (two); n: the positions, then the pairs left */
#define TT_GW_POSITIONS(ONE, PAIR) \
    "lsrs %[n], %[n], #1\n\t" /* n = pairs; carry: an odd position, taken alone first (no flags set below) */ \
    "bcc 1f\n\t" \
    ONE \
    "1:\n\t" \
    "beq 3f\n\t" \
    "2:\n\t" \
    PAIR \
    "subs %[n], %[n], #1\n\t" \
    "bne 2b\n\t" \
    "3:\n\t"
static inline void tt_mla_2x4_f32(float *dw, int32_t dw_stride, const float *xt, const float *d, int32_t d_step,
                                  int32_t hw, float x_scale)
{
    static const float zeros[8];
    const float *d1 = d + d_step;
    const int32_t stride = dw_stride * (int32_t)sizeof(float);
    __asm__ volatile(
        "vldmia %[z], {s16-s23}\n\t"
        TT_GW_POSITIONS(
            "vldmia %[xt]!, {s0-s3}\n\t"
            "vldmia %[d0]!, {s8}\n\t"
            "vldmia %[d1]!, {s10}\n\t"
            TT_GW_ROW0("s8", "s0", "s1", "s2", "s3")
            TT_GW_ROW1("s10", "s0", "s1", "s2", "s3"),
            "vldmia %[xt]!, {s0-s7}\n\t"
            "vldmia %[d0]!, {s8-s9}\n\t"
            "vldmia %[d1]!, {s10-s11}\n\t"
            TT_GW_ROW0("s8", "s0", "s1", "s2", "s3")
            TT_GW_ROW1("s10", "s0", "s1", "s2", "s3")
            TT_GW_ROW0("s9", "s4", "s5", "s6", "s7")
            TT_GW_ROW1("s11", "s4", "s5", "s6", "s7"))
        "vldr s0, %[scale]\n\t"
        "ldr %[d1], %[stride]\n\t"
        "vmul.f32 s16, s16, s0\n\t" "vmul.f32 s17, s17, s0\n\t" "vmul.f32 s18, s18, s0\n\t" "vmul.f32 s19, s19, s0\n\t"
        "vmul.f32 s20, s20, s0\n\t" "vmul.f32 s21, s21, s0\n\t" "vmul.f32 s22, s22, s0\n\t" "vmul.f32 s23, s23, s0\n\t"
        "vstmia %[dw], {s16-s19}\n\t"
        "add %[dw], %[dw], %[d1]\n\t"
        "vstmia %[dw], {s20-s23}\n\t"
        : [dw] "+r"(dw), [xt] "+r"(xt), [d0] "+r"(d), [d1] "+r"(d1), [n] "+r"(hw)
        : [z] "r"(zeros), [stride] "m"(stride), [scale] "Uv"(x_scale)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s16", "s17", "s18", "s19",
          "s20", "s21", "s22", "s23", "cc", "memory");
}
static inline void tt_mla_1x4_f32(float *dw, const float *xt, const float *d, int32_t hw, float x_scale)
{
    static const float zeros[4];
    __asm__ volatile(
        "vldmia %[z], {s16-s19}\n\t"
        TT_GW_POSITIONS(
            "vldmia %[xt]!, {s0-s3}\n\t"
            "vldmia %[d0]!, {s8}\n\t"
            TT_GW_ROW0("s8", "s0", "s1", "s2", "s3"),
            "vldmia %[xt]!, {s0-s7}\n\t"
            "vldmia %[d0]!, {s8-s9}\n\t"
            TT_GW_ROW0("s8", "s0", "s1", "s2", "s3")
            TT_GW_ROW0("s9", "s4", "s5", "s6", "s7"))
        "vldr s0, %[scale]\n\t"
        "vmul.f32 s16, s16, s0\n\t" "vmul.f32 s17, s17, s0\n\t" "vmul.f32 s18, s18, s0\n\t" "vmul.f32 s19, s19, s0\n\t"
        "vstmia %[dw], {s16-s19}\n\t"
        : [xt] "+r"(xt), [d0] "+r"(d), [n] "+r"(hw)
        : [dw] "r"(dw), [z] "r"(zeros), [scale] "Uv"(x_scale)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s16", "s17", "s18", "s19", "cc", "memory");
}
#if defined(TT_INT8_WORDS4)
/* tt_mla_2x4_f32 of exactly two rows (d_step hw) straight from four int8 channels (hw % 4 == 0, x word-aligned):
 * tt_int8_words4_f32's conversion and the 2 x 4 block's multiply-adds in one loop, each turn's sixteen input values
 * kept in s0-s15 rather than stored and loaded back, the two rows' four d values by one VLDM each: 81 instructions
 * per 32 multiply-adds (the conversion and the block apart: 47 + 42). The same values, terms and order (p from
 * 0, each sum from +0), so the same floats. */
static inline void tt_mla_2x4_int8_f32(float *dw, int32_t dw_stride, const int8_t *x, int32_t hw, int32_t x_zero,
                                       const float *d, float x_scale)
{
    const int8_t *x2 = x + 2 * hw;
    const int32_t stride = dw_stride * (int32_t)sizeof(float);
    int32_t n = hw >> 2, t0, t1, t2, t3, a, b;
    __asm__ volatile(
        "movs %[a], #0\n\t"
        "vmov s16, s17, %[a], %[a]\n\t"
        "vmov s18, s19, %[a], %[a]\n\t"
        "vmov s20, s21, %[a], %[a]\n\t"
        "vmov s22, s23, %[a], %[a]\n\t"
        "1:\n\t"
        TT_INT8_WORDS4_TO_S0_S15
        "add %[t0], %[d0], %[hw], lsl #2\n\t" /* row 1's d: hw floats on */
        "vldmia %[t0], {s28-s31}\n\t"
        "vldmia %[d0]!, {s24-s27}\n\t"
        TT_GW_ROW0("s24", "s0", "s1", "s2", "s3")
        TT_GW_ROW1("s28", "s0", "s1", "s2", "s3")
        TT_GW_ROW0("s25", "s4", "s5", "s6", "s7")
        TT_GW_ROW1("s29", "s4", "s5", "s6", "s7")
        TT_GW_ROW0("s26", "s8", "s9", "s10", "s11")
        TT_GW_ROW1("s30", "s8", "s9", "s10", "s11")
        TT_GW_ROW0("s27", "s12", "s13", "s14", "s15")
        TT_GW_ROW1("s31", "s12", "s13", "s14", "s15")
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "vldr s0, %[scale]\n\t"
        "vmul.f32 s16, s16, s0\n\t" "vmul.f32 s17, s17, s0\n\t" "vmul.f32 s18, s18, s0\n\t" "vmul.f32 s19, s19, s0\n\t"
        "vmul.f32 s20, s20, s0\n\t" "vmul.f32 s21, s21, s0\n\t" "vmul.f32 s22, s22, s0\n\t" "vmul.f32 s23, s23, s0\n\t"
        "ldr %[a], %[dw]\n\t"
        "ldr %[b], %[stride]\n\t"
        "vstmia %[a], {s16-s19}\n\t"
        "add %[a], %[a], %[b]\n\t"
        "vstmia %[a], {s20-s23}\n\t"
        : [x0] "+r"(x), [x2] "+r"(x2), [d0] "+r"(d), [n] "+r"(n), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),
          [t3] "=&r"(t3), [a] "=&r"(a), [b] "=&r"(b)
        : [hw] "r"(hw), [nz] "r"(-x_zero), [dw] "m"(dw), [stride] "m"(stride), [scale] "Uv"(x_scale)
        : "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
          "s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23", "s24", "s25", "s26", "s27", "s28", "s29", "s30",
          "s31", "cc", "memory");
}
#endif
#endif

/* dst[i] = src[i], i < n (n >= 0, no overlap): four floats a VLDM / VSTM pair on a Cortex-M FPU (GCC's loop
 * moves one float per load and store), the rest one at a time. */
static inline void tt_copy_f32(float *dst, const float *src, int32_t n)
{
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__)
    int32_t fours = n >> 2;
    if (fours > 0)
        __asm__ volatile(
            "1:\n\t"
            "vldmia %[s]!, {s0-s3}\n\t"
            "vstmia %[d]!, {s0-s3}\n\t"
            "subs %[k], %[k], #1\n\t"
            "bne 1b\n\t"
            : [s] "+r"(src), [d] "+r"(dst), [k] "+r"(fours)
            :
            : "s0", "s1", "s2", "s3", "cc", "memory");
    n &= 3;
#endif
    for (int32_t i = 0; i < n; ++i) dst[i] = src[i];
}

/* dst[r * dst_step + i] = src[r * src_step + i], i < n, r < rows (no overlap): tt_copy_f32 row by row; on a
 * Cortex-M FPU, rows of a multiple of 4 floats one after another in src in one asm loop (a row of four: 5
 * instructions; a call of tt_copy_f32 per row about 20). */
static inline void tt_copy_rows_f32(float *dst, int32_t dst_step, const float *src, int32_t src_step, int32_t n,
                                    int32_t rows)
{
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__)
    if (n > 0 && (n & 3) == 0 && src_step == n && rows > 0) {
        const int32_t skip = (dst_step - n) * (int32_t)sizeof(float), fours = n >> 2;
        int32_t k;
        __asm__ volatile(
            "1:\n\t"
            "mov %[k], %[fours]\n\t"
            "2:\n\t"
            "vldmia %[s]!, {s0-s3}\n\t"
            "vstmia %[d]!, {s0-s3}\n\t"
            "subs %[k], %[k], #1\n\t"
            "bne 2b\n\t"
            "add %[d], %[d], %[skip]\n\t"
            "subs %[rows], %[rows], #1\n\t"
            "bne 1b\n\t"
            : [s] "+r"(src), [d] "+r"(dst), [rows] "+r"(rows), [k] "=&r"(k)
            : [fours] "r"(fours), [skip] "r"(skip)
            : "s0", "s1", "s2", "s3", "cc", "memory");
        return;
    }
#endif
    for (int32_t r = 0; r < rows; ++r) tt_copy_f32(dst + r * dst_step, src + r * src_step, n);
}

/* acc + p[0] + p[1] + ... + p[8 n - 1], added one at a time in order (a float sum's order is its value),
 * n >= 1. On a Cortex-M FPU one asm loop, eight values a VLDM: 11 instructions per 8 adds against about
 * 4 an add for the C loop. Defined there only (TT_SUM8_ASM). */
#if defined(__ARM_FP) && (__ARM_FP & 4) && defined(__thumb2__)
#define TT_SUM8_ASM 1
static inline float tt_sum8_f32(float acc, const float *p, int32_t n)
{
    __asm__ volatile(
        "1:\n\t"
        "vldmia %[p]!, {s8-s15}\n\t"
        "vadd.f32 %[acc], %[acc], s8\n\t"
        "vadd.f32 %[acc], %[acc], s9\n\t"
        "vadd.f32 %[acc], %[acc], s10\n\t"
        "vadd.f32 %[acc], %[acc], s11\n\t"
        "vadd.f32 %[acc], %[acc], s12\n\t"
        "vadd.f32 %[acc], %[acc], s13\n\t"
        "vadd.f32 %[acc], %[acc], s14\n\t"
        "vadd.f32 %[acc], %[acc], s15\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [acc] "+t"(acc), [p] "+r"(p), [n] "+r"(n)
        :
        : "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15", "cc", "memory");
    return acc;
}
#endif

/* Output positions [*lo, *hi) along one axis whose input position o * stride + tap - pad lies
 * inside [0, n_in): the positions where kernel tap `tap` reads the input rather than padding. */
static inline void tt_tap_range(int32_t tap, int32_t pad, int32_t stride, int32_t n_in, int32_t n_out,
                                int32_t *lo, int32_t *hi)
{
    int32_t first = pad - tap;            /* o * stride >= first */
    int32_t last = n_in - 1 + pad - tap;  /* o * stride <= last */
    int32_t a = first <= 0 ? 0 : (first + stride - 1) / stride;
    int32_t b = last < 0 ? 0 : last / stride + 1;
    if (b > n_out) b = n_out;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* 1 if `out` is the output of a window kh x kw with these stride/padding over `in` (spatially). */
static inline int tt_window_dims_ok(tt_dims in, tt_dims out, int32_t kh, int32_t kw, const tt_conv_params *p)
{
    if (in.c <= 0 || in.h <= 0 || in.w <= 0 || out.c <= 0 || out.h <= 0 || out.w <= 0 || kh <= 0 || kw <= 0)
        return 0;
    if (p->stride <= 0 || p->pad_top < 0 || p->pad_left < 0 || p->pad_bottom < 0 || p->pad_right < 0)
        return 0;
    int32_t hp = in.h + p->pad_top + p->pad_bottom, wp = in.w + p->pad_left + p->pad_right;
    return hp >= kh && wp >= kw && out.h == (hp - kh) / p->stride + 1 && out.w == (wp - kw) / p->stride + 1;
}

/* dx[c][p] = sum over o (in order) of d[o][p] * (w_scale[o] * w[o * w_stride + c]) for c < channels,
 * p < hw: the input gradient of a stride-1 unpadded pointwise conv (tt_conv2d_grad_input_f32.c). */
void tt_pointwise_grad_input_f32(const float *d, int32_t out_c, int32_t hw, const int8_t *w, int32_t w_stride,
                                 const float *w_scale, int32_t channels, float *dx);

#endif /* TT_FLOAT_UTIL_H */
