/* dx_r = conv_transpose(d, w_r): the gradient of a conv's real input.
 *   d (out.c, out.h, out.w), w int8 (out.c, in.c / groups, kh, kw), w_r[o] = w_scale[o] * w[o],
 *   dx (in.c, in.h, in.w):
 *   dx[g*cg + c][y][x] = sum over o in group g, ky, kx with y = oy*stride + ky - pad_top,
 *                        x = ox*stride + kx - pad_left of d[o][oy][ox] * w_r[o][c][ky][kx]
 * Any groups (depthwise included).  Loop order: one weight tap at a time, scattered along an
 * output row over the precomputed range of positions that land inside the input (no bounds
 * tests in the inner loop; positions reached by no window stay 0).
 * Depthwise convs take depthwise_grad_input (a gather of the same terms in the same order, below);
 * pointwise convs with stride 1 and no padding (dx = W_r^T d, a matrix product) take
 * tt_pointwise_grad_input_f32: each dx value is the same sum in the same order (over o, from 0).
 * Both give the same floats bit for bit, without the per-tap bookkeeping. */
#include "tt_float_util.h"

/* dx[c][p] = sum over o (in order) of d[o][p] * (w_scale[o] * w[o][c]), p < hw; two channels by eight
 * pixels at a time, so each d value is loaded once per two multiply-adds (on a Cortex-M FPU the
 * block is tt_mla_2x8_f32's asm loop). The scaled weights of the
 * two channels are made once per GI_CHUNK output channels into a stack column (not once per pixel
 * block); a sum that spans chunks is kept in dx between them (a float stored and reloaded exactly,
 * so the sums are the same, in the same order). Shared with the split-weight kernel
 * (tt_conv2d_1x1_grad_input_split_f32): rows c of w at w + c, stride w_stride. */
#define GI_CHUNK 64
/* `more`: dx already holds the sums of earlier output channels (tt_conv2d_1x1_grad_input_rows_f32), which
 * these terms continue in the same order; else the sums start from 0. */
static void pointwise_grad_input(const float *d, int32_t out_c, int32_t hw, const int8_t *w, int32_t w_stride,
                                 const float *w_scale, int32_t channels, float *dx, int more)
{
    float col[2 * GI_CHUNK]; /* col[2i], col[2i + 1]: the two channels' scaled weights of output o0 + i */
    int32_t c = 0;
    for (; c + 2 <= channels; c += 2) {
        float *dx0 = dx + c * hw, *dx1 = dx0 + hw;
        for (int32_t o0 = 0; o0 < out_c; o0 += GI_CHUNK) {
            const int32_t n = out_c - o0 < GI_CHUNK ? out_c - o0 : GI_CHUNK;
            const int8_t *wo = w + o0 * w_stride + c;
#ifdef TT_MLA_2X8_ASM
            tt_scaled_pairs_f32(col, wo, w_stride, w_scale + o0, n);
#else
            for (int32_t i = 0; i < n; ++i, wo += w_stride) {
                col[2 * i] = w_scale[o0 + i] * (float)wo[0];
                col[2 * i + 1] = w_scale[o0 + i] * (float)wo[1];
            }
#endif
            const float *d_chunk = d + o0 * hw;
            int32_t p = 0;
#ifdef TT_MLA_2X8_ASM
            static const float zeros[8];
            for (; p + 8 <= hw; p += 8)
                tt_mla_2x8_f32(dx0 + p, dx1 + p, more || o0 > 0 ? dx0 + p : zeros, more || o0 > 0 ? dx1 + p : zeros,
                               d_chunk + p, hw,
                               col, n);
#endif
            for (; p + 8 <= hw; p += 8) {
                float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;
                float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f, b4 = 0.0f, b5 = 0.0f, b6 = 0.0f, b7 = 0.0f;
                if (more || o0 > 0) { /* the sums so far */
                    a0 = dx0[p], a1 = dx0[p + 1], a2 = dx0[p + 2], a3 = dx0[p + 3];
                    a4 = dx0[p + 4], a5 = dx0[p + 5], a6 = dx0[p + 6], a7 = dx0[p + 7];
                    b0 = dx1[p], b1 = dx1[p + 1], b2 = dx1[p + 2], b3 = dx1[p + 3];
                    b4 = dx1[p + 4], b5 = dx1[p + 5], b6 = dx1[p + 6], b7 = dx1[p + 7];
                }
                const float *dp = d_chunk + p;
                for (int32_t i = 0; i < n; ++i, dp += hw) {
                    const float wa = col[2 * i], wb = col[2 * i + 1];
                    const float d0 = dp[0], d1 = dp[1], d2 = dp[2], d3 = dp[3], d4 = dp[4], d5 = dp[5],
                                d6 = dp[6], d7 = dp[7];
                    a0 = tt_mla_f32(a0, d0, wa), a1 = tt_mla_f32(a1, d1, wa),
                    a2 = tt_mla_f32(a2, d2, wa), a3 = tt_mla_f32(a3, d3, wa);
                    a4 = tt_mla_f32(a4, d4, wa), a5 = tt_mla_f32(a5, d5, wa),
                    a6 = tt_mla_f32(a6, d6, wa), a7 = tt_mla_f32(a7, d7, wa);
                    b0 = tt_mla_f32(b0, d0, wb), b1 = tt_mla_f32(b1, d1, wb),
                    b2 = tt_mla_f32(b2, d2, wb), b3 = tt_mla_f32(b3, d3, wb);
                    b4 = tt_mla_f32(b4, d4, wb), b5 = tt_mla_f32(b5, d5, wb),
                    b6 = tt_mla_f32(b6, d6, wb), b7 = tt_mla_f32(b7, d7, wb);
                }
                dx0[p] = a0, dx0[p + 1] = a1, dx0[p + 2] = a2, dx0[p + 3] = a3;
                dx0[p + 4] = a4, dx0[p + 5] = a5, dx0[p + 6] = a6, dx0[p + 7] = a7;
                dx1[p] = b0, dx1[p + 1] = b1, dx1[p + 2] = b2, dx1[p + 3] = b3;
                dx1[p + 4] = b4, dx1[p + 5] = b5, dx1[p + 6] = b6, dx1[p + 7] = b7;
            }
            for (; p < hw; ++p) {
                float a = more || o0 > 0 ? dx0[p] : 0.0f, b = more || o0 > 0 ? dx1[p] : 0.0f;
                for (int32_t i = 0; i < n; ++i) {
                    a = tt_mla_f32(a, d_chunk[i * hw + p], col[2 * i]);
                    b = tt_mla_f32(b, d_chunk[i * hw + p], col[2 * i + 1]);
                }
                dx0[p] = a, dx1[p] = b;
            }
        }
    }
    for (; c < channels; ++c) /* an odd last channel */
        for (int32_t p = 0; p < hw; ++p) {
            float a = more ? dx[c * hw + p] : 0.0f;
            for (int32_t o = 0; o < out_c; ++o)
                a = tt_mla_f32(a, d[o * hw + p], w_scale[o] * (float)w[o * w_stride + c]);
            dx[c * hw + p] = a;
        }
}

