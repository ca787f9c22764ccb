/* Of an expansion's backward taken a chunk of channels at a time, each chunk's gradient computed once for all its
 * readers (expansion_backward_*_chunks, passes/expansion_backward_chunks.py): the projection's input gradient of a
 * chunk read through the projection's clamp mask (passes/source_through_mask.py), and the op's scratch. */
#include "tt_float_util.h"

/* Output channels of a block (GI_CHUNK of tt_conv2d_grad_input_f32.c: the same blocks, so the same sums). */
#define MASKED_BLOCK 64

/* Bit b of a mask bit-packed LSB first, and the eight bits from b on (b + 7 within the mask). */
static inline uint32_t mask_bit(const uint8_t *mask, int32_t b)
{
    return (mask[b >> 3] >> (b & 7)) & 1u;
}

static inline uint32_t mask_byte_at(const uint8_t *mask, int32_t b)
{
    const uint32_t low = (uint32_t)mask[b >> 3] >> (b & 7);
    return (b & 7 ? low | (uint32_t)mask[(b >> 3) + 1] << (8 - (b & 7)) : low) & 0xFFu;
}

/* g where the bit is 1, +0.0f where it is 0 (what tt_mask_grad_f32 writes): the value's bits ANDed. */
static inline float masked(float g, uint32_t bit)
{
    uint32_t v;
    memcpy(&v, &g, 4);
    v &= 0u - bit;
    memcpy(&g, &v, 4);
    return g;
}

/* Pixels p .. p + 7 (dx at them) of `group` channel pairs (channel 2q, 2q + 1: rows hw apart), their sums so far
 * (`more`; else 0) continued over n outputs' 8 values (d, d_step apart) with the pairs' scaled weights
 * (cols + 2 n q): tt_mla_2x8_f32 on a Cortex-M FPU (a function of its own: few registers live beside the asm). */
static __attribute__((noinline)) void pairs_over_block(float *dx, int32_t hw, int32_t group, const float *d,
                                                      int32_t d_step, const float *cols, int32_t n, int more)
{
    for (int32_t q = 0; q < group; ++q, cols += 2 * n) {
        float *dx0 = dx + 2 * q * hw, *dx1 = dx0 + hw;
#ifdef TT_MLA_2X8_ASM
        static const float zeros[8];
        tt_mla_2x8_f32(dx0, dx1, more ? dx0 : zeros, more ? dx1 : zeros, d, d_step, cols, n);
#else
        for (int32_t j = 0; j < 8; ++j) {
            float a = more ? dx0[j] : 0.0f, b = more ? dx1[j] : 0.0f;
            for (int32_t i = 0; i < n; ++i) {
                a = tt_mla_f32(a, d[i * d_step + j], cols[2 * i]);
                b = tt_mla_f32(b, d[i * d_step + j], cols[2 * i + 1]);
            }
            dx0[j] = a, dx1[j] = b;
        }
#endif
    }
}

int32_t tt_masked_grad_input_pairs(int32_t out_c, int32_t floats)
{
    const int32_t n = out_c < MASKED_BLOCK ? out_c : MASKED_BLOCK, pairs = (floats - 8 * n) / (2 * n);
    return pairs > 0 ? pairs : 0;
}

/* Per block of output channels and group of channel pairs (tt_masked_grad_input_pairs of scratch_floats): the pairs'
 * scaled weights into the scratch once (col[2i], col[2i + 1]: w_scale[o] * w[o][c], [c + 1], one product each), then
 * per 8 pixels each pair's 2 x 8 sums continued over the block's d values (tt_mla_2x8_f32 on a Cortex-M FPU): g's
 * own where all their mask bits are 1, else masked into the scratch (a channel's mask byte all ones: a copy); the
 * pixels past the last 8 and an odd last channel term by term.  Each dx value is
 * tt_conv2d_1x1_grad_input_channels_f32's sum on the masked d: its terms in the same order (over o from 0, a
 * tt_mla_f32 each, the sum kept in dx across blocks) from the same products. */
