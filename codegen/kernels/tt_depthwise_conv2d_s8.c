/*
 * Depthwise int8 conv (groups == in.c == out.c), any kh x kw, stride and asymmetric padding.
 * Layout: x (C, in.h, in.w), w (C, 1, kh, kw), y (C, out.h, out.w).
 *   y[c, oy, ox] = requant(bias[c] + sum over ky, kx of
 *                  (x[c, oy*s + ky - pad_top, ox*s + kx - pad_left] - x_zero) * w[c, 0, ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped).
 * TT_ERR_ARG: as tt_conv_args_ok (tt_requant.h), or groups != in.c or out.c != in.c.
 *
 * Cortex-M path (TT_USE_DSP): outputs whose window lies inside the input are computed four
 * neighbours at a time along a row from raw int8 values, the zero point folded into the start value
 * (bias - x_zero * sum w, exact in integers). Stride 1 and 2 take taps in fours through SMLAD
 * (SXTB16 of one 32-bit load gives the (x_t, x_t+2), (x_t+1, x_t+3) pairs that meet the weight
 * pairs of one 32-bit weight load); 3x3 at stride 1 and 2 have their own rows of SMLAD + SMLABB /
 * SMLATB, which also take the last three taps of a 7-wide window; other strides one weight per four
 * multiply-adds. Each window shape has a loop of its own (rows4_*), the requantization of a layer that
 * is not in the SSAT form a call outside it, so that sums and weights stay in registers. Padded inputs are copied into a stack
 * buffer bordered with x_zero (DW_PADDED_BYTES: a whole channel of a small map, else the kh rows of
 * one output row), where every output is an inside one; only maps too wide for that take the
 * portable loop at their borders. 3x3 channels of a small padded map in the SSAT form take a row at a time
 * through an asm loop (padded_channels_ssat). The int32 sums are the same integers as the portable loop's, so
 * the output is identical bit for bit.
 *
 * x86-64 path (__AVX2__, host builds with -march=native; strides 1 and 2, padded channels up to
 * 16 KB): sixteen outputs of a row at a time from a padded channel copy, tt_depthwise_avx2.h.
 */
#include "tt_depthwise_avx2.h"
#include "tt_depthwise_strided.h"
#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
#include "tt_dsp.h"

/* Stack bytes for one zero-point-padded channel or kh padded rows (see the top of the file) */
#define DW_PADDED_BYTES 512

#endif

/* bias + the window sum of one output; (iy0, ix0) is the window's top-left input position. */
static int32_t window_sum(const int8_t *xc, tt_dims in, const int8_t *wc, int32_t kh, int32_t kw, int32_t iy0,
                          int32_t ix0, int32_t x_zero, int32_t acc)
{
    const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in.h - iy0 < kh ? in.h - iy0 : kh;
    const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in.w - ix0 < kw ? in.w - ix0 : kw;
    for (int32_t ky = ky0; ky < ky1; ky++) {
        const int8_t *xr = xc + (iy0 + ky) * in.w + ix0, *wr = wc + ky * kw;
        for (int32_t kx = kx0; kx < kx1; kx++)
            acc += (xr[kx] - x_zero) * wr[kx];
    }
    return acc;
}

#if TT_USE_DSP
/* The four outputs whose windows start at x[0], x[s], x[2s], x[3s] (all inside the input): window
 * sums of raw int8 values added to *a0 .. *a3 (the caller folds in -x_zero * sum w). */

/* Any stride: one weight at a time, four multiply-adds per weight load. */
static inline void window4(const int8_t *x, int32_t in_w, int32_t s, const int8_t *wc, int32_t kh, int32_t kw,
                           int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    int32_t r0 = *a0, r1 = *a1, r2 = *a2, r3 = *a3;
    for (int32_t ky = 0; ky < kh; ky++, x += in_w, wc += kw)
        for (int32_t kx = 0; kx < kw; kx++) {
            const int32_t wv = wc[kx];
            r0 += x[kx] * wv;
            r1 += x[kx + s] * wv;
            r2 += x[kx + 2 * s] * wv;
            r3 += x[kx + 3 * s] * wv;
        }
    *a0 = r0, *a1 = r1, *a2 = r2, *a3 = r3;
}

/* 3x3, stride 1: per row, with bytes x0..x5, (x0, x2) (x1, x3) (x2, x4) (x3, x5) by SXTB16 of the
 * words at x and x + 2, times (w0, w2) through SMLAD, and the middle taps x1..x4 times w1 through
 * SMLABB / SMLATB. w02 = (w[ky][0], w[ky][2]) as int16x2, w1 = w[ky][1]. Reads x[0 .. 5]. */
static inline void row4_3x3_dsp(const int8_t *x, int32_t w02, int32_t w1, int32_t *r0, int32_t *r1, int32_t *r2,
                                int32_t *r3)
{
    const uint32_t v0 = tt_load32(x), v2 = tt_load32(x + 2); /* bytes x0..x3, x2..x5 */
    const int32_t e02 = __sxtb16((int32_t)v0), o13 = tt_sxtb16_ror8(v0);
    const int32_t e24 = __sxtb16((int32_t)v2), o35 = tt_sxtb16_ror8(v2);
    *r0 = __smlabb(o13, w1, __smlad(e02, w02, *r0)); /* x0, x2; x1 */
    *r1 = __smlatb(e02, w1, __smlad(o13, w02, *r1)); /* x1, x3; x2 */
    *r2 = __smlatb(o13, w1, __smlad(e24, w02, *r2)); /* x2, x4; x3 */
    *r3 = __smlatb(e24, w1, __smlad(o35, w02, *r3)); /* x3, x5; x4 */
}

/* 3x3, stride 2: per row, with bytes x0..x8, (x0, x2) (x2, x4) (x4, x6) (x6, x8) times (w0, w2) through
 * SMLAD (SXTB16 of the words x0..x3 and x4..x7, two PKH, x8 alone) and the middle taps x1, x3, x5, x7
 * times w1 through SMLABB / SMLATB. Reads x[ky * in_w + 0 .. 8], the four windows. */
static inline void row4_3x3_s2_dsp(const int8_t *x, int32_t w02, int32_t w1, int32_t *r0, int32_t *r1,
                                   int32_t *r2, int32_t *r3)
{
    const uint32_t v0 = tt_load32(x), v1 = tt_load32(x + 4);
    const int32_t e02 = __sxtb16((int32_t)v0), o13 = tt_sxtb16_ror8(v0); /* (x0, x2), (x1, x3) */
    const int32_t e46 = __sxtb16((int32_t)v1), o57 = tt_sxtb16_ror8(v1); /* (x4, x6), (x5, x7) */
    const int32_t e24 = (int32_t)tt_pack_hi((uint32_t)e02, (uint32_t)e46 << 16);   /* (x2, x4) */
    const int32_t e68 = (int32_t)tt_pack_hi((uint32_t)e46, (uint32_t)x[8] << 16);  /* (x6, x8) */
    *r0 = __smlabb(o13, w1, __smlad(e02, w02, *r0));
    *r1 = __smlatb(o13, w1, __smlad(e24, w02, *r1));
    *r2 = __smlabb(o57, w1, __smlad(e46, w02, *r2));
    *r3 = __smlatb(o57, w1, __smlad(e68, w02, *r3));
}

/* Any kernel, stride 1. Per row, taps in fours (t .. t+3): weights (w_t, w_t+2), (w_t+1, w_t+3) from
 * one load; output j needs (x[j+t], x[j+t+2]) and (x[j+t+1], x[j+t+3]), which SXTB16 takes from the
 * loads at x + t and x + t + 2 (and (x[t+4], x[t+6]) for output 3): 16 multiply-adds in 20
 * instructions. The last kw % 4 taps: three as a 3x3 row (row4_3x3_dsp), else one at a time: (x_t, x_t+2),
 * (x_t+1, x_t+3) through SMLABB / SMLATB. Reads x[ky * in_w + 0 .. kw + 2], the four windows, nothing
 * outside. */
static inline void window4_s1_dsp(const int8_t *x, int32_t in_w, const int8_t *wc, int32_t kh, int32_t kw,
                                  int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    int32_t r0 = *a0, r1 = *a1, r2 = *a2, r3 = *a3;
    const int32_t kw4 = kw & ~3;
    for (int32_t ky = 0; ky < kh; ky++, x += in_w, wc += kw) {
        int32_t t = 0;
        for (; t < kw4; t += 4) {
            const uint32_t wv = tt_load32(wc + t), v = tt_load32(x + t), m = tt_load32(x + t + 2);
            const int32_t w02 = __sxtb16((int32_t)wv), w13 = tt_sxtb16_ror8(wv);
            const int32_t e02 = __sxtb16((int32_t)v), o13 = tt_sxtb16_ror8(v);
            const int32_t e24 = __sxtb16((int32_t)m), o35 = tt_sxtb16_ror8(m);
            const int32_t e46 = (int32_t)tt_pack_lo((uint32_t)(int32_t)x[t + 4], (uint32_t)(int32_t)x[t + 6]);
            r0 = __smlad(e02, w02, r0);
            r0 = __smlad(o13, w13, r0);
            r1 = __smlad(o13, w02, r1);
            r1 = __smlad(e24, w13, r1);
            r2 = __smlad(e24, w02, r2);
            r2 = __smlad(o35, w13, r2);
            r3 = __smlad(o35, w02, r3);
            r3 = __smlad(e46, w13, r3);
        }
        if (kw - t == 3) { /* three taps left (kw 7): as a 3x3 kernel's row */
            const int32_t w02 = (int32_t)tt_pack_lo((uint32_t)(int32_t)wc[t], (uint32_t)(int32_t)wc[t + 2]);
            row4_3x3_dsp(x + t, w02, wc[t + 1], &r0, &r1, &r2, &r3);
            t = kw;
        }
        for (; t < kw; t++) {
            const int32_t wv = wc[t];
            const uint32_t v = tt_load32(x + t);
            const int32_t e = __sxtb16((int32_t)v), o = tt_sxtb16_ror8(v); /* (x_t, x_t+2), (x_t+1, x_t+3) */
            r0 = __smlabb(e, wv, r0);
            r1 = __smlabb(o, wv, r1);
            r2 = __smlatb(e, wv, r2);
            r3 = __smlatb(o, wv, r3);
        }
    }
    *a0 = r0, *a1 = r1, *a2 = r2, *a3 = r3;
}

