/*
 * tt_conv_dw_pw_rows_s8 with its input pulled from a row source instead of read from a whole tensor: the
 * stem of a streamed model (codegen/input_stream.py), so the sample never sits in SRAM whole.
 *   y = pointwise(depthwise(conv(x))), one output row at a time by the same loop (tt_conv_dw_pw_loop.h: the
 *   same kernel calls on the same bands): the result is identical bit for bit.
 * The rows of x arrive through src->read one at a time, in order, each once, as the conv `a` first reaches
 * them; rows it never reaches (a stride past the last window) are read at the end, so a stream (a serial
 * line, a camera) stays in step.  A received row is (in.w, in.c), pixel by pixel (HWC); it is read straight into
 * a ring slot of a.kh (tt_row_stream.h), from which each row of mid takes its band of x (spread into channel rows),
 * or, for an RGB 3x3 conv on the DSP path, its windows (rgb_conv_row below).
 * Scratch (tt_conv_dw_pw_stream_s8_get_buffer_size bytes): the ring (tt_rows_seen_bytes), then the scratch of
 * tt_conv_dw_pw_rows_s8, whose band of x holds the RGB conv's records instead (it reads no band); each 8-aligned.
 * TT_ERR_ARG: a NULL pointer, a kernel rejecting its band (as that kernel).
 */
#include "tt_conv_dw_pw_loop.h"
#include "tt_row_stream.h"
#if TT_USE_DSP
#include "tt_dsp.h"
#endif

/* The RGB conv's record of one output channel: bias, the requantization's m, k, t (t < 0: a shift above
 * TT_SSAT_MAX_SHIFT, k then 2^(-t-1) and the zero point added after the shift), and its 27 weights as 14 words of
 * int16 pairs in the packed windows' order (rgb_records). */
#define RGB_RECORD_WORDS 18

#if TT_USE_DSP
/* The RGB conv's shape: 3 channels, 3x3, groups 1, rows of at least eight windows, and its records in the loop's band
 * of x, which it leaves unused (9 in.w bytes, 72 a channel: in.w >= 8 mid.c, the backbones' 128 >= 8 x 16), so that
 * it takes no scratch of its own. */
static int rgb_shape(tt_dims in, const tt_conv_layer *a, tt_dims mid)
{
    return in.c == 3 && a->kh == 3 && a->kw == 3 && a->conv.groups == 1 && mid.w >= 8 &&
           mid.c * RGB_RECORD_WORDS * 4 <= TT_ALIGN8(in.c * a->kh * in.w);
}
#endif

static int32_t slot_bytes(tt_dims in, const tt_conv_layer *a)
{
    return TT_ALIGN8((a->conv.pad_left + in.w + a->conv.pad_right) * in.c);
}

int32_t tt_rows_seen_bytes(tt_dims in, const tt_conv_layer *a)
{
    return a->kh * slot_bytes(in, a);
}

int32_t tt_conv_dw_pw_stream_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                               const tt_conv_layer *b, tt_dims out)
{
    return tt_rows_seen_bytes(in, a) + TT_DW_PW_LOOP_BYTES(in, a, mid, b, out);
}

#if TT_USE_DSP
/* Element e of a window's row (three pixels, HWC) is x at kx = e / 3, channel e % 3. The packed window (per four
 * values the int16 pairs (v0, v2), (v1, v3) less x_zero, as tt_pointwise_dsp.h packs) takes each kernel row ky's
 * elements 0 .. 3 as quad 2 ky and 4 .. 7 as quad 2 ky + 1 (two word loads of the row, no gather), and the three
 * rows' element 8 with a zero as quad 6; the record's weights follow that order, as int16 pairs. */
static int32_t rgb_weight(const int8_t *wo, int32_t ky, int32_t e)
{
    return e < 9 ? wo[((e % 3) * 3 + ky) * 3 + e / 3] : 0;
}

