/*
 * Any int8 conv2d: groups, kernel, stride and asymmetric padding all free.
 * Layout: x (in.c, in.h, in.w), w (out.c, in.c/groups, kh, kw), y (out.c, out.h, out.w).
 *   y[o, oy, ox] = requant(bias[o] + sum over c in o's group, ky, kx of
 *                  (x[c, oy*s + ky - pad_top, ox*s + kx - pad_left] - x_zero) * w[o, c', ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped).
 * TT_ERR_ARG: see tt_conv_args_ok (tt_requant.h).
 *
 * DSP path (TT_USE_DSP, groups 1 and a window of 2 .. GENERAL_DSP_MAX_K = in.c * kh * kw values, e.g. a
 * network's first 3x3 conv over RGB): eight output positions at a time (four for windows above 32 values),
 * each window gathered once (im2col) and packed as the packed 1x1 packs pixels (tt_pointwise_dsp.h: per
 * four k the pairs (x_k, x_k+2), (x_k+1, x_k+3) minus x_zero, 0 in the padding); every output channel then
 * runs the packed 1x1's loop over them (one weight word, two SXTB16, four LDRD, eight SMLAD per four k and
 * four positions) and its requantization, the SSAT form's inline for the channels that take it. The int32 sums
 * are the same integers, so the output is identical bit for bit.
 *
 * x86-64 path (__AVX2__, host builds with -march=native; strides 1 and 2, any groups, strips up to
 * 16 KB): sixteen outputs of a row at a time from padded input rows, tt_conv_general_avx2.h.
 */
#include "tt_conv2d_general_strided.h"
#include "tt_conv_general_avx2.h"
#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
#include "tt_dsp.h"
#include "tt_pointwise_dsp.h"

#define GENERAL_DSP_MAX_K 64

/* The window of output (oy, ox) as raw bytes in k = (c, ky, kx) order, x_zero where it lies in the padding
 * and after its end up to a multiple of 4 values (the pack makes x_zero 0); v has 3 bytes of room past that
 * multiple of 4. row_off[r]: where the window's row r (c = r / kh, ky = r % kh) starts from its first. */
static void gather_window(const int8_t *x, tt_dims in, int32_t kh, int32_t kw, int32_t iy0, int32_t ix0,
                          const int32_t *row_off, int8_t x_zero, int8_t *v)
{
    const int32_t rows = in.c * kh;
    int32_t k = 0;
    if (iy0 >= 0 && iy0 + kh <= in.h && ix0 >= 0 && ix0 + kw <= in.w) { /* inside: no tests */
        const int8_t *x0 = x + iy0 * in.w + ix0;
        if (kw <= 4 && ix0 + 4 <= in.w) { /* each row one 4-byte copy inside its row of x; the bytes past kw are
                                             overwritten by the next row or the padding below */
            int8_t *d = v;
            for (int32_t r = 0; r < rows; r++, d += kw)
                memcpy(d, x0 + row_off[r], 4);
            k = rows * kw;
        } else {
            for (int32_t r = 0; r < rows; r++)
                for (int32_t kx = 0; kx < kw; kx++)
                    v[k++] = x0[row_off[r] + kx];
        }
    } else {
        for (int32_t c = 0; c < in.c; c++)
            for (int32_t ky = 0; ky < kh; ky++) {
                const int32_t iy = iy0 + ky;
                for (int32_t kx = 0; kx < kw; kx++) {
                    const int32_t ix = ix0 + kx;
                    const int ok = iy >= 0 && iy < in.h && ix >= 0 && ix < in.w;
                    v[k++] = ok ? x[(c * in.h + iy) * in.w + ix] : x_zero;
                }
            }
    }
    while (k & 3)
        v[k++] = x_zero;
}