/* Any kernel, stride 2. Output j's taps t .. t+3 are the bytes at x + 2j + t: one load, SXTB16 gives
 * (x_t, x_t+2) and (x_t+1, x_t+3) for the weight pairs (w_t, w_t+2), (w_t+1, w_t+3). The last kw % 4
 * taps: three as a 3x3 row at stride 2 (row4_3x3_s2_dsp), else one at a time: outputs 0, 1 from (x_t,
 * x_t+2), outputs 2, 3 from (x_t+4, x_t+6) (two byte loads: a word would read past output 3's window).
 * Reads the four windows, nothing outside. */
static inline void window4_s2_dsp(const int8_t *x, int32_t in_w, const int8_t *wc, int32_t kh, int32_t kw,
                                  int32_t *a0, int32_t *a1, int32_t *a2, int32_t *a3)
{
    int32_t r0 = *a0, r1 = *a1, r2 = *a2, r3 = *a3;
    const int32_t kw4 = kw & ~3;
    for (int32_t ky = 0; ky < kh; ky++, x += in_w, wc += kw) {
        int32_t t = 0;
        for (; t < kw4; t += 4) {
            const uint32_t wv = tt_load32(wc + t);
            const int32_t w02 = __sxtb16((int32_t)wv), w13 = tt_sxtb16_ror8(wv);
            const uint32_t v0 = tt_load32(x + t), v1 = tt_load32(x + t + 2), v2 = tt_load32(x + t + 4),
                           v3 = tt_load32(x + t + 6);
            r0 = __smlad(__sxtb16((int32_t)v0), w02, r0);
            r0 = __smlad(tt_sxtb16_ror8(v0), w13, r0);
            r1 = __smlad(__sxtb16((int32_t)v1), w02, r1);
            r1 = __smlad(tt_sxtb16_ror8(v1), w13, r1);
            r2 = __smlad(__sxtb16((int32_t)v2), w02, r2);
            r2 = __smlad(tt_sxtb16_ror8(v2), w13, r2);
            r3 = __smlad(__sxtb16((int32_t)v3), w02, r3);
            r3 = __smlad(tt_sxtb16_ror8(v3), w13, r3);
        }
        if (kw - t == 3) { /* three taps left (kw 7): as a 3x3 kernel's row at stride 2 */
            const int32_t w02 = (int32_t)tt_pack_lo((uint32_t)(int32_t)wc[t], (uint32_t)(int32_t)wc[t + 2]);
            row4_3x3_s2_dsp(x + t, w02, wc[t + 1], &r0, &r1, &r2, &r3);
            t = kw;
        }
        for (; t < kw; t++) {
            const int32_t wv = wc[t];
            uint16_t lo;
            memcpy(&lo, x + t, 2);
            const int32_t e01 = __sxtb16((int32_t)(lo | ((uint32_t)(uint8_t)x[t + 2] << 16))); /* (x_t, x_t+2) */
            const int32_t e23 = (int32_t)tt_pack_lo((uint32_t)(int32_t)x[t + 4], (uint32_t)(int32_t)x[t + 6]);
            r0 = __smlabb(e01, wv, r0);
            r1 = __smlatb(e01, wv, r1);
            r2 = __smlabb(e23, wv, r2);
            r3 = __smlatb(e23, wv, r3);
        }
    }
    *a0 = r0, *a1 = r1, *a2 = r2, *a3 = r3;
}

/* How one channel's sums become int8: the SSAT form (tt_requantize_hi_ssat, tt_ssat_form; every layer of
 * the paper's backbones) inline, anything else through tt_requantize in a call of its own, so that the
 * general formula's 64-bit arithmetic stays out of the loops' registers. */
typedef struct {
    int32_t start, mult, shift, t, k, zero, lo, hi, ssat;
} dw_requant;

static __attribute__((noinline)) void requant4_any(int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                   const dw_requant *r, int8_t *y)
{
    y[0] = tt_requantize(a0, r->mult, r->shift, r->zero, r->lo, r->hi);
    y[1] = tt_requantize(a1, r->mult, r->shift, r->zero, r->lo, r->hi);
    y[2] = tt_requantize(a2, r->mult, r->shift, r->zero, r->lo, r->hi);
    y[3] = tt_requantize(a3, r->mult, r->shift, r->zero, r->lo, r->hi);
}

static inline void store4(int32_t a0, int32_t a1, int32_t a2, int32_t a3, const dw_requant *r, int8_t *y)
{
    if (r->ssat) {
        const int32_t m = r->mult, t = r->t, k = r->k;
        y[0] = tt_requantize_hi_ssat(a0, m, t, k);
        y[1] = tt_requantize_hi_ssat(a1, m, t, k);
        y[2] = tt_requantize_hi_ssat(a2, m, t, k);
        y[3] = tt_requantize_hi_ssat(a3, m, t, k);
    } else {
        requant4_any(a0, a1, a2, a3, r, y);
    }
}

/* The weight words of a 3x3 window: w02[ky] = (w[ky][0], w[ky][2]) as int16x2, w1[ky] = w[ky][1]. */
static void weights_3x3(const int8_t *wc, int32_t w02[3], int32_t w1[3])
{
    for (int32_t ky = 0; ky < 3; ky++) {
        w02[ky] = (int32_t)(((uint32_t)wc[3 * ky] & 0xFFFFu) | ((uint32_t)wc[3 * ky + 2] << 16));
        w1[ky] = wc[3 * ky + 1];
    }
}

/* Outputs [0, n4) (n4 a multiple of 4) of `rows` rows of a 3x3 stride-1 channel; see interior_rows_dsp.
 * A function of its own: its sums, weight words and pointers fit the registers. */
static __attribute__((noinline)) void rows4_3x3_s1(const int8_t *x, int32_t in_w, int32_t x_step, const int8_t *wc,
                                                   int32_t n4, int32_t rows, const dw_requant *rq, int8_t *yr,
                                                   int32_t y_step)
{
    int32_t w02[3], w1[3];
    weights_3x3(wc, w02, w1);
    for (int32_t r = 0; r < rows; r++, x += x_step, yr += y_step) {
        const int8_t *xr = x;
        for (int8_t *y = yr, *end = yr + n4; y < end; y += 4, xr += 4) {
            int32_t r0 = rq->start, r1 = r0, r2 = r0, r3 = r0;
            row4_3x3_dsp(xr, w02[0], w1[0], &r0, &r1, &r2, &r3);
            row4_3x3_dsp(xr + in_w, w02[1], w1[1], &r0, &r1, &r2, &r3);
            row4_3x3_dsp(xr + 2 * in_w, w02[2], w1[2], &r0, &r1, &r2, &r3);
            store4(r0, r1, r2, r3, rq, y);
        }
    }
}

/* As rows4_3x3_s1 for stride 2 (row4_3x3_s2_dsp). */
static __attribute__((noinline)) void rows4_3x3_s2(const int8_t *x, int32_t in_w, int32_t x_step, const int8_t *wc,
                                                   int32_t n4, int32_t rows, const dw_requant *rq, int8_t *yr,
                                                   int32_t y_step)
{
    int32_t w02[3], w1[3];
    weights_3x3(wc, w02, w1);
    for (int32_t r = 0; r < rows; r++, x += x_step, yr += y_step) {
        const int8_t *xr = x;
        for (int8_t *y = yr, *end = yr + n4; y < end; y += 4, xr += 8) {
            int32_t r0 = rq->start, r1 = r0, r2 = r0, r3 = r0;
            row4_3x3_s2_dsp(xr, w02[0], w1[0], &r0, &r1, &r2, &r3);
            row4_3x3_s2_dsp(xr + in_w, w02[1], w1[1], &r0, &r1, &r2, &r3);
            row4_3x3_s2_dsp(xr + 2 * in_w, w02[2], w1[2], &r0, &r1, &r2, &r3);
            store4(r0, r1, r2, r3, rq, y);
        }
    }
}

#if defined(__thumb2__)
/* Pieces of the asm rows below. Operands: x (the row of the group's first window), pw (row pitch), cp (the channel's
 * constants), y, the sums a0..a3, the loaded words e, o (f), and the weight registers each row names. */
#define DW_MLA(OP, A, R, W) OP " %[" #A "], %[" #R "], %[" #W "], %[" #A "]\n\t"
/* e = (x[off], x[off + 2]), o = (x[off + 1], x[off + 3]): SXTB16 of the word at x + off */
#define DW_PAIRS(OFF) "ldr %[e], [%[x], #" #OFF "]\n\t" "sxtb16 %[o], %[e], ror #8\n\t" "sxtb16 %[e], %[e]\n\t"
#define DW_NEXT_ROW "add %[x], %[x], %[pw]\n\t"
/* the loop's head: a0..a3 = start from cp + S */
#define DW_START(S, S8) "1:\n\t" "ldrd %[a0], %[a1], [%[cp], #" #S "]\n\t" "ldrd %[a2], %[a3], [%[cp], #" #S8 "]\n\t"
/* a0..a3 requantized in the SSAT form (m, k from cp + MK into M, K; t from cp + T into e) and stored; the loop's
 * tail: again while y is not the row's end (cp + END, into Z) */
#define DW_REQUANT(MK, T, M, K)                                                                                       \
    "ldrd %[" #M "], %[" #K "], [%[cp], #" #MK "]\n\t" "ldr %[e], [%[cp], #" #T "]\n\t"                             \
    DW_SSAT(a0, M, K) DW_SSAT(a1, M, K) DW_SSAT(a2, M, K) DW_SSAT(a3, M, K)                                          \
    "strb %[a0], [%[y]], #1\n\t" "strb %[a1], [%[y]], #1\n\t" "strb %[a2], [%[y]], #1\n\t"                          \
    "strb %[a3], [%[y]], #1\n\t"
#define DW_REQUANT_NEXT(MK, T, M, K, END, Z)                                                                          \
    DW_REQUANT(MK, T, M, K) "ldr %[" #Z "], [%[cp], #" #END "]\n\t" "cmp %[y], %[" #Z "]\n\t" "bne 1b"
/* The 3x3 rows' tail: at the row's end (cp + END, into Z) on to the next row while y is not at the last row's end
 * (cp + END + 4): the row's end moved by n4 (cp + END + 8), x by the skip from one row's end to the next's first
 * window (cp + END + 12), so that a channel's rows take one call */