void tt_pointwise_grad_input_f32(const float *d, int32_t out_c, int32_t hw, const int8_t *w, int32_t w_stride,
                                 const float *w_scale, int32_t channels, float *dx)
{
    pointwise_grad_input(d, out_c, hw, w, w_stride, w_scale, channels, dx, 0);
}

/* The terms of output channels row0 .. row0 + rows - 1 of a stride-1 unpadded pointwise conv's input gradient,
 * d (rows, hw) those channels' gradient, w (out_c, channels) the whole weight: added to dx's sums of the
 * channels before row0 (row0 == 0: dx is written), so calls over consecutive rows give the floats of one call
 * over all of them, bit for bit (the depthwise gradient a chunk at a time, passes/chunk_depthwise_grad.py). */
int tt_conv2d_1x1_grad_input_rows_f32(const float *d, int32_t row0, int32_t rows, int32_t hw, const int8_t *w,
                                      const float *w_scale, int32_t channels, float *dx)
{
    if (!d || !w || !w_scale || !dx || row0 < 0 || rows < 1 || hw < 1 || channels < 1) return TT_ERR_ARG;
    pointwise_grad_input(d, rows, hw, w + row0 * channels, channels, w_scale + row0, channels, dx, row0 > 0);
    return TT_OK;
}

/* Input channels c0 .. c0 + k - 1 of a stride-1 unpadded pointwise conv's input gradient (dx: k x hw), d (out_c,
 * hw) the whole output gradient, w (out_c, channels): each value the same sum in the same order as one call over
 * all channels (c0 even keeps its channel pairs), so chunks give the whole gradient's floats bit for bit (a
 * projection's input gradient a chunk of channels at a time, passes/chunk_depthwise_grad.py). */
int tt_conv2d_1x1_grad_input_channels_f32(const float *d, int32_t out_c, int32_t hw, const int8_t *w,
                                          const float *w_scale, int32_t c0, int32_t k, int32_t channels, float *dx)
{
    if (!d || !w || !w_scale || !dx || out_c < 1 || hw < 1 || c0 < 0 || c0 % 2 || k < 1 || c0 + k > channels)
        return TT_ERR_ARG;
    tt_pointwise_grad_input_f32(d, out_c, hw, w + c0, channels, w_scale, k, dx);
    return TT_OK;
}

/* The first tap k >= lo with k = pos (mod s), s >= 1 */
static inline int32_t first_tap(int32_t lo, int32_t pos, int32_t s)
{
    int32_t r = (pos - lo) % s;
    return lo + (r < 0 ? r + s : r);
}

/* Four neighbouring dx sums (a[0..3]) take one tap row of a 3- or 5-wide kernel: a[j] += q[j + kw - 1 - kx] *
 * wrow[kx], kx ascending (the padded loop's order), with the row's d values loaded once for all taps. */
static inline void dw_row4_k3(const float *q, const float *wrow, float *a)
{
    const float q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5];
    const float w0 = wrow[0], w1 = wrow[1], w2 = wrow[2];
    float b0 = a[0], b1 = a[1], b2 = a[2], b3 = a[3];
    b0 = tt_mla_f32(b0, q2, w0), b1 = tt_mla_f32(b1, q3, w0), b2 = tt_mla_f32(b2, q4, w0), b3 = tt_mla_f32(b3, q5, w0);
    b0 = tt_mla_f32(b0, q1, w1), b1 = tt_mla_f32(b1, q2, w1), b2 = tt_mla_f32(b2, q3, w1), b3 = tt_mla_f32(b3, q4, w1);
    b0 = tt_mla_f32(b0, q0, w2), b1 = tt_mla_f32(b1, q1, w2), b2 = tt_mla_f32(b2, q2, w2), b3 = tt_mla_f32(b3, q3, w2);
    a[0] = b0, a[1] = b1, a[2] = b2, a[3] = b3;
}

