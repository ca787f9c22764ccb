/*
 * tvm-tinytrain C kernel library: one kernel per tt op (tvm_tinytrain/ops/), C99, no malloc.
 *
 * Conventions
 * - Tensors are batch 1, channel-major (C, H, W), contiguous. Shapes are passed as tt_dims.
 * - int8 arithmetic is exactly docs/int8-semantics.md (bit for bit with the numpy reference
 *   and the TVM build); float kernels compute docs/training-semantics.md in float32
 *   (summation order may differ from TVM's; results agree to ~1e-6 relative).
 * - Requantize: out = clamp(((int64)acc * mult + (1 << (shift - 1))) >> shift) + zero, lo, hi),
 *   mult in [2^30, 2^31), shift in [1, 62].
 * - Every kernel returns TT_OK or a negative TT_ERR_* (bad argument); kernels that need
 *   scratch memory have a tt_<name>_get_buffer_size companion and take `scratch`.
 * - Portable C always exists; Cortex-M DSP paths (arm_acle.h: __smlad, __sxtb16, __ssat) sit
 *   behind `#if TT_USE_DSP` in the same file and must give the same result bit for bit.
 * - Masks (clamp gradients) are bit-packed: bit i of byte i/8 (LSB first) is element i.
 * - Kernels whose output may alias an input say so ("out may alias ...").
 */
#ifndef TT_KERNELS_H
#define TT_KERNELS_H

#include <stdint.h>

#if defined(__ARM_FEATURE_DSP) && !defined(TT_NO_DSP)
#define TT_USE_DSP 1
#else
#define TT_USE_DSP 0
#endif

#define TT_OK 0
#define TT_ERR_ARG (-1)

typedef struct {
    int32_t c, h, w;
} tt_dims;

typedef struct {
    int32_t stride;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t groups;
} tt_conv_params;

/* A conv of any geometry (the tt_conv2d_geom_* kernels): strides and dilations along H and W. */
typedef struct {
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
    int32_t groups;
} tt_conv_geom;

/* A pooling window: kernel kh x kw, strides along H and W, padding (tt_pool.h checks it). */
typedef struct {
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left, pad_bottom, pad_right;
} tt_pool_params;

typedef struct {
    int32_t x_zero, y_zero;
    int32_t act_min, act_max;
} tt_quant_params;

/* ---- forward, int8 ----------------------------------------------------------------- */

/* Any conv (dispatches to the 1x1 / depthwise / general kernels). w: (out.c, in.c/groups, kh, kw). */
int tt_conv2d_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                 const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                 const tt_quant_params *q, int8_t *y, tt_dims out);
/* tt_conv2d_s8 with strides (sh, sw) and dilations (dh, dw): any geometry, portable loops only. */
int tt_conv2d_geom_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const tt_conv_geom *g, const tt_quant_params *q,
                      int8_t *y, tt_dims out);
int tt_conv2d_1x1_s8(const int8_t *x, tt_dims in, const int8_t *w, const int32_t *bias, const int32_t *mult,
                     const int32_t *shift, const tt_conv_params *conv, const tt_quant_params *q, int8_t *y,
                     tt_dims out);
/* Pointwise conv with the weight split by input channel: w_lead (out.c, k) and w_rest (out.c, in.c - k),
 * so a trained channel slice can live in SRAM and the frozen rest in flash. Same result as
 * tt_conv2d_1x1_s8 on the concatenated weight. */
int tt_conv2d_1x1_split_s8(const int8_t *x, tt_dims in, const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out);
int tt_depthwise_conv2d_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                           const int32_t *bias, const int32_t *mult, const int32_t *shift,
                           const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out);
int tt_conv2d_general_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out);
/* Scratch bytes of the generated loops (codegen/templates_memory.py) around tt_depthwise_conv2d_s8: a 1x1
 * expansion of `channels` channels + depthwise conv up to TT_EXPAND_CHANNELS channels at a time while they fit
 * TT_EXPAND_BYTES (at least one; tt_conv2d_1x1_s8's packed path: the input packed once for the four), that many
 * expanded channels of the input's size; and a depthwise conv writing over its input (one output channel). */