int tt_conv2d_1x1_grad_input_masked_channels_f32(const float *g, const uint8_t *mask, int32_t out_c, int32_t hw,
                                                 const int8_t *w, const float *w_scale, int32_t c0, int32_t k,
                                                 int32_t channels, float *dx, float *scratch, int32_t scratch_floats)
{
    if (!g || !mask || !w || !w_scale || !dx || !scratch || out_c < 1 || hw < 1 || c0 < 0 || c0 % 2 || k < 1
        || c0 + k > channels)
        return TT_ERR_ARG;
    const int32_t pairs = tt_masked_grad_input_pairs(out_c, scratch_floats);
    if (pairs < 1) return TT_ERR_ARG;
    for (int32_t o0 = 0; o0 < out_c; o0 += MASKED_BLOCK) {
        const int32_t n = out_c - o0 < MASKED_BLOCK ? out_c - o0 : MASKED_BLOCK;
        const float *gb = g + o0 * hw;
        float *block = scratch, *cols = scratch + 8 * n; /* block[8i + j]: output o0 + i at pixel p + j */
        for (int32_t c = 0; c + 2 <= k; c += 2 * pairs) {
            const int32_t group = (k - c) / 2 < pairs ? (k - c) / 2 : pairs;
            for (int32_t q = 0; q < group; ++q) {
                const int8_t *wq = w + o0 * channels + c0 + c + 2 * q;
                float *col = cols + 2 * n * q;
#ifdef TT_MLA_2X8_ASM
                tt_scaled_pairs_f32(col, wq, channels, w_scale + o0, n);
#else
                for (int32_t i = 0; i < n; ++i) {
                    col[2 * i] = w_scale[o0 + i] * (float)wq[i * channels];
                    col[2 * i + 1] = w_scale[o0 + i] * (float)wq[i * channels + 1];
                }
#endif
            }
            int32_t p = 0;
            for (; p + 8 <= hw; p += 8) {
                uint32_t ones = 0xFFu;
                if (hw % 8 == 0) { /* each channel's 8 bits a byte, hw / 8 bytes apart */
                    const uint8_t *mb = mask + (o0 * hw + p) / 8;
                    for (int32_t i = 0; i < n; ++i) ones &= mb[i * (hw / 8)];
                } else {
                    for (int32_t i = 0; i < n; ++i) ones &= mask_byte_at(mask, (o0 + i) * hw + p);
                }
                if (ones == 0xFFu) { /* no clamp active here (the usual case): g's values as they are */
                    pairs_over_block(dx + c * hw + p, hw, group, gb + p, hw, cols, n, o0 > 0);
                    continue;
                }
                for (int32_t i = 0; i < n; ++i) {
                    const uint32_t m = mask_byte_at(mask, (o0 + i) * hw + p);
                    const float *gi = gb + i * hw + p;
                    if (m == 0xFFu) memcpy(block + 8 * i, gi, 8 * sizeof(float));
                    else
                        for (int32_t j = 0; j < 8; ++j) block[8 * i + j] = masked(gi[j], (m >> j) & 1u);
                }
                pairs_over_block(dx + c * hw + p, hw, group, block, 8, cols, n, o0 > 0);
            }
            for (; p < hw; ++p)
                for (int32_t q = 0; q < group; ++q) {
                    float *dx0 = dx + (c + 2 * q) * hw + p, *dx1 = dx0 + hw;
                    const float *col = cols + 2 * n * q;
                    float a = o0 > 0 ? *dx0 : 0.0f, b = o0 > 0 ? *dx1 : 0.0f;
                    for (int32_t i = 0; i < n; ++i) {
                        const float d = masked(gb[i * hw + p], mask_bit(mask, (o0 + i) * hw + p));
                        a = tt_mla_f32(a, d, col[2 * i]);
                        b = tt_mla_f32(b, d, col[2 * i + 1]);
                    }
                    *dx0 = a, *dx1 = b;
                }
        }
    }
    if (k % 2) { /* an odd last channel, all outputs in order */
        const int32_t c = k - 1;
        for (int32_t p = 0; p < hw; ++p) {
            float a = 0.0f;
            for (int32_t o = 0; o < out_c; ++o)
                a = tt_mla_f32(a, masked(g[o * hw + p], mask_bit(mask, o * hw + p)),
                               w_scale[o] * (float)w[o * channels + c0 + c]);
            dx[c * hw + p] = a;
        }
    }
    return TT_OK;
}

/* The scratch: a chunk of each stage's gradient (the projection's, mid; mid.c == 0: none; the depthwise conv's, in),
 * then the larger of the weight update's block of rows (run > 0; none where the block fits in the projection's chunk,
 * whose place it takes: the depthwise stage reads that chunk for the last time before the update) and a chunk's bias
 * gradient (biases != 0), which the loop uses one after the other; reading the projection's output gradient through its mask (masked_c: its output
 * channels, else 0), what follows the projection's chunk (free until the depthwise stage) is the masked kernel's
 * scratch: at least 8 pixels of a block's output channels and one channel pair's scaled weights, 10 floats each. */
int32_t tt_expansion_backward_chunks_get_buffer_size(tt_dims mid, tt_dims in, int32_t bytes, int32_t run,
                                                     int32_t cols, int32_t biases, int32_t masked_c)
{
    const int32_t k = tt_dw_chunk_channels(in, mid.c > 0 ? mid.h * mid.w : 0, bytes);
    const int32_t floats = k * (in.h * in.w + (mid.c > 0 ? mid.h * mid.w : 0));
    int32_t extra = run > 0 ? tt_grad_update_get_buffer_size(k, run, cols) : 0;
    if (mid.c > 0 && extra <= k * mid.h * mid.w * (int32_t)sizeof(float))
        extra = 0; /* the block takes the projection chunk's place, read for the last time before the update */
    if (biases && extra < k * (int32_t)sizeof(float)) extra = k * (int32_t)sizeof(float);
    if (masked_c > 0) {
        const int32_t least = 10 * (masked_c < MASKED_BLOCK ? masked_c : MASKED_BLOCK) - k * in.h * in.w;
        if (extra < least * (int32_t)sizeof(float)) extra = least * (int32_t)sizeof(float);
    }
    return floats * (int32_t)sizeof(float) + extra;
}