static inline void dw_row4_k5(const float *q, const float *wrow, float *a)
{
    const float q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3], q4 = q[4], q5 = q[5], q6 = q[6], q7 = q[7];
    const float w0 = wrow[0], w1 = wrow[1], w2 = wrow[2], w3 = wrow[3], w4 = wrow[4];
    float b0 = a[0], b1 = a[1], b2 = a[2], b3 = a[3];
    b0 = tt_mla_f32(b0, q4, w0), b1 = tt_mla_f32(b1, q5, w0), b2 = tt_mla_f32(b2, q6, w0), b3 = tt_mla_f32(b3, q7, w0);
    b0 = tt_mla_f32(b0, q3, w1), b1 = tt_mla_f32(b1, q4, w1), b2 = tt_mla_f32(b2, q5, w1), b3 = tt_mla_f32(b3, q6, w1);
    b0 = tt_mla_f32(b0, q2, w2), b1 = tt_mla_f32(b1, q3, w2), b2 = tt_mla_f32(b2, q4, w2), b3 = tt_mla_f32(b3, q5, w2);
    b0 = tt_mla_f32(b0, q1, w3), b1 = tt_mla_f32(b1, q2, w3), b2 = tt_mla_f32(b2, q3, w3), b3 = tt_mla_f32(b3, q4, w3);
    b0 = tt_mla_f32(b0, q0, w4), b1 = tt_mla_f32(b1, q1, w4), b2 = tt_mla_f32(b2, q2, w4), b3 = tt_mla_f32(b3, q3, w4);
    a[0] = b0, a[1] = b1, a[2] = b2, a[3] = b3;
}

/* Four sums a[j] (the pixels ix + j s of one phase, stride s > 1) take one tap row of their phase: a[j] += q[j - t] *
 * w[t s] for t = 0 .. taps - 1 in order (the strided loop's order), 1 <= taps <= 4, the row's taps + 3 d values
 * loaded once (the loop loads four a tap). */
static inline void dw_row4_strided(const float *q, const float *w, int32_t s, int32_t taps, float *a)
{
    const float q0 = q[0], q1 = q[1], q2 = q[2], q3 = q[3];
    float b0 = a[0], b1 = a[1], b2 = a[2], b3 = a[3], wv = w[0];
    b0 = tt_mla_f32(b0, q0, wv), b1 = tt_mla_f32(b1, q1, wv), b2 = tt_mla_f32(b2, q2, wv), b3 = tt_mla_f32(b3, q3, wv);
    if (taps > 1) {
        const float m1 = q[-1];
        wv = w[s];
        b0 = tt_mla_f32(b0, m1, wv), b1 = tt_mla_f32(b1, q0, wv), b2 = tt_mla_f32(b2, q1, wv), b3 = tt_mla_f32(b3, q2, wv);
        if (taps > 2) {
            const float m2 = q[-2];
            wv = w[2 * s];
            b0 = tt_mla_f32(b0, m2, wv), b1 = tt_mla_f32(b1, m1, wv), b2 = tt_mla_f32(b2, q0, wv),
            b3 = tt_mla_f32(b3, q1, wv);
            if (taps > 3) {
                const float m3 = q[-3];
                wv = w[3 * s];
                b0 = tt_mla_f32(b0, m3, wv), b1 = tt_mla_f32(b1, m2, wv), b2 = tt_mla_f32(b2, m1, wv),
                b3 = tt_mla_f32(b3, q0, wv);
            }
        }
    }
    a[0] = b0, a[1] = b1, a[2] = b2, a[3] = b3;
}

/* Depthwise (groups == in.c == out.c), at most DW_MAX_TAPS taps. Each dx value gathers the terms the
 * scatter loop adds to it, in the scatter's order (taps row-major), so the result is the same float
 * bit for bit, without the per-tap range bookkeeping that dominates the scatter on the 4x4 and 8x8
 * maps where training runs.
 * - stride 1, padding < kernel, the channel padded fits DW_PADDED_FLOATS: d is copied into a stack
 *   buffer bordered with zeros and four neighbouring dx values take every tap (a zero term, +-0,
 *   leaves a sum unchanged: it never is -0 as it starts from +0), one weight load per four terms (on a
 *   Cortex-M FPU, 3-, 5- and 7-wide kernels: tt_dw_row4_f32's asm, a tap row's d values and weights by a VLDM each);
 * - stride > 1 (the 7x7 stride-2 layer), the bordered channel fits DW_PADDED_FLOATS with its taps twice (in
 *   order, and phase by phase for the asm): d is copied into a
 *   stack buffer bordered with zeros (top, left rows / columns before it) and an input pixel takes
 *   every tap of its phase (ky = iy + pt, kx = ix + pl mod s) in order, reading d[(iy + pt - ky) / s]
 *   [(ix + pl - kx) / s]; the pixels ix, ix + s, ix + 2s, ix + 3s read four neighbouring d values, so
 *   four sums go together as above (the taps a window does not reach read the zero border);
 * - otherwise each dx value walks only its valid taps.
 * One function a path (depthwise_grad_input_padded / _strided / _taps, chosen by depthwise_grad_input). */
#define DW_MAX_TAPS 64
#define DW_PADDED_FLOATS 256
/* The groups of four pixels ix0 + 4 s g + j s (j < 4) inside a row of in_w that the phased asm path takes: those
 * of a phase with 1 to 4 taps a row */
static inline int32_t dw_phase_groups(int32_t in_w, int32_t ix0, int32_t s, int32_t taps)
{
    const int32_t room = in_w - 1 - 3 * s - ix0;
    return taps >= 1 && taps <= 4 && room >= 0 ? room / (4 * s) + 1 : 0;
}
/* Stride 1, padding < kernel and the channel padded fits DW_PADDED_FLOATS: the zero-bordered path, which copies
 * a channel of d whole into its stack buffer before it writes that channel of dx. */
