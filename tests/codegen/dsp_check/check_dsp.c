/*
 * The TT_USE_DSP paths of tt_conv2d_1x1_s8, tt_conv2d_1x1_split_s8, tt_depthwise_conv2d_s8 (a quarter of its
 * cases 3x3, 5x5 or 7x7 at stride 1 or 2 with four to sixteen outputs a row, its row loops, half of them one output
 * row of the row kernels' windows, also as a ring of rows (tt_depthwise_conv2d_ring_s8); a third through
 * tt_depthwise_conv2d_strided_s8, channels further apart than h * w, a third written over the
 * input by tt_depthwise_inplace_s8 in two calls as the in-place template makes them) and
 * tt_conv2d_general_s8 (dense, channels 1..8 so that most windows fit its im2col path, a quarter the RGB stem's
 * 3 x 3 over 3 channels: eight windows an output in registers; a third of them 3 wide: the
 * windows inside x packed straight from its rows, one to four rows past the last four; a third of the plain 1x1
 * cases from four outputs through tt_conv2d_1x1_strided_out_s8, output channels further apart than h * w; then
 * ROW_CASES fused row blocks through tt_conv_dw_pw_rows_s8's DSP loop, a quarter of them from a conv other than a
 * 1x1 as the stem's (tt_conv2d_general_strided_out_s8), check_rows; then CHAIN_CASES streamed stems alone and
 * chained with a block, check_chain; then ADD_CASES residual adds, tt_add_s8, check_add; then RESID_CASES row blocks
 * with their residual add written over their input, tt_conv_dw_pw_rows_add_s8, check_rows_add) against their portable
 * loops (ref_kernels.c: the same sources with TT_NO_DSP), byte for byte, on pseudo-random
 * cases: channels 1..24 (odd too; an eighth of the other 1x1 cases one output, expand_depthwise's calls on large inputs;
 * a quarter exactly 8 or 16, the 8- and 16-channel paths on maps of up to 400 pixels: several blocks of pixels and
 * their tails; a quarter of the rest a multiple of 4 up to 64, the eight-pixel path's whole range;
 * a quarter of the 1x1 cases 120..300 input channels
 * and 1..72 outputs on maps up to 9 x 9: both sides of the one-pack limit, the packed chunks of wider inputs
 * with their tails, several blocks of outputs), h, w 1..20 (depthwise up to 40: maps too large for its padded
 * channel copy), kernels 1..7 (even too), strides 1..3 (mostly 1, where the DSP paths apply),
 * asymmetric padding, random zero points, biases, multipliers, shifts (a sixteenth anywhere in 31..62: the
 * SSAT form's k = 2^(t-1) + zero * 2^t at its largest, and the general formula above TT_SSAT_MAX_SHIFT).
 * Buffers are malloc'd at their exact size, so an over-read shows under AddressSanitizer.
 *
 * Built two ways by tests/codegen/test_kernels_forward.py: for the host (intrinsics emulated by
 * ../acle_emul/arm_acle.h, -fsanitize=address,undefined) and for Cortex-M4 / M7 bare metal under
 * QEMU (mps2-an386 / mps2-an500, output and exit through semihosting, link.ld; the startup code is in
 * ../check_harness.h). Prints "dsp check: <cases> cases, <bytes> bytes, <n> mismatches" and exits 0 when n == 0.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tt_conv2d_1x1_strided.h"
#include "tt_conv2d_general_strided.h"
#include "tt_depthwise_strided.h"
#include "tt_kernels.h"

#ifndef CASES
#define CASES 2000
#endif
#ifndef ROW_CASES
#define ROW_CASES 300
#endif
#ifndef CHAIN_CASES
#define CHAIN_CASES 40
#endif
#ifndef ADD_CASES
#define ADD_CASES 400
#endif
#ifndef RESID_CASES
#define RESID_CASES 60
#endif

int ref_conv2d_1x1_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                      const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                      tt_dims out);
int ref_depthwise_conv2d_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                            const int32_t *bias, const int32_t *mult, const int32_t *shift,
                            const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out);
int ref_conv2d_general_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                          const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                          const tt_quant_params *q, int8_t *y, tt_dims out);
int ref_conv2d_1x1_split_s8(const int8_t *x, tt_dims in, const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                            const int32_t *bias, const int32_t *mult, const int32_t *shift,
                            const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out);

#define CHECK_SEED 0x12345678u
#include "../check_harness.h" /* put, put_int, finish, rnd, uniform */

static int8_t *random_s8(int32_t n)
{
    int8_t *p = malloc((size_t)n);
    for (int32_t i = 0; i < n; i++)
        p[i] = (int8_t)uniform(-128, 127);
    return p;
}

static long cases, bytes, mismatches;

enum { POINTWISE, DEPTHWISE, SPLIT, GENERAL, KINDS };
static const char *const kind_names[KINDS] = {"1x1", "depthwise", "1x1 split", "general"};