#define TT_EXPAND_CHANNELS 4
#define TT_EXPAND_BYTES 1024
int32_t tt_expand_depthwise_s8_get_buffer_size(tt_dims in, int32_t channels);
int32_t tt_depthwise_inplace_s8_get_buffer_size(tt_dims out);
/* y = tt_depthwise_conv2d_s8 of x written over x: y == x, or below it (y <= x), as the memory pass's in-place
 * depthwise writes it. Output channel c is written once input channel c is read, and ends below input channel
 * c + 1 (out.h * out.w <= in.h * in.w). scratch: tt_depthwise_inplace_s8_get_buffer_size(out) bytes.
 * TT_ERR_ARG: as tt_depthwise_conv2d_s8, a NULL scratch, or out.h * out.w > in.h * in.w. */
int tt_depthwise_inplace_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                            const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                            const tt_quant_params *q, int8_t *y, tt_dims out, int8_t *scratch);
/* One int8 conv layer for the fused kernels: weights (out.c, in.c / groups, kh, kw), per-channel bias and
 * requantize, conv and quantization parameters; table: NULL, or for a 3x3 depthwise whose channels are all in the
 * SSAT form (32 < shift <= 53, act -128..127) its channels' constants, TT_DW_TABLE_WORDS each, made once at compile
 * time (codegen/dw_table.py) so that the DSP row loop does not remake them on every row: the pairs (w0, w2), w1,
 * (w3, w5), w4, (w6, w8), w7 (each pair as SXTB16 makes it), start = bias - x_zero * sum w twice, mult,
 * k = 2^(t-1) + y_zero * 2^t, t = shift - 32, 0. */
#define TT_DW_TABLE_WORDS 12
typedef struct {
    const int8_t *w;
    int32_t kh, kw;
    const int32_t *bias, *mult, *shift;
    tt_conv_params conv;
    tt_quant_params q;
    const int32_t *table;
} tt_conv_layer;
/* y = c(b(a(x))) for a conv a (groups 1) -> mid, a depthwise b and a 1x1 c, one output row at a time:
 * the same result as the three calls, with scratch of get_buffer_size bytes instead of two tensors. */
int32_t tt_conv_dw_pw_rows_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                              const tt_conv_layer *b, tt_dims out);
int tt_conv_dw_pw_rows_s8(const int8_t *x, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                          const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y, tt_dims out, int8_t *scratch);
/* The residual add after such a block: z = tt_add_s8 of x and the block's output y, x the add's first operand
 * `a` when x_is_a (else its second, `b`), with the add's zero points, multipliers, shift and output q. */
typedef struct {
    int32_t x_is_a;
    int32_t a_zero, b_zero, mult_a, mult_b, shift;
    tt_quant_params q;
} tt_residual_add;
/* z = add(x, c(b(a(x)))) for a stride-1 block with out == in, one output row at a time, each sum row written to z
 * once made: z may be x (x's row r is read by no later output row), so neither y nor a second map exists whole. */
int32_t tt_conv_dw_pw_rows_add_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                                  const tt_conv_layer *b, tt_dims out);
int tt_conv_dw_pw_rows_add_s8(const int8_t *x, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                              const tt_conv_layer *b, const tt_conv_layer *c, int8_t *z, tt_dims out,
                              const tt_residual_add *add, int8_t *scratch);
/* Where a streamed sample's rows come from (the application: a camera's DMA, a serial line):
 * read(ctx, dst, first_row, n_rows) writes rows first_row .. first_row + n_rows - 1 to dst, each row all
 * channels pixel by pixel, (n_rows, w, c) int8 (HWC). Rows are asked for in order, each once. */
