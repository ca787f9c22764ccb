/*
 * Input gradient of a pointwise conv with a split weight (w_lead (out.c, k), w_rest
 * (out.c, in.c - k), see tt_conv2d_1x1_split_s8):
 *   dx[c, iy, ix] = sum_o d[o, oy, ox] * w_scale[o] * w[o, c]   at iy = oy*s - pad_top, ix = ox*s - pad_left
 * and 0 at input positions no output reads. Float32: each term (d[o] * w_scale[o]) * w[o, c], summed
 * over o in order (the rounding the training tests against TVM were tuned with; the unsplit
 * tt_conv2d_grad_input_f32 rounds d * (w_scale * w) instead, so the two agree to float precision).
 * Stride 1 without padding is a matrix product: two channels by eight positions at a time, each
 * scaled d value made once per two terms.
 * TT_ERR_ARG: NULL pointers, k outside [1, in.c), groups != 1, or out not the conv's output size.
 */
#include <string.h>

#include "tt_float_util.h"

/* dx[c][p] = sum over o (in order) of (d[o][p] * w_scale[o]) * w[o * w_stride + c], c < channels, p < hw.
 * On a Cortex-M FPU, when hw is a multiple of 4, four channels at a time take tt_mla_4x4_scaled_f32's asm loop
 * (four pixels of four channels, each scaled d value made once per four terms) from (w[o][c .. c + 3],
 * w_scale[o]) made once per QUAD_CHUNK outputs (tt_quad_columns_f32); the blocks of eight pixels of the channel
 * pairs left are tt_mla_2x8_scaled_f32's asm loop, reading (w[o][c], w[o][c + 1], w_scale[o]) triplets made once
 * per SPLIT_CHUNK outputs (a sum spanning chunks kept in dx between them, stored and reloaded exactly); the C loops
 * do the rest. */
#define SPLIT_CHUNK 64
#define QUAD_CHUNK 32 /* 5 floats an output: the same stack column as SPLIT_CHUNK's 3 */
/* `more`: dx already holds the sums of earlier output channels (tt_conv2d_1x1_grad_input_split_rows_f32), which
 * these terms continue in the same order; else the sums start from 0. */