static void check_case(int kind)
{
    const int depthwise = kind == DEPTHWISE, windowed = depthwise || kind == GENERAL;
    const int32_t kernels[] = {1, 2, 3, 3, 4, 5, 7};
    const int wide = (kind == POINTWISE || kind == SPLIT) && uniform(0, 3) == 0; /* around TT_PW_PACK_CHANNELS */
    /* an eighth of the other 1x1 cases one output (expand_depthwise's calls on large inputs) */
    const int one = (kind == POINTWISE) && !wide && uniform(0, 7) == 0;
    const int stem = kind == GENERAL && uniform(0, 3) == 0; /* a quarter the RGB stem's 3 x 3 x 3 (pixels8_q7_ssat) */
    const int32_t c = kind == GENERAL ? (stem ? 3 : uniform(1, 8))
                      : wide          ? (uniform(0, 1) ? uniform(120, 136) : uniform(137, 300))
                      : kind == POINTWISE && uniform(0, 3) == 0 ? 8 * uniform(1, 2) /* the 8 / 16-channel paths
                                                                                       (pixels in blocks) */
                      : kind == POINTWISE && uniform(0, 2) == 0 ? 4 * uniform(1, 16) /* eight pixels an output
                                                                                        (pixels8_ssat) up to 64 */
                      : kind == SPLIT && uniform(0, 1) ? 4 * uniform(2, 16) /* packed8_split_dsp up to 64 */
                                      : uniform(kind == SPLIT ? 2 : 1, 24);
    /* wide: up to 72 outputs (> 32: several blocks of outputs) */
    const int32_t o = depthwise ? c : wide ? uniform(1, 72) : one ? 1 : uniform(1, 24);
    /* a quarter of the depthwise cases 3x3, 5x5 or 7x7 at stride 1 or 2, four outputs a row or more
     * (channel_3x3_ssat, channel_wide_ssat) */
    const int dw3 = depthwise && uniform(0, 3) == 0, dk = dw3 ? 3 + 2 * (int)uniform(0, 2) : 3;
    /* a third of the general cases three values wide (the windows inside x packed straight from its rows) */
    const int rows3 = kind == GENERAL && uniform(0, 2) == 0;
    const int32_t kh = dw3 ? dk : stem ? 3 : windowed ? kernels[rnd() % 7] : 1;
    const int32_t kw = dw3 ? dk : rows3 || stem ? 3 : windowed ? kernels[rnd() % 7] : 1;
    tt_conv_params conv = {dw3 ? uniform(1, 2) : uniform(1, 4) <= 2 ? 1 : uniform(1, 3), 0, 0, 0, 0, depthwise ? c : 1};
    if (uniform(0, 2) == 0 || kh > 1 || kw > 1) { /* 1x1: mostly without padding (the DSP case) */
        conv.pad_top = uniform(0, kh - (kh > 1));
        conv.pad_bottom = uniform(0, kh - (kh > 1));
        conv.pad_left = uniform(0, kw - (kw > 1));
        conv.pad_right = uniform(0, kw - (kw > 1));
    }
    /* half of those one output row of the row kernels' windows: kh rows with the padding above and below, padded
     * on the left (a ring of rows through tt_depthwise_conv2d_ring_s8 when the channels lie apart) */
    const int row_window = dw3 && uniform(0, 1);
    if (row_window) {
        conv.pad_top = uniform(0, kh - 1), conv.pad_bottom = uniform(0, kh - 1 - conv.pad_top);
        conv.pad_left = conv.pad_left ? conv.pad_left : 1;
    }
    const int32_t hmin = kh - conv.pad_top - conv.pad_bottom, wmin = kw - conv.pad_left - conv.pad_right;
    const int32_t size = depthwise && uniform(0, 3) == 0 ? 40 : wide ? 9 : 20; /* 40: maps the padded copy does not fit */
    const int32_t w4 = (4 * uniform(1, 4) - 1) * conv.stride + kw - conv.pad_left - conv.pad_right; /* out.w 4..16 */
    const tt_dims in = {c, row_window ? hmin : uniform(hmin > 1 ? hmin : 1, size),
                        dw3 && w4 > 0 ? w4 : uniform(wmin > 1 ? wmin : 1, size)};
    const tt_dims out = {o, (in.h + conv.pad_top + conv.pad_bottom - kh) / conv.stride + 1,
                         (in.w + conv.pad_left + conv.pad_right - kw) / conv.stride + 1};
    const int32_t fan_in = (depthwise ? 1 : c) * kh * kw, n_out = out.c * out.h * out.w;
    int32_t spread = 0; /* ~log2(sqrt(fan_in) * 74 * 74 / 40): outputs mostly inside int8 */
    while ((1L << (2 * spread)) < (long)fan_in * 74 * 74 * 74 * 74 / 1600)
        spread++;
    const int32_t y_zero = uniform(-128, 127);
    const tt_quant_params q = {uniform(-128, 127), y_zero, uniform(0, 1) ? -128 : y_zero, 127};

    int8_t *x = random_s8(in.c * in.h * in.w), *w = random_s8(o * (depthwise ? 1 : c) * kh * kw);
    int8_t *y = malloc((size_t)n_out), *y_ref = malloc((size_t)n_out);
    int32_t *bias = malloc((size_t)o * 4), *mult = malloc((size_t)o * 4), *shift = malloc((size_t)o * 4);
    const int32_t limit = 2147483647 - 255 * 128 * fan_in;
    for (int32_t i = 0; i < o; i++) {
        bias[i] = uniform(0, 9) ? uniform(-(1 << 16), 1 << 16) : uniform(-limit, limit);
        mult[i] = (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu));
        shift[i] = uniform(0, 15) ? 30 + spread + uniform(-2, 2) : uniform(31, 62); /* both sides of TT_SSAT_MAX_SHIFT */
    }
    int rc, rc_ref;
    const int32_t dw_way = kind == DEPTHWISE ? uniform(0, 2) : -1;
    if (dw_way == 2 && out.h * out.w <= in.h * in.w) { /* written over x (tt_depthwise_inplace_s8), as the in-place
                                                         template calls it: channels [0, k) then [k, c), the
                                                         second call's outputs below its inputs */
        const int32_t hw = in.h * in.w, ohw = out.h * out.w, k = uniform(0, c);
        int8_t *xs = malloc((size_t)(in.c * hw)), *scratch = malloc((size_t)ohw);
        memcpy(xs, x, (size_t)(in.c * hw));
        tt_conv_params part = conv;
        part.groups = k;
        rc = k ? tt_depthwise_inplace_s8(xs, (tt_dims){k, in.h, in.w}, w, kh, kw, bias, mult, shift, &part, &q, xs,
                                         (tt_dims){k, out.h, out.w}, scratch)
               : TT_OK;
        part.groups = c - k;
        if (rc == TT_OK && k < c)
            rc = tt_depthwise_inplace_s8(xs + k * hw, (tt_dims){c - k, in.h, in.w}, w + k * kh * kw, kh, kw, bias + k,
                                         mult + k, shift + k, &part, &q, xs + k * ohw, (tt_dims){c - k, out.h, out.w},
                                         scratch);
        memcpy(y, xs, (size_t)n_out);
        rc_ref = ref_depthwise_conv2d_s8(x, in, w, kh, kw, bias, mult, shift, &conv, &q, y_ref, out);
        free(xs);
        free(scratch);
    } else if (dw_way == 1) { /* channels plane > h * w apart (tt_depthwise_strided.h) */
        const int32_t hw = in.h * in.w, plane = hw + uniform(1, 2 * in.w);
        int8_t *xs = random_s8(in.c * plane);
        for (int32_t i = 0; i < in.c; i++)
            memcpy(xs + i * plane, x + i * hw, (size_t)hw);
        rc = tt_depthwise_conv2d_strided_s8(xs, plane, in, w, kh, kw, bias, mult, shift, &conv, &q, y, out);
        rc_ref = ref_depthwise_conv2d_s8(x, in, w, kh, kw, bias, mult, shift, &conv, &q, y_ref, out);
        free(xs);
#if TT_USE_DSP
        if (row_window && tt_depthwise_ring_ok(in, kh, &conv) && rc == TT_OK && memcmp(y, y_ref, (size_t)n_out) == 0) {
            /* the same rows as a ring of `ring` rows per channel from slot `first` */
            const int32_t ring = in.h + uniform(0, 2), first = uniform(0, ring - 1), rplane = ring * in.w + uniform(0, 9);
            int8_t *xr = random_s8(in.c * rplane);
            for (int32_t i = 0; i < in.c; i++)
                for (int32_t iy = 0; iy < in.h; iy++)
                    memcpy(xr + i * rplane + ((first + iy) % ring) * in.w, x + i * hw + iy * in.w, (size_t)in.w);
            rc = tt_depthwise_conv2d_ring_s8(xr, rplane, ring, first, in, w, kh, kw, bias, mult, shift, &conv, &q, y,
                                             out);
            free(xr);
        }
#endif
    } else if (kind == DEPTHWISE) {
        rc = tt_depthwise_conv2d_s8(x, in, w, kh, kw, bias, mult, shift, &conv, &q, y, out);
        rc_ref = ref_depthwise_conv2d_s8(x, in, w, kh, kw, bias, mult, shift, &conv, &q, y_ref, out);
    } else if (kind == GENERAL) {
        rc = tt_conv2d_general_s8(x, in, w, kh, kw, bias, mult, shift, &conv, &q, y, out);
        rc_ref = ref_conv2d_general_s8(x, in, w, kh, kw, bias, mult, shift, &conv, &q, y_ref, out);
    } else if (kind == SPLIT) { /* w_lead (o, k) and w_rest (o, c - k) cut from the random w (o, c) */
        /* half of them both parts multiples of 4 (packed8_split_dsp) when c is */
        const int32_t k = c % 4 == 0 && c >= 8 && uniform(0, 1) ? 4 * uniform(1, c / 4 - 1) : uniform(1, c - 1);
        int8_t *lead = malloc((size_t)(o * k)), *rest = malloc((size_t)(o * (c - k)));
        for (int32_t i = 0; i < o; i++) {
            memcpy(lead + i * k, w + i * c, (size_t)k);
            memcpy(rest + i * (c - k), w + i * c + k, (size_t)(c - k));
        }
        rc = tt_conv2d_1x1_split_s8(x, in, lead, rest, k, bias, mult, shift, &conv, &q, y, out);
        rc_ref = ref_conv2d_1x1_split_s8(x, in, lead, rest, k, bias, mult, shift, &conv, &q, y_ref, out);
        free(lead);
        free(rest);
    } else if (o >= 4 && conv.stride == 1 && out.h == in.h && out.w == in.w && uniform(0, 2) == 0) {
        /* output channels y_plane > h * w apart (tt_conv2d_1x1_strided.h: the row kernels' expansions), checked on
         * this call, or once by a first call whose returned form the second one (over a spoilt output) takes */
        const int32_t hw = in.h * in.w, y_plane = hw + uniform(1, 2 * in.w);
        int8_t *ys = malloc((size_t)(o * y_plane));
        int form = tt_conv2d_1x1_strided_out_s8(x, in, w, bias, mult, shift, &q, ys, y_plane, out, -1);
        if (form >= 0 && uniform(0, 1)) {
            memset(ys, 0x5a, (size_t)(o * y_plane));
            form = form <= 1 ? tt_conv2d_1x1_strided_out_s8(x, in, w, bias, mult, shift, &q, ys, y_plane, out, form)
                             : TT_ERR_ARG;
        }
        rc = form == 0 || form == 1 ? TT_OK : TT_ERR_ARG;
        for (int32_t i = 0; i < o; i++)
            memcpy(y + i * hw, ys + i * y_plane, (size_t)hw);
        rc_ref = ref_conv2d_1x1_s8(x, in, w, bias, mult, shift, &conv, &q, y_ref, out);
        free(ys);
    } else {
        rc = tt_conv2d_1x1_s8(x, in, w, bias, mult, shift, &conv, &q, y, out);
        rc_ref = ref_conv2d_1x1_s8(x, in, w, bias, mult, shift, &conv, &q, y_ref, out);
    }
    if (rc != TT_OK || rc_ref != TT_OK || memcmp(y, y_ref, (size_t)n_out) != 0) {
        mismatches++;
        put("MISMATCH ");
        put(kind_names[kind]);
        put(" c=");
        put_int(c);
        put(" h=");
        put_int(in.h);
        put(" w=");
        put_int(in.w);
        put(" k=");
        put_int(kh);
        put("x");
        put_int(kw);
        put(" s=");
        put_int(conv.stride);
        put("\n");
    }
    cases++;
    bytes += n_out;
    free(x);
    free(w);
    free(y);
    free(y_ref);
    free(bias);
    free(mult);
    free(shift);
}

