/* The scratch of an expansion's backward taken a chunk of channels at a time, each chunk's gradient computed once
 * for all its readers (expansion_backward_*_chunks, passes/expansion_backward_chunks.py): a chunk of each stage's
 * gradient (the projection's, mid; mid.c == 0: none; the depthwise conv's, in), then the larger of the weight
 * update's block of rows (run > 0) and a chunk's bias gradient (biases != 0), which the loop uses one after the
 * other. */
#include "tt_kernels.h"

int32_t tt_expansion_backward_chunks_get_buffer_size(tt_dims mid, tt_dims in, int32_t bytes, int32_t run,
                                                     int32_t cols, int32_t biases)
{
    const int32_t k = tt_dw_chunk_channels(in, mid.c > 0 ? mid.h * mid.w : 0, bytes);
    const int32_t floats = k * (in.h * in.w + (mid.c > 0 ? mid.h * mid.w : 0));
    int32_t extra = run > 0 ? tt_grad_update_get_buffer_size(k, run, cols) : 0;
    if (biases && extra < k * (int32_t)sizeof(float)) extra = k * (int32_t)sizeof(float);
    return floats * (int32_t)sizeof(float) + extra;
}