static uint32_t pair16(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

/* The records of every output channel, or 0 where the DSP path's requantization does not apply (the full int8
 * range, 32 < shift <= 62 for every channel, as pixels8_q7_wide in tt_conv2d_general_s8.c). */
static int rgb_records(const tt_conv_layer *a, int32_t n_out, int32_t *rec)
{
    if (a->q.act_min != -128 || a->q.act_max != 127) return 0;
    for (int32_t o = 0; o < n_out; o++)
        if (a->shift[o] <= 32 || a->shift[o] > 62) return 0;
    for (int32_t o = 0; o < n_out; o++, rec += RGB_RECORD_WORDS) {
        const int8_t *wo = a->w + o * 27;
        const int32_t t = a->shift[o] - 32;
        rec[0] = a->bias[o], rec[1] = a->mult[o];
        if (a->shift[o] <= TT_SSAT_MAX_SHIFT)
            rec[2] = tt_ssat_k(t, a->q.y_zero), rec[3] = t;
        else
            rec[2] = 1 << (t - 1), rec[3] = -t;
        for (int32_t ky = 0; ky < 3; ky++)
            for (int32_t h = 0; h < 2; h++) { /* quad 2 ky + h: elements 4h .. 4h + 3 of row ky */
                rec[4 + 4 * ky + 2 * h] = (int32_t)pair16(rgb_weight(wo, ky, 4 * h), rgb_weight(wo, ky, 4 * h + 2));
                rec[5 + 4 * ky + 2 * h] = (int32_t)pair16(rgb_weight(wo, ky, 4 * h + 1), rgb_weight(wo, ky, 4 * h + 3));
            }
        rec[16] = (int32_t)pair16(rgb_weight(wo, 0, 8), rgb_weight(wo, 2, 8)); /* quad 6: (row 0, row 2), */
        rec[17] = (int32_t)pair16(rgb_weight(wo, 1, 8), 0);                   /* (row 1, none) */
    }
    return 1;
}

/* Eight windows a `step` of bytes apart into two packs of four (the layout rgb_outputs8 reads: pack h at word 56 h,
 * quad g at 8 g, window j at 2 j), from the three kernel rows' first window (NULL: a padding row, all 0): per row
 * two word loads, four SXTAB16, and element 8 as one halfword of quad 6 ((row 0, row 2), (row 1, 0): its last
 * halfword the caller's 0). */
static void rgb_pack8(const int8_t *const rows[3], int32_t step, int32_t x_zero, int32_t *packed)
{
    const int32_t nz = (int32_t)(((uint32_t)-x_zero & 0xFFFFu) * 0x00010001u); /* (-x_zero, -x_zero) */
    static const int8_t half[3] = {0, 2, 1}; /* row ky's element 8: the halfword of quad 6's pair of words */
    for (int32_t ky = 0; ky < 3; ky++) {
        const int8_t *p = rows[ky];
        int32_t *q = packed + 16 * ky;
        int8_t *e8 = (int8_t *)(packed + 48) + 2 * half[ky]; /* byte stores (memcpy): the words' own type aside */
        for (int32_t h = 0; h < 2; h++, q += 48, e8 += 192)
            for (int32_t j = 0; j < 4; j++, q += 2, e8 += 8) {
                int16_t v8 = 0;
                if (!p) {
                    q[0] = q[1] = q[8] = q[9] = 0;
                    memcpy(e8, &v8, 2);
                    continue;
                }
                const uint32_t v0 = tt_load32(p), v1 = tt_load32(p + 4);
                q[0] = __sxtab16(nz, (int32_t)v0);
                q[1] = tt_sxtab16_ror8(nz, v0);
                q[8] = __sxtab16(nz, (int32_t)v1);
                q[9] = tt_sxtab16_ror8(nz, v1);
                v8 = (int16_t)(p[8] - x_zero); /* the halfword store takes the low half as it is */
                memcpy(e8, &v8, 2);
                p += step;
            }
    }
}

/* rgb_pack8 where all three kernel rows lie in x (every row of the map but at its edges): a window at a time, its
 * seven quads from the three rows at once (six word loads, twelve SXTAB16, quad 6 by one PKHBT). */
static void rgb_pack8_inside(const int8_t *r0, const int8_t *r1, const int8_t *r2, int32_t step, int32_t x_zero,
                             int32_t *packed)
{
    const int32_t nz = (int32_t)(((uint32_t)-x_zero & 0xFFFFu) * 0x00010001u); /* (-x_zero, -x_zero) */
    for (int32_t h = 0; h < 2; h++, packed += 56)
        for (int32_t j = 0; j < 8; j += 2, r0 += step, r1 += step, r2 += step) {
            uint32_t v = tt_load32(r0);
            packed[j] = __sxtab16(nz, (int32_t)v);
            packed[j + 1] = tt_sxtab16_ror8(nz, v);
            v = tt_load32(r0 + 4);
            packed[j + 8] = __sxtab16(nz, (int32_t)v);
            packed[j + 9] = tt_sxtab16_ror8(nz, v);
            v = tt_load32(r1);
            packed[j + 16] = __sxtab16(nz, (int32_t)v);
            packed[j + 17] = tt_sxtab16_ror8(nz, v);
            v = tt_load32(r1 + 4);
            packed[j + 24] = __sxtab16(nz, (int32_t)v);
            packed[j + 25] = tt_sxtab16_ror8(nz, v);
            v = tt_load32(r2);
            packed[j + 32] = __sxtab16(nz, (int32_t)v);
            packed[j + 33] = tt_sxtab16_ror8(nz, v);
            v = tt_load32(r2 + 4);
            packed[j + 40] = __sxtab16(nz, (int32_t)v);
            packed[j + 41] = tt_sxtab16_ror8(nz, v);
            packed[j + 48] = (int32_t)tt_pack_lo((uint32_t)(r0[8] - x_zero), (uint32_t)(r2[8] - x_zero));
            packed[j + 49] = (int32_t)((uint32_t)(r1[8] - x_zero) & 0xFFFFu);
        }
}

#if defined(__thumb2__)
/* Every output channel's eight outputs from the two packs: per channel (its record, r up to end) the eight sums in
 * registers, each weight pair word serving eight windows (an LDRD of the record's pairs, eight LDRD of the packs and
 * sixteen SMLAD per four values), the first quad summed onto the bias register, then requantized, stored at y and
 * y += y_plane. {y, y_plane, end, y_zero} are written past the packs' 112 words, so that only the packs and the
 * record need a register (14 in all). The SSAT form as tt_requantize4's; t < 0 (a shift above TT_SSAT_MAX_SHIFT)
 * as pixels8_q7_wide: ((hi + 2^(t-1)) >> t) + zero, saturated. */
#define RGB_MAC(A, ACC, OFF) "ldrd %[e], %[o], [%[q], #" OFF "]\n\t" \
    "smlad %[" #A "], %[e], %[w02], %[" #ACC "]\n\t" "smlad %[" #A "], %[o], %[w13], %[" #A "]\n\t"
#define RGB_QUAD(G) "ldrd %[w02], %[w13], [%[r], #16 + 8 * " #G "]\n\t" \
    RGB_MAC(a0, a0, "32 * " #G) RGB_MAC(a1, a1, "32 * " #G " + 8") RGB_MAC(a2, a2, "32 * " #G " + 16") \
    RGB_MAC(a3, a3, "32 * " #G " + 24") RGB_MAC(a4, a4, "224 + 32 * " #G) RGB_MAC(a5, a5, "224 + 32 * " #G " + 8") \
    RGB_MAC(a6, a6, "224 + 32 * " #G " + 16") RGB_MAC(a7, a7, "224 + 32 * " #G " + 24")
#define RGB_SSAT(A, J) "smmla %[" #A "], %[" #A "], %[w02], %[e]\n\t" "asr %[" #A "], %[" #A "], %[w13]\n\t" \
    "ssat %[" #A "], #8, %[" #A "]\n\t" "strb %[" #A "], [%[o], #" #J "]\n\t"
#define RGB_HI(A) "smmla %[" #A "], %[" #A "], %[w02], %[e]\n\t" "asr %[" #A "], %[" #A "], %[w13]\n\t"
#define RGB_ZERO(A, J) "add %[" #A "], %[" #A "], %[w02]\n\t" "ssat %[" #A "], #8, %[" #A "]\n\t" \
    "strb %[" #A "], [%[o], #" #J "]\n\t"
__attribute__((noinline)) static void rgb_outputs8(int32_t *q, const int32_t *r, const int32_t *end, int8_t *y,
                                                   int32_t y_plane, int32_t y_zero)
{
    int32_t a0, a1, a2, a3, a4, a5, a6, a7, w02, w13, e, o;
    q[112] = (int32_t)(intptr_t)y, q[113] = y_plane, q[114] = (int32_t)(intptr_t)end, q[115] = y_zero;
    __asm__ volatile("1:\n\t" /* volatile: its only results are the stores */
                     "ldr     %[a0], [%[r]]\n\t"
                     "ldrd    %[w02], %[w13], [%[r], #16]\n\t"
                     RGB_MAC(a1, a0, "8") RGB_MAC(a2, a0, "16") RGB_MAC(a3, a0, "24") RGB_MAC(a4, a0, "224")
                     RGB_MAC(a5, a0, "232") RGB_MAC(a6, a0, "240") RGB_MAC(a7, a0, "248") RGB_MAC(a0, a0, "0")
                     RGB_QUAD(1) RGB_QUAD(2) RGB_QUAD(3) RGB_QUAD(4) RGB_QUAD(5) RGB_QUAD(6)
                     "ldrd    %[w02], %[e], [%[r], #4]\n\t"  /* m, k */
                     "ldr     %[w13], [%[r], #12]\n\t"       /* t */
                     "ldr     %[o], [%[q], #448]\n\t"        /* y */
                     "cmp     %[w13], #0\n\t"
                     "blt     3f\n\t"
                     RGB_SSAT(a0, 0) RGB_SSAT(a1, 1) RGB_SSAT(a2, 2) RGB_SSAT(a3, 3)
                     RGB_SSAT(a4, 4) RGB_SSAT(a5, 5) RGB_SSAT(a6, 6) RGB_SSAT(a7, 7)
                     "2:\n\t"
                     "ldr     %[w02], [%[q], #452]\n\t"      /* y_plane */
                     "add     %[o], %[o], %[w02]\n\t"
                     "str     %[o], [%[q], #448]\n\t"
                     "adds    %[r], %[r], #72\n\t"
                     "ldr     %[w02], [%[q], #456]\n\t"      /* the records' end */
                     "cmp     %[r], %[w02]\n\t"
                     "bne     1b\n\t"
                     "b       4f\n\t"
                     "3:\n\t"                                /* t < 0: the wide form */
                     "rsbs    %[w13], %[w13], #0\n\t"
                     RGB_HI(a0) RGB_HI(a1) RGB_HI(a2) RGB_HI(a3) RGB_HI(a4) RGB_HI(a5) RGB_HI(a6) RGB_HI(a7)
                     "ldr     %[w02], [%[q], #460]\n\t"      /* y_zero */
                     RGB_ZERO(a0, 0) RGB_ZERO(a1, 1) RGB_ZERO(a2, 2) RGB_ZERO(a3, 3)
                     RGB_ZERO(a4, 4) RGB_ZERO(a5, 5) RGB_ZERO(a6, 6) RGB_ZERO(a7, 7)
                     "b       2b\n\t"
                     "4:"
                     : [r] "+r"(r), [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [a4] "=&r"(a4),
                       [a5] "=&r"(a5), [a6] "=&r"(a6), [a7] "=&r"(a7), [w02] "=&r"(w02), [w13] "=&r"(w13),
                       [e] "=&r"(e), [o] "=&r"(o)
                     : [q] "r"(q)
                     : "cc", "memory");
}
#undef RGB_ZERO
#undef RGB_HI
#undef RGB_SSAT
#undef RGB_QUAD
#undef RGB_MAC
#else
/* The same sums (the records' pairs by __smlad) and tt_requantize (equal to both forms above). */
static void rgb_outputs8(int32_t *q, const int32_t *r, const int32_t *end, int8_t *y, int32_t y_plane,
                         int32_t y_zero)
{
    for (; r != end; r += RGB_RECORD_WORDS, y += y_plane)
        for (int32_t j = 0; j < 8; j++) {
            const int32_t *qj = q + (j >> 2) * 56 + 2 * (j & 3);
            int32_t acc = r[0];
            for (int32_t g = 0; g < 7; g++)
                acc = __smlad(qj[8 * g + 1], r[5 + 2 * g], __smlad(qj[8 * g], r[4 + 2 * g], acc));
            const int32_t t = r[3] < 0 ? -r[3] : r[3];
            const int32_t hi = (int32_t)(((int64_t)acc * r[1]) >> 32);
            y[j] = (int8_t)__ssat(r[3] < 0 ? ((hi + r[2]) >> t) + y_zero : (hi + r[2]) >> t, 8);
        }
}
#endif

/* Row of mid from input rows [xlo, xlo + xn) under the window (p's padding), channel o at y + o * y_plane: per eight
 * windows (the last eight end at the row's end, overlapping the ones before: the same bytes again) the three slots'
 * windows packed, then every channel's outputs (rgb_outputs8). */
static int rgb_conv_row(void *ctx, int32_t xlo, int32_t xn, const tt_conv_params *p, int8_t *y, int32_t y_plane)
{
    tt_rows_seen *s = (tt_rows_seen *)ctx;
    tt_rows_seen_until(s, xlo + xn);
    const tt_conv_params *conv = &s->a->conv; /* n: the row's windows (mid.w) */
    const int32_t step = 3 * conv->stride, n = (s->in.w + conv->pad_left + conv->pad_right - 3) / conv->stride + 1;
    const int32_t pitch = slot_bytes(s->in, s->a);
    const int8_t *rows[3];
    for (int32_t ky = 0; ky < 3; ky++) {
        const int32_t i = ky - p->pad_top; /* row xlo + i of x, or padding */
        rows[ky] = i >= 0 && i < xn ? s->ring + ((xlo + i) % 3) * pitch : NULL;
    }
    const int32_t *records = (const int32_t *)(const void *)(s->ring + 3 * pitch);
    int32_t packed[112 + 4] __attribute__((aligned(8))); /* the packs, and room for rgb_outputs8's constants */
    for (int32_t j = 0; j < 8; j++) /* quad 6's last halfword (no element; rgb_pack8 leaves it) */
        packed[56 * (j >> 2) + 49 + 2 * (j & 3)] = 0;
    for (int32_t x0 = 0; x0 < n; x0 += 8) {
        const int32_t at = x0 + 8 <= n ? x0 : n - 8; /* the windows at .. at + 7 */
        const int8_t *from[3];
        for (int32_t ky = 0; ky < 3; ky++)
            from[ky] = rows[ky] ? rows[ky] + at * step : NULL;
        if (from[0] && from[1] && from[2])
            rgb_pack8_inside(from[0], from[1], from[2], step, s->a->q.x_zero, packed);
        else
            rgb_pack8(from, step, s->a->q.x_zero, packed);
        rgb_outputs8(packed, records, s->records_end, y + at, y_plane, s->a->q.y_zero);
    }
    return TT_OK;
}
#endif

/* The RGB conv's row function where it applies (the records set), else NULL (the band and the general conv). */
tt_conv_row_fn tt_rows_seen_conv(const tt_rows_seen *s)
{
#if TT_USE_DSP
    return s->records_end ? rgb_conv_row : NULL;
#else
    (void)s;
    return NULL;
#endif
}

int8_t *tt_rows_seen_init(tt_rows_seen *s, const tt_row_source *src, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                          int8_t *scratch)
{
    const int32_t pitch = slot_bytes(in, a);
    int8_t *loop = scratch + a->kh * pitch;
    *s = (tt_rows_seen){src, in, a, 0, scratch, NULL};
    memset(scratch, a->q.x_zero, (size_t)(a->kh * pitch)); /* the slots' padding columns, written once */
#if TT_USE_DSP
    if (rgb_shape(in, a, mid) && rgb_records(a, mid.c, (int32_t *)(void *)loop)) /* in the loop's band of x */
        s->records_end = (const int32_t *)(const void *)loop + mid.c * RGB_RECORD_WORDS;
#else
    (void)mid;
#endif
    return loop;
}

void tt_rows_seen_until(tt_rows_seen *s, int32_t end)
{
    const int32_t left = s->a->conv.pad_left * s->in.c, pitch = slot_bytes(s->in, s->a);
    for (; s->next < end; ++s->next)
        s->src->read(s->src->ctx, s->ring + (s->next % s->a->kh) * pitch + left, s->next, 1);
}

/* A slot's row (w pixels of 3 channels, HWC) as its three channel rows at xb, xb + stride, xb + 2 stride: four
 * pixels' three words give each channel a word, byte lanes picked by shifts and masks (little-endian, as every target
 * is), about 24 instructions per four pixels where a byte at a time took 60; a last pixel or three byte by byte. */
static void spread_rgb_row(const int8_t *row, int32_t w, int8_t *xb, int32_t stride)
{
    int32_t i = 0;
    for (; i + 4 <= w; i += 4, row += 12) {
        uint32_t a, b, d; /* (p0c0 p0c1 p0c2 p1c0), (p1c1 p1c2 p2c0 p2c1), (p2c2 p3c0 p3c1 p3c2), low byte first */
        memcpy(&a, row, 4);
        memcpy(&b, row + 4, 4);
        memcpy(&d, row + 8, 4);
        const uint32_t c0 = (a & 0xFFu) | ((a >> 16) & 0xFF00u) | (b & 0xFF0000u) | ((d << 16) & 0xFF000000u);
        const uint32_t c1 =
            ((a >> 8) & 0xFFu) | ((b << 8) & 0xFF00u) | ((b >> 8) & 0xFF0000u) | ((d << 8) & 0xFF000000u);
        const uint32_t c2 = ((a >> 16) & 0xFFu) | (b & 0xFF00u) | ((d << 16) & 0xFF0000u) | (d & 0xFF000000u);
        memcpy(xb + i, &c0, 4);
        memcpy(xb + stride + i, &c1, 4);
        memcpy(xb + 2 * stride + i, &c2, 4);
    }
    for (; i < w; ++i, row += 3) {
        xb[i] = row[0];
        xb[stride + i] = row[1];
        xb[2 * stride + i] = row[2];
    }
}

void tt_rows_seen_band(void *ctx, int8_t *xb, int32_t xlo, int32_t xn)
{
    tt_rows_seen *s = (tt_rows_seen *)ctx;
    tt_rows_seen_until(s, xlo + xn);
    /* locals: the byte stores below cannot change them */
    const int32_t c = s->in.c, w = s->in.w, plane = xn * w, pitch = slot_bytes(s->in, s->a);
    for (int32_t i = 0; i < xn; ++i) {
        const int8_t *row = s->ring + ((xlo + i) % s->a->kh) * pitch + s->a->conv.pad_left * c;
        if (c == 3) {
            spread_rgb_row(row, w, xb + i * w, plane);
            continue;
        }
        for (int32_t ch = 0; ch < c; ++ch) { /* channel ch of the row: every c-th byte */
            const int8_t *from = row + ch;
            int8_t *to = xb + ch * plane + i * w;
            for (int32_t k = 0; k < w; ++k, from += c) to[k] = *from;
        }
    }
}

int tt_conv_dw_pw_stream_s8(const tt_row_source *src, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                            const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y, tt_dims out, int8_t *scratch)
{
    if (!src || !src->read || !a || !b || !c || !y || !scratch) return TT_ERR_ARG;
    tt_rows_seen seen;
    int8_t *loop = tt_rows_seen_init(&seen, src, in, a, mid, scratch);
    tt_dw_pw_window win = {0, 0, 0};
    int rc = tt_conv_dw_pw_loop_rows(tt_rows_seen_band, tt_rows_seen_conv(&seen), &seen, in, a, mid, b, c, y, out.h,
                                     out, loop, &win, 0, out.h);
    if (rc != TT_OK) return rc;
    tt_rows_seen_until(&seen, in.h); /* rows no window reached: the stream stays in step */
    return TT_OK;
}