/* A layer's random bias, multipliers and shifts for o outputs of fan_in terms each (as check_case draws them). */
static void random_requant(int32_t o, int32_t fan_in, int32_t **bias, int32_t **mult, int32_t **shift)
{
    int32_t spread = 0;
    while ((1L << (2 * spread)) < (long)fan_in * 74 * 74 * 74 * 74 / 1600)
        spread++;
    const int32_t limit = 2147483647 - 255 * 128 * fan_in;
    *bias = malloc((size_t)o * 4), *mult = malloc((size_t)o * 4), *shift = malloc((size_t)o * 4);
    for (int32_t i = 0; i < o; i++) {
        (*bias)[i] = uniform(0, 9) ? uniform(-(1 << 16), 1 << 16) : uniform(-limit, limit);
        (*mult)[i] = (int32_t)(0x40000000u + (rnd() & 0x3FFFFFFFu));
        (*shift)[i] = uniform(0, 15) ? 30 + spread + uniform(-2, 2) : uniform(31, 62);
    }
}

static tt_conv_layer random_layer(int32_t o, int32_t fan_in, int32_t kh, int32_t kw, tt_conv_params conv)
{
    int32_t *bias, *mult, *shift;
    random_requant(o, fan_in, &bias, &mult, &shift);
    const int32_t y_zero = uniform(-128, 127);
    return (tt_conv_layer){random_s8(o * fan_in), kh, kw, bias, mult, shift, conv,
                           {uniform(-128, 127), y_zero, uniform(0, 1) ? -128 : y_zero, 127}, NULL};
}

