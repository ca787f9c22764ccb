/* dx_r = conv_transpose(d, w_r) of a conv of any geometry (tt_conv2d_geom_s8): the loops of
 * tt_conv2d_grad_input_f32's generic path with the strides (sh, sw) and the taps at ky*dh, kx*dw.
 *   dx[g*cg + c][y][x] = sum over o in group g, ky, kx with y = oy*sh + ky*dh - pad_top,
 *                        x = ox*sw + kx*dw - pad_left of d[o][oy][ox] * w_r[o][c][ky][kx]
 * One weight tap at a time, scattered over the output positions whose input lies inside (no bounds
 * tests in the inner loop); positions reached by no window stay 0. */
#include "tt_conv_geom.h"
#include "tt_float_util.h"

int tt_conv2d_geom_grad_input_f32(const float *d, tt_dims out, const int8_t *w, int32_t kh, int32_t kw,
                                  const float *w_scale, const tt_conv_geom *g, float *dx, tt_dims in)
{
    if (!d || !w || !w_scale || !dx || !tt_geom_ok(in, kh, kw, g, out)) return TT_ERR_ARG;
    const int32_t cg = in.c / g->groups, og = out.c / g->groups, sh = g->stride_h, sw = g->stride_w;
    const int32_t in_hw = in.h * in.w, out_hw = out.h * out.w;
    for (int32_t i = 0; i < in.c * in_hw; ++i) dx[i] = 0.0f;
    for (int32_t o = 0; o < out.c; ++o) {
        const float *dch = d + o * out_hw;
        const float scale = w_scale[o];
        for (int32_t c = 0; c < cg; ++c) {
            float *dxc = dx + ((o / og) * cg + c) * in_hw;
            const int8_t *wk = w + (o * cg + c) * kh * kw;
            for (int32_t ky = 0; ky < kh; ++ky) {
                const int32_t tap_y = ky * g->dilation_h;
                int32_t oy0, oy1;
                tt_tap_range(tap_y, g->pad_top, sh, in.h, out.h, &oy0, &oy1);
                for (int32_t kx = 0; kx < kw; ++kx) {
                    const int32_t col0 = kx * g->dilation_w - g->pad_left;
                    int32_t ox0, ox1;
                    tt_tap_range(kx * g->dilation_w, g->pad_left, sw, in.w, out.w, &ox0, &ox1);
                    const float wr = scale * (float)wk[ky * kw + kx];
                    for (int32_t oy = oy0; oy < oy1; ++oy) {
                        const float *drow = dch + oy * out.w;
                        float *xrow = dxc + (oy * sh + tap_y - g->pad_top) * in.w;
                        for (int32_t ox = ox0; ox < ox1; ++ox)
                            xrow[ox * sw + col0] = tt_mla_f32(xrow[ox * sw + col0], drow[ox], wr);
                    }
                }
            }
        }
    }
    return TT_OK;
}