typedef struct tt_row_source {
    void (*read)(void *ctx, int8_t *dst, int32_t first_row, int32_t n_rows);
    void *ctx;
} tt_row_source;
/* A whole (c, h, w) image in memory, read as rows by tt_rows_from_chw (a tt_row_source's read, ctx = image). */
typedef struct {
    const int8_t *x;
    tt_dims dims;
} tt_chw_image;
void tt_rows_from_chw(void *ctx, int8_t *dst, int32_t first_row, int32_t n_rows);
/* tt_conv_dw_pw_rows_s8 with x pulled from `src` row by row as the conv a reaches it (every row read once,
 * in order): the same result, and the input never whole in memory. */
int32_t tt_conv_dw_pw_stream_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a, tt_dims mid,
                                               const tt_conv_layer *b, tt_dims out);
int tt_conv_dw_pw_stream_s8(const tt_row_source *src, tt_dims in, const tt_conv_layer *a, tt_dims mid,
                            const tt_conv_layer *b, const tt_conv_layer *c, int8_t *y, tt_dims out, int8_t *scratch);
/* y = block 1 (a1, b1, c1) of the streamed stem's (a0, b0, c0) output, the stem computing its rows as block 1's
 * first conv reaches them into a ring of a1.kh rows: the same result, neither x nor the stem's output whole. */
int32_t tt_conv_dw_pw_chain_s8_get_buffer_size(tt_dims in, const tt_conv_layer *a0, tt_dims mid0,
                                              const tt_conv_layer *b0, tt_dims out0, const tt_conv_layer *a1,
                                              tt_dims mid1, const tt_conv_layer *b1, tt_dims out1);
int tt_conv_dw_pw_chain_s8(const tt_row_source *src, tt_dims in, const tt_conv_layer *a0, tt_dims mid0,
                           const tt_conv_layer *b0, const tt_conv_layer *c0, tt_dims out0, const tt_conv_layer *a1,
                           tt_dims mid1, const tt_conv_layer *b1, const tt_conv_layer *c1, int8_t *y, tt_dims out1,
                           int8_t *scratch);
/* y (out_features) = requant(w (out_features, in_features) . (x - x_zero) + bias) */
int tt_linear_s8(const int8_t *x, int32_t in_features, const int8_t *w, const int32_t *bias,
                 const int32_t *mult, const int32_t *shift, int32_t out_features, const tt_quant_params *q,
                 int8_t *y);
/* y = clamp(((a - a_zero) * mult_a + (b - b_zero) * mult_b + round) >> shift) + y_zero) */
int tt_add_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t a_zero, int32_t b_zero, int32_t mult_a,
              int32_t mult_b, int32_t shift, const tt_quant_params *q, int8_t *y);
/* tt_add_s8 on `rows` rows of n elements, row i of a, b, y at i * a_step, b_step, y_step elements. */
int tt_add_s8_rows(const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int32_t rows, int32_t n,
                   int32_t a_zero, int32_t b_zero, int32_t mult_a, int32_t mult_b, int32_t shift,
                   const tt_quant_params *q, int8_t *y, int32_t y_step);
/* concat layer, one input's part: y[i] = clamp(rshift_round((x[i] - x_zero) * mult, shift) + y_zero, -128, 127),
 * y pointing at the input's channel offset in the output */
int tt_concat_s8(const int8_t *x, int32_t n, int32_t x_zero, int32_t mult, int32_t shift, int32_t y_zero,
                 int8_t *y);
/* Global average pool: y[c] = round_half_even(sum_hw x[c] / (h * w)). */
int tt_avgpool_s8(const int8_t *x, tt_dims in, int8_t *y);
/* Windowed average pool: y = round_half_even((window sum, padding = x_zero) / n), n = kh * kw with
 * count_include_pad, else the input elements in the window. */
int tt_avgpool_window_s8(const int8_t *x, tt_dims in, const tt_pool_params *pool, int32_t x_zero,
                         int32_t count_include_pad, int8_t *y, tt_dims out);