/* Every other call with a 3x3 depthwise l: l's channels put in the SSAT form (act_min -128, each shift moved into
 * 33..53: no random number drawn, so the cases after it are as before) and its constants table as codegen/dw_table.py
 * makes it (tt_conv_layer.table); else NULL (the kernel makes the constants itself). */
static const int32_t *dw_table(tt_conv_layer *l)
{
    static int turn;
    const int32_t channels = l->conv.groups;
    if (l->kh != 3 || l->kw != 3 || (turn ^= 1) == 0)
        return NULL;
    l->q.act_min = -128;
    for (int32_t c = 0; c < channels; c++)
        if (l->shift[c] <= 32 || l->shift[c] > 53)
            ((int32_t *)l->shift)[c] = 33 + l->shift[c] % 21;
    int32_t *table = malloc((size_t)channels * TT_DW_TABLE_WORDS * sizeof(int32_t)), *tw = table;
    for (int32_t c = 0; c < channels; c++, tw += TT_DW_TABLE_WORDS) {
        const int8_t *w = l->w + 9 * c;
        int32_t sum = 0;
        for (int32_t i = 0; i < 9; i++)
            sum += w[i];
        for (int32_t r = 0; r < 3; r++) { /* (w[3r], w[3r + 2]) as SXTB16 makes it, then w[3r + 1] */
            tw[2 * r] = (int32_t)((uint32_t)(uint16_t)w[3 * r] | (uint32_t)(uint16_t)w[3 * r + 2] << 16);
            tw[2 * r + 1] = w[3 * r + 1];
        }
        const int32_t t = l->shift[c] - 32;
        tw[6] = tw[7] = l->bias[c] - l->q.x_zero * sum, tw[8] = l->mult[c];
        tw[9] = (1 << (t - 1)) + l->q.y_zero * (1 << t), tw[10] = t, tw[11] = 0;
    }
    return table;
}

static void free_layer(tt_conv_layer *l)
{
    free((void *)l->w), free((void *)l->bias), free((void *)l->mult), free((void *)l->shift), free((void *)l->table);
}

/* One fused row block, tt_conv_dw_pw_rows_s8 (1x1 expansion or any conv -> depthwise -> 1x1 projection), on its DSP
 * loop: from 4 expanded channels the expansion's rows go into a window holding the depthwise's padding, read in place
 * (tt_depthwise_window_row_s8: its kernel rows rotated to the window's slots, padding rows at the map's edges,
 * 3x3 / 5x5 / 7x7 at strides 1 and 2 with out.w a multiple of 4 in half the cases), where that window fits, else a
 * ring or a sliding window of rows; against the three portable calls on whole tensors, byte for byte. */
