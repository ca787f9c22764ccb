/*
 * Private to tt_conv_dw_pw_stream_s8.c and tt_conv_dw_pw_chain_s8.c: the rows of a streamed sample received
 * so far, kept as they arrive (pixel by pixel, HWC) in a ring of the first conv's kernel-height slots (row r in
 * slot r % kh, after pad_left pixels of x_zero and before pad_right more), and the first conv's rows made from
 * them: the band a row loop asks for (tt_fill_band_fn), or, for an RGB 3x3 conv on the DSP path, each row of the
 * conv straight from the slots (tt_rows_seen_conv). The chained kernel runs the streamed stem a few rows at a
 * time, so it keeps this state itself.
 * Scratch: the ring (tt_rows_seen_bytes), then the row loop's (TT_DW_PW_LOOP_BYTES), whose band of x, which the RGB
 * conv leaves unused, holds that conv's records.
 */
#ifndef TT_ROW_STREAM_H
#define TT_ROW_STREAM_H

#include "tt_conv_dw_pw_loop.h"

typedef struct { /* as few fields as serve (the chained kernel's frame holds one): a.kh slots of slot_bytes */
    const tt_row_source *src;
    tt_dims in;
    const tt_conv_layer *a;
    int32_t next; /* rows 0 .. next - 1 have been read */
    int8_t *ring;
    const int32_t *records_end; /* the RGB conv's records (tt_rows_seen_conv) end here, NULL where it does not
                                   apply; they start at the loop's scratch, just past the ring */
} tt_rows_seen;

/* Bytes of scratch before the row loop's: the ring. */
int32_t tt_rows_seen_bytes(tt_dims in, const tt_conv_layer *a);
/* The state at row 0 over `scratch` (tt_rows_seen_bytes, then the loop's scratch); the loop's scratch returned. */
int8_t *tt_rows_seen_init(tt_rows_seen *s, const tt_row_source *src, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                          int8_t *scratch);
/* Reads rows next .. end - 1 from the source into the ring. */
void tt_rows_seen_until(tt_rows_seen *s, int32_t end);
/* A tt_fill_band_fn over a tt_rows_seen (ctx): the band from the ring, reading the rows it lacks first. */
void tt_rows_seen_band(void *ctx, int8_t *xb, int32_t xlo, int32_t xn);
/* A tt_conv_row_fn over a tt_rows_seen (ctx) whose records are set, or NULL: the one to pass the row loop. */
tt_conv_row_fn tt_rows_seen_conv(const tt_rows_seen *s);

#endif /* TT_ROW_STREAM_H */