#define DW_NEXT_ROWS(END, LAST, N4, SKIP, Z)                                                                          \
    "ldr %[" #Z "], [%[cp], #" #END "]\n\t" "cmp %[y], %[" #Z "]\n\t" "bne 1b\n\t"                                 \
    "ldr %[e], [%[cp], #" #LAST "]\n\t" "cmp %[y], %[e]\n\t" "beq 2f\n\t"                                          \
    "ldr %[e], [%[cp], #" #N4 "]\n\t" "add %[" #Z "], %[" #Z "], %[e]\n\t" "str %[" #Z "], [%[cp], #" #END "]\n\t" \
    "ldr %[e], [%[cp], #" #SKIP "]\n\t" "add %[x], %[x], %[e]\n\t" "b 1b\n\t" "2:"
#define DW_SSAT(A, M, K)                                                                                              \
    "smmla %[" #A "], %[" #A "], %[" #M "], %[" #K "]\n\t" "asr %[" #A "], %[" #A "], %[e]\n\t"                      \
    "ssat %[" #A "], #8, %[" #A "]\n\t"
#define DW_OPERANDS [x] "+r"(x), [y] "+r"(y), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3)
#define DW_INPUTS [pw] "r"(pw), [cp] "r"(cp)

/* One row of kernel taps of four outputs of a 3x3 channel, (w02, w1) from cp + W: at stride 1 (x0..x5) the words
 * at x, x + 2 give (x0, x2), (x1, x3), (x2, x4), (x3, x5) for (w0, w2) and the middle taps for w1 (SMLABB / SMLATB);
 * at stride 2 one load an output, whose SXTB16 give its even taps and (ror 8) its middle one. */
#define DW_ROW3_S1(W)                                                                                                 \
    "ldrd %[w02], %[w1], [%[cp], #" #W "]\n\t" "ldr %[e], [%[x]]\n\t" "ldr %[f], [%[x], #2]\n\t"                     \
    "sxtb16 %[o], %[e], ror #8\n\t" "sxtb16 %[e], %[e]\n\t"                                                         \
    DW_MLA("smlad", a0, e, w02) DW_MLA("smlabb", a0, o, w1) DW_MLA("smlad", a1, o, w02) DW_MLA("smlatb", a1, e, w1)  \
    "sxtb16 %[e], %[f]\n\t" "sxtb16 %[f], %[f], ror #8\n\t"                                                         \
    DW_MLA("smlad", a2, e, w02) DW_MLA("smlatb", a2, o, w1) DW_MLA("smlad", a3, f, w02) DW_MLA("smlatb", a3, e, w1)
/* At stride 2 (x0..x8) the words at x, x + 4 give (x0, x2), (x4, x6) for (w0, w2) and the middle taps x1, x3, x5, x7;
 * outputs 1 and 3 take (x4, x2) and (x8, x6) by PKHBT (x8 a byte load) and SMLADX: 18 instructions a row of four, where
 * one load and two SXTB16 an output took 21. */
#define DW_ROW3_S2(W)                                                                                                 \
    "ldrd %[w02], %[w1], [%[cp], #" #W "]\n\t" "ldr %[e], [%[x]]\n\t"                                             \
    "sxtb16 %[o], %[e], ror #8\n\t" "sxtb16 %[e], %[e]\n\t"                                                         \
    DW_MLA("smlad", a0, e, w02) DW_MLA("smlabb", a0, o, w1) DW_MLA("smlatb", a1, o, w1)                             \
    "ldr %[f], [%[x], #4]\n\t" "sxtb16 %[o], %[f]\n\t" "pkhbt %[e], %[o], %[e]\n\t"                               \
    DW_MLA("smladx", a1, e, w02) DW_MLA("smlad", a2, o, w02)                                                         \
    "sxtb16 %[f], %[f], ror #8\n\t" DW_MLA("smlabb", a2, f, w1) DW_MLA("smlatb", a3, f, w1)                         \
    "ldrsb %[e], [%[x], #8]\n\t" "pkhbt %[e], %[e], %[o]\n\t" DW_MLA("smladx", a3, e, w02)

/* One row of a 5x5 channel, (w02, w13, w4) from cp + W. Stride 1: the words at x, x + 2, x + 4 give each output's
 * pairs for (w0, w2), (w1, w3) and its fifth tap (SMLABB / SMLATB). Stride 2: output j's first four taps from the
 * word at x + 2j, the fifth from the word at x + 2j + 4 (outputs 0, 1) or a byte load (2, 3). */
#define DW_ROW5_S1(W, W4)                                                                                             \
    "ldrd %[w02], %[w13], [%[cp], #" #W "]\n\t" "ldr %[w4], [%[cp], #" #W4 "]\n\t"                                 \
    DW_PAIRS(0) DW_MLA("smlad", a0, e, w02) DW_MLA("smlad", a0, o, w13) DW_MLA("smlad", a1, o, w02)                \
    DW_PAIRS(2) DW_MLA("smlad", a1, e, w13) DW_MLA("smlad", a2, e, w02) DW_MLA("smlad", a2, o, w13)                \
    DW_MLA("smlad", a3, o, w02)                                                                                     \
    DW_PAIRS(4) DW_MLA("smlabb", a0, e, w4) DW_MLA("smlabb", a1, o, w4) DW_MLA("smlatb", a2, e, w4)                \
    DW_MLA("smlad", a3, e, w13) DW_MLA("smlatb", a3, o, w4)
#define DW_ROW5_S2(W, W4)                                                                                             \
    "ldrd %[w02], %[w13], [%[cp], #" #W "]\n\t" "ldr %[w4], [%[cp], #" #W4 "]\n\t"                                 \
    DW_PAIRS(0) DW_MLA("smlad", a0, e, w02) DW_MLA("smlad", a0, o, w13)                                             \
    DW_PAIRS(2) DW_MLA("smlad", a1, e, w02) DW_MLA("smlad", a1, o, w13)                                             \
    DW_PAIRS(4) DW_MLA("smlad", a2, e, w02) DW_MLA("smlad", a2, o, w13) DW_MLA("smlabb", a0, e, w4)                \
    DW_PAIRS(6) DW_MLA("smlad", a3, e, w02) DW_MLA("smlad", a3, o, w13) DW_MLA("smlabb", a1, e, w4)                \
    "ldrsb %[e], [%[x], #8]\n\t" DW_MLA("smlabb", a2, e, w4) "ldrsb %[e], [%[x], #10]\n\t" DW_MLA("smlabb", a3, e, w4)

/* One row of a 7x7 channel, (w02, w13, w46, w5) from cp + W. Stride 1: the words at x, x + 2, x + 4, x + 6 give
 * the pairs for (w0, w2), (w1, w3), (w4, w6) and the sixth tap. Stride 2: the words at x, x + 2, .., x + 10 give
 * output j's pairs for (w0, w2), (w1, w3) (word 2j) and for (w4, w6) and the sixth tap (word 2j + 4). */
#define DW_ROW7_S1(W, W46)                                                                                            \
    "ldrd %[w02], %[w13], [%[cp], #" #W "]\n\t" "ldrd %[w46], %[w5], [%[cp], #" #W46 "]\n\t"                       \
    DW_PAIRS(0) DW_MLA("smlad", a0, e, w02) DW_MLA("smlad", a0, o, w13) DW_MLA("smlad", a1, o, w02)                \
    DW_PAIRS(2) DW_MLA("smlad", a1, e, w13) DW_MLA("smlad", a2, e, w02) DW_MLA("smlad", a2, o, w13)                \
    DW_MLA("smlad", a3, o, w02)                                                                                     \
    DW_PAIRS(4) DW_MLA("smlad", a0, e, w46) DW_MLA("smlabb", a0, o, w5) DW_MLA("smlad", a1, o, w46)                \
    DW_MLA("smlad", a3, e, w13)                                                                                     \
    DW_PAIRS(6) DW_MLA("smlabb", a1, e, w5) DW_MLA("smlad", a2, e, w46) DW_MLA("smlabb", a2, o, w5)                \
    DW_MLA("smlad", a3, o, w46) DW_MLA("smlatb", a3, e, w5)
#define DW_ROW7_S2(W, W46)                                                                                            \
    "ldrd %[w02], %[w13], [%[cp], #" #W "]\n\t" "ldrd %[w46], %[w5], [%[cp], #" #W46 "]\n\t"                       \
    DW_PAIRS(0) DW_MLA("smlad", a0, e, w02) DW_MLA("smlad", a0, o, w13)                                             \
    DW_PAIRS(2) DW_MLA("smlad", a1, e, w02) DW_MLA("smlad", a1, o, w13)                                             \
    DW_PAIRS(4) DW_MLA("smlad", a0, e, w46) DW_MLA("smlabb", a0, o, w5) DW_MLA("smlad", a2, e, w02)                \
    DW_MLA("smlad", a2, o, w13)                                                                                     \
    DW_PAIRS(6) DW_MLA("smlad", a1, e, w46) DW_MLA("smlabb", a1, o, w5) DW_MLA("smlad", a3, e, w02)                \
    DW_MLA("smlad", a3, o, w13)                                                                                     \
    DW_PAIRS(8) DW_MLA("smlad", a2, e, w46) DW_MLA("smlabb", a2, o, w5)                                             \
    DW_PAIRS(10) DW_MLA("smlad", a3, e, w46) DW_MLA("smlabb", a3, o, w5)

/* Outputs y[0, n4) (n4 > 0, a multiple of 4) of one row of a channel in the SSAT form from x, the window of output
 * 0 (row pitch pw), cp the channel's constants (padded_channels_ssat, window_rows_*_ssat): per kernel row its weight
 * pairs, then start x 4, m, k, t, y + n4 (3x3: then the last row's end, n4 and the skip of DW_NEXT_ROWS, rows of
 * outputs in a row in y; cp written). Four outputs a turn, every constant read with LDRD from cp (13-14
 * registers; GCC's loops kept the weights on the stack). Instructions per four outputs with their requantization:
 * 3x3 73 (stride 1) / 82 (stride 2), 5x5 146 / 169, 7x7 242 / 286. Each reads the four windows of each row and
 * nothing else, but for 7x7 at stride 2: one byte past the last window (a top half that is not used). */