static void check_rows(void)
{
    /* a quarter of the blocks start with a conv other than a 1x1 (1x1 to 3x3, strides 1 and 2, any padding), its
     * rows written into the window's slots by tt_conv2d_general_strided_out_s8; half of these are the RGB stem's
     * (3 channels, 3x3 stride 2 padded by 1, then a 3x3 depthwise stride 1 padded by 1) */
    const int general = uniform(0, 3) == 0, stem = general && uniform(0, 1);
    const int32_t ka = stem ? 3 : general ? uniform(1, 3) : 1, sa = stem ? 2 : general ? uniform(1, 2) : 1;
    const tt_conv_params pa = stem ? (tt_conv_params){2, 1, 1, 1, 1, 1}
                                   : (tt_conv_params){sa, uniform(0, ka - 1), uniform(0, ka - 1), uniform(0, ka - 1),
                                                      uniform(0, ka - 1), 1};
    const int32_t kernels[] = {3, 5, 7}, c_in = stem ? 3 : uniform(1, 24);
    const int32_t c_mid = uniform(0, 4) ? uniform(4, 24) : uniform(1, 3);
    const int32_t c_out = uniform(0, 4) ? uniform(4, 24) : uniform(1, 3), kh = stem ? 3 : kernels[rnd() % 3];
    const int32_t kw = stem || uniform(0, 3) ? kh : kernels[rnd() % 3], s = stem ? 1 : uniform(1, 2);
    const tt_conv_params pb = stem ? (tt_conv_params){1, 1, 1, 1, 1, c_mid}
                                   : (tt_conv_params){s, uniform(0, kh - 1), uniform(0, kw - 1), uniform(0, kh - 1),
                                                      uniform(0, kw - 1), c_mid};
    const int32_t hmin = kh - pb.pad_top - pb.pad_bottom, wmin = kw - pb.pad_left - pb.pad_right;
    const int32_t w4 = (4 * uniform(1, 6) - 1) * s + wmin; /* out.w 4..24, a multiple of 4 */
    const int32_t mh = uniform(hmin > 1 ? hmin : 1, 12);
    const int32_t mw = uniform(0, 1) && w4 > 0 ? w4 : uniform(wmin > 1 ? wmin : 1, 48);
    /* x as tall and wide as `a` needs for mid's rows and columns (one row or column where that is less: mid larger) */
    const int32_t ha = (mh - 1) * sa + ka - pa.pad_top - pa.pad_bottom;
    const int32_t wa = (mw - 1) * sa + ka - pa.pad_left - pa.pad_right;
    const tt_dims in = {c_in, ha > 1 ? ha : 1, wa > 1 ? wa : 1};
    const tt_dims mid = {c_mid, (in.h + pa.pad_top + pa.pad_bottom - ka) / sa + 1,
                         (in.w + pa.pad_left + pa.pad_right - ka) / sa + 1};
    const tt_dims out = {c_out, (mid.h + pb.pad_top + pb.pad_bottom - kh) / s + 1,
                         (mid.w + pb.pad_left + pb.pad_right - kw) / s + 1};
    const tt_dims dw = {c_mid, out.h, out.w};
    const tt_conv_params one = {1, 0, 0, 0, 0, 1};
    tt_conv_layer a = random_layer(c_mid, c_in * ka * ka, ka, ka, pa), b = random_layer(c_mid, kh * kw, kh, kw, pb);
    tt_conv_layer c = random_layer(c_out, c_mid, 1, 1, one);
    b.q.x_zero = a.q.y_zero, c.q.x_zero = b.q.y_zero;
    b.table = dw_table(&b);
    const int32_t n_out = out.c * out.h * out.w;
    int8_t *x = random_s8(in.c * in.h * in.w), *m = malloc((size_t)(mid.c * mid.h * mid.w));
    int8_t *d = malloc((size_t)(dw.c * dw.h * dw.w)), *y = malloc((size_t)n_out), *y_ref = malloc((size_t)n_out);
    int8_t *scratch = malloc((size_t)tt_conv_dw_pw_rows_s8_get_buffer_size(in, &a, mid, &b, out));
    int rc = tt_conv_dw_pw_rows_s8(x, in, &a, mid, &b, &c, y, out, scratch);
    if (general && tt_conv2d_general_strided_out_s8(x, in, a.w, ka, ka, a.bias, a.mult, a.shift, &pa, &a.q, m,
                                                    mid.h * mid.w - 1, mid) != TT_ERR_ARG)
        rc = TT_ERR_ARG; /* output planes that overlap: rejected */
    int rc_ref = general ? ref_conv2d_general_s8(x, in, a.w, ka, ka, a.bias, a.mult, a.shift, &pa, &a.q, m, mid)
                         : ref_conv2d_1x1_s8(x, in, a.w, a.bias, a.mult, a.shift, &one, &a.q, m, mid);
    if (rc_ref == TT_OK)
        rc_ref = ref_depthwise_conv2d_s8(m, mid, b.w, kh, kw, b.bias, b.mult, b.shift, &pb, &b.q, d, dw);
    if (rc_ref == TT_OK)
        rc_ref = ref_conv2d_1x1_s8(d, dw, c.w, c.bias, c.mult, c.shift, &one, &c.q, y_ref, out);
    if (rc != TT_OK || rc_ref != TT_OK || memcmp(y, y_ref, (size_t)n_out) != 0) {
        mismatches++;
        put("MISMATCH rows a=");
        put_int(ka), put("s"), put_int(sa);
        put(" c=");
        put_int(c_in), put(">"), put_int(c_mid), put(">"), put_int(c_out);
        put(" h=");
        put_int(in.h);
        put(" w=");
        put_int(in.w);
        put(" k=");
        put_int(kh), put("x"), put_int(kw);
        put(" s=");
        put_int(s);
        put("\n");
    }
    cases++;
    bytes += n_out;
    free_layer(&a), free_layer(&b), free_layer(&c);
    free(x), free(m), free(d), free(y), free(y_ref), free(scratch);
}