/* The packed words of one window of rows three values wide (kw 3) lying inside x, straight from x's rows (r at
 * x0 + row_off[r]), the same words the gather and pack make from its bytes in k order (row r's values are k = 3r ..
 * 3r + 2): per four rows one word load each (its fourth byte unused), A = SXTAB16 (bytes 0, 2), B = SXTAB16 ROR 8
 * (bytes 1, 3) with nz, and the three packs of four k by PKHBT / PKHTB:
 *   (k0, k2) = A0, (k1, k3) = lo(B0) lo(A1), (k4, k6) = lo(B1) lo(A2), (k5, k7) = hi(A1) lo(B2),
 *   (k8, k10) = hi(A2) lo(B3), (k9, k11) = A3;
 * the last one to three rows the same with 0 for the k past the window. About half the instructions of the
 * byte gather and its pack (the RGB stem's 27 values: 9 word loads instead of 9 loads, 9 stores and 7 loads).
 * rows3_quad: four rows' words v0 .. v3 into their three quads at qj (8 words a quad); rows3_tail: the last 1 .. 3
 * rows from r. */
static inline void rows3_quad(uint32_t v0, uint32_t v1, uint32_t v2, uint32_t v3, int32_t nz, int32_t *qj)
{
    const uint32_t a1 = (uint32_t)__sxtab16(nz, (int32_t)v1), a2 = (uint32_t)__sxtab16(nz, (int32_t)v2);
    const uint32_t b2 = (uint32_t)tt_sxtab16_ror8(nz, v2), b3 = (uint32_t)tt_sxtab16_ror8(nz, v3);
    qj[0] = __sxtab16(nz, (int32_t)v0);
    qj[1] = (int32_t)tt_pack_lo((uint32_t)tt_sxtab16_ror8(nz, v0), a1);
    qj[8] = (int32_t)tt_pack_lo((uint32_t)tt_sxtab16_ror8(nz, v1), a2);
    qj[9] = (int32_t)tt_pack_hi(a1, b2 << 16);
    qj[16] = (int32_t)tt_pack_hi(a2, b3 << 16);
    qj[17] = __sxtab16(nz, (int32_t)v3);
}

static inline void rows3_tail(const int8_t *x0, const int32_t *row_off, int32_t r, int32_t rows, int32_t nz,
                              int32_t *qj)
{
    const uint32_t v0 = tt_load32(x0 + row_off[r]);
    const uint32_t a0 = (uint32_t)__sxtab16(nz, (int32_t)v0), b0 = (uint32_t)tt_sxtab16_ror8(nz, v0);
    qj[0] = (int32_t)a0;
    if (rows - r == 1) { /* k3 past the window */
        qj[1] = (int32_t)(b0 & 0xFFFFu);
        return;
    }
    const uint32_t v1 = tt_load32(x0 + row_off[r + 1]);
    const uint32_t a1 = (uint32_t)__sxtab16(nz, (int32_t)v1), b1 = (uint32_t)tt_sxtab16_ror8(nz, v1);
    qj[1] = (int32_t)tt_pack_lo(b0, a1);
    if (rows - r == 2) { /* k6, k7 past the window */
        qj[8] = (int32_t)(b1 & 0xFFFFu);
        qj[9] = (int32_t)(a1 >> 16);
        return;
    }
    const uint32_t v2 = tt_load32(x0 + row_off[r + 2]); /* k9 .. k11 past the window */
    const uint32_t a2 = (uint32_t)__sxtab16(nz, (int32_t)v2), b2 = (uint32_t)tt_sxtab16_ror8(nz, v2);
    qj[8] = (int32_t)tt_pack_lo(b1, a2);
    qj[9] = (int32_t)tt_pack_hi(a1, b2 << 16);
    qj[16] = (int32_t)(a2 >> 16);
    qj[17] = 0;
}

/* Not inlined: inside general_dsp its registers took 16 more bytes of the stem's stack, the program's deepest. */
static __attribute__((noinline)) void pack_rows3(const int8_t *x0, const int32_t *row_off, int32_t rows, int32_t nz, int32_t *qj)
{
    int32_t r = 0;
    for (; r + 4 <= rows; r += 4, qj += 24)
        rows3_quad(tt_load32(x0 + row_off[r]), tt_load32(x0 + row_off[r + 1]), tt_load32(x0 + row_off[r + 2]),
                   tt_load32(x0 + row_off[r + 3]), nz, qj);
    if (r < rows)
        rows3_tail(x0, row_off, r, rows, nz, qj);
}

