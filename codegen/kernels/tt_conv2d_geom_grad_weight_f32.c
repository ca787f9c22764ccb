/* dW_r of a conv of any geometry (tt_conv2d_geom_s8): the loops of tt_conv2d_grad_weight_f32's generic
 * path with the strides (sh, sw) and the taps at ky*dh, kx*dw (layouts, depthwise and k as there):
 *   dw[o][i][ky][kx] = x_scale * sum_{oy,ox} d[o][oy][ox] * (x[i'][oy*sh + ky*dh - top][ox*sw + kx*dw - left] - x_zero)
 * A grouped conv (depthwise 0, groups > 1) trains weight[:, :k]: x holds the k leading channels of each
 * group, group after group (groups * k channels), so i' = (o / (out.c / groups)) * k + i; groups 1: i' = i.
 * Each weight is one dot product over the output positions whose tap lands inside the input;
 * x_scale is applied once at the end. */
#include "tt_conv_geom.h"
#include "tt_float_util.h"

int tt_conv2d_geom_grad_weight_f32(const int8_t *x, tt_dims x_dims, int32_t x_zero, float x_scale, const float *d,
                                   tt_dims out, int32_t kh, int32_t kw, const tt_conv_geom *g, int32_t depthwise,
                                   float *dw)
{
    if (!x || !d || !dw || !g || g->groups < 1) return TT_ERR_ARG;
    /* x holds the k leading channels only: the window is checked on the conv's input (depthwise: groups
     * channels; otherwise any count divisible by groups, k per group will do) */
    const tt_dims full = {depthwise ? g->groups : x_dims.c, x_dims.h, x_dims.w};
    if (!tt_geom_ok(full, kh, kw, g, out)) return TT_ERR_ARG;
    const int32_t sh = g->stride_h, sw = g->stride_w;
    int32_t k = x_dims.c, rows, cols, mult = 1, og = out.c;
    if (depthwise) {
        if (k > g->groups) return TT_ERR_ARG;
        mult = out.c / g->groups;
        rows = k * mult;
        cols = 1;
    } else {
        k /= g->groups;
        og /= g->groups;
        rows = out.c;
        cols = k;
    }
    const int32_t in_hw = x_dims.h * x_dims.w, out_hw = out.h * out.w;
    for (int32_t r = 0; r < rows; ++r) {
        const float *dch = d + r * out_hw;
        for (int32_t c = 0; c < cols; ++c) {
            const int8_t *xc = x + (depthwise ? r / mult : (r / og) * k + c) * in_hw;
            float *dwk = dw + (r * cols + c) * kh * kw;
            for (int32_t ky = 0; ky < kh; ++ky) {
                const int32_t tap_y = ky * g->dilation_h;
                int32_t oy0, oy1;
                tt_tap_range(tap_y, g->pad_top, sh, x_dims.h, out.h, &oy0, &oy1);
                for (int32_t kx = 0; kx < kw; ++kx) {
                    const int32_t col0 = kx * g->dilation_w - g->pad_left;
                    int32_t ox0, ox1;
                    tt_tap_range(kx * g->dilation_w, g->pad_left, sw, x_dims.w, out.w, &ox0, &ox1);
                    float acc = 0.0f;
                    for (int32_t oy = oy0; oy < oy1; ++oy) {
                        const float *drow = dch + oy * out.w;
                        const int8_t *xrow = xc + (oy * sh + tap_y - g->pad_top) * x_dims.w;
                        for (int32_t ox = ox0; ox < ox1; ++ox)
                            acc = tt_mla_f32(acc, drow[ox], (float)(xrow[ox * sw + col0] - x_zero));
                    }
                    dwk[ky * kw + kx] = x_scale * acc;
                }
            }
        }
    }
    return TT_OK;
}