/* A streamed stem alone (tt_conv_dw_pw_stream_s8) and chained with a fused block that pulls its output rows
 * (tt_conv_dw_pw_chain_s8: the stem's loop resumed a few rows at a time), x's rows from a row source
 * (tt_rows_from_chw), on the DSP loop: the stem's conv 1x1 or 3x3 at strides 1 and 2 (half of them the RGB stem's
 * 3x3 stride 2 from 3 channels) written into its padded depthwise window (3x3 or 5x5, stride 1), block 1 a 1x1
 * expansion, a 3x3 / 5x5 / 7x7 depthwise at stride 1 or 2 and a projection, every depthwise padded to keep the map;
 * against the six portable calls on whole tensors, byte for byte. */
static void check_chain(void)
{
    const int rgb = uniform(0, 1), own = rgb && uniform(0, 1); /* own: the streamed RGB conv's own path (below) */
    const int32_t ka = rgb || uniform(0, 1) ? 3 : 1, sa = rgb ? 2 : uniform(1, 2), k0 = uniform(0, 3) ? 3 : 5;
    const int32_t k1 = 3 + 2 * uniform(0, 2), s1 = uniform(1, 2), p0 = (k0 - 1) / 2, p1 = (k1 - 1) / 2;
    const tt_conv_params pa = {sa, uniform(0, ka - 1), uniform(0, ka - 1), uniform(0, ka - 1), uniform(0, ka - 1), 1};
    const tt_dims in = {rgb ? 3 : uniform(1, 8), uniform(8, 40), own ? uniform(24, 72) : uniform(8, 40)};
    const tt_dims mid0 = {own ? uniform(2, in.w / 8) : uniform(4, 16),
                          (in.h + pa.pad_top + pa.pad_bottom - ka) / sa + 1,
                          (in.w + pa.pad_left + pa.pad_right - ka) / sa + 1};
    const tt_dims out0 = {uniform(4, 16), mid0.h, mid0.w}, mid1 = {uniform(4, 24), out0.h, out0.w};
    const tt_dims out1 = {uniform(1, 16), (mid1.h - 1) / s1 + 1, (mid1.w - 1) / s1 + 1};
    const tt_conv_params one = {1, 0, 0, 0, 0, 1}, pb0 = {1, p0, p0, p0, p0, mid0.c};
    const tt_conv_params pb1 = {s1, p1, p1, p1, p1, mid1.c};
    tt_conv_layer a0 = random_layer(mid0.c, in.c * ka * ka, ka, ka, pa);
    if (own) { /* the streamed RGB conv's own path (tt_conv_dw_pw_stream_s8.c): its records in the band of x (in.w >=
                  8 mid0.c), the full int8 range, every shift above 32, one or more above TT_SSAT_MAX_SHIFT (its wide
                  form) */
        int32_t *shift = (int32_t *)(void *)a0.shift;
        a0.q.act_min = -128;
        for (int32_t i = 0; i < mid0.c; i++)
            shift[i] = shift[i] > 32 ? shift[i] : 33;
        shift[uniform(0, mid0.c - 1)] = uniform(54, 62);
    }
    tt_conv_layer b0 = random_layer(mid0.c, k0 * k0, k0, k0, pb0);
    tt_conv_layer c0 = random_layer(out0.c, mid0.c, 1, 1, one), a1 = random_layer(mid1.c, out0.c, 1, 1, one);
    tt_conv_layer b1 = random_layer(mid1.c, k1 * k1, k1, k1, pb1), c1 = random_layer(out1.c, mid1.c, 1, 1, one);
    b0.q.x_zero = a0.q.y_zero, c0.q.x_zero = b0.q.y_zero, a1.q.x_zero = c0.q.y_zero;
    b1.q.x_zero = a1.q.y_zero, c1.q.x_zero = b1.q.y_zero;
    const int32_t n0 = out0.c * out0.h * out0.w, n1 = out1.c * out1.h * out1.w;
    const int32_t n_mid = (mid0.c > mid1.c ? mid0.c : mid1.c) * mid0.h * mid0.w; /* either block's mid */
    int8_t *x = random_s8(in.c * in.h * in.w), *m = malloc((size_t)n_mid), *d = malloc((size_t)n_mid);
    int8_t *o0 = malloc((size_t)n0), *o0_ref = malloc((size_t)n0), *y = malloc((size_t)n1), *y_ref = malloc((size_t)n1);
    tt_chw_image image = {x, in};
    const tt_row_source src = {tt_rows_from_chw, &image};
    int8_t *scratch = malloc((size_t)tt_conv_dw_pw_chain_s8_get_buffer_size(in, &a0, mid0, &b0, out0, &a1, mid1, &b1,
                                                                           out1));
    int rc = tt_conv_dw_pw_stream_s8(&src, in, &a0, mid0, &b0, &c0, o0, out0, scratch);
    if (rc == TT_OK)
        rc = tt_conv_dw_pw_chain_s8(&src, in, &a0, mid0, &b0, &c0, out0, &a1, mid1, &b1, &c1, y, out1, scratch);
    int rc_ref = ref_conv2d_general_s8(x, in, a0.w, ka, ka, a0.bias, a0.mult, a0.shift, &pa, &a0.q, m, mid0);
    if (rc_ref == TT_OK)
        rc_ref = ref_depthwise_conv2d_s8(m, mid0, b0.w, k0, k0, b0.bias, b0.mult, b0.shift, &pb0, &b0.q, d, mid0);
    if (rc_ref == TT_OK)
        rc_ref = ref_conv2d_1x1_s8(d, mid0, c0.w, c0.bias, c0.mult, c0.shift, &one, &c0.q, o0_ref, out0);
    if (rc_ref == TT_OK)
        rc_ref = ref_conv2d_1x1_s8(o0_ref, out0, a1.w, a1.bias, a1.mult, a1.shift, &one, &a1.q, m, mid1);
    const tt_dims dw1 = {mid1.c, out1.h, out1.w};
    if (rc_ref == TT_OK)
        rc_ref = ref_depthwise_conv2d_s8(m, mid1, b1.w, k1, k1, b1.bias, b1.mult, b1.shift, &pb1, &b1.q, d, dw1);
    if (rc_ref == TT_OK)
        rc_ref = ref_conv2d_1x1_s8(d, dw1, c1.w, c1.bias, c1.mult, c1.shift, &one, &c1.q, y_ref, out1);
    if (rc != TT_OK || rc_ref != TT_OK || memcmp(o0, o0_ref, (size_t)n0) != 0 || memcmp(y, y_ref, (size_t)n1) != 0) {
        mismatches++;
        put("MISMATCH chain a=");
        put_int(ka), put("s"), put_int(sa);
        put(" c="), put_int(in.c), put(" h="), put_int(in.h), put(" w="), put_int(in.w);
        put(" k="), put_int(k0), put(","), put_int(k1), put("s"), put_int(s1);
        put("\n");
    }
    cases++;
    bytes += n0 + n1;
    free_layer(&a0), free_layer(&b0), free_layer(&c0), free_layer(&a1), free_layer(&b1), free_layer(&c1);
    free(x), free(m), free(d), free(o0), free(o0_ref), free(y), free(y_ref), free(scratch);
}