int tt_maxpool_s8(const int8_t *x, tt_dims in, const tt_pool_params *pool, int8_t *y, tt_dims out);
/* out[i] = scale * (x[i] - zero) */
int tt_dequantize_s8(const int8_t *x, int32_t n, float scale, int32_t zero, float *out);
/* fp32 classifier on int8 features: y = W (x_scale (x - x_zero)) + B */
int tt_linear_f32(const int8_t *x, int32_t in_features, float x_scale, int32_t x_zero, const float *w,
                  const float *b, int32_t out_features, float *y);

/* ---- loss --------------------------------------------------------------------------- */

int tt_cross_entropy_f32(const float *logits, int32_t n, int32_t label, float *loss);
/* dlogits = softmax(logits) - onehot(label) */
int tt_cross_entropy_grad_f32(const float *logits, int32_t n, int32_t label, float *dlogits);
/* loss = sum((y - target)^2) / n, summed in index order (the MSE loss, loss = "mse") */
int tt_mse_f32(const float *y, const float *target, int32_t n, float *loss);
/* dy = ((y - target) * 2) / n */
int tt_mse_grad_f32(const float *y, const float *target, int32_t n, float *dy);

/* ---- backward, float32 gradients of real values ----------------------------------- */

/* mask bit i = (act_min < y[i] < act_max); mask has (n + 7) / 8 bytes */
int tt_clamp_mask_s8(const int8_t *y, int32_t n, int32_t act_min, int32_t act_max, uint8_t *mask);
/* out[i] = mask bit i ? g[i] : 0; out may alias g */
int tt_mask_grad_f32(const float *g, const uint8_t *mask, int32_t n, float *out);
/* mul layer: y[c, i] = requantize((x[c, i] - q->x_zero) * (g[c, g_hw == 1 ? 0 : i] - g_zero)), g_hw 1 or hw;
 * y may alias x */
int tt_mul_s8(const int8_t *x, const int8_t *g, int32_t c, int32_t hw, int32_t g_hw, int32_t g_zero, int32_t mult,
              int32_t shift, const tt_quant_params *q, int8_t *y);
/* out[c, i] = d[c, i] * (other[c, o_hw == 1 ? 0 : i] - zero) * scale; out may alias d */
int tt_mul_grad_input_f32(const float *d, const int8_t *other, int32_t c, int32_t hw, int32_t o_hw, float scale,
                          int32_t zero, float *out);
/* out[c] = sum over i in order of (x[c, i] - zero) * scale * d[c, i] */
int tt_mul_grad_gate_f32(const float *d, const int8_t *x, int32_t c, int32_t hw, float scale, int32_t zero, float *out);
/* lut layer: y[i] = table[x[i] + 128] (table int8 (256,)); y may alias x */
int tt_lut_s8(const int8_t *x, int32_t n, const int8_t *table, int8_t *y);
/* out[i] = g[i] * dtable[x[i] + 128] (dtable f32 (256,): f' per input code); out may alias g */
int tt_lut_grad_f32(const float *g, const int8_t *x, int32_t n, const float *dtable, float *out);
/* out[i] = g[i] * (mask bit i ? inside : outside), mask as tt_clamp_mask_s8 writes it; out may alias g */
int tt_select_grad_f32(const float *g, const uint8_t *mask, int32_t n, float inside, float outside, float *out);
/* out = a + b; out may alias a */
int tt_grad_add_f32(const float *a, const float *b, int32_t n, float *out);
/* out = x[:k] (the k leading channels) */
int tt_channel_slice_s8(const int8_t *x, tt_dims in, int32_t k, int8_t *out);
/* dx (in) = conv_transpose(d (out), w_scale[o] * w) */
int tt_conv2d_grad_input_f32(const float *d, tt_dims out, const int8_t *w, int32_t kh, int32_t kw,
                             const float *w_scale, const tt_conv_params *conv, float *dx, tt_dims in);
