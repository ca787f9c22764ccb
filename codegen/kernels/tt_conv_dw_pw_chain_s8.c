/*
 * Two fused row blocks chained, the first a streamed stem: y = block1(stem(x)) with x pulled from a row source
 * and the stem's output never whole (codegen/input_stream.py).  Block 1 runs tt_conv_dw_pw_loop over its output
 * rows as tt_conv_dw_pw_rows_s8 does; its first conv's band of input (the stem's output rows [xlo, xlo + xn))
 * comes from a ring of a1.kh stem rows, and the stem computes the rows the ring lacks when asked, by the same loop
 * as tt_conv_dw_pw_stream_s8 resumed where it stopped (tt_conv_dw_pw_loop_rows), itself pulling x's rows from
 * the source.  Every kernel call sees the same band as in the two whole-tensor calls: the result is identical
 * bit for bit, each stem row is computed once, and x's rows are read once and in order (the rest at the end).
 * Scratch (tt_conv_dw_pw_chain_s8_get_buffer_size bytes): the stem's (tt_conv_dw_pw_stream_s8's), the ring of
 * stem rows (out0.c, a1.kh, out0.w), then block 1's (tt_conv_dw_pw_rows_s8's); each 8-aligned.
 * TT_ERR_ARG: a NULL pointer, a kernel rejecting its band (as that kernel).
 */
#include "tt_conv_dw_pw_loop.h"
#include "tt_row_stream.h"

int32_t tt_conv_dw_pw_chain_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a0, tt_dims mid0,
                                              const tt_conv_layer *b0, tt_dims out0, const tt_conv_layer *a1,
                                              tt_dims mid1, const tt_conv_layer *b1, tt_dims out1)
{
    return tt_conv_dw_pw_stream_s8_get_buffer_size(in, a0, mid0, b0, out0) + TT_ALIGN8(out0.c * a1->kh * out0.w) +
           TT_DW_PW_LOOP_BYTES(out0, a1, mid1, b1, out1);
}

/* The stem, paused after its output row next - 1; its rows r sit in ring row r % rows. */
typedef struct {
    tt_rows_seen seen;
    tt_dims in, mid, out;
    const tt_conv_layer *a, *b, *c;
    int8_t *ring, *scratch;
    int32_t rows, next, rc;
    tt_dw_pw_window win;
} stem_rows;

/* The band of the stem's output from the ring, computing the rows it lacks first (xn <= rows). */
static void band_from_stem(void *ctx, int8_t *xb, int32_t xlo, int32_t xn)
{
    stem_rows *s = (stem_rows *)ctx;
    if (s->next < xlo + xn && s->rc == TT_OK) {
        s->rc = tt_conv_dw_pw_loop_rows(tt_rows_seen_band, tt_rows_seen_conv(&s->seen), &s->seen, s->in, s->a, s->mid,
                                        s->b, s->c, s->ring, s->rows, s->out, s->scratch, &s->win, s->next, xlo + xn);
        s->next = xlo + xn;
    }
    for (int32_t ch = 0; ch < s->out.c; ++ch)
        for (int32_t i = 0; i < xn; ++i)
            memcpy(xb + (ch * xn + i) * s->out.w, s->ring + (ch * s->rows + (xlo + i) % s->rows) * s->out.w,
                   (size_t)s->out.w);
}

int tt_conv_dw_pw_chain_s8(const tt_row_source *src, tt_dims in, const tt_conv_layer *a0, tt_dims mid0,
                           const tt_conv_layer *b0, const tt_conv_layer *c0, tt_dims out0, const tt_conv_layer *a1,
                           tt_dims mid1, const tt_conv_layer *b1, const tt_conv_layer *c1, int8_t *y, tt_dims out1,
                           int8_t *scratch)
{
    if (!src || !src->read || !a0 || !b0 || !c0 || !a1 || !b1 || !c1 || !y || !scratch) return TT_ERR_ARG;
    int8_t *ring = scratch + tt_conv_dw_pw_stream_s8_get_buffer_size(in, a0, mid0, b0, out0);
    stem_rows stem = {.in = in, .mid = mid0, .out = out0, .a = a0, .b = b0, .c = c0, .ring = ring, .rows = a1->kh,
                      .next = 0, .rc = TT_OK, .win = {0, 0, 0}};
    stem.scratch = tt_rows_seen_init(&stem.seen, src, in, a0, mid0, scratch);
    int rc = tt_conv_dw_pw_loop(band_from_stem, &stem, out0, a1, mid1, b1, c1, y, out1,
                                ring + TT_ALIGN8(out0.c * a1->kh * out0.w));
    if (stem.rc != TT_OK) return stem.rc;
    if (rc != TT_OK) return rc;
    tt_rows_seen_until(&stem.seen, in.h); /* rows no window reached: the stream stays in step */
    return TT_OK;
}