int ref_add_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t a_zero, int32_t b_zero, int32_t mult_a,
               int32_t mult_b, int32_t shift, const tt_quant_params *q, int8_t *y);

/* One residual add, tt_add_s8 against its portable loop: 1..300 elements (the four-element loop and its tails),
 * shifts 12..50 (both sides of the int32 path's 16..47 and its constant's bound; a third 14..20, where a wrong carry
 * from the low halves shows in most outputs), multipliers mostly a quarter to once 2^shift (up to 2^31) as the
 * backbones' (an eighth with their low half zero, an eighth any int32: near 2^31 the high half out of int16), a
 * quarter with a narrower clamp, a third written over a or b. */
static void check_add(void)
{
    const int32_t n = uniform(1, 300), shift = uniform(0, 2) ? uniform(12, 50) : uniform(14, 20), way = uniform(0, 2);
    const int32_t e = shift - 1 < 30 ? shift - 1 : 30; /* m / 2^shift in [1/4, 1) as the backbones' adds */
    int32_t m[2];
    for (int j = 0; j < 2; j++) {
        const int32_t kind = uniform(0, 7);
        m[j] = kind == 0 ? (int32_t)(rnd() & 0xFFFF0000u) : kind == 1 ? (int32_t)rnd()
                                                                       : uniform(1 << (e - 1), (int32_t)((2u << e) - 1));
    }
    const int32_t lo = uniform(0, 3) ? -128 : uniform(-128, 0), hi = uniform(0, 3) ? 127 : uniform(lo, 127);
    const tt_quant_params q = {0, uniform(-128, 127), lo, hi};
    const int32_t a_zero = uniform(-128, 127), b_zero = uniform(-128, 127);
    int8_t *a = random_s8(n), *b = random_s8(n), *y = malloc((size_t)n), *y_ref = malloc((size_t)n);
    const int rc_ref = ref_add_s8(a, b, n, a_zero, b_zero, m[0], m[1], shift, &q, y_ref);
    const int rc = tt_add_s8(a, b, n, a_zero, b_zero, m[0], m[1], shift, &q, way == 0 ? y : way == 1 ? a : b);
    const int8_t *got = way == 0 ? y : way == 1 ? a : b;
    if (rc != rc_ref || memcmp(got, y_ref, (size_t)n) != 0) {
        mismatches++;
        put("MISMATCH add n=");
        put_int(n), put(" shift="), put_int(shift), put(" mult="), put_int(m[0]), put(","), put_int(m[1]);
        put("\n");
    }
    cases++;
    bytes += n;
    free(a), free(b), free(y), free(y_ref);
}

/* One stride-1 row block and its residual add, tt_conv_dw_pw_rows_add_s8 (a 1x1 expansion, or in a quarter of the
 * cases a 3x3 conv padded by 1, -> a 3x3 / 5x5 / 7x7 depthwise padded to keep the map (its top padding random) -> a
 * 1x1 projection back to x's channels, x the add's first or second operand, the sum over x in half the cases), on
 * the DSP loop, against the three portable calls and the portable add on whole tensors, byte for byte. */