static void split_part(const float *d, int32_t out_c, int32_t hw, const int8_t *w, int32_t w_stride,
                       const float *w_scale, int32_t channels, float *dx, int more)
{
    int32_t p_asm = 0; /* pixels [0, p_asm) of every channel pair done by the asm loop */
    int32_t c_quad = 0; /* channels [0, c_quad) done whole by the asm loop of four channels */
#ifdef TT_MLA_2X8_ASM
    p_asm = hw / 8 * 8;
    float col[3 * SPLIT_CHUNK]; /* (w_c .. w_c+3, scale) x QUAD_CHUNK outputs, or (w_c, w_c+1, scale) x SPLIT_CHUNK */
    static const float zeros[8];
    for (; hw % 4 == 0 && c_quad + 4 <= channels; c_quad += 4) {
        for (int32_t o0 = 0; o0 < out_c; o0 += QUAD_CHUNK) {
            const int32_t n = out_c - o0 < QUAD_CHUNK ? out_c - o0 : QUAD_CHUNK;
            tt_quad_columns_f32(col, w + o0 * w_stride + c_quad, w_stride, w_scale + o0, n);
            const int from_dx = more || o0 > 0;
            for (int32_t p = 0; p < hw; p += 4)
                tt_mla_4x4_scaled_f32(dx + c_quad * hw + p, hw, from_dx ? dx + c_quad * hw + p : zeros,
                                      from_dx ? hw : 0, d + o0 * hw + p, hw, col, n);
        }
    }
    for (int32_t c = c_quad; p_asm > 0 && c + 2 <= channels; c += 2) {
        float *dx0 = dx + c * hw, *dx1 = dx0 + hw;
        for (int32_t o0 = 0; o0 < out_c; o0 += SPLIT_CHUNK) {
            const int32_t n = out_c - o0 < SPLIT_CHUNK ? out_c - o0 : SPLIT_CHUNK;
            const int8_t *wo = w + o0 * w_stride + c;
            for (int32_t i = 0; i < n; ++i, wo += w_stride)
                col[3 * i] = (float)wo[0], col[3 * i + 1] = (float)wo[1], col[3 * i + 2] = w_scale[o0 + i];
            for (int32_t p = 0; p < p_asm; p += 8)
                tt_mla_2x8_scaled_f32(dx0 + p, dx1 + p, more || o0 > 0 ? dx0 + p : zeros, more || o0 > 0 ? dx1 + p : zeros,
                                      d + o0 * hw + p, hw, col, n);
        }
    }
    /* an odd last channel: the pair loop with its weight in both columns, the second row of sums thrown away (the C
     * loop below took about 9 instructions a multiply-add; MbV2's block 14 has two such channels, k = 7) */
    if (p_asm > 0 && (channels - c_quad) % 2) {
        const int32_t c = channels - 1;
        float *dx0 = dx + c * hw, spare[8];
        for (int32_t o0 = 0; o0 < out_c; o0 += SPLIT_CHUNK) {
            const int32_t n = out_c - o0 < SPLIT_CHUNK ? out_c - o0 : SPLIT_CHUNK;
            const int8_t *wo = w + o0 * w_stride + c;
            for (int32_t i = 0; i < n; ++i, wo += w_stride)
                col[3 * i] = col[3 * i + 1] = (float)wo[0], col[3 * i + 2] = w_scale[o0 + i];
            for (int32_t p = 0; p < p_asm; p += 8)
                tt_mla_2x8_scaled_f32(dx0 + p, spare, more || o0 > 0 ? dx0 + p : zeros, zeros, d + o0 * hw + p, hw, col,
                                      n);
        }
    }
#endif
    int32_t c = c_quad;
    for (; c + 2 <= channels; c += 2) {
        float *dx0 = dx + c * hw, *dx1 = dx0 + hw;
        int32_t p = p_asm;
        for (; p + 8 <= hw; p += 8) {
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;
            float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f, b4 = 0.0f, b5 = 0.0f, b6 = 0.0f, b7 = 0.0f;
            if (more) { /* the sums so far */
                a0 = dx0[p], a1 = dx0[p + 1], a2 = dx0[p + 2], a3 = dx0[p + 3];
                a4 = dx0[p + 4], a5 = dx0[p + 5], a6 = dx0[p + 6], a7 = dx0[p + 7];
                b0 = dx1[p], b1 = dx1[p + 1], b2 = dx1[p + 2], b3 = dx1[p + 3];
                b4 = dx1[p + 4], b5 = dx1[p + 5], b6 = dx1[p + 6], b7 = dx1[p + 7];
            }
            const float *dp = d + p;
            const int8_t *wo = w + c;
            for (int32_t o = 0; o < out_c; ++o, dp += hw, wo += w_stride) {
                const float sc = w_scale[o], wa = (float)wo[0], wb = (float)wo[1];
                const float g0 = dp[0] * sc, g1 = dp[1] * sc, g2 = dp[2] * sc, g3 = dp[3] * sc, g4 = dp[4] * sc,
                            g5 = dp[5] * sc, g6 = dp[6] * sc, g7 = dp[7] * sc;
                a0 = tt_mla_f32(a0, g0, wa), a1 = tt_mla_f32(a1, g1, wa),
                a2 = tt_mla_f32(a2, g2, wa), a3 = tt_mla_f32(a3, g3, wa);
                a4 = tt_mla_f32(a4, g4, wa), a5 = tt_mla_f32(a5, g5, wa),
                a6 = tt_mla_f32(a6, g6, wa), a7 = tt_mla_f32(a7, g7, wa);
                b0 = tt_mla_f32(b0, g0, wb), b1 = tt_mla_f32(b1, g1, wb),
                b2 = tt_mla_f32(b2, g2, wb), b3 = tt_mla_f32(b3, g3, wb);
                b4 = tt_mla_f32(b4, g4, wb), b5 = tt_mla_f32(b5, g5, wb),
                b6 = tt_mla_f32(b6, g6, wb), b7 = tt_mla_f32(b7, g7, wb);
            }
            dx0[p] = a0, dx0[p + 1] = a1, dx0[p + 2] = a2, dx0[p + 3] = a3;
            dx0[p + 4] = a4, dx0[p + 5] = a5, dx0[p + 6] = a6, dx0[p + 7] = a7;
            dx1[p] = b0, dx1[p + 1] = b1, dx1[p + 2] = b2, dx1[p + 3] = b3;
            dx1[p + 4] = b4, dx1[p + 5] = b5, dx1[p + 6] = b6, dx1[p + 7] = b7;
        }
        for (; p < hw; ++p) {
            float a = more ? dx0[p] : 0.0f, b = more ? dx1[p] : 0.0f;
            for (int32_t o = 0; o < out_c; ++o) {
                const float g = d[o * hw + p] * w_scale[o];
                a = tt_mla_f32(a, g, (float)w[o * w_stride + c]);
                b = tt_mla_f32(b, g, (float)w[o * w_stride + c + 1]);
            }
            dx0[p] = a, dx1[p] = b;
        }
    }
    for (; c < channels; ++c) /* an odd last channel (its pixels past the asm's) */
        for (int32_t p = p_asm; p < hw; ++p) {
            float a = more ? dx[c * hw + p] : 0.0f;
            for (int32_t o = 0; o < out_c; ++o)
                a = tt_mla_f32(a, d[o * hw + p] * w_scale[o], (float)w[o * w_stride + c]);
            dx[c * hw + p] = a;
        }
}

