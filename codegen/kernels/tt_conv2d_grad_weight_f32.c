/* dW_r of a conv: sum over output positions of d[o] times the real input x_r = x_scale (x - x_zero)
 * under the weight tap (padding is real 0):
 *   dw[o][i][ky][kx] = x_scale * sum_{oy,ox} d[o][oy][ox] * (x[i][oy*s + ky - top][ox*s + kx - left] - x_zero)
 * x (k, h, w) holds the k leading input channels (x_dims.c == k).
 * - groups 1 (depthwise == 0): dw (out.c, k, kh, kw).
 * - depthwise (depthwise != 0, conv->groups = input channels, m = out.c / groups outputs per channel):
 *   dw (k * m, 1, kh, kw), row r reads d[r] and x channel r / m; with m = 1 that is d[:k].
 * Each weight is one dot product over the output positions whose tap lands inside the input;
 * x_scale is applied once at the end.
 * Pointwise convs with stride 1 and no padding take pointwise_grad_weight: the same sums in the same
 * order (over positions, from 0), four output channels at a time so each input value is converted
 * to float once per four multiply-adds; the same floats bit for bit. */
#include "tt_float_util.h"

/* dw[o][c] = x_scale * sum over p (in order) of d[o][p] * (x[c][p] - x_zero), o < rows, c < cols. */
static void pointwise_grad_weight(const int8_t *x, int32_t x_zero, float x_scale, const float *d, int32_t rows,
                                  int32_t cols, int32_t hw, float *dw)
{
    int32_t o = 0;
    for (; o + 4 <= rows; o += 4) {
        const float *d0 = d + o * hw, *d1 = d0 + hw, *d2 = d1 + hw, *d3 = d2 + hw;
        for (int32_t c = 0; c < cols; ++c) {
            const int8_t *xc = x + c * hw;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            for (int32_t p = 0; p < hw; ++p) {
                const float xv = (float)(xc[p] - x_zero);
                a0 += d0[p] * xv;
                a1 += d1[p] * xv;
                a2 += d2[p] * xv;
                a3 += d3[p] * xv;
            }
            dw[o * cols + c] = x_scale * a0;
            dw[(o + 1) * cols + c] = x_scale * a1;
            dw[(o + 2) * cols + c] = x_scale * a2;
            dw[(o + 3) * cols + c] = x_scale * a3;
        }
    }
    for (; o < rows; ++o)
        for (int32_t c = 0; c < cols; ++c) {
            const int8_t *xc = x + c * hw;
            float a = 0.0f;
            for (int32_t p = 0; p < hw; ++p) a += d[o * hw + p] * (float)(xc[p] - x_zero);
            dw[o * cols + c] = x_scale * a;
        }
}

int tt_conv2d_grad_weight_f32(const int8_t *x, tt_dims x_dims, int32_t x_zero, float x_scale, const float *d,
                              tt_dims out, int32_t kh, int32_t kw, const tt_conv_params *conv,
                              int32_t depthwise, float *dw)
{
    if (!x || !d || !conv || !dw || !tt_window_dims_ok(x_dims, out, kh, kw, conv)) return TT_ERR_ARG;
    const int32_t k = x_dims.c, s = conv->stride;
    int32_t rows, cols, mult = 1;
    if (depthwise) {
        if (conv->groups <= 0 || out.c % conv->groups != 0 || k > conv->groups) return TT_ERR_ARG;
        mult = out.c / conv->groups;
        rows = k * mult;
        cols = 1;
    } else {
        if (conv->groups != 1) return TT_ERR_ARG;
        rows = out.c;
        cols = k;
    }
    const int32_t in_hw = x_dims.h * x_dims.w, out_hw = out.h * out.w;
    if (!depthwise && kh == 1 && kw == 1 && s == 1 && x_dims.h == out.h && x_dims.w == out.w) { /* no padding */
        pointwise_grad_weight(x, x_zero, x_scale, d, rows, cols, in_hw, dw);
        return TT_OK;
    }

    for (int32_t r = 0; r < rows; ++r) {
        const float *dch = d + r * out_hw;
        for (int32_t c = 0; c < cols; ++c) {
            const int8_t *xc = x + (depthwise ? r / mult : c) * in_hw;
            float *dwk = dw + (r * cols + c) * kh * kw;
            for (int32_t ky = 0; ky < kh; ++ky) {
                int32_t oy0, oy1;
                tt_tap_range(ky, conv->pad_top, s, x_dims.h, out.h, &oy0, &oy1);
                for (int32_t kx = 0; kx < kw; ++kx) {
                    int32_t ox0, ox1;
                    tt_tap_range(kx, conv->pad_left, s, x_dims.w, out.w, &ox0, &ox1);
                    const int32_t col0 = kx - conv->pad_left;
                    float acc = 0.0f;
                    for (int32_t oy = oy0; oy < oy1; ++oy) {
                        const float *drow = dch + oy * out.w;
                        const int8_t *xrow = xc + (oy * s + ky - conv->pad_top) * x_dims.w;
                        for (int32_t ox = ox0; ox < ox1; ++ox)
                            acc += drow[ox] * (float)(xrow[ox * s + col0] - x_zero);
                    }
                    dwk[ky * kw + kx] = x_scale * acc;
                }
            }
        }
    }
    return TT_OK;
}