static __attribute__((noinline)) void row_3x3_s1_ssat(const int8_t *x, int32_t pw, int32_t *cp, int8_t *y)
{
    int32_t a0, a1, a2, a3, w02, w1, e, o, f;
    __asm__ volatile(DW_START(24, 32) DW_ROW3_S1(0) DW_NEXT_ROW DW_ROW3_S1(8) DW_NEXT_ROW DW_ROW3_S1(16)
                     "sub %[x], %[x], %[pw], lsl #1\n\t" "add %[x], %[x], #4\n\t"
                     DW_REQUANT(40, 48, w02, w1) DW_NEXT_ROWS(52, 56, 60, 64, f)
                     : DW_OPERANDS, [w02] "=&r"(w02), [w1] "=&r"(w1), [e] "=&r"(e), [o] "=&r"(o), [f] "=&r"(f)
                     : DW_INPUTS : "cc", "memory");
}

static __attribute__((noinline)) void row_3x3_s2_ssat(const int8_t *x, int32_t pw, int32_t *cp, int8_t *y)
{
    int32_t a0, a1, a2, a3, w02, w1, e, o, f;
    __asm__ volatile(DW_START(24, 32) DW_ROW3_S2(0) DW_NEXT_ROW DW_ROW3_S2(8) DW_NEXT_ROW DW_ROW3_S2(16)
                     "sub %[x], %[x], %[pw], lsl #1\n\t" "add %[x], %[x], #8\n\t"
                     DW_REQUANT(40, 48, w02, w1) DW_NEXT_ROWS(52, 56, 60, 64, f)
                     : DW_OPERANDS, [w02] "=&r"(w02), [w1] "=&r"(w1), [e] "=&r"(e), [o] "=&r"(o), [f] "=&r"(f)
                     : DW_INPUTS : "cc", "memory");
}

#define DW_ROWS5(ROW)                                                                                                 \
    ROW(0, 8) DW_NEXT_ROW ROW(12, 20) DW_NEXT_ROW ROW(24, 32) DW_NEXT_ROW ROW(36, 44) DW_NEXT_ROW ROW(48, 56)         \
    "sub %[x], %[x], %[pw], lsl #2\n\t"
static __attribute__((noinline)) void row_5x5_s1_ssat(const int8_t *x, int32_t pw, const int32_t *cp, int8_t *y)
{
    int32_t a0, a1, a2, a3, w02, w13, w4, e, o;
    __asm__ volatile(DW_START(64, 72) DW_ROWS5(DW_ROW5_S1) "add %[x], %[x], #4\n\t"
                     DW_REQUANT_NEXT(80, 88, w02, w13, 92, w4)
                     : DW_OPERANDS, [w02] "=&r"(w02), [w13] "=&r"(w13), [w4] "=&r"(w4), [e] "=&r"(e), [o] "=&r"(o)
                     : DW_INPUTS : "cc", "memory");
}

static __attribute__((noinline)) void row_5x5_s2_ssat(const int8_t *x, int32_t pw, const int32_t *cp, int8_t *y)
{
    int32_t a0, a1, a2, a3, w02, w13, w4, e, o;
    __asm__ volatile(DW_START(64, 72) DW_ROWS5(DW_ROW5_S2) "add %[x], %[x], #8\n\t"
                     DW_REQUANT_NEXT(80, 88, w02, w13, 92, w4)
                     : DW_OPERANDS, [w02] "=&r"(w02), [w13] "=&r"(w13), [w4] "=&r"(w4), [e] "=&r"(e), [o] "=&r"(o)
                     : DW_INPUTS : "cc", "memory");
}

#define DW_ROWS7(ROW)                                                                                                 \
    ROW(0, 8) DW_NEXT_ROW ROW(16, 24) DW_NEXT_ROW ROW(32, 40) DW_NEXT_ROW ROW(48, 56) DW_NEXT_ROW ROW(64, 72)         \
    DW_NEXT_ROW ROW(80, 88) DW_NEXT_ROW ROW(96, 104) "sub %[x], %[x], %[pw], lsl #2\n\t"                            \
    "sub %[x], %[x], %[pw], lsl #1\n\t"
static __attribute__((noinline)) void row_7x7_s1_ssat(const int8_t *x, int32_t pw, const int32_t *cp, int8_t *y)
{
    int32_t a0, a1, a2, a3, w02, w13, w46, w5, e, o;
    __asm__ volatile(DW_START(112, 120) DW_ROWS7(DW_ROW7_S1) "add %[x], %[x], #4\n\t"
                     DW_REQUANT_NEXT(128, 136, w02, w13, 140, w5)
                     : DW_OPERANDS, [w02] "=&r"(w02), [w13] "=&r"(w13), [w46] "=&r"(w46), [w5] "=&r"(w5), [e] "=&r"(e),
                       [o] "=&r"(o)
                     : DW_INPUTS : "cc", "memory");
}

static __attribute__((noinline)) void row_7x7_s2_ssat(const int8_t *x, int32_t pw, const int32_t *cp, int8_t *y)
{
    int32_t a0, a1, a2, a3, w02, w13, w46, w5, e, o;
    __asm__ volatile(DW_START(112, 120) DW_ROWS7(DW_ROW7_S2) "add %[x], %[x], #8\n\t"
                     DW_REQUANT_NEXT(128, 136, w02, w13, 140, w5)
                     : DW_OPERANDS, [w02] "=&r"(w02), [w13] "=&r"(w13), [w46] "=&r"(w46), [w5] "=&r"(w5), [e] "=&r"(e),
                       [o] "=&r"(o)
                     : DW_INPUTS : "cc", "memory");
}
#endif

/* The weight words of a 3x3 channel: the pairs (w0, w2), (w3, w5), (w6, w8) from SXTB16 of the words at wc, wc + 3
 * (bytes 0, 2) and wc + 5 (bytes 1, 3: nothing read past the channel) and the middle taps into r; returns the sum
 * from them by SMLAD (the same integer as tt_weight_sum's). */
static inline int32_t words_3x3(const int8_t *wc, int32_t r[6])
{
    r[0] = __sxtb16((int32_t)tt_load32(wc)), r[1] = wc[1];
    r[2] = __sxtb16((int32_t)tt_load32(wc + 3)), r[3] = wc[4];
    r[4] = tt_sxtb16_ror8(tt_load32(wc + 5)), r[5] = wc[7];
    return __smlad(r[0], 0x00010001, __smlad(r[2], 0x00010001, __smlad(r[4], 0x00010001, r[1] + r[3] + r[5])));
}

#if !defined(__thumb2__)
/* Off Thumb-2 (the host's build with emulated intrinsics), where the asm rows are not: outputs [0, n4) (n4 a
 * multiple of 4) of all rows of a 3x3 channel at stride s (1 or 2) from the padded buffer x (row pitch pw), every
 * output in the SSAT form, start = bias - x_zero * sum w (padded_channels_ssat and window_rows_3x3_ssat on
 * Thumb-2). */
static __attribute__((noinline)) void channel_3x3_words(const int8_t *x, int32_t pw, int32_t s, const int32_t wv[6],
                                                        int32_t start, int32_t m, int32_t t, int32_t k, int8_t *y,
                                                        int32_t n4, int32_t rows, int32_t out_w)
{
    for (int32_t r = 0; r < rows; r++, x += s * pw, y += out_w) {
        const int8_t *xr = x;
        for (int8_t *yo = y, *end = y + n4; yo < end; yo += 4, xr += 4 * s) {
            int32_t r0 = start, r1 = start, r2 = start, r3 = start;
            if (s == 1) {
                row4_3x3_dsp(xr, wv[0], wv[1], &r0, &r1, &r2, &r3);
                row4_3x3_dsp(xr + pw, wv[2], wv[3], &r0, &r1, &r2, &r3);
                row4_3x3_dsp(xr + 2 * pw, wv[4], wv[5], &r0, &r1, &r2, &r3);
            } else {
                row4_3x3_s2_dsp(xr, wv[0], wv[1], &r0, &r1, &r2, &r3);
                row4_3x3_s2_dsp(xr + pw, wv[2], wv[3], &r0, &r1, &r2, &r3);
                row4_3x3_s2_dsp(xr + 2 * pw, wv[4], wv[5], &r0, &r1, &r2, &r3);
            }
            yo[0] = tt_requantize_hi_ssat(r0, m, t, k);
            yo[1] = tt_requantize_hi_ssat(r1, m, t, k);
            yo[2] = tt_requantize_hi_ssat(r2, m, t, k);
            yo[3] = tt_requantize_hi_ssat(r3, m, t, k);
        }
    }
}

/* channel_3x3_words with the words made from the channel's weights wc */
static void channel_3x3_ssat(const int8_t *x, int32_t pw, int32_t s, const int8_t *wc, int32_t bias, int32_t x_zero,
                             int32_t m, int32_t t, int32_t k, int8_t *y, int32_t n4, int32_t rows, int32_t out_w)
{
    int32_t wv[6];
    const int32_t start = bias - x_zero * words_3x3(wc, wv); /* |x_zero * sum w| <= 128 * 128 * 9 */
    channel_3x3_words(x, pw, s, wv, start, m, t, k, y, n4, rows, out_w);
}
#endif

#if defined(__thumb2__)
/* The weight words of one kernel row of a 5x5 (w02, w13, w4) or 7x7 (w02, w13, w46, w5) channel, into r, by SXTB16
 * of the words at wc and (7x7) wc + 3 (bytes 1, 3: (w4, w6)), nothing read past the row; returns sum + the row's
 * sum. */
static inline int32_t wide_row_words(const int8_t *wc, int32_t kw, int32_t *r, int32_t sum)
{
    const uint32_t v = tt_load32(wc);
    const int32_t w02 = __sxtb16((int32_t)v), w13 = tt_sxtb16_ror8(v), w4 = wc[4];
    r[0] = w02, r[1] = w13;
    if (kw == 5) {
        r[2] = w4;
        return __smlad(w02, 0x00010001, __smlad(w13, 0x00010001, sum + w4));
    }
    const int32_t w46 = tt_sxtb16_ror8(tt_load32(wc + 3)), w5 = wc[5];
    r[2] = w46, r[3] = w5;
    return __smlad(w02, 0x00010001, __smlad(w13, 0x00010001, __smlad(w46, 0x00010001, sum + w5)));
}