/* pack_rows3 for the eight windows of two packs at once, a stride s apart along one row of the output, all inside x:
 * they take the same rows of x, so each group of four rows is read at four pointers stepping by s, for all eight
 * windows in one call (per window a call, its rows' offsets and the position loop's tests were about half of
 * pack_rows3's cost). The same words in the same places. */
static __attribute__((noinline)) void pack8_rows3(const int8_t *x0, const int32_t *row_off, int32_t rows, int32_t s,
                                                  int32_t nz, int32_t *packed)
{
    const int32_t quads = (3 * rows + 3) >> 2;
    int32_t r = 0;
    for (; r + 4 <= rows; r += 4) {
        const int8_t *p0 = x0 + row_off[r], *p1 = x0 + row_off[r + 1], *p2 = x0 + row_off[r + 2];
        const int8_t *p3 = x0 + row_off[r + 3];
        for (int32_t h = 0; h < 2; h++) { /* pack h: windows 4h .. 4h + 3 */
            int32_t *qj = packed + h * 8 * quads + 6 * r;
            for (int32_t j = 0; j < 4; j++, qj += 2, p0 += s, p1 += s, p2 += s, p3 += s)
                rows3_quad(tt_load32(p0), tt_load32(p1), tt_load32(p2), tt_load32(p3), nz, qj);
        }
    }
    if (r < rows)
        for (int32_t j = 0; j < 8; j++)
            rows3_tail(x0 + j * s, row_off, r, rows, nz, packed + (j >> 2) * 8 * quads + 6 * r + 2 * (j & 3));
}

#if defined(__thumb2__)
/* y[0 .. 4 * packs) of one output in the SSAT form from `packs` packs of four windows (each 8 * quads words, one
 * after the other in q), cp its constants {bias, weights, 32 * quads, 0, m, k, t, y + 4 * packs}: per pack the
 * four sums start at the bias, take tt_pointwise_packed_1x4_dsp's loop (17 instructions per four k) and are
 * requantized and stored, all in one asm with the constants read by LDR / LDRD (14 registers). In C the pack's
 * sums, bias and requantization went through the stack around the loop: about 45 instructions a pack beside its
 * 7 x 17 for the RGB stem's 27 values, now 26. */
__attribute__((noinline)) static void packs_ssat(const int32_t *q, const int32_t *cp, int8_t *y)
{
    int32_t a0, a1, a2, a3, w, wv, w02, w13, e, o, end;
#define GEN_SSAT(A) "smmla %[" #A "], %[" #A "], %[wv], %[w02]\n\t" "asr %[" #A "], %[" #A "], %[w13]\n\t" \
    "ssat %[" #A "], #8, %[" #A "]\n\t" "strb %[" #A "], [%[y]], #1\n\t"
#define GEN_POS(A) "ldrd %[e], %[o], [%[q]], #8\n\t" "smlad %[" #A "], %[e], %[w02], %[" #A "]\n\t" \
    "smlad %[" #A "], %[o], %[w13], %[" #A "]\n\t"
    __asm__ volatile("1:\n\t" /* volatile: its only results are the stores */
                     "ldrd    %[a0], %[w], [%[cp]]\n\t"
                     "ldr     %[end], [%[cp], #8]\n\t"
                     "mov     %[a1], %[a0]\n\t"
                     "mov     %[a2], %[a0]\n\t"
                     "mov     %[a3], %[a0]\n\t"
                     "add     %[end], %[end], %[q]\n\t"
                     "2:\n\t"
                     "ldr     %[wv], [%[w]], #4\n\t"
                     "sxtb16  %[w02], %[wv]\n\t"
                     "sxtb16  %[w13], %[wv], ror #8\n\t"
                     GEN_POS(a0) GEN_POS(a1) GEN_POS(a2) GEN_POS(a3)
                     "cmp     %[q], %[end]\n\t"
                     "bne     2b\n\t"
                     "ldrd    %[wv], %[w02], [%[cp], #16]\n\t"
                     "ldr     %[w13], [%[cp], #24]\n\t"
                     GEN_SSAT(a0) GEN_SSAT(a1) GEN_SSAT(a2) GEN_SSAT(a3)
                     "ldr     %[end], [%[cp], #28]\n\t"
                     "cmp     %[y], %[end]\n\t"
                     "bne     1b"
                     : [q] "+r"(q), [y] "+r"(y), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),
                       [w] "=&r"(w), [wv] "=&r"(wv), [w02] "=&r"(w02), [w13] "=&r"(w13), [e] "=&r"(e), [o] "=&r"(o),
                       [end] "=&r"(end)
                     : [cp] "r"(cp)
                     : "cc", "memory");