/* tt_conv2d_grad_input_f32 of a tt_conv2d_geom_s8 conv (any strides and dilations) */
int tt_conv2d_geom_grad_input_f32(const float *d, tt_dims out, const int8_t *w, int32_t kh, int32_t kw,
                                  const float *w_scale, const tt_conv_geom *g, float *dx, tt_dims in);
/* tt_conv2d_grad_input_f32 of a stride-1 depthwise conv (groups == in.c, dx the shape of d), all channels in
 * one call; dx may be d (channel c of dx is written after channel c of d is read, and no later channel reads
 * it). scratch: tt_depthwise_grad_input_inplace_f32_get_buffer_size(in) bytes, one channel of dx. */
int tt_depthwise_grad_input_inplace_f32(const float *d, tt_dims out, const int8_t *w, int32_t kh, int32_t kw,
                                        const float *w_scale, const tt_conv_params *conv, float *dx, tt_dims in,
                                        float *scratch);
int32_t tt_depthwise_grad_input_inplace_f32_get_buffer_size(tt_dims in);
/* The terms of output channels row0 .. row0 + rows - 1 (d: those channels' gradient, rows x hw) of a stride-1
 * unpadded pointwise conv's input gradient (w (out.c, channels) the whole weight), added to the sums dx holds
 * of the channels before row0 (row0 == 0: written): consecutive calls give one call's floats bit for bit. */
int tt_conv2d_1x1_grad_input_rows_f32(const float *d, int32_t row0, int32_t rows, int32_t hw, const int8_t *w,
                                      const float *w_scale, int32_t channels, float *dx);
/* Input channels c0 .. c0 + k - 1 (c0 even) of a stride-1 unpadded pointwise conv's input gradient (dx: k x hw),
 * d (out_c, hw) the whole output gradient: the floats of one call over all channels, bit for bit. */
int tt_conv2d_1x1_grad_input_channels_f32(const float *d, int32_t out_c, int32_t hw, const int8_t *w,
                                          const float *w_scale, int32_t c0, int32_t k, int32_t channels, float *dx);
/* The same of d = mask ? g : +0.0f (mask (out_c, hw) bit-packed), d never whole: a group of channel pairs' scaled
 * weights and 8 pixels of d at a time in `scratch` (scratch_floats floats: tt_masked_grad_input_pairs pairs a group,
 * 0 if too small), the same floats bit for bit. */
int32_t tt_masked_grad_input_pairs(int32_t out_c, int32_t floats);
int tt_conv2d_1x1_grad_input_masked_channels_f32(const float *g, const uint8_t *mask, int32_t out_c, int32_t hw,
                                                 const int8_t *w, const float *w_scale, int32_t c0, int32_t k,
                                                 int32_t channels, float *dx, float *scratch, int32_t scratch_floats);
/* A strided depthwise conv's input gradient taken a chunk of channels at a time (the ops of
 * passes/chunk_depthwise_grad.py): multiples of 8 channels (of the mask's bytes) in `bytes` of float (the op's
 * chunk: TT_DW_GRAD_CHUNK_BYTES, or fewer where the SRAM budget narrows it), at least 8; where fewer than 8 fit
 * (a narrowed chunk of a large map), an even number whose mask bits at in and at mid_hw pixels (a projection's
 * stage; 0: none) are whole bytes (tt_dw_chunk_channels); the ops' scratch: a chunk, and for a fused gradient +
 * update (run > 0) its block of rows. */
#define TT_DW_GRAD_CHUNK_BYTES 4096
int32_t tt_depthwise_grad_chunk_channels(tt_dims in, int32_t bytes);
int32_t tt_dw_chunk_channels(tt_dims in, int32_t mid_hw, int32_t bytes);
int32_t tt_depthwise_grad_chunks_get_buffer_size(tt_dims in, int32_t bytes, int32_t run, int32_t cols);
/* The same through a projection (its input gradient `mid`, the depthwise conv's output gradient, a chunk at a
 * time before the depthwise gradient `in`; in.c == 0: no depthwise stage, the chunk is mid's): both chunks and
 * the block of rows. */
