/* The input gradient of a strided depthwise conv taken a chunk of channels at a time by the ops of
 * passes/chunk_depthwise_grad.py (each chunk: the depthwise gradient of its channels, the clamp mask below
 * it, then the op that reads it; through a projection, first that projection's input gradient of the chunk's
 * channels and the depthwise conv's clamp mask): the chunk's channels and the ops' scratch. */
#include "tt_kernels.h"

int32_t tt_depthwise_grad_chunk_channels(tt_dims in, int32_t bytes)
{
    int32_t k = bytes / (in.h * in.w * (int32_t)sizeof(float)) / 8 * 8;
    if (k < 8) k = 8;
    return k < in.c ? k : in.c;
}

int32_t tt_depthwise_grad_chunks_get_buffer_size(tt_dims in, int32_t bytes, int32_t run, int32_t cols)
{
    const int32_t k = tt_depthwise_grad_chunk_channels(in, bytes);
    return k * in.h * in.w * (int32_t)sizeof(float) + (run > 0 ? tt_grad_update_get_buffer_size(k, run, cols) : 0);
}

int32_t tt_projection_grad_chunks_get_buffer_size(tt_dims mid, tt_dims in, int32_t bytes, int32_t run, int32_t cols)
{
    const int32_t k = tt_depthwise_grad_chunk_channels(in.c > 0 ? in : mid, bytes);
    return k * (mid.h * mid.w + (in.c > 0 ? in.h * in.w : 0)) * (int32_t)sizeof(float) +
           (run > 0 ? tt_grad_update_get_buffer_size(k, run, cols) : 0);
}
