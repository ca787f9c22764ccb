/* out (k, h, w) = x[:k] of x (c, h, w): channel-major, so the k leading channels are a prefix. */
#include <string.h>

#include "tt_kernels.h"

int tt_channel_slice_s8(const int8_t *x, tt_dims in, int32_t k, int8_t *out)
{
    if (!x || !out || in.c <= 0 || in.h <= 0 || in.w <= 0 || k < 1 || k > in.c) return TT_ERR_ARG;
    memmove(out, x, (size_t)k * (size_t)in.h * (size_t)in.w);
    return TT_OK;
}
