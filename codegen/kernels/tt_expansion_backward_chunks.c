/* The scratch of an expansion's backward taken a chunk of channels at a time, each chunk's gradient computed once
 * for all its readers (expansion_backward_*_chunks, passes/expansion_backward_chunks.py): a chunk of each stage's
 * gradient (the projection's, mid; mid.c == 0: none; the depthwise conv's, in), then the larger of the weight
 * update's block of rows (run > 0) and a chunk's bias gradient (biases != 0), which the loop uses one after the
 * other.  Where the projection reads its output gradient through its clamp mask (passes/source_through_mask.py), its
 * chunk's input gradient takes that gradient masked a block of output channels at a time, the block in what follows
 * the projection's chunk (free until the depthwise stage). */
#include "tt_kernels.h"

/* The fewest output channels of hw pixels whose mask bits are whole bytes (a block's mask starts on a byte). */
static int32_t byte_rows(int32_t hw)
{
    return hw % 8 == 0 ? 1 : hw % 4 == 0 ? 2 : hw % 2 == 0 ? 4 : 8;
}

int32_t tt_masked_block_rows(int32_t out_c, int32_t hw, int32_t floats)
{
    const int32_t fit = floats / hw;
    return fit >= out_c ? out_c : fit / byte_rows(hw) * byte_rows(hw);
}

/* Block after block: its d values masked into `block` (tt_mask_grad_f32: the values mask_grad gives), then their
 * terms added to dx's sums in order (tt_conv2d_1x1_grad_input_block_f32). */
int tt_conv2d_1x1_grad_input_masked_channels_f32(const float *g, const uint8_t *mask, int32_t out_c, int32_t hw,
                                                 const int8_t *w, const float *w_scale, int32_t c0, int32_t k,
                                                 int32_t channels, float *dx, float *block, int32_t block_floats)
{
    if (!g || !mask || !block || out_c < 1 || hw < 1) return TT_ERR_ARG;
    const int32_t rows = tt_masked_block_rows(out_c, hw, block_floats);
    if (rows < 1) return TT_ERR_ARG;
    for (int32_t o0 = 0; o0 < out_c; o0 += rows) {
        const int32_t n = out_c - o0 < rows ? out_c - o0 : rows;
        int err = tt_mask_grad_f32(g + o0 * hw, mask + o0 * hw / 8, n * hw, block);
        if (err == TT_OK) err = tt_conv2d_1x1_grad_input_block_f32(block, o0, n, hw, w, w_scale, c0, k, channels, dx);
        if (err != TT_OK) return err;
    }
    return TT_OK;
}

int32_t tt_expansion_backward_chunks_get_buffer_size(tt_dims mid, tt_dims in, int32_t bytes, int32_t run,
                                                     int32_t cols, int32_t biases, int32_t masked_c)
{
    const int32_t k = tt_dw_chunk_channels(in, mid.c > 0 ? mid.h * mid.w : 0, bytes);
    const int32_t floats = k * (in.h * in.w + (mid.c > 0 ? mid.h * mid.w : 0));
    int32_t extra = run > 0 ? tt_grad_update_get_buffer_size(k, run, cols) : 0;
    if (biases && extra < k * (int32_t)sizeof(float)) extra = k * (int32_t)sizeof(float);
    if (masked_c > 0) { /* at least one block of the masked gradient after the projection's chunk */
        const int32_t least = (masked_c < byte_rows(mid.h * mid.w) ? masked_c : byte_rows(mid.h * mid.w))
                              * mid.h * mid.w - k * in.h * in.w;
        if (extra < least * (int32_t)sizeof(float)) extra = least * (int32_t)sizeof(float);
    }
    return floats * (int32_t)sizeof(float) + extra;
}
