/*
 * The Helium (TT_USE_MVE) path of tt_conv2d_1x1_s8, tt_conv2d_1x1_strided_out_s8 and tt_conv2d_1x1_split_s8
 * (tt_pointwise_mve.h) against the portable loops (ref_kernels.c: the same sources with TT_NO_DSP), byte for byte, on
 * pseudo-random cases built for its edges: input channels 1..40 (tails of 16 and of 8: the gather's predicated half),
 * multiples of 16 and one off, 120..300 (both sides of 256: groups of four pixels, down to one a block, or one pixel at
 * a time), 257..1024 (one pixel at a time, four outputs a turn) and a little above (the DSP path, which the MVE build
 * keeps), a quarter of them split in two weight parts at any channel (each part's chunks and tails);
 * 1..40 outputs (odd: the one-output loop); 1..90 pixels (tails of four; several blocks when the channels are few)
 * and a few maps at and above the gather's limit (TT_PW_MVE_MAX_PIXELS); output channels further apart than h * w
 * (tt_conv2d_1x1_strided_out_s8, the fused row blocks' entry), checked or with a form from an earlier call;
 * extreme zero points (-128, 127), multipliers (2^30, 2^31 - 1), activation ranges (narrow, one value),
 * biases up to the accumulator's bound; shifts mostly above 32 (the vector requantization, up to 62: a rounding
 * shift of 30) and a sixth in 1..32 (the lane-by-lane tt_requantize; 32 and 31 a quarter each of those); a tenth of the cases at the accumulator's
 * extremes (every x at one end of int8 and the zero point at the other, every weight -128 or 127) and a tenth near
 * zero (x at its zero point but for one value in 64, biases within +-300: the sums small enough for shifts near 31 to
 * give outputs inside int8, where their rounding shows).
 *
 * Built bare metal for the Cortex-M55 under QEMU mps3-an547 by tests/codegen/test_pointwise_mve.py (output and exit
 * through semihosting, link.ld). Prints "mve check (TT_USE_MVE=1): <cases> cases, <bytes> bytes, <n> mismatches"
 * and exits 0 when n == 0 and the MVE path was built.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tt_conv2d_1x1_strided.h"
#include "tt_kernels.h"
#include "tt_pointwise_mve.h" /* TT_USE_MVE */

#ifndef CASES
#define CASES 1500
#endif

int ref_conv2d_1x1_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                      const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                      tt_dims out);
int ref_conv2d_1x1_split_s8(const int8_t *x, tt_dims in, const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                            const int32_t *bias, const int32_t *mult, const int32_t *shift,
                            const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out);

#define MAX_CHANNELS 1024 /* tt_pointwise_mve_ok's limit for one part */

#define CHECK_SEED 0x2468ace1u
#include "../check_harness.h" /* put, put_int, finish, rnd, uniform */

static int32_t one_of(int32_t a, int32_t b, int32_t otherwise) /* a or b a quarter of the time each */
{
    const int32_t r = uniform(0, 3);
    return r == 0 ? a : r == 1 ? b : otherwise;
}

static long cases, bytes, mismatches;