/* The weight words of a 5x5 (KW 5) or 7x7 channel into cp in a window's row order (kernel row ky in window row
 * (ky + top) mod KW), returning the channel's sum: wide_row_words unrolled for a constant KW (wide_words_kw), where
 * a loop over a variable kw cost twice the words. */
static inline __attribute__((always_inline)) int32_t wide_words(const int8_t *w, int32_t top, int32_t KW, int32_t *cp)
{
    const int32_t per_row = KW == 5 ? 3 : 4;
    int32_t *r = cp + per_row * top, *const end = cp + per_row * KW, sum = 0;
    for (int32_t ky = 0; ky < KW; ky++, w += KW) {
        sum = wide_row_words(w, KW, r, sum);
        r = r + per_row == end ? cp : r + per_row;
    }
    return sum;
}

static int32_t wide_words_kw(const int8_t *w, int32_t top, int32_t kw, int32_t *cp)
{
    return kw == 5 ? wide_words(w, top, 5, cp) : wide_words(w, top, 7, cp);
}
#endif

#if !defined(__thumb2__)
/* As channel_3x3_ssat for a 5x5 or 7x7 channel (kw) at stride s (1 or 2) (padded_channels_ssat and
 * window_rows_wide_ssat on Thumb-2). */
static __attribute__((noinline)) void channel_wide_ssat(const int8_t *x, int32_t pw, int32_t kw, int32_t s,
                                                        const int8_t *wc, int32_t bias, int32_t x_zero, int32_t m,
                                                        int32_t t, int32_t k, int8_t *y, int32_t n4, int32_t rows,
                                                        int32_t out_w)
{
    const int32_t start = bias - x_zero * tt_weight_sum(wc, kw * kw);
    for (int32_t r = 0; r < rows; r++, x += s * pw, y += out_w) {
        const int8_t *xr = x;
        for (int8_t *yo = y, *end = y + n4; yo < end; yo += 4, xr += 4 * s) {
            int32_t r0 = start, r1 = start, r2 = start, r3 = start;
            if (s == 1)
                window4_s1_dsp(xr, pw, wc, kw, kw, &r0, &r1, &r2, &r3);
            else
                window4_s2_dsp(xr, pw, wc, kw, kw, &r0, &r1, &r2, &r3);
            yo[0] = tt_requantize_hi_ssat(r0, m, t, k);
            yo[1] = tt_requantize_hi_ssat(r1, m, t, k);
            yo[2] = tt_requantize_hi_ssat(r2, m, t, k);
            yo[3] = tt_requantize_hi_ssat(r3, m, t, k);
        }
    }
}
#endif

/* Outputs [0, n4) of `rows` rows of any window through window4_s1_dsp / window4_s2_dsp / window4; KH, KW,
 * S constants in the specialised copies below (their tap loops unroll). */
static inline __attribute__((always_inline)) void rows4_window(const int8_t *x, int32_t in_w, int32_t x_step,
                                                               const int8_t *wc, int32_t kh, int32_t kw, int32_t s,
                                                               int32_t n4, int32_t rows, const dw_requant *rq,
                                                               int8_t *yr, int32_t y_step)
{
    for (int32_t r = 0; r < rows; r++, x += x_step, yr += y_step) {
        const int8_t *xr = x;
        for (int8_t *y = yr, *end = yr + n4; y < end; y += 4, xr += 4 * s) {
            int32_t r0 = rq->start, r1 = r0, r2 = r0, r3 = r0;
            if (s == 1)
                window4_s1_dsp(xr, in_w, wc, kh, kw, &r0, &r1, &r2, &r3);
            else if (s == 2)
                window4_s2_dsp(xr, in_w, wc, kh, kw, &r0, &r1, &r2, &r3);
            else
                window4(xr, in_w, s, wc, kh, kw, &r0, &r1, &r2, &r3);
            store4(r0, r1, r2, r3, rq, y);
        }
    }
}

#define DW_ROWS4(name, KW, S)                                                                                   \
    static __attribute__((noinline)) void name(const int8_t *x, int32_t in_w, int32_t x_step, const int8_t *wc, \
                                               int32_t kh, int32_t n4, int32_t rows, const dw_requant *rq,      \
                                               int8_t *yr, int32_t y_step)                                      \
    {                                                                                                           \
        rows4_window(x, in_w, x_step, wc, kh, KW, S, n4, rows, rq, yr, y_step);                                 \
    }
DW_ROWS4(rows4_k5_s1, 5, 1)
DW_ROWS4(rows4_k7_s1, 7, 1)
DW_ROWS4(rows4_k5_s2, 5, 2)
DW_ROWS4(rows4_k7_s2, 7, 2)

static __attribute__((noinline)) void rows4_any(const int8_t *x, int32_t in_w, int32_t x_step, const int8_t *wc,
                                                int32_t kh, int32_t kw, int32_t s, int32_t n4, int32_t rows,
                                                const dw_requant *rq, int8_t *yr, int32_t y_step)
{
    rows4_window(x, in_w, x_step, wc, kh, kw, s, n4, rows, rq, yr, y_step);
}

/* The rows of a channel, row iy at xc + ((first + iy) % ring) * w, into dst, dst + pitch, ..: the small padded maps'
 * copies. Rows of 4 or 8 bytes (the 4x4 and 8x8 maps) a word or two in a loop of their own, where tt_copy_row's
 * loop and the ring's index inside depthwise_s8's loop cost three times the copy. */
static __attribute__((noinline)) void copy_rows(int8_t *dst, int32_t pitch, const int8_t *xc, int32_t w, int32_t h,
                                                int32_t ring, int32_t first)
{
    const int8_t *src = xc + first * w, *const wrap = xc + ring * w;
    int8_t *const end = dst + h * pitch;
    if (w == 8) {
        for (; dst < end; dst += pitch) {
            uint32_t v0 = tt_load32(src), v1 = tt_load32(src + 4);
            __asm__("" : "+r"(v0), "+r"(v1)); /* two words, not a call to memcpy */
            memcpy(dst, &v0, 4), memcpy(dst + 4, &v1, 4);
            src = src + 8 == wrap ? xc : src + 8;
        }
    } else if (w == 4) {
        for (; dst < end; dst += pitch) {
            uint32_t v = tt_load32(src);
            __asm__("" : "+r"(v));
            memcpy(dst, &v, 4);
            src = src + 4 == wrap ? xc : src + 4;
        }
    } else {
        for (; dst < end; dst += pitch) {
            tt_copy_row(dst, src, w);
            src = src + w == wrap ? xc : src + w;
        }
    }
}

/* Outputs [0, n) of `rows` rows of one channel, all windows inside the input; x: the input at the
 * top-left of the first row's first window, x_step / y_step: from one row to the next in x / yr;
 * start = bias - x_zero * sum w. Four outputs at a time by a loop specialised for the window (3x3
 * stride 1 / 2, kernel width 5 / 7 at stride 1 / 2, any other), the last n % 4 one by one. */
static void interior_rows_dsp(const int8_t *x, int32_t in_w, int32_t x_step, const int8_t *wc, int32_t kh,
                              int32_t kw, int32_t s, int32_t n, int32_t rows, int32_t start, int32_t mult,
                              int32_t shift, const tt_quant_params *q, int8_t *yr, int32_t y_step)
{
    const int ssat = tt_ssat_form(shift, q->act_min, q->act_max);
    const int32_t t = shift - 32;
    const dw_requant rq = {start, mult, shift, t, ssat ? tt_ssat_k(t, q->y_zero) : 0, q->y_zero, q->act_min,
                           q->act_max, ssat};
    const int32_t n4 = n & ~3;
    if (n4 > 0) {
        if (kh == 3 && kw == 3 && s == 1)
            rows4_3x3_s1(x, in_w, x_step, wc, n4, rows, &rq, yr, y_step);
        else if (kh == 3 && kw == 3 && s == 2)
            rows4_3x3_s2(x, in_w, x_step, wc, n4, rows, &rq, yr, y_step);
        else if (kw == 5 && s == 1)
            rows4_k5_s1(x, in_w, x_step, wc, kh, n4, rows, &rq, yr, y_step);
        else if (kw == 7 && s == 1)
            rows4_k7_s1(x, in_w, x_step, wc, kh, n4, rows, &rq, yr, y_step);
        else if (kw == 5 && s == 2)
            rows4_k5_s2(x, in_w, x_step, wc, kh, n4, rows, &rq, yr, y_step);
        else if (kw == 7 && s == 2)
            rows4_k7_s2(x, in_w, x_step, wc, kh, n4, rows, &rq, yr, y_step);
        else
            rows4_any(x, in_w, x_step, wc, kh, kw, s, n4, rows, &rq, yr, y_step);
    }
    for (int32_t r = 0; n4 < n && r < rows; r++, x += x_step, yr += y_step) {
        const int8_t *xr = x + n4 * s;
        for (int32_t ox = n4; ox < n; ox++, xr += s) {
            int32_t acc = start;
            for (int32_t ky = 0; ky < kh; ky++)
                for (int32_t kx = 0; kx < kw; kx++)
                    acc += xr[ky * in_w + kx] * wc[ky * kw + kx];
            yr[ox] = tt_requantize(acc, mult, shift, q->y_zero, q->act_min, q->act_max);
        }
    }
}

#if defined(__thumb2__)
/* depthwise_s8's small padded maps with 3x3, 5x5 or 7x7 windows (kw) whose asm rows apply (out.w a multiple of 4),
 * the channels in the SSAT form in one call: per channel its rows copied into the padded buffer (its border written
 * by the caller), its weight words, start and requantization constants written into the asm rows' cp and one call
 * for all its rows (3x3) or one a row (5x5, 7x7) (channel_3x3_ssat / channel_wide_ssat off Thumb-2), until a
 * channel not in the SSAT form: returns how many it took (the caller takes that channel and calls again after it).
 * What those calls cost a channel (their arguments, cp's fixed entries, the SSAT test's constants) was as much as the
 * taps of a 4x4 map. */