static inline int dw_padded(tt_dims in, int32_t kh, int32_t kw, const tt_conv_params *conv)
{
    return conv->stride == 1 && conv->pad_top <= kh - 1 && conv->pad_left <= kw - 1 &&
           (in.h + kh - 1) * (in.w + kw - 1) <= DW_PADDED_FLOATS;
}

/* Stride > 1 and the bordered channel with its taps twice (in order, and phase by phase) fit DW_PADDED_FLOATS: the
 * strided zero-bordered path. */
static inline int dw_strided_fits(tt_dims in, int32_t kh, int32_t kw, const tt_conv_params *conv)
{
    const int32_t s = conv->stride, pt = conv->pad_top, pl = conv->pad_left;
    const int32_t top = pt >= kh - 1 ? 0 : (kh - 1 - pt + s - 1) / s;
    const int32_t left = pl >= kw - 1 ? 0 : (kw - 1 - pl + s - 1) / s;
    return s > 1 && ((in.h - 1 + pt) / s + 1 + top) * ((in.w - 1 + pl) / s + 1 + left) + 2 * kh * kw <=
                    DW_PADDED_FLOATS;
}

/* One channel's taps scaled: wr[k] = scale * w[k], k < taps (the scatter's products) */
static inline void dw_scaled_taps(float *wr, const int8_t *w, float scale, int32_t taps)
{
    for (int32_t k = 0; k < taps; ++k) wr[k] = scale * (float)w[k];
}

/* The stride-1 zero-bordered gather (dw_padded) over all channels, wr and dpad its buffers (dpad's border zero);
 * always inlined, so a caller passing constant kh, kw gets the loops of that kernel size. `eights` (kw 3, 5 or 7 on
 * a Cortex-M FPU): rows of eight sums by tt_dw_row8_f32 before those of four (a loop of its own for rows whose width
 * is a multiple of 8: in the same loop the four-wide rows lost more than the eight-wide gained). */
__attribute__((always_inline)) static inline void dw_padded_channels(const float *d, tt_dims out, const int8_t *w,
                                                                     int32_t kh, int32_t kw, const float *w_scale,
                                                                     int32_t pt, int32_t pl, float *dx, tt_dims in,
                                                                     float *wr, float *dpad, int eights)
{
    const int32_t ph = in.h + kh - 1, pw = in.w + kw - 1; /* padded d: row iy + kh-1-ky, column ix + kw-1-kx */
    const int32_t top = kh - 1 - pt, left = kw - 1 - pl; /* dpad[r][q] = d[r - top][q - left] */
    const int32_t copy_w = out.w < pw - left ? out.w : pw - left, copy_h = out.h < ph - top ? out.h : ph - top;
#ifndef TT_DW_ROW4_ASM
    (void)eights; /* the rows of eight are asm */
#endif
    for (int32_t c = 0; c < in.c; ++c) {
        const float *dch = d + c * out.h * out.w;
        float *dxc = dx + c * in.h * in.w;
        dw_scaled_taps(wr, w + c * kh * kw, w_scale[c], kh * kw);
        tt_copy_rows_f32(dpad + top * pw + left, pw, dch, out.w, copy_w, copy_h);
        for (int32_t iy = 0; iy < in.h; ++iy) {
            /* rows ky outside [ky_lo, ky_hi] read only the zero border: skipped */
            const int32_t ky_lo = iy + pt - out.h + 1 > 0 ? iy + pt - out.h + 1 : 0;
            const int32_t ky_hi = iy + pt < kh - 1 ? iy + pt : kh - 1;
            int32_t ix = 0;
#ifdef TT_DW_ROW4_ASM
            for (; eights && ix + 8 <= in.w; ix += 8)
                tt_dw_row8_f32(dxc + iy * in.w + ix, dpad + (iy + kh - 1 - ky_lo) * pw + ix, pw, wr + ky_lo * kw,
                               ky_hi - ky_lo + 1, kw);
            for (; (kw == 3 || kw == 5 || kw == 7) && ix + 4 <= in.w; ix += 4)
                tt_dw_row4_f32(dxc + iy * in.w + ix, dpad + (iy + kh - 1 - ky_lo) * pw + ix, pw, wr + ky_lo * kw,
                               ky_hi - ky_lo + 1, kw);
#endif
            for (; (kw == 3 || kw == 5) && ix + 4 <= in.w; ix += 4) {
                float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                for (int32_t ky = ky_lo; ky <= ky_hi; ++ky) {
                    const float *q = dpad + (iy + kh - 1 - ky) * pw + ix;
                    if (kw == 3) dw_row4_k3(q, wr + ky * kw, a);
                    else dw_row4_k5(q, wr + ky * kw, a);
                }
                float *o = dxc + iy * in.w + ix;
                o[0] = a[0], o[1] = a[1], o[2] = a[2], o[3] = a[3];
            }
            for (; ix + 4 <= in.w; ix += 4) {
                float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
                for (int32_t ky = ky_lo; ky <= ky_hi; ++ky) {
                    const float *dp = dpad + (iy + kh - 1 - ky) * pw + ix + kw - 1, *wrow = wr + ky * kw;
                    for (int32_t kx = 0; kx < kw; ++kx, --dp) {
                        const float wv = wrow[kx];
                        a0 = tt_mla_f32(a0, dp[0], wv), a1 = tt_mla_f32(a1, dp[1], wv),
                        a2 = tt_mla_f32(a2, dp[2], wv), a3 = tt_mla_f32(a3, dp[3], wv);
                    }
                }
                float *o = dxc + iy * in.w + ix;
                o[0] = a0, o[1] = a1, o[2] = a2, o[3] = a3;
            }
            for (; ix < in.w; ++ix) {
                float a = 0.0f;
                for (int32_t ky = ky_lo; ky <= ky_hi; ++ky)
                    for (int32_t kx = 0; kx < kw; ++kx)
                        a = tt_mla_f32(a, dpad[(iy + kh - 1 - ky) * pw + ix + kw - 1 - kx], wr[ky * kw + kx]);
                dxc[iy * in.w + ix] = a;
            }
        }
    }
}