#undef GEN_POS
#undef GEN_SSAT
}
#endif

#if defined(__thumb2__)
/* The RGB stem's windows (27 values: 7 quads) in two packs of four: y[0 .. 8) of one output with its eight sums in
 * registers, so each weight word serves eight windows (27 instructions per four k: a word load, two SXTB16, eight
 * LDRD and sixteen SMLAD, where packs_ssat takes two loops of 17), unrolled (every address an immediate offset, no
 * loop counter: 14 registers), the first four k summed onto the bias register itself. The constants
 * {m, k, t, y, zero} sit in q[112 .. 116], just past the two packs' 112 words (16 per quad), so that nothing but q
 * and w needs a register. The same sums in the same order, so the same bytes. pixels8_q7_ssat requantizes in the
 * SSAT form (tt_dsp.h); pixels8_q7_wide any 32 < shift <= 62 in the full int8 range, as tt_requantize does:
 * ((hi + 2^(t-1)) >> t) + zero saturated (k = 2^(t-1) <= 2^29 and |hi| < 2^30: no overflow), one ADD more per
 * output, for the channels with a tiny scale (MCUNet's stem has two at shifts 56 and 60). */
#define GEN8_MAC(A, ACC, OFF) "ldrd %[e], %[o], [%[q], #" OFF "]\n\t" \
    "smlad %[" #A "], %[e], %[w02], %[" #ACC "]\n\t" "smlad %[" #A "], %[o], %[w13], %[" #A "]\n\t"
#define GEN8_WEIGHTS(G) "ldr %[w02], [%[w], #4 * " #G "]\n\t" "sxtb16 %[w13], %[w02], ror #8\n\t" \
    "sxtb16 %[w02], %[w02]\n\t"
