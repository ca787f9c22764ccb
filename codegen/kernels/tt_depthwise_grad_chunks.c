/* The input gradient of a strided depthwise conv taken a chunk of channels at a time by the ops of
 * passes/chunk_depthwise_grad.py (each chunk: the depthwise gradient of its channels, the clamp mask below
 * it, then the op that reads it; through a projection, first that projection's input gradient of the chunk's
 * channels and the depthwise conv's clamp mask): the chunk's channels and the ops' scratch. */
#include "tt_kernels.h"

/* The fewest channels, an even number (the 1x1 kernels take channel pairs), whose clamp-mask bits at hw pixels
 * are whole bytes (a chunk's mask starts on a byte; hw 0: no mask). */
static int32_t mask_unit(int32_t hw)
{
    return hw % 4 == 0 ? 2 : hw % 2 == 0 ? 4 : 8;
}

int32_t tt_dw_chunk_channels(tt_dims in, int32_t mid_hw, int32_t bytes)
{
    const int32_t fit = bytes / (in.h * in.w * (int32_t)sizeof(float));
    const int32_t a = mask_unit(in.h * in.w), b = mask_unit(mid_hw), unit = a > b ? a : b;
    int32_t k = fit >= 8 ? fit / 8 * 8 : fit / unit * unit;
    if (k < unit) k = unit;
    return k < in.c ? k : in.c;
}

int32_t tt_depthwise_grad_chunk_channels(tt_dims in, int32_t bytes)
{
    return tt_dw_chunk_channels(in, 0, bytes);
}

int32_t tt_depthwise_grad_chunks_get_buffer_size(tt_dims in, int32_t bytes, int32_t run, int32_t cols)
{
    const int32_t k = tt_depthwise_grad_chunk_channels(in, bytes);
    return k * in.h * in.w * (int32_t)sizeof(float) + (run > 0 ? tt_grad_update_get_buffer_size(k, run, cols) : 0);
}

int32_t tt_projection_grad_chunks_get_buffer_size(tt_dims mid, tt_dims in, int32_t bytes, int32_t run, int32_t cols)
{
    const int32_t k = in.c > 0 ? tt_dw_chunk_channels(in, mid.h * mid.w, bytes)
                               : tt_depthwise_grad_chunk_channels(mid, bytes);
    return k * (mid.h * mid.w + (in.c > 0 ? in.h * in.w : 0)) * (int32_t)sizeof(float) +
           (run > 0 ? tt_grad_update_get_buffer_size(k, run, cols) : 0);
}
