/* dx_r = conv_transpose(d, w_r): the gradient of a conv's real input.
 *   d (out.c, out.h, out.w), w int8 (out.c, in.c / groups, kh, kw), w_r[o] = w_scale[o] * w[o],
 *   dx (in.c, in.h, in.w):
 *   dx[g*cg + c][y][x] = sum over o in group g, ky, kx with y = oy*stride + ky - pad_top,
 *                        x = ox*stride + kx - pad_left of d[o][oy][ox] * w_r[o][c][ky][kx]
 * Any groups (depthwise included).  Loop order: one weight tap at a time, scattered along an
 * output row over the precomputed range of positions that land inside the input (no bounds
 * tests in the inner loop; positions reached by no window stay 0). */
#include "tt_float_util.h"

int tt_conv2d_grad_input_f32(const float *d, tt_dims out, const int8_t *w, int32_t kh, int32_t kw,
                             const float *w_scale, const tt_conv_params *conv, float *dx, tt_dims in)
{
    if (!d || !w || !w_scale || !conv || !dx || !tt_window_dims_ok(in, out, kh, kw, conv)) return TT_ERR_ARG;
    const int32_t groups = conv->groups, s = conv->stride;
    if (groups <= 0 || in.c % groups != 0 || out.c % groups != 0) return TT_ERR_ARG;
    const int32_t cg = in.c / groups, og = out.c / groups;
    const int32_t in_hw = in.h * in.w, out_hw = out.h * out.w;

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