/* The stride-1 zero-bordered gather. A function of its own (as are the other two paths), so the compiler allocates
 * its registers for its loops alone and the paths' stack buffers are never live together; on a Cortex-M FPU the
 * 3x3, 5x5 and 7x7 kernels get loops of their own (the row asm's kernel width known, not tested per four sums). */
__attribute__((noinline)) static void depthwise_grad_input_padded(const float *d, const tt_dims *out_p,
                                                                  const int8_t *w, int32_t kh, int32_t kw,
                                                                  const float *w_scale, const tt_conv_params *conv,
                                                                  float *dx, const tt_dims *in_p)
{
    const tt_dims out = *out_p, in = *in_p; /* by address: no arguments on the stack */
    const int32_t pt = conv->pad_top, pl = conv->pad_left;
    float wr[DW_MAX_TAPS], dpad[DW_PADDED_FLOATS];
    for (int32_t i = 0; i < (in.h + kh - 1) * (in.w + kw - 1); ++i) dpad[i] = 0.0f; /* the border */
#ifdef TT_DW_ROW4_ASM
    const int eights = in.w % 8 == 0;
    if (kh == 3 && kw == 3 && eights)
        dw_padded_channels(d, out, w, 3, 3, w_scale, pt, pl, dx, in, wr, dpad, 1);
    else if (kh == 3 && kw == 3)
        dw_padded_channels(d, out, w, 3, 3, w_scale, pt, pl, dx, in, wr, dpad, 0);
    else if (kh == 5 && kw == 5 && eights)
        dw_padded_channels(d, out, w, 5, 5, w_scale, pt, pl, dx, in, wr, dpad, 1);
    else if (kh == 5 && kw == 5)
        dw_padded_channels(d, out, w, 5, 5, w_scale, pt, pl, dx, in, wr, dpad, 0);
    else if (kh == 7 && kw == 7 && eights)
        dw_padded_channels(d, out, w, 7, 7, w_scale, pt, pl, dx, in, wr, dpad, 1);
    else if (kh == 7 && kw == 7)
        dw_padded_channels(d, out, w, 7, 7, w_scale, pt, pl, dx, in, wr, dpad, 0);
    else
#endif
        dw_padded_channels(d, out, w, kh, kw, w_scale, pt, pl, dx, in, wr, dpad, 0);
}