static void check_rows_add(void)
{
    const int general = uniform(0, 3) == 0, in_place = uniform(0, 1), x_is_a = uniform(0, 1);
    const int32_t kernels[] = {3, 5, 7}, kh = kernels[rnd() % 3], kw = uniform(0, 3) ? kh : kernels[rnd() % 3];
    const int32_t ka = general ? 3 : 1, top = uniform(0, kh - 1 - ka / 2), left = uniform(0, kw - 1);
    const tt_conv_params pa = {1, ka / 2, ka / 2, ka / 2, ka / 2, 1}, one = {1, 0, 0, 0, 0, 1};
    const int32_t c_mid = uniform(0, 4) ? uniform(4, 24) : uniform(1, 3);
    const tt_dims in = {uniform(0, 4) ? uniform(4, 24) : uniform(1, 3), uniform(1, 16),
                        uniform(0, 1) ? 4 * uniform(1, 8) : uniform(1, 40)};
    const tt_dims mid = {c_mid, in.h, in.w};
    const tt_conv_params pb = {1, top, left, kh - 1 - top, kw - 1 - left, c_mid};
    tt_conv_layer a = random_layer(c_mid, in.c * ka * ka, ka, ka, pa), b = random_layer(c_mid, kh * kw, kh, kw, pb);
    tt_conv_layer c = random_layer(in.c, c_mid, 1, 1, one);
    b.q.x_zero = a.q.y_zero, c.q.x_zero = b.q.y_zero;
    const int32_t shift = uniform(12, 40), e = shift - 1 < 30 ? shift - 1 : 30;
    const int32_t lo = uniform(0, 3) ? -128 : uniform(-128, 0);
    const tt_residual_add add = {x_is_a, uniform(-128, 127), uniform(-128, 127),
                                 uniform(1 << (e - 1), (int32_t)((2u << e) - 1)),
                                 uniform(1 << (e - 1), (int32_t)((2u << e) - 1)), shift,
                                 {0, uniform(-128, 127), lo, 127}};
    if (x_is_a) a.q.x_zero = add.a_zero, c.q.y_zero = add.b_zero;
    else a.q.x_zero = add.b_zero, c.q.y_zero = add.a_zero;
    b.table = dw_table(&b);
    const int32_t n = in.c * in.h * in.w;
    int8_t *x = random_s8(n), *m = malloc((size_t)(c_mid * in.h * in.w)), *d = malloc((size_t)(c_mid * in.h * in.w));
    int8_t *y = malloc((size_t)n), *z_ref = malloc((size_t)n), *z = malloc((size_t)n);
    int rc_ref = general ? ref_conv2d_general_s8(x, in, a.w, ka, ka, a.bias, a.mult, a.shift, &pa, &a.q, m, mid)
                         : ref_conv2d_1x1_s8(x, in, a.w, a.bias, a.mult, a.shift, &one, &a.q, m, mid);
    if (rc_ref == TT_OK)
        rc_ref = ref_depthwise_conv2d_s8(m, mid, b.w, kh, kw, b.bias, b.mult, b.shift, &pb, &b.q, d, mid);
    if (rc_ref == TT_OK)
        rc_ref = ref_conv2d_1x1_s8(d, mid, c.w, c.bias, c.mult, c.shift, &one, &c.q, y, in);
    if (rc_ref == TT_OK)
        rc_ref = ref_add_s8(x_is_a ? x : y, x_is_a ? y : x, n, add.a_zero, add.b_zero, add.mult_a, add.mult_b, shift,
                            &add.q, z_ref);
    int8_t *scratch = malloc((size_t)tt_conv_dw_pw_rows_add_s8_get_buffer_size(in, &a, mid, &b, in));
    const int rc = tt_conv_dw_pw_rows_add_s8(x, in, &a, mid, &b, &c, in_place ? x : z, in, &add, scratch);
    if (rc != TT_OK || rc_ref != TT_OK || memcmp(in_place ? x : z, z_ref, (size_t)n) != 0) {
        mismatches++;
        put("MISMATCH rows_add a="), put_int(ka), put(" c="), put_int(in.c), put(">"), put_int(c_mid);
        put(" h="), put_int(in.h), put(" w="), put_int(in.w), put(" k="), put_int(kh), put("x"), put_int(kw);
        put(" top="), put_int(top), put(in_place ? " in place" : ""), put("\n");
    }
    cases++;
    bytes += n;
    free_layer(&a), free_layer(&b), free_layer(&c);
    free(x), free(m), free(d), free(y), free(z_ref), free(z), free(scratch);
}

int main(void)
{
    for (int i = 0; i < CASES; i++)
        check_case(i % KINDS);
    for (int i = 0; i < ROW_CASES; i++)
        check_rows();
    for (int i = 0; i < CHAIN_CASES; i++)
        check_chain();
    for (int i = 0; i < ADD_CASES; i++)
        check_add();
    for (int i = 0; i < RESID_CASES; i++)
        check_rows_add();
    put(TT_USE_DSP ? "dsp check (TT_USE_DSP=1): " : "dsp check (TT_USE_DSP=0): ");
    put_int(cases);
    put(" cases, ");
    put_int(bytes);
    put(" bytes, ");
    put_int(mismatches);
    put(" mismatches\n");
    finish(mismatches != 0 || !TT_USE_DSP);
    return 0;
}