static __attribute__((noinline)) int32_t padded_channels_ssat(int8_t *padded, int32_t pw, const int8_t *x,
                                                           int32_t plane, int32_t ring, int32_t first, tt_dims in,
                                                           const int8_t *w, int32_t kw, const int32_t *bias,
                                                           const int32_t *mult, const int32_t *shift,
                                                           const tt_conv_params *conv, const tt_quant_params *q,
                                                           int8_t *y, tt_dims out)
{
    int32_t cp[36] __attribute__((aligned(8))); /* the asm rows' constants (above row_3x3_s1_ssat) */
    const int32_t s = conv->stride, taps = kw * kw, ohw = out.h * out.w;
    const int32_t c0 = kw == 3 ? 6 : kw == 5 ? 16 : 28, x_zero = q->x_zero, y_zero = q->y_zero;
    int8_t *const rows = padded + conv->pad_top * pw + conv->pad_left;
    void (*row)(const int8_t *, int32_t, const int32_t *, int8_t *) =
        kw == 5 ? (s == 1 ? row_5x5_s1_ssat : row_5x5_s2_ssat) : (s == 1 ? row_7x7_s1_ssat : row_7x7_s2_ssat);
    /* the 4x4 and 8x8 maps' channels not in a ring (the in-place layers): rows of 4 or 8 bytes one after the other,
     * where copy_rows' call cost as much as its copy */
    const int32_t whole = (in.w == 4 || in.w == 8) && first == 0 && ring == in.h ? in.w : 0;
    if (kw == 3) /* n4 and the skip between rows of DW_NEXT_ROWS */
        cp[15] = out.w, cp[16] = s * (pw - out.w);
    int32_t c = 0;
    for (; c < in.c && tt_ssat_form(shift[c], q->act_min, q->act_max); c++, w += taps, y += ohw) {
        if (whole == 4) /* a channel of 4- or 8-byte rows in one piece: its words straight into the padded rows */
            for (int32_t r = 0; r < in.h; r++) {
                uint32_t v = tt_load32(x + c * plane + 4 * r);
                __asm__("" : "+r"(v)); /* a word, not a call to memcpy */
                memcpy(rows + r * pw, &v, 4);
            }
        else if (whole == 8)
            for (int32_t r = 0; r < in.h; r++) {
                uint32_t v0 = tt_load32(x + c * plane + 8 * r), v1 = tt_load32(x + c * plane + 8 * r + 4);
                __asm__("" : "+r"(v0), "+r"(v1));
                memcpy(rows + r * pw, &v0, 4), memcpy(rows + r * pw + 4, &v1, 4);
            }
        else
            copy_rows(rows, pw, x + c * plane, in.w, in.h, ring, first);
        const int32_t sum = kw == 3 ? words_3x3(w, cp) : wide_words_kw(w, 0, kw, cp);
        const int32_t start = bias[c] - x_zero * sum, t = shift[c] - 32; /* |x_zero * sum| <= 128 * 128 * 49 */
        cp[c0] = cp[c0 + 1] = cp[c0 + 2] = cp[c0 + 3] = start, cp[c0 + 4] = mult[c], cp[c0 + 5] = tt_ssat_k(t, y_zero);
        cp[c0 + 6] = t;
        if (kw == 3) {
            cp[13] = (int32_t)(intptr_t)(y + out.w), cp[14] = (int32_t)(intptr_t)(y + ohw);
            if (s == 1)
                row_3x3_s1_ssat(padded, pw, cp, y);
            else
                row_3x3_s2_ssat(padded, pw, cp, y);
            continue;
        }
        const int8_t *xr = padded;
        for (int8_t *yr = y; yr < y + ohw; yr += out.w, xr += s * pw) {
            cp[c0 + 7] = (int32_t)(intptr_t)(yr + out.w);
            row(xr, pw, cp, yr);
        }
    }
    return c;
}
#endif
#endif

int tt_depthwise_conv2d_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    return tt_depthwise_conv2d_strided_s8(x, in.h * in.w, in, w, kh, kw, bias, mult, shift, conv, q, y, out);
}

#if TT_USE_DSP
int tt_depthwise_ring_ok(tt_dims in, int32_t kh, const tt_conv_params *conv)
{
    const int32_t pw = in.w + conv->pad_left + conv->pad_right;
    return pw != in.w && kh * pw <= DW_PADDED_BYTES;
}
#endif

/* tt_depthwise_conv2d_strided_s8 with row iy of channel c at x + c * plane + ((first + iy) % ring) * in.w (the
 * ring only on the small padded path, which copies every row: tt_depthwise_conv2d_ring_s8; else ring = in.h,
 * first = 0). */
