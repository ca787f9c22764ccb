/*
 * A whole CHW image as a row source (tt_row_source.read, ctx a tt_chw_image): rows first_row ..
 * first_row + n_rows - 1 written to dst pixel by pixel, (n_rows, w, c), the order a streamed stem takes.
 * How a caller that holds the whole sample (tt_train_step(input, ...)) feeds a streamed model.
 */
#include <string.h>

#include "tt_kernels.h"

/* Four pixels of three channel rows (one word each) as their twelve HWC bytes in three words, byte lanes moved by
 * shifts and masks (little-endian, as every target is): about 20 instructions where a byte at a time took over 50
 * (the inverse of the stream kernel's spread_rgb_row). */
static void interleave_rgb(const int8_t *r0, const int8_t *r1, const int8_t *r2, int32_t w, int8_t *dst)
{
    int32_t i = 0;
    for (; i + 4 <= w; i += 4, dst += 12) {
        uint32_t a, b, c; /* channels 0, 1, 2 of pixels i .. i + 3, low byte first */
        memcpy(&a, r0 + i, 4);
        memcpy(&b, r1 + i, 4);
        memcpy(&c, r2 + i, 4);
        const uint32_t p0 = (a & 0xFFu) | ((b & 0xFFu) << 8) | ((c & 0xFFu) << 16) | ((a & 0xFF00u) << 16);
        const uint32_t p1 = ((b >> 8) & 0xFFu) | (c & 0xFF00u) | (a & 0xFF0000u) | ((b & 0xFF0000u) << 8);
        const uint32_t p2 = ((c >> 16) & 0xFFu) | ((a >> 16) & 0xFF00u) | ((b >> 8) & 0xFF0000u) | (c & 0xFF000000u);
        memcpy(dst, &p0, 4);
        memcpy(dst + 4, &p1, 4);
        memcpy(dst + 8, &p2, 4);
    }
    for (; i < w; ++i, dst += 3) {
        dst[0] = r0[i];
        dst[1] = r1[i];
        dst[2] = r2[i];
    }
}

void tt_rows_from_chw(void *ctx, int8_t *dst, int32_t first_row, int32_t n_rows)
{
    const tt_chw_image *image = (const tt_chw_image *)ctx;
    const tt_dims d = image->dims;
    const int32_t plane = d.h * d.w;
    for (int32_t r = first_row; r < first_row + n_rows; ++r) {
        const int8_t *row = image->x + r * d.w;
        if (d.c == 3) {
            interleave_rgb(row, row + plane, row + 2 * plane, d.w, dst);
            dst += 3 * d.w;
            continue;
        }
        for (int32_t i = 0; i < d.w; ++i)
            for (int32_t ch = 0; ch < d.c; ++ch) *dst++ = row[ch * plane + i];
    }
}
