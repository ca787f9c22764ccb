/*
 * Private to tt_conv_dw_pw_stream_s8.c and tt_conv_dw_pw_chain_s8.c: the rows of a streamed sample received
 * so far, kept in a ring of the first conv's kernel-height rows (row r in slot r % kh as (c, w)), and the band of
 * them a row loop asks for (tt_fill_band_fn).  The chained kernel runs the streamed stem a few rows at a time, so
 * it keeps this state itself.
 */
#ifndef TT_ROW_STREAM_H
#define TT_ROW_STREAM_H

#include "tt_kernels.h"

typedef struct {
    const tt_row_source *src;
    tt_dims in;
    int32_t kh, next; /* rows 0 .. next - 1 have been read */
    int8_t *ring, *row;
} tt_rows_seen;

/* Reads rows next .. end - 1 from the source into the ring. */
void tt_rows_seen_until(tt_rows_seen *s, int32_t end);
/* A tt_fill_band_fn over a tt_rows_seen (ctx): the band from the ring, reading the rows it lacks first. */
void tt_rows_seen_band(void *ctx, int8_t *xb, int32_t xlo, int32_t xn);

#endif /* TT_ROW_STREAM_H */