int32_t tt_projection_grad_chunks_get_buffer_size(tt_dims mid, tt_dims in, int32_t bytes, int32_t run, int32_t cols);
/* The scratch of an expansion's backward whose chunks are computed once for all readers (mid.c == 0: no projection
 * stage; run, cols: the weight update's, 0 for none; biases: a bias update among them; masked_c: the projection's
 * output channels where it reads its output gradient through its mask, else 0: after the projection's chunk, room
 * for tt_conv2d_1x1_grad_input_masked_channels_f32's scratch of one pair). */
int32_t tt_expansion_backward_chunks_get_buffer_size(tt_dims mid, tt_dims in, int32_t bytes, int32_t run,
                                                     int32_t cols, int32_t biases, int32_t masked_c);
/* tt_conv2d_grad_input_f32 of a pointwise conv whose weight is split as in tt_conv2d_1x1_split_s8 */
int tt_conv2d_1x1_grad_input_split_f32(const float *d, tt_dims out, const int8_t *w_lead, const int8_t *w_rest,
                                        int32_t k, const float *w_scale, const tt_conv_params *conv, float *dx,
                                        tt_dims in);
/* tt_conv2d_1x1_grad_input_rows_f32 of a pointwise conv whose weight is split so (k leading input channels) */
int tt_conv2d_1x1_grad_input_split_rows_f32(const float *d, int32_t row0, int32_t rows, int32_t hw,
                                            const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                                            const float *w_scale, int32_t channels, float *dx);
/* dw = sum over positions of d[o] * x_scale (x[i] - x_zero); x holds the k leading input channels
 * (x_dims.c == k). Output (out.c, k, kh, kw), or (k, 1, kh, kw) if depthwise (uses d[:k]). */
int tt_conv2d_grad_weight_f32(const int8_t *x, tt_dims x_dims, int32_t x_zero, float x_scale, const float *d,
                              tt_dims out, int32_t kh, int32_t kw, const tt_conv_params *conv,
                              int32_t depthwise, float *dw);
/* tt_conv2d_grad_weight_f32 of a tt_conv2d_geom_s8 conv (any strides and dilations); also a grouped conv
 * (depthwise 0, g->groups > 1): x holds each group's k leading channels (x_dims.c == groups * k), dw (out.c, k, kh, kw) */
int tt_conv2d_geom_grad_weight_f32(const int8_t *x, tt_dims x_dims, int32_t x_zero, float x_scale, const float *d,
                                   tt_dims out, int32_t kh, int32_t kw, const tt_conv_geom *g, int32_t depthwise,
                                   float *dw);
/* dx (in_features) = d (out_features) . (w_scale[o] * w) */
int tt_linear_grad_input_f32(const float *d, int32_t out_features, const int8_t *w, const float *w_scale,
                             int32_t in_features, float *dx);
/* dw (out_features, k) = d^T . x_scale (x[:k] - x_zero) */
int tt_linear_grad_weight_f32(const int8_t *x, int32_t k, int32_t x_zero, float x_scale, const float *d,
                              int32_t out_features, float *dw);
/* db[c] = sum over spatial of d[c] */
int tt_bias_grad_f32(const float *d, int32_t channels, int32_t spatial, float *db);
/* out[c][i] = g[c][i] * scale[c]; out may alias g */
int tt_scale_channels_f32(const float *g, int32_t channels, int32_t inner, const float *scale, float *out);
/* dx[c][h][w] = g[c] / (in.h * in.w) */
int tt_avgpool_grad_f32(const float *g, tt_dims in, float *dx);
/* g routed to the first maximum (row-major) of each window, summed over overlapping windows */
int tt_maxpool_grad_f32(const float *g, tt_dims out, const int8_t *x, tt_dims in, const tt_pool_params *pool,
                        float *dx);
/* Windowed average pool backward: g[c][oy][ox] / n spread evenly over the window's input elements */
int tt_avgpool_window_grad_f32(const float *g, tt_dims out, const tt_pool_params *pool, int32_t count_include_pad,
                               float *dx, tt_dims in);