/* The strided gather over a zero-bordered copy (dw_strided_fits). */
__attribute__((noinline)) static void depthwise_grad_input_strided(const float *d, const tt_dims *out_p,
                                                                   const int8_t *w, int32_t kh, int32_t kw,
                                                                   const float *w_scale, const tt_conv_params *conv,
                                                                   float *dx, const tt_dims *in_p)
{
    const tt_dims out = *out_p, in = *in_p; /* by address: no arguments on the stack */
    const int32_t s = conv->stride, pt = conv->pad_top, pl = conv->pad_left;
    /* dpad[r + top][q + left] = d[r][q], r up to (in.h - 1 + pt) / s, q likewise */
    const int32_t top = pt >= kh - 1 ? 0 : (kh - 1 - pt + s - 1) / s;
    const int32_t left = pl >= kw - 1 ? 0 : (kw - 1 - pl + s - 1) / s;
    const int32_t srows = (in.h - 1 + pt) / s + 1 + top, scols = (in.w - 1 + pl) / s + 1 + left;
    /* the bordered d, then the taps scaled in order (wr), then on a Cortex-M FPU each phase's taps (ky0 + j s,
     * kx0 + t s) as rows of a sub-kernel, phase by phase (ky0, then kx0), for tt_dw_row4_f32 (dw_strided_fits) */
    float dpad[DW_PADDED_FLOATS], *const wr = dpad + srows * scols;
    for (int32_t i = 0; i < srows * scols; ++i) dpad[i] = 0.0f; /* its border cells are never written */
#ifdef TT_DW_ROW4_ASM
    float *const wphase = wr + kh * kw;
    const int phased = 1;
    /* the per-pixel loops below run unless the phased groups of four take every pixel */
    int tails = 0;
    for (int32_t ix0 = 0; ix0 < s && ix0 < in.w; ++ix0) {
        const int32_t taps = (kw - (ix0 + pl) % s + s - 1) / s;
        if (4 * dw_phase_groups(in.w, ix0, s, taps) < (in.w - ix0 + s - 1) / s) tails = 1;
    }
#else
    const int phased = 0, tails = 1;
#endif
    for (int32_t c = 0; c < in.c; ++c) {
        const float *dch = d + c * out.h * out.w;
        float *dxc = dx + c * in.h * in.w;
        if (tails) /* the taps in order, for the per-pixel loops */
            dw_scaled_taps(wr, w + c * kh * kw, w_scale[c], kh * kw);
        const int32_t copy_w = out.w < scols - left ? out.w : scols - left;
        for (int32_t oy = 0; oy < out.h && oy + top < srows; ++oy)
            tt_copy_f32(dpad + (oy + top) * scols + left, dch + oy * out.w, copy_w);
#ifdef TT_DW_ROW4_ASM
        if (phased) { /* the same products, phase by phase */
            const int8_t *wc = w + c * kh * kw;
            const float sc = w_scale[c];
            for (int32_t ky0 = 0, i = 0; ky0 < s; ++ky0)
                for (int32_t kx0 = 0; kx0 < s; ++kx0)
                    for (int32_t ky = ky0; ky < kh; ky += s)
                        for (int32_t kx = kx0; kx < kw; kx += s) wphase[i++] = sc * (float)wc[ky * kw + kx];
        }
#endif
#ifdef TT_DW_ROW4_ASM
        /* phased: each phase (ky0, kx0) at a time, its groups of four pixels ix, ix + s, ix + 2s, ix + 3s row
         * by row: their sums a[j] += q[j - t] w[t s] are a stride-1 row of the phase's sub-kernel, whose first
         * weight comes after the taps of the phases of rows ky0' < ky0 (kw each) and of this row's phases
         * kx0' < kx0 (`rows` each); a group of the next row of the phase (iy + s) reads the next row of the
         * bordered d, the next group (ix + 4s) four columns on. The phase's bookkeeping is made once per
         * channel, not once per pixel row. */
        for (int32_t ky0 = 0; phased && ky0 < s; ++ky0) {
            const int32_t iy0 = ((ky0 - pt) % s + s) % s, rows = (kh - ky0 + s - 1) / s;
            const float *wrow = wphase + kw * (ky0 * (kh / s) + (kh % s < ky0 ? kh % s : ky0));
            for (int32_t ix0 = 0; iy0 < in.h && ix0 < s && ix0 < in.w; ++ix0) {
                const int32_t kx0 = (ix0 + pl) % s, taps = (kw - kx0 + s - 1) / s;
                const int32_t groups = dw_phase_groups(in.w, ix0, s, taps);
                const float *wp = wrow + rows * (kx0 * (kw / s) + (kw % s < kx0 ? kw % s : kx0));
                const float *qy = dpad + ((iy0 + pt - ky0) / s + top) * scols + (ix0 + pl - kx0) / s + left -
                                  (taps - 1);
                float *oy = dxc + iy0 * in.w + ix0;
                for (int32_t iy = iy0; groups > 0 && iy < in.h; iy += s, qy += scols, oy += s * in.w) {
                    const float *q = qy;
                    float *o = oy;
                    for (int32_t g = 0; g < groups; ++g, q += 4, o += 4 * s) {
                        float a[4];
                        tt_dw_row4_f32(a, q, scols, wp, rows, taps);
                        o[0] = a[0], o[s] = a[1], o[2 * s] = a[2], o[3 * s] = a[3];
                    }
                }
            }
        }
#endif
        for (int32_t iy = 0; tails && iy < in.h; ++iy) {
            const int32_t ry = iy + pt, ky0 = ry % s;
            for (int32_t ix0 = 0; ix0 < s && ix0 < in.w; ++ix0) { /* the pixels of one phase: ix0 + j s */
                const int32_t kx0 = (ix0 + pl) % s, taps = (kw - kx0 + s - 1) / s;
                /* phased: the groups above took the phase's first pixels */
                int32_t ix = ix0 + (phased ? 4 * s * dw_phase_groups(in.w, ix0, s, taps) : 0);
                for (; taps >= 1 && taps <= 4 && ix + 3 * s < in.w; ix += 4 * s) {
                    float a[4] = {0.0f, 0.0f, 0.0f, 0.0f};
                    /* tap row ky reads dpad row (ry - ky) / s + top: one row up per step of ky */
                    const float *q = dpad + ((ry - ky0) / s + top) * scols + (ix + pl - kx0) / s + left;
                    const float *wk = wr + ky0 * kw + kx0;
                    for (int32_t ky = ky0; ky < kh; ky += s, q -= scols, wk += s * kw)
                        dw_row4_strided(q, wk, s, taps, a);
                    float *o = dxc + iy * in.w + ix;
                    o[0] = a[0], o[s] = a[1], o[2 * s] = a[2], o[3 * s] = a[3];
                }
                for (; ix + 3 * s < in.w; ix += 4 * s) {
                    float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
                    for (int32_t ky = ky0; ky < kh; ky += s) {
                        const float *dp = dpad + ((ry - ky) / s + top) * scols + (ix + pl - kx0) / s + left;
                        const float *wrow = wr + ky * kw;
                        for (int32_t kx = kx0; kx < kw; kx += s, --dp) {
                            const float wv = wrow[kx];
                            a0 = tt_mla_f32(a0, dp[0], wv), a1 = tt_mla_f32(a1, dp[1], wv),
                            a2 = tt_mla_f32(a2, dp[2], wv), a3 = tt_mla_f32(a3, dp[3], wv);
                        }
                    }
                    float *o = dxc + iy * in.w + ix;
                    o[0] = a0, o[s] = a1, o[2 * s] = a2, o[3 * s] = a3;
                }
                for (; ix < in.w; ix += s) {
                    float a = 0.0f;
                    for (int32_t ky = ky0; ky < kh; ky += s)
                        for (int32_t kx = kx0; kx < kw; kx += s)
                            a = tt_mla_f32(a, dpad[((ry - ky) / s + top) * scols + (ix + pl - kx) / s + left],
                                           wr[ky * kw + kx]);
                    dxc[iy * in.w + ix] = a;
                }
            }
        }
    }
}