static void check_case(void)
{
    const int32_t r = uniform(0, 19);
    const int32_t c = r < 10 ? uniform(1, 40)
                      : r < 13 ? 16 * uniform(1, 8) + uniform(-1, 1)
                      : r < 16 ? uniform(120, 300)
                      : r < 18 ? uniform(257, MAX_CHANNELS)
                               : uniform(MAX_CHANNELS - 3, MAX_CHANNELS + 40);
    const int32_t o = uniform(1, 40);
    const int big = uniform(0, 99) == 0 && c <= 24; /* maps around the gather's pixel limit */
    const int32_t hw = big ? 65535 / 7 + uniform(-2, 2) : uniform(0, 3) ? uniform(1, 20) : uniform(21, 90);
    const int32_t iw = big ? hw : uniform(1, hw);
    const tt_dims in = {c, hw / iw, iw}; /* h * w <= hw */
    const tt_dims out = {o, in.h, in.w};
    const int32_t n_x = c * in.h * in.w, n_out = o * in.h * in.w;
    const int32_t kind = uniform(0, 9), extreme = kind == 0, quiet = kind == 1;
    const int32_t x_end = uniform(0, 1) ? -128 : 127;
    const tt_quant_params q = {extreme ? (x_end == -128 ? 127 : -128) : one_of(-128, 127, uniform(-128, 127)),
                               one_of(-128, 127, uniform(-128, 127)), 0, 0};
    tt_quant_params qq = q;
    const int32_t ra = uniform(0, 7);
    qq.act_min = ra < 5 ? -128 : uniform(-128, 127);
    qq.act_max = ra < 5 ? 127 : ra == 5 ? qq.act_min : uniform(qq.act_min, 127);
    int8_t *x = malloc((size_t)n_x), *w = malloc((size_t)(o * c));
    for (int32_t i = 0; i < n_x; i++)
        x[i] = (int8_t)(extreme ? x_end : quiet && uniform(0, 63) ? q.x_zero : uniform(-128, 127));
    for (int32_t i = 0; i < o * c; i++)
        w[i] = (int8_t)(extreme ? (uniform(0, 1) ? -128 : 127) : uniform(-128, 127));
    int32_t *bias = malloc((size_t)o * 4), *mult = malloc((size_t)o * 4), *shift = malloc((size_t)o * 4);
    int32_t spread = 0; /* ~log2 of the sums' spread: outputs mostly inside int8 */
    while ((1L << (2 * spread)) < (long)c * 74 * 74 * 74 * 74 / 1600)
        spread++;
    const int32_t limit = 2147483647 - 256 * 128 * c; /* bias + sum (x - x_zero) * w stays in int32 */
    for (int32_t i = 0; i < o; i++) {
        bias[i] = quiet ? uniform(-300, 300)
                  : uniform(0, 5) ? uniform(-(1 << 16), 1 << 16) : one_of(-limit, limit, uniform(-limit, limit));
        mult[i] = one_of(0x40000000, 0x7fffffff, (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu)));
        shift[i] = uniform(0, 5) ? (uniform(0, 3) ? 30 + spread + uniform(-2, 2) : uniform(33, 62))
                                  : one_of(32, 31, uniform(1, 32));
    }
    int8_t *y = malloc((size_t)n_out), *y_ref = malloc((size_t)n_out);
    const tt_conv_params conv = {1, 0, 0, 0, 0, 1};
    int rc, rc_ref = ref_conv2d_1x1_s8(x, in, w, bias, mult, shift, &conv, &qq, y_ref, out);
    const int32_t plane = in.h * in.w;
    const int32_t way = uniform(0, 3); /* 0: strided out, 1: split, else plain */
    if (way == 1 && c >= 2) { /* w_lead (o, k) and w_rest (o, c - k) cut from w (o, c) */
        int32_t k = uniform(0, 1) ? uniform(1, c - 1) : 16 * uniform(0, c / 16) + uniform(-1, 1); /* half near 16s */
        k = k < 1 ? 1 : k > c - 1 ? c - 1 : k;
        int8_t *lead = malloc((size_t)(o * k)), *rest = malloc((size_t)(o * (c - k)));
        for (int32_t i = 0; i < o; i++) {
            memcpy(lead + i * k, w + i * c, (size_t)k);
            memcpy(rest + i * (c - k), w + i * c + k, (size_t)(c - k));
        }
        rc = tt_conv2d_1x1_split_s8(x, in, lead, rest, k, bias, mult, shift, &conv, &qq, y, out);
        free(lead), free(rest);
    } else if (way == 0 && o >= 4) { /* output channels y_plane > h * w apart, checked or with an earlier form */
        const int32_t y_plane = plane + uniform(1, 2 * in.w);
        int8_t *ys = malloc((size_t)(o * y_plane));
        int form = tt_conv2d_1x1_strided_out_s8(x, in, w, bias, mult, shift, &qq, ys, y_plane, out, -1);
        if (form >= 0 && uniform(0, 1)) {
            memset(ys, 0x5a, (size_t)(o * y_plane));
            form = tt_conv2d_1x1_strided_out_s8(x, in, w, bias, mult, shift, &qq, ys, y_plane, out, form);
        }
        rc = form == 0 || form == 1 ? TT_OK : TT_ERR_ARG;
        for (int32_t i = 0; i < o; i++)
            memcpy(y + i * plane, ys + i * y_plane, (size_t)plane);
        free(ys);
    } else {
        rc = tt_conv2d_1x1_s8(x, in, w, bias, mult, shift, &conv, &qq, y, out);
    }
    if (rc != TT_OK || rc_ref != TT_OK || memcmp(y, y_ref, (size_t)n_out) != 0) {
        mismatches++;
        put("MISMATCH c=");
        put_int(c);
        put(" o=");
        put_int(o);
        put(" h=");
        put_int(in.h);
        put(" w=");
        put_int(in.w);
        put("\n");
    }
    cases++;
    bytes += n_out;
    free(x), free(w), free(y), free(y_ref), free(bias), free(mult), free(shift);
}

int main(void)
{
    for (int i = 0; i < CASES; i++)
        check_case();
    put(TT_USE_MVE ? "mve check (TT_USE_MVE=1): " : "mve check (TT_USE_MVE=0): ");
    put_int(cases);
    put(" cases, ");
    put_int(bytes);
    put(" bytes, ");
    put_int(mismatches);
    put(" mismatches\n");
    finish(mismatches != 0 || !TT_USE_MVE);
    return 0;
}
