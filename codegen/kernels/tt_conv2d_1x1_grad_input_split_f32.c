/*
 * Input gradient of a pointwise conv with a split weight (w_lead (out.c, k), w_rest
 * (out.c, in.c - k), see tt_conv2d_1x1_split_s8):
 *   dx[c, iy, ix] = sum_o d[o, oy, ox] * w_scale[o] * w[o, c]   at iy = oy*s - pad_top, ix = ox*s - pad_left
 * and 0 at input positions no output reads. Float32, each product d * (w_scale[o] * w[o, c]) and
 * each sum over o in order, as tt_conv2d_grad_input_f32: the same floats as that kernel on the
 * concatenated weight (stride 1 without padding through its tt_pointwise_grad_input_f32).
 * TT_ERR_ARG: NULL pointers, k outside [1, in.c), groups != 1, or out not the conv's output size.
 */
#include <string.h>

#include "tt_float_util.h"

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
        tt_pointwise_grad_input_f32(d, out.c, plane, w_lead, k, w_scale, k, dx);
        tt_pointwise_grad_input_f32(d, out.c, plane, w_rest, rest, w_scale, rest, dx + k * plane);
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
                const float g = d[(o * out.h + oy) * out.w + ox];
                float *dxp = dx + iy * in.w + ix;
                for (int32_t c = 0; c < k; c++)
                    dxp[c * plane] += g * (w_scale[o] * (float)lead_o[c]);
                for (int32_t c = 0; c < rest; c++)
                    dxp[(k + c) * plane] += g * (w_scale[o] * (float)rest_o[c]);
            }
        }
    }
    return TT_OK;
}
