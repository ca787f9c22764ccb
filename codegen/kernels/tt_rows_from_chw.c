/*
 * A whole CHW image as a row source (tt_row_source.read, ctx a tt_chw_image): rows first_row ..
 * first_row + n_rows - 1 written to dst pixel by pixel, (n_rows, w, c), the order a streamed stem takes.
 * How a caller that holds the whole sample (tt_train_step(input, ...)) feeds a streamed model.
 */
#include "tt_kernels.h"

void tt_rows_from_chw(void *ctx, int8_t *dst, int32_t first_row, int32_t n_rows)
{
    const tt_chw_image *image = (const tt_chw_image *)ctx;
    const tt_dims d = image->dims;
    for (int32_t r = first_row; r < first_row + n_rows; ++r)
        for (int32_t i = 0; i < d.w; ++i)
            for (int32_t ch = 0; ch < d.c; ++ch) *dst++ = image->x[(ch * d.h + r) * d.w + i];
}