#ifdef TT_DW_ROW4_ASM
/* 3x3, stride 1, padding 1 on each side (the map's size kept), rows of 4 or 8, 2 rows at least and DW3_MAX_FLOATS a
 * channel at most: the MbV2 / MCUNet 3x3 layers on the 4x4 and 8x8 maps, where a channel's fixed work (its bordered
 * copy, the row bounds, a call per four or eight sums) and the border's zero terms outweighed its 100-484 MACs. */
#define DW3_MAX_FLOATS 64
static inline int dw_3x3_rows(tt_dims in, tt_dims out, int32_t kh, int32_t kw, const tt_conv_params *conv)
{
    return kh == 3 && kw == 3 && conv->stride == 1 && conv->pad_top == 1 && conv->pad_left == 1 && out.h == in.h &&
           out.w == in.w && (in.w == 4 || in.w == 8) && in.h >= 2 && in.h * in.w <= DW3_MAX_FLOATS;
}

/* dw_3x3_rows: a channel at a time in registers (tt_dw3_channel_f32), reading d where it is (or a copy of the
 * channel when dx overlaps it: the in-place gradient) */
__attribute__((noinline)) static void depthwise_grad_input_3x3(const float *d, const int8_t *w, const float *w_scale,
                                                               float *dx, const tt_dims *in_p)
{
    const tt_dims in = *in_p;
    const int32_t hw = in.h * in.w;
    float copy[DW3_MAX_FLOATS];
    for (int32_t c = 0; c < in.c; ++c) {
        const float *dch = d + c * hw;
        float *dxc = dx + c * hw;
        if ((uintptr_t)dch < (uintptr_t)(dxc + hw) && (uintptr_t)dxc < (uintptr_t)(dch + hw)) {
            if (hw % 16 == 0)
                tt_copy16_f32(copy, dch, hw / 16);
            else
                tt_copy_f32(copy, dch, hw);
            dch = copy;
        }
        tt_dw3_channel_f32(dxc, dch, w + c * 9, w_scale[c], in.h, in.w);
    }
}
#endif

#ifdef TT_DW_ROW4_ASM
/* 3x3, stride 2, padding 1 at the top and the left, 8 wide and the map halved (MbV2's stride-2 layer on the 8x8
 * map): each channel's rows of eight sums in registers (tt_dw3s2_channel_f32) where the strided gather spent 16 groups
 * of four sums on 144 MACs, 1,700 instructions a channel. */
static inline int dw_3x3_s2(tt_dims in, tt_dims out, int32_t kh, int32_t kw, const tt_conv_params *conv)
{
    return kh == 3 && kw == 3 && conv->stride == 2 && conv->pad_top == 1 && conv->pad_left == 1 && in.w == 8 &&
           out.w == 4 && out.h >= 1 && in.h == 2 * out.h;
}

__attribute__((noinline)) static void depthwise_grad_input_3x3_s2(const float *d, const int8_t *w,
                                                                  const float *w_scale, float *dx, const tt_dims *in_p)
{
    const tt_dims in = *in_p;
    for (int32_t c = 0; c < in.c; ++c)
        tt_dw3s2_channel_f32(dx + c * in.h * 8, d + c * in.h * 2, w + c * 9, w_scale[c], in.h / 2);
}
#endif

/* Each dx value walks only its valid taps (the paths above do not apply). */
__attribute__((noinline)) static void depthwise_grad_input_taps(const float *d, const tt_dims *out_p,
                                                                const int8_t *w, int32_t kh, int32_t kw,
                                                                const float *w_scale, const tt_conv_params *conv,
                                                                float *dx, const tt_dims *in_p)
{
    const tt_dims out = *out_p, in = *in_p; /* by address: no arguments on the stack */
    const int32_t s = conv->stride, pt = conv->pad_top, pl = conv->pad_left;
    float wr[DW_MAX_TAPS];
    for (int32_t c = 0; c < in.c; ++c) {
        const float *dch = d + c * out.h * out.w;
        float *dxc = dx + c * in.h * in.w;
        dw_scaled_taps(wr, w + c * kh * kw, w_scale[c], kh * kw);
        for (int32_t iy = 0; iy < in.h; ++iy) {
            /* taps ky with oy = (iy + pt - ky) / s an integer in [0, out.h), from ky0 in steps of s */
            const int32_t ylo = iy + pt - s * (out.h - 1), ky_hi = iy + pt < kh - 1 ? iy + pt : kh - 1;
            const int32_t ky0 = first_tap(ylo > 0 ? ylo : 0, iy + pt, s);
            for (int32_t ix = 0; ix < in.w; ++ix) {
                const int32_t xlo = ix + pl - s * (out.w - 1), kx_hi = ix + pl < kw - 1 ? ix + pl : kw - 1;
                const int32_t kx0 = first_tap(xlo > 0 ? xlo : 0, ix + pl, s);
                float acc = 0.0f;
                if (kx0 <= kx_hi) {
                    const float *drow = dch + (iy + pt - ky0) / s * out.w + (ix + pl - kx0) / s;
                    for (int32_t ky = ky0; ky <= ky_hi; ky += s, drow -= out.w) {
                        const float *dp = drow, *wp = wr + ky * kw + kx0;
                        for (int32_t kx = kx0; kx <= kx_hi; kx += s, --dp, wp += s) acc = tt_mla_f32(acc, dp[0], wp[0]);
                    }
                }
                dxc[iy * in.w + ix] = acc;
            }
        }
    }
}