int tt_conv2d_1x1_grad_input_split_f32(const float *d, tt_dims out, const int8_t *w_lead, const int8_t *w_rest,
                                        int32_t k, const float *w_scale, const tt_conv_params *conv, float *dx,
                                        tt_dims in)
{
    if (!d || !w_lead || !w_rest || !w_scale || !conv || !dx || k < 1 || k >= in.c || conv->groups != 1 ||
        conv->stride < 1 || out.h != (in.h + conv->pad_top + conv->pad_bottom - 1) / conv->stride + 1 ||
        out.w != (in.w + conv->pad_left + conv->pad_right - 1) / conv->stride + 1)
        return TT_ERR_ARG;
    const int32_t s = conv->stride, plane = in.h * in.w, rest = in.c - k;
    if (s == 1 && in.h == out.h && in.w == out.w) { /* no padding: a matrix product per weight part */
        split_part(d, out.c, plane, w_lead, k, w_scale, k, dx, 0);
        split_part(d, out.c, plane, w_rest, rest, w_scale, rest, dx + k * plane, 0);
        return TT_OK;
    }
    memset(dx, 0, sizeof(float) * (size_t)(in.c * plane));
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *lead_o = w_lead + o * k, *rest_o = w_rest + o * rest;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy = oy * s - conv->pad_top;
            if (iy < 0 || iy >= in.h)
                continue;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix = ox * s - conv->pad_left;
                if (ix < 0 || ix >= in.w)
                    continue;
                const float g = d[(o * out.h + oy) * out.w + ox] * w_scale[o];
                float *dxp = dx + iy * in.w + ix;
                for (int32_t c = 0; c < k; c++)
                    dxp[c * plane] = tt_mla_f32(dxp[c * plane], g, (float)lead_o[c]);
                for (int32_t c = 0; c < rest; c++)
                    dxp[(k + c) * plane] = tt_mla_f32(dxp[(k + c) * plane], g, (float)rest_o[c]);
            }
        }
    }
    return TT_OK;
}

/* The terms of output channels row0 .. row0 + rows - 1 (d: those channels' gradient, rows x hw) of a stride-1
 * unpadded split pointwise conv's input gradient, added to the sums dx holds of the channels before row0
 * (row0 == 0: written): consecutive calls give one call's floats bit for bit (chunk_depthwise_grad). */
int tt_conv2d_1x1_grad_input_split_rows_f32(const float *d, int32_t row0, int32_t rows, int32_t hw,
                                            const int8_t *w_lead, const int8_t *w_rest, int32_t k,
                                            const float *w_scale, int32_t channels, float *dx)
{
    if (!d || !w_lead || !w_rest || !w_scale || !dx || row0 < 0 || rows < 1 || hw < 1 || k < 1 || k >= channels)
        return TT_ERR_ARG;
    const int32_t rest = channels - k;
    split_part(d, rows, hw, w_lead + row0 * k, k, w_scale + row0, k, dx, row0 > 0);
    split_part(d, rows, hw, w_rest + row0 * rest, rest, w_scale + row0, rest, dx + k * hw, row0 > 0);
    return TT_OK;
}
