/* dx_r = conv_transpose(d, w_r): the gradient of a conv's real input.
 *   d (out.c, out.h, out.w), w int8 (out.c, in.c / groups, kh, kw), w_r[o] = w_scale[o] * w[o],
 *   dx (in.c, in.h, in.w):
 *   dx[g*cg + c][y][x] = sum over o in group g, ky, kx with y = oy*stride + ky - pad_top,
 *                        x = ox*stride + kx - pad_left of d[o][oy][ox] * w_r[o][c][ky][kx]
 * Any groups (depthwise included).  Loop order: one weight tap at a time, scattered along an
 * output row over the precomputed range of positions that land inside the input (no bounds
 * tests in the inner loop; positions reached by no window stay 0).
 * Pointwise convs with stride 1 and no padding (dx = W_r^T d, a matrix product) take
 * pointwise_grad_input instead: each dx value is the same sum in the same order (over o, from 0),
 * so the result is the same float bit for bit, without the per-tap bookkeeping. */
#include "tt_float_util.h"

/* dx[c][p] = sum over o (in order) of d[o][p] * (w_scale[o] * w[o][c]), p < hw; two channels by eight
 * pixels at a time, so each d value is loaded once per two multiply-adds and each scaled weight
 * made once per eight. Shared with the split-weight kernel (tt_conv2d_1x1_grad_input_split_f32):
 * rows c of w at w + c, stride w_stride. */
void tt_pointwise_grad_input_f32(const float *d, int32_t out_c, int32_t hw, const int8_t *w, int32_t w_stride,
                                 const float *w_scale, int32_t channels, float *dx)
{
    int32_t c = 0;
    for (; c + 2 <= channels; c += 2) {
        float *dx0 = dx + c * hw, *dx1 = dx0 + hw;
        int32_t p = 0;
        for (; p + 8 <= hw; p += 8) {
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f, a4 = 0.0f, a5 = 0.0f, a6 = 0.0f, a7 = 0.0f;
            float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f, b4 = 0.0f, b5 = 0.0f, b6 = 0.0f, b7 = 0.0f;
            const float *dp = d + p;
            const int8_t *wo = w + c;
            for (int32_t o = 0; o < out_c; ++o, dp += hw, wo += w_stride) {
                const float wa = w_scale[o] * (float)wo[0], wb = w_scale[o] * (float)wo[1];
                const float d0 = dp[0], d1 = dp[1], d2 = dp[2], d3 = dp[3], d4 = dp[4], d5 = dp[5], d6 = dp[6],
                            d7 = dp[7];
                a0 += d0 * wa, a1 += d1 * wa, a2 += d2 * wa, a3 += d3 * wa;
                a4 += d4 * wa, a5 += d5 * wa, a6 += d6 * wa, a7 += d7 * wa;
                b0 += d0 * wb, b1 += d1 * wb, b2 += d2 * wb, b3 += d3 * wb;
                b4 += d4 * wb, b5 += d5 * wb, b6 += d6 * wb, b7 += d7 * wb;
            }
            dx0[p] = a0, dx0[p + 1] = a1, dx0[p + 2] = a2, dx0[p + 3] = a3;
            dx0[p + 4] = a4, dx0[p + 5] = a5, dx0[p + 6] = a6, dx0[p + 7] = a7;
            dx1[p] = b0, dx1[p + 1] = b1, dx1[p + 2] = b2, dx1[p + 3] = b3;
            dx1[p + 4] = b4, dx1[p + 5] = b5, dx1[p + 6] = b6, dx1[p + 7] = b7;
        }
        for (; p < hw; ++p) {
            float a = 0.0f, b = 0.0f;
            for (int32_t o = 0; o < out_c; ++o) {
                a += d[o * hw + p] * (w_scale[o] * (float)w[o * w_stride + c]);
                b += d[o * hw + p] * (w_scale[o] * (float)w[o * w_stride + c + 1]);
            }
            dx0[p] = a, dx1[p] = b;
        }
    }
    for (; c < channels; ++c) /* an odd last channel */
        for (int32_t p = 0; p < hw; ++p) {
            float a = 0.0f;
            for (int32_t o = 0; o < out_c; ++o) a += d[o * hw + p] * (w_scale[o] * (float)w[o * w_stride + c]);
            dx[c * hw + p] = a;
        }
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
                        for (int32_t ox = ox0; ox < ox1; ++ox) xrow[ox * s + col0] += drow[ox] * wr;
                    }
                }
            }
        }
    }
    return TT_OK;
}
