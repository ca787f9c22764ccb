/*
 * tt_conv_dw_pw_rows_s8 with its input pulled from a row source instead of read from a whole tensor: the
 * stem of a streamed model (codegen/input_stream.py), so the sample never sits in SRAM whole.
 *   y = pointwise(depthwise(conv(x))), one output row at a time by the same loop (tt_conv_dw_pw_loop.h: the
 *   same kernel calls on the same bands): the result is identical bit for bit.
 * The rows of x arrive through src->read one at a time, in order, each once, as the conv `a` first reaches
 * them; rows it never reaches (a stride past the last window) are read at the end, so a stream (a serial
 * line, a camera) stays in step.  A received row is (in.w, in.c), pixel by pixel (HWC); it is spread into
 * a ring of a.kh rows of (in.c, in.w), from which each row of mid takes its band of x.
 * Scratch (tt_conv_dw_pw_stream_s8_get_buffer_size bytes): the ring, one received row, then the scratch of
 * tt_conv_dw_pw_rows_s8 (the band of x, the rows of mid, the depthwise and output rows); each 8-aligned.
 * TT_ERR_ARG: a NULL pointer, a kernel rejecting its band (as that kernel).
 */
#include "tt_conv_dw_pw_loop.h"
#include "tt_row_stream.h"

int32_t tt_conv_dw_pw_stream_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                               const tt_conv_layer *b, tt_dims out)
{
    return TT_ALIGN8(a->kh * in.c * in.w) + TT_ALIGN8(in.w * in.c) + TT_DW_PW_LOOP_BYTES(in, a, mid, b, out);
}

/* A received row (w pixels of 3 channels, HWC) into the ring slot as (3, w): four pixels' three words give each
 * channel a word, byte lanes picked by shifts and masks (little-endian, as every target is), about 24 instructions
 * per four pixels where a byte at a time took 60; a last pixel or three byte by byte. */
static void spread_rgb_row(const int8_t *row, int32_t w, int8_t *slot)
{
    int32_t i = 0;
    for (; i + 4 <= w; i += 4, row += 12) {
        uint32_t a, b, d; /* (p0c0 p0c1 p0c2 p1c0), (p1c1 p1c2 p2c0 p2c1), (p2c2 p3c0 p3c1 p3c2), low byte first */
        memcpy(&a, row, 4);
        memcpy(&b, row + 4, 4);
        memcpy(&d, row + 8, 4);
        const uint32_t c0 = (a & 0xFFu) | ((a >> 16) & 0xFF00u) | (b & 0xFF0000u) | ((d << 16) & 0xFF000000u);
        const uint32_t c1 = ((a >> 8) & 0xFFu) | ((b << 8) & 0xFF00u) | ((b >> 8) & 0xFF0000u) | ((d << 8) & 0xFF000000u);
        const uint32_t c2 = ((a >> 16) & 0xFFu) | (b & 0xFF00u) | ((d << 16) & 0xFF0000u) | (d & 0xFF000000u);
        memcpy(slot + i, &c0, 4);
        memcpy(slot + w + i, &c1, 4);
        memcpy(slot + 2 * w + i, &c2, 4);
    }
    for (; i < w; ++i, row += 3) {
        slot[i] = row[0];
        slot[w + i] = row[1];
        slot[2 * w + i] = row[2];
    }
}

static void read_rows_until(tt_rows_seen *s, int32_t end)
{
    const int32_t c = s->in.c, w = s->in.w; /* locals: the byte stores below cannot change them */
    for (; s->next < end; ++s->next) {
        int8_t *slot = s->ring + (s->next % s->kh) * c * w;
        s->src->read(s->src->ctx, s->row, s->next, 1);
        if (c == 3) {
            spread_rgb_row(s->row, w, slot);
            continue;
        }
        for (int32_t ch = 0; ch < c; ++ch) { /* channel ch of the row: every c-th byte */
            const int8_t *from = s->row + ch;
            int8_t *to = slot + ch * w;
            for (int32_t i = 0; i < w; ++i, from += c) to[i] = *from;
        }
    }
}

/* The band of x from the ring, reading the rows it lacks from the stream first (xn <= kh). */
static void band_from_stream(void *ctx, int8_t *xb, int32_t xlo, int32_t xn)
{
    tt_rows_seen *s = (tt_rows_seen *)ctx;
    read_rows_until(s, xlo + xn);
    for (int32_t i = 0; i < xn; ++i)
        for (int32_t ch = 0; ch < s->in.c; ++ch)
            memcpy(xb + (ch * xn + i) * s->in.w, s->ring + (((xlo + i) % s->kh) * s->in.c + ch) * s->in.w,
                   (size_t)s->in.w);
}

void tt_rows_seen_until(tt_rows_seen *s, int32_t end)
{
    read_rows_until(s, end);
}

void tt_rows_seen_band(void *ctx, int8_t *xb, int32_t xlo, int32_t xn)
{
    band_from_stream(ctx, xb, xlo, xn);
}

int tt_conv_dw_pw_stream_s8(const tt_row_source *src, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                            const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y, tt_dims out, int8_t *scratch)
{
    if (!src || !src->read || !a || !b || !c || !y || !scratch) return TT_ERR_ARG;
    tt_rows_seen seen = {src, in, a->kh, 0, scratch, scratch + TT_ALIGN8(a->kh * in.c * in.w)};
    int rc = tt_conv_dw_pw_loop(band_from_stream, &seen, in, a, mid, b, c, y, out,
                                seen.row + TT_ALIGN8(in.w * in.c));
    if (rc != TT_OK) return rc;
    read_rows_until(&seen, in.h); /* rows no window reached: the stream stays in step */
    return TT_OK;
}