#define GEN8_QUAD(G) GEN8_WEIGHTS(G) \
    GEN8_MAC(a0, a0, "32 * " #G) GEN8_MAC(a1, a1, "32 * " #G " + 8") GEN8_MAC(a2, a2, "32 * " #G " + 16") \
    GEN8_MAC(a3, a3, "32 * " #G " + 24") GEN8_MAC(a4, a4, "224 + 32 * " #G) \
    GEN8_MAC(a5, a5, "224 + 32 * " #G " + 8") GEN8_MAC(a6, a6, "224 + 32 * " #G " + 16") \
    GEN8_MAC(a7, a7, "224 + 32 * " #G " + 24")
#define GEN8_SUMS GEN8_WEIGHTS(0) \
    GEN8_MAC(a1, a0, "8") GEN8_MAC(a2, a0, "16") GEN8_MAC(a3, a0, "24") GEN8_MAC(a4, a0, "224") \
    GEN8_MAC(a5, a0, "232") GEN8_MAC(a6, a0, "240") GEN8_MAC(a7, a0, "248") GEN8_MAC(a0, a0, "0") \
    GEN8_QUAD(1) GEN8_QUAD(2) GEN8_QUAD(3) GEN8_QUAD(4) GEN8_QUAD(5) GEN8_QUAD(6) \
    "ldrd    %[w02], %[e], [%[q], #448]\n\t" /* m, k */ \
    "ldrd    %[w13], %[o], [%[q], #456]\n\t" /* t, y */
#define GEN8_SSAT(A, J) "smmla %[" #A "], %[" #A "], %[w02], %[e]\n\t" "asr %[" #A "], %[" #A "], %[w13]\n\t" \
    "ssat %[" #A "], #8, %[" #A "]\n\t" "strb %[" #A "], [%[o], #" #J "]\n\t"
#define GEN8_WIDE(A, J) "smmla %[" #A "], %[" #A "], %[w02], %[e]\n\t" "asr %[" #A "], %[" #A "], %[w13]\n\t" \
    "add %[" #A "], %[" #A "], %[w]\n\t" "ssat %[" #A "], #8, %[" #A "]\n\t" "strb %[" #A "], [%[o], #" #J "]\n\t"
#define GEN8_OUTPUTS [a0] "+r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4), \
    [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [w02] "=&r"(w02), [w13] "=&r"(w13), [e] "=&r"(e), [o] "=&r"(o), \
    [w] "+r"(w)
__attribute__((noinline)) static void pixels8_q7_ssat(const int32_t *q, const int8_t *w, int32_t bias)
{
    int32_t a0 = bias, a1, a2, a3, a4, a5, a6, a7, w02, w13, e, o;
    __asm__ volatile(GEN8_SUMS /* volatile: its only results are the stores */
                     GEN8_SSAT(a0, 0) GEN8_SSAT(a1, 1) GEN8_SSAT(a2, 2) GEN8_SSAT(a3, 3)
                     GEN8_SSAT(a4, 4) GEN8_SSAT(a5, 5) GEN8_SSAT(a6, 6) GEN8_SSAT(a7, 7)
                     : GEN8_OUTPUTS
                     : [q] "r"(q)
                     : "memory");
}

__attribute__((noinline)) static void pixels8_q7_wide(const int32_t *q, const int8_t *w, int32_t bias)
{
    int32_t a0 = bias, a1, a2, a3, a4, a5, a6, a7, w02, w13, e, o;
    __asm__ volatile(GEN8_SUMS
                     "ldr     %[w], [%[q], #464]\n\t" /* zero: w is done with */
                     GEN8_WIDE(a0, 0) GEN8_WIDE(a1, 1) GEN8_WIDE(a2, 2) GEN8_WIDE(a3, 3)
                     GEN8_WIDE(a4, 4) GEN8_WIDE(a5, 5) GEN8_WIDE(a6, 6) GEN8_WIDE(a7, 7)
                     : GEN8_OUTPUTS
                     : [q] "r"(q)
                     : "memory");
}
#undef GEN8_OUTPUTS
#undef GEN8_WIDE
#undef GEN8_SSAT
#undef GEN8_SUMS
#undef GEN8_QUAD
#undef GEN8_WEIGHTS
#undef GEN8_MAC

/* Every output of the RGB stem's two packs of 7 quads on Thumb-2 when all are in the full int8 range with shifts
 * above 32 (else outputs_ssat and outputs_general): pixels8_q7_ssat or pixels8_q7_wide per output, its constants
 * written past the packs (`packed` has room: GENERAL_DSP_MAX_K * 2 words). A loop of its own, so that its frame
 * and the others' hold only their own locals. */
__attribute__((noinline)) static void outputs_q7(int32_t *packed, const int8_t *w, int32_t k_total,
                                                 const int8_t *w_last, const int32_t *bias, const int32_t *mult,
                                                 const int32_t *shift, int32_t y_zero, int32_t n_out, int8_t *y,
                                                 int32_t y_plane)
{
    int32_t *cq = packed + 16 * 7;
    cq[4] = y_zero;
    for (int32_t o = 0; o < n_out; o++, w += k_total, y += y_plane) {
        const int8_t *wo = o + 1 < n_out ? w : w_last;
        const int32_t t = shift[o] - 32;
        if (t <= TT_SSAT_MAX_SHIFT - 32) {
            cq[0] = mult[o], cq[1] = tt_ssat_k(t, y_zero), cq[2] = t, cq[3] = (int32_t)(intptr_t)y;
            pixels8_q7_ssat(packed, wo, bias[o]);
        } else {
            cq[0] = mult[o], cq[1] = 1 << (t - 1), cq[2] = t, cq[3] = (int32_t)(intptr_t)y;
            pixels8_q7_wide(packed, wo, bias[o]);
        }
    }
}
#endif

/* y[o * y_plane + 0 .. 4 * packs) from the sums over `packs` packs of four windows (each 8 * quads words) of
 * every output o in the SSAT form (tt_dsp.h): an output's bias, weights and constants serve all its
 * positions, and the loop's registers hold nothing else (on Thumb-2 packs_ssat). */
__attribute__((noinline)) static void outputs_ssat(const int32_t *packed, int32_t quads, int32_t packs,
                                                   const int8_t *w, int32_t k_total, const int8_t *w_last,
                                                   const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                                   int32_t y_zero, int32_t n_out, int8_t *y, int32_t y_plane)
{
    for (int32_t o = 0; o < n_out; o++, w += k_total, y += y_plane) {
        if (!tt_ssat_form(shift[o], -128, 127))
            continue;
        const int8_t *wo = o + 1 < n_out ? w : w_last;
        const int32_t t = shift[o] - 32, k = tt_ssat_k(t, y_zero), m = mult[o];
#if defined(__thumb2__)
        const int32_t cp[8] __attribute__((aligned(8))) = {bias[o], (int32_t)(intptr_t)wo, 32 * quads, 0, m, k, t,
                                                           (int32_t)(intptr_t)(y + 4 * packs)};
        packs_ssat(packed, cp, y);
#else
        for (int32_t i = 0; i < packs; i++) {
            int32_t a[4] = {bias[o], bias[o], bias[o], bias[o]};
            tt_pointwise_packed_1x4_dsp(packed + i * 8 * quads, quads, wo, a);
            y[4 * i] = tt_requantize_hi_ssat(a[0], m, t, k);
            y[4 * i + 1] = tt_requantize_hi_ssat(a[1], m, t, k);
            y[4 * i + 2] = tt_requantize_hi_ssat(a[2], m, t, k);
            y[4 * i + 3] = tt_requantize_hi_ssat(a[3], m, t, k);
        }
#endif
    }
}

/* The same for the outputs outside the SSAT form (all of them when the clamp is narrower than int8; else a
 * rare channel, e.g. one with a tiny scale), by tt_requantize. */
__attribute__((noinline)) static void outputs_general(const int32_t *packed, int32_t quads, int32_t packs,
                                                      const int8_t *w, int32_t k_total, const int8_t *w_last,
                                                      const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                                      const tt_quant_params *q, int32_t n_out, int8_t *y,
                                                      int32_t y_plane)
{
    const int32_t y_zero = q->y_zero, lo = q->act_min, hi = q->act_max;
    for (int32_t o = 0; o < n_out; o++) {
        if (tt_ssat_form(shift[o], lo, hi))
            continue;
        const int8_t *wo = o + 1 < n_out ? w + o * k_total : w_last;
        int8_t *yo = y + o * y_plane;
        for (int32_t i = 0; i < packs; i++) {
            int32_t a[4] = {bias[o], bias[o], bias[o], bias[o]};
            tt_pointwise_packed_1x4_dsp(packed + i * 8 * quads, quads, wo, a);
            for (int32_t j = 0; j < 4; j++)
                yo[4 * i + j] = tt_requantize(a[j], mult[o], shift[o], y_zero, lo, hi);
        }
    }
}

/* The whole output of a groups-1 conv whose window has k_total <= GENERAL_DSP_MAX_K values: four output
 * positions at a time (eight while k_total <= 32: two packs in the same buffer), their windows gathered once
 * and packed as tt_pointwise_pack4_dsp packs four pixels' channels (per four k, per position
 * (v[k], v[k+2]), (v[k+1], v[k+3]) minus x_zero, the padding 0), so every output channel is
 * tt_pointwise_packed_1x4_dsp over them (one weight word, four LDRD, eight SMLAD per four k) and its
 * requantization (the last, partial step by tt_requantize4): the same int32 sums, so the same bytes. An output's
 * weights are read by words: the last word of each but the last output reads up to 4 * quads - k_total
 * (< k_total for k_total >= 2) of the next output's weights, which meet zeros; the last output reads a
 * zero-padded copy, so nothing past w is read. Output channel o at y + o * y_plane. */
static void general_dsp(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                        const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                        const tt_quant_params *q, int8_t *y, int32_t y_plane, tt_dims out)
{
    const int32_t k_total = in.c * kh * kw, quads = (k_total + 3) >> 2, hw = out.h * out.w, s = conv->stride;
    const int32_t packs = quads <= GENERAL_DSP_MAX_K / 8 ? 2 : 1, step = 4 * packs;
    const int32_t y_zero = q->y_zero, lo = q->act_min, hi = q->act_max; /* locals: int8 stores alias anything */
    const int8_t x_zero = (int8_t)q->x_zero;
    const int32_t pad_top = conv->pad_top, pad_left = conv->pad_left; /* locals: the window's byte stores */
    const int32_t nz = (int32_t)(((uint32_t)-q->x_zero & 0xFFFFu) * 0x00010001u); /* (-x_zero, -x_zero) */
    int32_t packed[GENERAL_DSP_MAX_K * 2]; /* 8 words per four k and four positions */
    int32_t row_off[GENERAL_DSP_MAX_K]; /* the window's rows: in.c * kh <= k_total */
    int8_t window[GENERAL_DSP_MAX_K + 4], w_last[GENERAL_DSP_MAX_K];
    for (int32_t r = 0; r < in.c * kh; r++)
        row_off[r] = ((r / kh) * in.h + r % kh) * in.w;
    memcpy(w_last, w + (out.c - 1) * k_total, (size_t)k_total);
    memset(w_last + k_total, 0, (size_t)(4 * quads - k_total));
    int all_ssat = 1, all_above32 = 1;
    for (int32_t o = 0; o < out.c; o++) {
        all_ssat &= tt_ssat_form(shift[o], lo, hi);
        all_above32 &= shift[o] > 32;
    }
    int32_t oy = 0, ox = 0; /* the position p */
    for (int32_t p = 0; p < hw; p += step) {
        for (int32_t j = 0; j < step; j++) { /* positions p .. p+step-1; past the end: the last one again */
            const int32_t iy0 = oy * s - pad_top, ix0 = ox * s - pad_left;
            int32_t *qj = packed + (j >> 2) * 8 * quads + 2 * (j & 3);
            if (kw == 3 && iy0 >= 0 && iy0 + kh <= in.h && ix0 >= 0 && ix0 + 4 <= in.w) {
                if (j == 0 && step == 8 && ox + 8 <= out.w && ix0 + 7 * s + 4 <= in.w) { /* all eight in one row */
                    pack8_rows3(x + iy0 * in.w + ix0, row_off, in.c * kh, s, nz, packed);
                    j = 7, ox += 7;
                } else {
                    pack_rows3(x + iy0 * in.w + ix0, row_off, in.c * kh, nz, qj);
                }
            } else {
                gather_window(x, in, kh, kw, iy0, ix0, row_off, x_zero, window);
                for (int32_t g = 0; g < quads; g++, qj += 8) {
                    const uint32_t v = tt_load32(window + 4 * g);
                    qj[0] = __sxtab16(nz, (int32_t)v);
                    qj[1] = tt_sxtab16_ror8(nz, v);
                }
            }
            if (p + j + 1 < hw && ++ox == out.w) {
                ox = 0;
                oy++;
            }
        }
        if (p + step <= hw) {
#if defined(__thumb2__)
            if (lo == -128 && hi == 127 && all_above32 && quads == 7 && packs == 2) { /* the RGB stem's */
                outputs_q7(packed, w, k_total, w_last, bias, mult, shift, y_zero, out.c, y + p, y_plane);
                continue;
            }
#endif
            if (lo == -128 && hi == 127)
                outputs_ssat(packed, quads, packs, w, k_total, w_last, bias, mult, shift, y_zero, out.c, y + p,
                             y_plane);
            if (!all_ssat)
                outputs_general(packed, quads, packs, w, k_total, w_last, bias, mult, shift, q, out.c, y + p,
                                y_plane);
            continue;
        }
        for (int32_t o = 0; o < out.c; o++)
            for (int32_t i = 0; i < packs && p + 4 * i < hw; i++) {
                int32_t a[4] = {bias[o], bias[o], bias[o], bias[o]};
                const int8_t *wo = o + 1 < out.c ? w + o * k_total : w_last;
                tt_pointwise_packed_1x4_dsp(packed + i * 8 * quads, quads, wo, a);
                int8_t *yo = y + o * y_plane + p + 4 * i;
                if (p + 4 * i + 4 <= hw) {
                    tt_requantize4(a, mult[o], shift[o], y_zero, lo, hi, yo);
                } else {
                    for (int32_t j = 0; p + 4 * i + j < hw; j++)
                        yo[j] = tt_requantize(a[j], mult[o], shift[o], y_zero, lo, hi);
                }
            }
    }
}
#endif

/* The portable loop, output channel o at y + o * y_plane (arguments checked by the caller); a function of its own,
 * so that the entries' frames hold only their arguments. */
static __attribute__((noinline)) void general_portable(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh,
                                                       int32_t kw, const int32_t *bias, const int32_t *mult,
                                                       const int32_t *shift, const tt_conv_params *conv,
                                                       const tt_quant_params *q, int8_t *y, int32_t y_plane,
                                                       tt_dims out)
{
    const int32_t cg = in.c / conv->groups, og = out.c / conv->groups, s = conv->stride;
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *xg = x + (o / og) * cg * in.h * in.w; /* first input channel of o's group */
        const int8_t *wo = w + o * cg * kh * kw;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * s - conv->pad_top;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in.h - iy0 < kh ? in.h - iy0 : kh;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * s - conv->pad_left;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in.w - ix0 < kw ? in.w - ix0 : kw;
                int32_t acc = bias[o];
                for (int32_t c = 0; c < cg; c++)
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *xr = xg + (c * in.h + iy0 + ky) * in.w + ix0;
                        const int8_t *wr = wo + (c * kh + ky) * kw;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                            acc += (xr[kx] - q->x_zero) * wr[kx];
                    }
                y[o * y_plane + oy * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
}

/* The DSP path or the portable loop, output channel o at y + o * y_plane (arguments checked by the caller). */
static inline int conv_general(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                               const int32_t *bias, const int32_t *mult, const int32_t *shift,
                               const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, int32_t y_plane,
                               tt_dims out)
{
#if TT_USE_DSP
    /* a window of one value would read words past the next output's weights: the portable loop */
    if (conv->groups == 1 && in.c * kh * kw >= 2 && in.c * kh * kw <= GENERAL_DSP_MAX_K) {
        general_dsp(x, in, w, kh, kw, bias, mult, shift, conv, q, y, y_plane, out);
        return TT_OK;
    }
#endif
    general_portable(x, in, w, kh, kw, bias, mult, shift, conv, q, y, y_plane, out);
    return TT_OK;
}

int tt_conv2d_general_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_ERR_ARG;
#if defined(__AVX2__)
    if (tt_conv_general_avx2(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_OK;
#endif
    return conv_general(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out.h * out.w, out);
}

#if TT_USE_DSP
int tt_conv2d_general_strided_out_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                                     const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                     const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, int32_t y_plane,
                                     tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out) || y_plane < out.h * out.w)
        return TT_ERR_ARG;
    return conv_general(x, in, w, kh, kw, bias, mult, shift, conv, q, y, y_plane, out);
}
#endif