static int depthwise_s8(const int8_t *x, int32_t plane, int32_t ring, int32_t first, tt_dims in, const int8_t *w,
                        int32_t kh, int32_t kw, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                        const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    (void)ring, (void)first; /* read on the DSP path's small padded maps only */
    const int32_t s = conv->stride;
#if defined(__AVX2__)
    if (plane == in.h * in.w && tt_depthwise_avx2(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_OK;
#endif
#if TT_USE_DSP
    /* outputs ox in [ox_lo, ox_hi) have 0 <= ox * s - pad_left and ox * s - pad_left + kw <= in.w */
    int32_t ox_lo = (conv->pad_left + s - 1) / s, ox_hi = in.w - kw + conv->pad_left < 0 ? 0
                                                          : (in.w - kw + conv->pad_left) / s + 1;
    if (ox_hi > out.w)
        ox_hi = out.w;
    if (ox_lo > ox_hi)
        ox_lo = ox_hi;
#endif
#if TT_USE_DSP
    const int32_t ph = in.h + conv->pad_top + conv->pad_bottom, pw = in.w + conv->pad_left + conv->pad_right;
    if (ph * pw > DW_PADDED_BYTES && kh * pw <= DW_PADDED_BYTES && (ph != in.h || pw != in.w)) {
        /* a larger padded map: per output row, the kh input rows it reads copied into a strip
         * bordered with x_zero, where every output of the row is an inside one */
        int8_t strip[DW_PADDED_BYTES];
        const int8_t x_zero = (int8_t)q->x_zero;
        for (int32_t c = 0; c < in.c; c++) {
            const int8_t *wc = w + c * kh * kw;
            const int32_t w_sum = tt_weight_sum(wc, kh * kw);
            const int32_t start = bias[c] - q->x_zero * w_sum; /* |x_zero * w_sum| <= 128 * 128 * kh * kw */
            for (int32_t oy = 0; oy < out.h; oy++) {
                for (int32_t ky = 0; ky < kh; ky++) {
                    const int32_t iy = oy * s - conv->pad_top + ky;
                    int8_t *row = strip + ky * pw;
                    if (iy < 0 || iy >= in.h) {
                        memset(row, x_zero, (size_t)pw);
                    } else {
                        for (int32_t i = 0; i < conv->pad_left; i++)
                            row[i] = x_zero;
                        tt_copy_row(row + conv->pad_left, x + c * plane + iy * in.w, in.w);
                        for (int32_t i = conv->pad_left + in.w; i < pw; i++)
                            row[i] = x_zero;
                    }
                }
                interior_rows_dsp(strip, pw, 0, wc, kh, kw, s, out.w, 1, start, mult[c], shift[c], q,
                                  y + (c * out.h + oy) * out.w, 0);
            }
        }
        return TT_OK;
    }
    if (ph * pw <= DW_PADDED_BYTES && (ph != in.h || pw != in.w)) {
        /* a small padded map: each channel copied into a buffer whose border holds x_zero, so that
         * every window lies inside it (x_zero adds x_zero * w, which the folded start removes); channel c is
         * copied before its outputs are written, so y may be x itself (tt_depthwise_inplace_s8) */
        int8_t padded[DW_PADDED_BYTES];
        memset(padded, q->x_zero, (size_t)(ph * pw)); /* the border, the same for every channel */
        /* 3x3, 5x5 and 7x7 channels in the SSAT form through padded_channels_ssat (channel_3x3_ssat /
         * channel_wide_ssat off Thumb-2; 3x3 and 7x7 at stride 2 read a byte past their last window) */
        const int fast3x3 = kh == 3 && kw == 3 && (s == 1 || (s == 2 && ph * pw < DW_PADDED_BYTES)) && out.w % 4 == 0;
        const int fast_wide = kh == kw && (kw == 5 || kw == 7) && out.w % 4 == 0 &&
                              (s == 1 || (s == 2 && ph * pw < DW_PADDED_BYTES));
        for (int32_t c = 0; c < in.c; c++) {
#if defined(__thumb2__)
            if (fast3x3 || fast_wide) { /* the run of channels in the SSAT form from c; then c is none or not in it */
                c += padded_channels_ssat(padded, pw, x + c * plane, plane, ring, first,
                                          (tt_dims){in.c - c, in.h, in.w}, w + c * kh * kw, kw, bias + c, mult + c,
                                          shift + c, conv, q, y + c * out.h * out.w, out);
                if (c == in.c)
                    break;
            }
#endif
            const int8_t *wc = w + c * kh * kw;
            copy_rows(padded + conv->pad_top * pw + conv->pad_left, pw, x + c * plane, in.w, in.h, ring, first);
#if !defined(__thumb2__)
            if ((fast3x3 || fast_wide) && tt_ssat_form(shift[c], q->act_min, q->act_max)) {
                const int32_t t = shift[c] - 32, k = tt_ssat_k(t, q->y_zero);
                if (fast3x3)
                    channel_3x3_ssat(padded, pw, s, wc, bias[c], q->x_zero, mult[c], t, k, y + c * out.h * out.w,
                                     out.w, out.h, out.w);
                else
                    channel_wide_ssat(padded, pw, kw, s, wc, bias[c], q->x_zero, mult[c], t, k, y + c * out.h * out.w,
                                      out.w, out.h, out.w);
                continue;
            }
#endif
            const int32_t w_sum = tt_weight_sum(wc, kh * kw);
            const int32_t start = bias[c] - q->x_zero * w_sum; /* |x_zero * w_sum| <= 128 * 128 * kh * kw */
            interior_rows_dsp(padded, pw, s * pw, wc, kh, kw, s, out.w, out.h, start, mult[c], shift[c], q,
                              y + c * out.h * out.w, out.w);
        }
        return TT_OK;
    }
#endif
    for (int32_t c = 0; c < in.c; c++) {
        const int8_t *xc = x + c * plane, *wc = w + c * kh * kw;
#if TT_USE_DSP
        const int32_t w_sum = tt_weight_sum(wc, kh * kw);
        const int32_t start = bias[c] - q->x_zero * w_sum; /* |x_zero * w_sum| <= 128 * 128 * kh * kw */
#endif
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * s - conv->pad_top;
            int8_t *yr = y + (c * out.h + oy) * out.w;
#if TT_USE_DSP
            if (iy0 >= 0 && iy0 + kh <= in.h) { /* the row's windows lie inside vertically */
                for (int32_t ox = 0; ox < ox_lo; ox++)
                    yr[ox] = tt_requantize(window_sum(xc, in, wc, kh, kw, iy0, ox * s - conv->pad_left, q->x_zero,
                                                      bias[c]),
                                           mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
                interior_rows_dsp(xc + iy0 * in.w + ox_lo * s - conv->pad_left, in.w, 0, wc, kh, kw, s,
                                  ox_hi - ox_lo, 1, start, mult[c], shift[c], q, yr + ox_lo, 0);
                for (int32_t ox = ox_hi; ox < out.w; ox++)
                    yr[ox] = tt_requantize(window_sum(xc, in, wc, kh, kw, iy0, ox * s - conv->pad_left, q->x_zero,
                                                      bias[c]),
                                           mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
                continue;
            }
#endif
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * s - conv->pad_left;
                const int32_t acc = window_sum(xc, in, wc, kh, kw, iy0, ix0, q->x_zero, bias[c]);
                yr[ox] = tt_requantize(acc, mult[c], shift[c], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}

int tt_depthwise_conv2d_strided_s8(const int8_t *x, int32_t plane, tt_dims in, const int8_t *w, int32_t kh,
                                   int32_t kw, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                   const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!conv || conv->groups != in.c || out.c != in.c || plane < in.h * in.w ||
        !tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_ERR_ARG;
    return depthwise_s8(x, plane, in.h, 0, in, w, kh, kw, bias, mult, shift, conv, q, y, out);
}

#if TT_USE_DSP
int tt_depthwise_conv2d_ring_s8(const int8_t *x, int32_t plane, int32_t ring, int32_t first, tt_dims in,
                                const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                                tt_dims out)
{
    if (!conv || conv->groups != in.c || out.c != in.c || ring < in.h || first < 0 || first >= ring ||
        plane < ring * in.w || !tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out) ||
        in.h + conv->pad_top + conv->pad_bottom != kh || !tt_depthwise_ring_ok(in, kh, conv))
        return TT_ERR_ARG;
    return depthwise_s8(x, plane, ring, first, in, w, kh, kw, bias, mult, shift, conv, q, y, out);
}

#if defined(__thumb2__)
/* tt_depthwise_window_row_s8's 5x5 and 7x7 channels (kw) in the SSAT form in one call, each channel's words in the
 * window's row order, start and one call of the asm row, with the call's constants once,
 * until a channel not in the SSAT form: returns how many it took. On rows of 8 outputs the per-channel call and its
 * arguments had cost a fifth of the taps. */
static __attribute__((noinline)) int32_t window_rows_wide_ssat(const int8_t *x, int32_t plane, int32_t pitch,
                                                            int32_t top, int32_t channels, int32_t kw, int32_t s,
                                                            const int8_t *w, const int32_t *bias, const int32_t *mult,
                                                            const int32_t *shift, const tt_quant_params *q, int8_t *y,
                                                            int32_t out_w)
{
    int32_t cp[36] __attribute__((aligned(8))); /* the asm rows' constants (above row_3x3_s1_ssat) */
    const int32_t c0 = kw == 5 ? 16 : 28, x_zero = q->x_zero, y_zero = q->y_zero, taps = kw * kw;
    void (*row)(const int8_t *, int32_t, const int32_t *, int8_t *) =
        kw == 5 ? (s == 1 ? row_5x5_s1_ssat : row_5x5_s2_ssat) : (s == 1 ? row_7x7_s1_ssat : row_7x7_s2_ssat);
    int32_t c = 0;
    for (; c < channels && tt_ssat_form(shift[c], q->act_min, q->act_max); c++, x += plane, w += taps, y += out_w) {
        const int32_t start = bias[c] - x_zero * wide_words_kw(w, top, kw, cp), t = shift[c] - 32;
        cp[c0] = cp[c0 + 1] = cp[c0 + 2] = cp[c0 + 3] = start, cp[c0 + 4] = mult[c], cp[c0 + 5] = tt_ssat_k(t, y_zero);
        cp[c0 + 6] = t, cp[c0 + 7] = (int32_t)(intptr_t)(y + out_w);
        row(x, pitch, cp, y);
    }
    return c;
}

/* A 3x3 channel's constants for row_3x3_s1_ssat / row_3x3_s2_ssat (words_3x3's pairs and middle taps), kernel row
 * ky's in window row (ky + top) mod 3 (top a constant in each copy of window_channels_3x3, so that the slots are
 * fixed offsets); returns the weight sum (the same integer as words_3x3's). */
static inline __attribute__((always_inline)) int32_t slots_3x3(const int8_t *wc, int32_t *cp, const int32_t top)
{
    const int32_t oa = 2 * top, ob = top == 2 ? 0 : oa + 2, oc = top == 0 ? 4 : oa - 2; /* kernel rows 0, 1, 2 */
    const int32_t p0 = __sxtb16((int32_t)tt_load32(wc)), p1 = __sxtb16((int32_t)tt_load32(wc + 3));
    const int32_t p2 = tt_sxtb16_ror8(tt_load32(wc + 5)), m0 = wc[1], m1 = wc[4], m2 = wc[7];
    cp[oa] = p0, cp[oa + 1] = m0, cp[ob] = p1, cp[ob + 1] = m1, cp[oc] = p2, cp[oc + 1] = m2;
    return __smlad(p0, 0x00010001, __smlad(p1, 0x00010001, __smlad(p2, 0x00010001, m0 + m1 + m2)));
}

/* window_rows_3x3_ssat's channel loop for one `top` (a constant in each copy); all: every channel is in the SSAT form
 * (the caller's form), so that no channel is tested. */
static inline __attribute__((always_inline)) int32_t window_channels_3x3(const int8_t *x, int32_t plane,
                                                                        int32_t pitch, int32_t channels, int32_t s,
                                                                        const int8_t *w, const int32_t *bias,
                                                                        const int32_t *mult, const int32_t *shift,
                                                                        const tt_quant_params *q, int8_t *y,
                                                                        int32_t out_w, const int all, const int32_t top)
{
    int32_t cp[15] __attribute__((aligned(8)));
    void (*row)(const int8_t *, int32_t, int32_t *, int8_t *) = s == 1 ? row_3x3_s1_ssat : row_3x3_s2_ssat;
    const int32_t x_zero = q->x_zero, y_zero = q->y_zero;
    const int8_t *w_end = w + 9 * channels;
    for (; w < w_end; x += plane, w += 9, y += out_w) {
        const int32_t sh = *shift++;
        if (!all && !tt_ssat_form(sh, q->act_min, q->act_max))
            break;
        const int32_t start = *bias++ - x_zero * slots_3x3(w, cp, top), t = sh - 32; /* see depthwise_s8 */
        cp[6] = cp[7] = cp[8] = cp[9] = start, cp[10] = *mult++, cp[11] = tt_ssat_k(t, y_zero), cp[12] = t;
        cp[13] = cp[14] = (int32_t)(intptr_t)(y + out_w);
        row(x, pitch, cp, y);
    }
    return channels - (int32_t)(w_end - w) / 9;
}

/* Every channel of one output row of a 3x3 layer from its table (tt_conv_layer.table, TT_DW_TABLE_WORDS words a
 * channel: the pairs and middle taps of kernel rows 0, 1, 2 at 0, 8, 16, start twice at 24, m, k at 32, t at 40), one
 * call: the asm of row_3x3_s1_ssat / row_3x3_s2_ssat with the weights of kernel row (j - top) mod 3 read for window
 * row j (offsets R0, R1, R2), and at each channel's end on to the next channel's table row, window (x + plane) and
 * outputs (y, contiguous). The four words that change in a call (the channel's end, the last channel's end, out_w,
 * the skip from one channel's last window to the next's first) are pushed from st below sp at entry (st arrives in f,
 * a temporary of the rows) and dropped at exit, so that no register more is needed: the same 13 as the rows'. The
 * same sums in the same order as the rows' from slots_3x3, so the same bytes. */
#define DW_TABLE_ROW3(NAME, ROW, STEP, R0, R1, R2)                                                                    \
    static __attribute__((noinline)) void NAME(const int8_t *x, int32_t pw, const int32_t *cp, int8_t *y,             \
                                               const int32_t *st)                                                   \
    {                                                                                                                 \
        int32_t a0, a1, a2, a3, w02, w1, e, o, f = (int32_t)(intptr_t)st;                                             \
        __asm__ volatile("ldrd %[e], %[o], [%[f]]\n\t" "ldrd %[w02], %[w1], [%[f], #8]\n\t"                         \
                         "strd %[w02], %[w1], [sp, #-8]!\n\t" "strd %[e], %[o], [sp, #-8]!\n\t"                      \
                         DW_START(24, 24) ROW(R0) DW_NEXT_ROW ROW(R1) DW_NEXT_ROW ROW(R2)                             \
                         "sub %[x], %[x], %[pw], lsl #1\n\t" "add %[x], %[x], #" #STEP "\n\t"                        \
                         DW_REQUANT(32, 40, w02, w1)                                                                  \
                         "ldr %[f], [sp]\n\t" "cmp %[y], %[f]\n\t" "bne 1b\n\t"                                     \
                         "ldr %[e], [sp, #4]\n\t" "cmp %[y], %[e]\n\t" "beq 2f\n\t"                                 \
                         "ldr %[e], [sp, #8]\n\t" "add %[f], %[f], %[e]\n\t" "str %[f], [sp]\n\t"                   \
                         "ldr %[e], [sp, #12]\n\t" "add %[x], %[x], %[e]\n\t" "add %[cp], %[cp], #48\n\t"           \
                         "b 1b\n\t" "2:\n\t" "add sp, sp, #16"                                                        \
                         : [x] "+r"(x), [y] "+r"(y), [cp] "+r"(cp), [f] "+r"(f), [a0] "=&r"(a0), [a1] "=&r"(a1),      \
                           [a2] "=&r"(a2), [a3] "=&r"(a3), [w02] "=&r"(w02), [w1] "=&r"(w1), [e] "=&r"(e),            \
                           [o] "=&r"(o)                                                                               \
                         : [pw] "r"(pw)                                                                               \
                         : "cc", "memory");                                                                           \
    }
DW_TABLE_ROW3(table_3x3_s1_top0, DW_ROW3_S1, 4, 0, 8, 16)
DW_TABLE_ROW3(table_3x3_s1_top1, DW_ROW3_S1, 4, 16, 0, 8)
DW_TABLE_ROW3(table_3x3_s1_top2, DW_ROW3_S1, 4, 8, 16, 0)
DW_TABLE_ROW3(table_3x3_s2_top0, DW_ROW3_S2, 8, 0, 8, 16)
DW_TABLE_ROW3(table_3x3_s2_top1, DW_ROW3_S2, 8, 16, 0, 8)
DW_TABLE_ROW3(table_3x3_s2_top2, DW_ROW3_S2, 8, 8, 16, 0)
#undef DW_TABLE_ROW3

/* The row of `channels` (> 0) channels from the table tw through the table_3x3_* asm for stride s and top */
static __attribute__((noinline)) void window_table_rows_3x3(const int8_t *x, int32_t plane, int32_t pitch, int32_t top,
                                                            int32_t channels, int32_t s, const int32_t *tw, int8_t *y,
                                                            int32_t out_w)
{
    static void (*const rows[2][3])(const int8_t *, int32_t, const int32_t *, int8_t *, const int32_t *) = {
        {table_3x3_s1_top0, table_3x3_s1_top1, table_3x3_s1_top2},
        {table_3x3_s2_top0, table_3x3_s2_top1, table_3x3_s2_top2}};
    const int32_t st[4] __attribute__((aligned(8))) = {(int32_t)(intptr_t)(y + out_w),
                                                       (int32_t)(intptr_t)(y + channels * out_w), out_w,
                                                       plane - s * out_w};
    rows[s - 1][top](x, pitch, tw, y, st);
}

/* As window_rows_wide_ssat for 3x3 channels (kw 3): the asm row's constants (row_3x3_s1_ssat / row_3x3_s2_ssat,
 * one row: its end is the last row's) from slots_3x3, in a loop of its own for each top; all: as
 * window_channels_3x3. */
static __attribute__((noinline)) int32_t window_rows_3x3_ssat(const int8_t *x, int32_t plane, int32_t pitch,
                                                           int32_t top, int32_t channels, int32_t s, const int8_t *w,
                                                           const int32_t *bias, const int32_t *mult,
                                                           const int32_t *shift, const tt_quant_params *q, int8_t *y,
                                                           int32_t out_w, int all)
{
#define DW_TOPS(ALL)                                                                                                  \
    return top == 0   ? window_channels_3x3(x, plane, pitch, channels, s, w, bias, mult, shift, q, y, out_w, ALL, 0)   \
           : top == 1 ? window_channels_3x3(x, plane, pitch, channels, s, w, bias, mult, shift, q, y, out_w, ALL, 1)   \
                      : window_channels_3x3(x, plane, pitch, channels, s, w, bias, mult, shift, q, y, out_w, ALL, 2)
    if (all)
        DW_TOPS(1);
    DW_TOPS(0);
#undef DW_TOPS
}
#endif

int tt_depthwise_window_row_s8(const int8_t *x, int32_t plane, int32_t pitch, int32_t top, tt_dims in,
                               const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias, const int32_t *mult,
                               const int32_t *shift, int32_t stride, const tt_quant_params *q, int8_t *y, tt_dims out,
                               int form)
{
    const tt_conv_params conv = {stride, 0, 0, 0, 0, in.c};
    if (in.h != kh || top < 0 || top >= kh || pitch < 1 || plane < kh * pitch || out.c != in.c || out.h != 1 ||
        kh * kw > TT_DW_WINDOW_TAPS)
        return TT_ERR_ARG;
    if (form < 0) { /* the layer's first row: its arguments and the channels' form (a scan of the shifts each) */
        if (!tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, &conv, q, y, out))
            return TT_ERR_ARG;
        form = 1;
        for (int32_t c = 0; c < in.c; c++)
            if (!tt_ssat_form(shift[c], q->act_min, q->act_max))
                form = 0;
    }
    const int32_t s = stride;
    /* 3x3, 5x5 and 7x7 channels in the SSAT form through window_rows_*_ssat (channel_3x3_ssat / channel_wide_ssat off
     * Thumb-2), which at stride 2 read a byte past their last window: only while it lies in the row */
    const int fast = kh == kw && (kw == 3 || kw == 5 || kw == 7) && out.w % 4 == 0 &&
                     (s == 1 || (s == 2 && s * (out.w - 1) + kw < in.w));
    const int32_t x_zero = q->x_zero;
    int8_t rotated[TT_DW_WINDOW_TAPS]; /* a channel's kernel rows in the window's slot order */
    for (int32_t c = 0; c < in.c; c++) {
#if defined(__thumb2__)
        if (fast) { /* the run of channels in the SSAT form from c; then c is none or not in it */
            c += kw == 3 ? window_rows_3x3_ssat(x + c * plane, plane, pitch, top, in.c - c, s, w + c * 9, bias + c,
                                                mult + c, shift + c, q, y + c * out.w, out.w, form)
                         : window_rows_wide_ssat(x + c * plane, plane, pitch, top, in.c - c, kw, s, w + c * kh * kw,
                                                 bias + c, mult + c, shift + c, q, y + c * out.w, out.w);
            if (c == in.c)
                break;
        }
#endif
        const int8_t *wc = w + c * kh * kw, *ws = wc;
        const int8_t *xc = x + c * plane;
        int8_t *yc = y + c * out.w;
        if (top) { /* slot j holds kernel row (j - top) mod kh: the sums the same integers in another order */
            for (int32_t ky = 0, j = top; ky < kh; ky++, j = j + 1 == kh ? 0 : j + 1)
                for (int32_t kx = 0; kx < kw; kx++)
                    rotated[j * kw + kx] = wc[ky * kw + kx];
            ws = rotated;
        }
#if !defined(__thumb2__)
        if (fast && tt_ssat_form(shift[c], q->act_min, q->act_max)) { /* window_rows_*_ssat on Thumb-2 */
            const int32_t t = shift[c] - 32, k = tt_ssat_k(t, q->y_zero);
            if (kw == 3)
                channel_3x3_ssat(xc, pitch, s, ws, bias[c], x_zero, mult[c], t, k, yc, out.w, 1, out.w);
            else
                channel_wide_ssat(xc, pitch, kw, s, ws, bias[c], x_zero, mult[c], t, k, yc, out.w, 1, out.w);
            continue;
        }
#endif
        const int32_t start = bias[c] - x_zero * tt_weight_sum(wc, kh * kw); /* see depthwise_s8 */
        interior_rows_dsp(xc, pitch, 0, ws, kh, kw, s, out.w, 1, start, mult[c], shift[c], q, yc, 0);
    }
    return form;
}

int tt_depthwise_window_table_row_s8(const int8_t *x, int32_t plane, int32_t pitch, int32_t top, tt_dims in,
                                     const int32_t *table, int32_t stride, int8_t *y, tt_dims out)
{
    const int32_t s = stride;
    if (in.h != 3 || top < 0 || top >= 3 || in.c < 1 || out.c != in.c || out.h != 1 || out.w % 4 || out.w < 4 ||
        !(s == 1 || (s == 2 && s * (out.w - 1) + 3 < in.w)) || in.w < s * (out.w - 1) + 3)
        return 0;
#if defined(__thumb2__)
    window_table_rows_3x3(x, plane, pitch, top, in.c, s, table, y, out.w);
#else
    for (int32_t c = 0; c < in.c; c++, table += TT_DW_TABLE_WORDS) { /* kernel row (j - top) mod 3 in slot j */
        int32_t wv[6];
        for (int32_t j = 0; j < 3; j++)
            wv[2 * j] = table[2 * ((j + 3 - top) % 3)], wv[2 * j + 1] = table[2 * ((j + 3 - top) % 3) + 1];
        channel_3x3_words(x + c * plane, pitch, s, wv, table[6], table[8], table[10], table[9], y + c * out.w, out.w,
                          1, out.w);
    }
#endif
    return 1;
}
#endif

int tt_depthwise_inplace_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                            const tt_quant_params *q, int8_t *y, tt_dims out, int8_t *scratch)
{
    if (!x || !y || !scratch || !conv || in.c < 1 || conv->groups != in.c || out.c != in.c ||
        out.h * out.w > in.h * in.w)
        return TT_ERR_ARG;
    const int32_t hw = in.h * in.w, ohw = out.h * out.w;
#if TT_USE_DSP
    const int32_t ph = in.h + conv->pad_top + conv->pad_bottom, pw = in.w + conv->pad_left + conv->pad_right;
    if (ph * pw <= DW_PADDED_BYTES && (ph != in.h || pw != in.w)) /* its small padded path: one call, in place */
        return tt_depthwise_conv2d_s8(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out);
#endif
    /* a channel at a time through scratch: output channel c written once input channel c is read */
    const tt_conv_params one = {conv->stride, conv->pad_top, conv->pad_left, conv->pad_bottom, conv->pad_right, 1};
    for (int32_t c = 0; c < in.c; c++) {
        const int rc = tt_depthwise_conv2d_s8(x + c * hw, (tt_dims){1, in.h, in.w}, w + c * kh * kw, kh, kw, bias + c,
                                              mult + c, shift + c, &one, q, scratch, (tt_dims){1, out.h, out.w});
        if (rc != TT_OK)
            return rc;
        memcpy(y + c * ohw, scratch, (size_t)ohw);
    }
    return TT_OK;
}

int32_t tt_expand_depthwise_s8_get_buffer_size(tt_dims in, int32_t channels)
{
    const int32_t hw = in.h * in.w, fit = TT_EXPAND_BYTES / hw > 1 ? TT_EXPAND_BYTES / hw : 1;
    int32_t k = channels < TT_EXPAND_CHANNELS ? channels : TT_EXPAND_CHANNELS;
    if (k > fit)
        k = fit;
    return k * hw;
}

int32_t tt_depthwise_inplace_s8_get_buffer_size(tt_dims out)
{
    return out.h * out.w;
}