/* fp32 classifier: dx = g . W ; dW = g^T . x_scale (x - x_zero) */
int tt_linear_f32_grad_input(const float *g, int32_t out_features, const float *w, int32_t in_features,
                             float *dx);
int tt_linear_f32_grad_weight(const int8_t *x, int32_t in_features, float x_scale, int32_t x_zero,
                              const float *g, int32_t out_features, float *dw);

/* ---- in-place SGD ----------------------------------------------------------------- */

/* int8 weight slice with stochastic rounding (docs/training-semantics.md). w: (rows, cols, inner)
 * where the update touches w[:, :k, :] (depthwise: rows are channels and the slice is w[:k]:
 * pass depthwise = 1, cols = 1, k = channels updated). g is the contiguous slice. */
int tt_sgd_s8(int8_t *w, const float *g, int32_t rows, int32_t cols, int32_t inner, int32_t k,
              int32_t depthwise, float lr, uint32_t step, int32_t conv_index);
/* tt_sgd_s8 on rows [row0, row0 + n) of the slice only (g: those rows, n x run); row r is the run weights
 * at w + r * row_stride.  Row blocks in any order give tt_sgd_s8's result (fused gradient + update). */
int tt_sgd_s8_rows(int8_t *w, const float *g, int32_t row0, int32_t n, int32_t row_stride, int32_t run,
                   float lr, uint32_t step, int32_t conv_index);
/* tt_sgd_s8_rows on columns [col0, col0 + cols) of those rows only (g: n x cols) */
int tt_sgd_s8_block(int8_t *w, const float *g, int32_t row0, int32_t n, int32_t col0, int32_t cols,
                    int32_t row_stride, int32_t run, float lr, uint32_t step, int32_t conv_index);
/* tt_sgd_s8_block of row i's gradient scaled by scale[i] first (g * scale[i], rounded: QAS), the result of
 * tt_scale_channels_f32 then tt_sgd_s8_block without the pass between them */
int tt_sgd_s8_block_scaled(int8_t *w, const float *g, const float *scale, int32_t row0, int32_t n, int32_t col0,
                           int32_t cols, int32_t row_stride, int32_t run, float lr, uint32_t step, int32_t conv_index);
/* Rows of a weight's float gradient a fused gradient + update holds at a time: TT_UPDATE_ROWS, or more (a
 * multiple of 4) while they fit TT_UPDATE_BYTES (the weight gradient converts its int8 input to float once
 * per call, for all the rows of the block); and its scratch bytes for a weight slice of `rows` rows of `run`
 * floats computed `cols` columns at a time (cols = run: whole rows; a 1x1 conv's: fewer, so more rows). */
#define TT_UPDATE_ROWS 4
#define TT_UPDATE_BYTES 2048
int32_t tt_grad_update_get_buffer_size(int32_t rows, int32_t run, int32_t cols);
/* b = clamp(b - round_half_even(lr * g), -limit, limit) */
int tt_sgd_s32(int32_t *b, const float *g, int32_t n, float lr, int32_t limit);
int tt_sgd_f32(float *p, const float *g, int32_t n, float lr);
/* v = mu * v + g (SGD momentum state, updated in place) */
int tt_momentum_f32(float *v, const float *g, int32_t n, float mu);
/* The float copy's tensor (optimizer state float_copy): rows runs of run values, stride apart in w, each
 * clamp(round_half_even(copy), -128, 127); b = clamp(round_half_even(copy), -limit, limit). */
int tt_round_copy_s8(int8_t *w, const float *copy, int32_t rows, int32_t run, int32_t stride);
int tt_round_copy_s32(int32_t *b, const float *copy, int32_t n, int32_t limit);
/* The uniform number in [0, 1) of element `index` (exposed for tests). */
float tt_stochastic_uniform(uint32_t index, uint32_t step, int32_t conv_index);

#endif /* TT_KERNELS_H */
