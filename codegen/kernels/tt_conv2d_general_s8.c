/*
 * Any int8 conv2d: groups, kernel, stride and asymmetric padding all free.
 * Layout: x (in.c, in.h, in.w), w (out.c, in.c/groups, kh, kw), y (out.c, out.h, out.w).
 *   y[o, oy, ox] = requant(bias[o] + sum over c in o's group, ky, kx of
 *                  (x[c, oy*s + ky - pad_top, ox*s + kx - pad_left] - x_zero) * w[o, c', ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped).
 * TT_ERR_ARG: see tt_conv_args_ok (tt_requant.h).
 */
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_conv2d_general_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw,
                         const int32_t *bias, const int32_t *mult, const int32_t *shift,
                         const tt_conv_params *conv, const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!tt_conv_args_ok(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out))
        return TT_ERR_ARG;
    const int32_t cg = in.c / conv->groups, og = out.c / conv->groups, s = conv->stride;
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *xg = x + (o / og) * cg * in.h * in.w; /* first input channel of o's group */
        const int8_t *wo = w + o * cg * kh * kw;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * s - conv->pad_top;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in.h - iy0 < kh ? in.h - iy0 : kh;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * s - conv->pad_left;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in.w - ix0 < kw ? in.w - ix0 : kw;
                int32_t acc = bias[o];
                for (int32_t c = 0; c < cg; c++)
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *xr = xg + (c * in.h + iy0 + ky) * in.w + ix0;
                        const int8_t *wr = wo + (c * kh + ky) * kw;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                            acc += (xr[kx] - q->x_zero) * wr[kx];
                    }
                y[(o * out.h + oy) * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