/* The path for a depthwise conv's shape (inlined into its two callers: no frame of its own) */
__attribute__((always_inline)) static inline void depthwise_grad_input(const float *d, tt_dims out, const int8_t *w,
                                                                       int32_t kh, int32_t kw, const float *w_scale,
                                                                       const tt_conv_params *conv, float *dx,
                                                                       tt_dims in)
{
#ifdef TT_DW_ROW4_ASM
    if (dw_3x3_rows(in, out, kh, kw, conv))
        depthwise_grad_input_3x3(d, w, w_scale, dx, &in);
    else if (dw_3x3_s2(in, out, kh, kw, conv))
        depthwise_grad_input_3x3_s2(d, w, w_scale, dx, &in);
    else
#endif
    if (dw_padded(in, kh, kw, conv))
        depthwise_grad_input_padded(d, &out, w, kh, kw, w_scale, conv, dx, &in);
    else if (dw_strided_fits(in, kh, kw, conv))
        depthwise_grad_input_strided(d, &out, w, kh, kw, w_scale, conv, dx, &in);
    else
        depthwise_grad_input_taps(d, &out, w, kh, kw, w_scale, conv, dx, &in);
}

int tt_conv2d_grad_input_f32(const float *d, tt_dims out, const int8_t *w, int32_t kh, int32_t kw,
                             const float *w_scale, const tt_conv_params *conv, float *dx, tt_dims in)
{
    if (!d || !w || !w_scale || !conv || !dx || !tt_window_dims_ok(in, out, kh, kw, conv)) return TT_ERR_ARG;
    const int32_t groups = conv->groups, s = conv->stride;
    if (groups <= 0 || in.c % groups != 0 || out.c % groups != 0) return TT_ERR_ARG;
    const int32_t cg = in.c / groups, og = out.c / groups;
    const int32_t in_hw = in.h * in.w, out_hw = out.h * out.w;
    if (kh == 1 && kw == 1 && groups == 1 && s == 1 && in.h == out.h && in.w == out.w) { /* no padding */
        tt_pointwise_grad_input_f32(d, out.c, in_hw, w, in.c, w_scale, in.c, dx);
        return TT_OK;
    }
    if (groups == in.c && out.c == in.c && kh * kw <= DW_MAX_TAPS && (kh > 1 || kw > 1)) {
        depthwise_grad_input(d, out, w, kh, kw, w_scale, conv, dx, in);
        return TT_OK;
    }

    for (int32_t i = 0; i < in.c * in_hw; ++i) dx[i] = 0.0f;
    for (int32_t o = 0; o < out.c; ++o) {
        const float *dch = d + o * out_hw;
        const float scale = w_scale[o];
        for (int32_t c = 0; c < cg; ++c) {
            float *dxc = dx + ((o / og) * cg + c) * in_hw;
            const int8_t *wk = w + (o * cg + c) * kh * kw;
            for (int32_t ky = 0; ky < kh; ++ky) {
                int32_t oy0, oy1;
                tt_tap_range(ky, conv->pad_top, s, in.h, out.h, &oy0, &oy1);
                for (int32_t kx = 0; kx < kw; ++kx) {
                    int32_t ox0, ox1;
                    tt_tap_range(kx, conv->pad_left, s, in.w, out.w, &ox0, &ox1);
                    const float wr = scale * (float)wk[ky * kw + kx];
                    const int32_t col0 = kx - conv->pad_left;
                    for (int32_t oy = oy0; oy < oy1; ++oy) {
                        const float *drow = dch + oy * out.w;
                        float *xrow = dxc + (oy * s + ky - conv->pad_top) * in.w;
                        for (int32_t ox = ox0; ox < ox1; ++ox)
                            xrow[ox * s + col0] = tt_mla_f32(xrow[ox * s + col0], drow[ox], wr);
                    }
                }
            }
        }
    }
    return TT_OK;
}

/* A stride-1 depthwise input gradient over all channels, dx over d or elsewhere: on the zero-bordered path
 * (dw_padded) one call of the gather above, which reads channel c of d whole (into its stack buffer) before
 * it writes channel c of dx; otherwise a channel at a time into scratch, then copied. Same sums as
 * tt_conv2d_grad_input_f32, in the same order. */
int tt_depthwise_grad_input_inplace_f32(const float *d, tt_dims out, const int8_t *w, int32_t kh, int32_t kw,
                                        const float *w_scale, const tt_conv_params *conv, float *dx, tt_dims in,
                                        float *scratch)
{
    if (!d || !w || !w_scale || !conv || !dx || !scratch || !tt_window_dims_ok(in, out, kh, kw, conv)) return TT_ERR_ARG;
    if (conv->stride != 1 || conv->groups != in.c || out.c != in.c || out.h != in.h || out.w != in.w ||
        kh * kw > DW_MAX_TAPS || kh * kw == 1)
        return TT_ERR_ARG;
    if (dw_padded(in, kh, kw, conv)) {
        depthwise_grad_input(d, out, w, kh, kw, w_scale, conv, dx, in);
        return TT_OK;
    }
    const int32_t hw = in.h * in.w;
    const tt_dims one = {1, in.h, in.w};
    for (int32_t c = 0; c < in.c; ++c) {
        depthwise_grad_input(d + c * hw, one, w + c * kh * kw, kh, kw, w_scale + c, conv, scratch, one);
        memcpy(dx + c * hw, scratch, (size_t)hw * sizeof(float));
    }
    return TT_OK;
}

int32_t tt_depthwise_grad_input_inplace_f32_get_buffer_size(tt_dims in)
{
    return in.h * in.w * (int32_t)sizeof(float);
}
