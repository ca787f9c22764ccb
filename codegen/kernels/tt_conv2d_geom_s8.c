/*
 * Any int8 conv2d geometry: strides (sh, sw) and dilations (dh, dw) free, groups, kernel and asymmetric
 * padding as tt_conv2d_general_s8 (same layouts). The specialised kernels (1x1, depthwise, DSP, AVX2,
 * the fused rows) take one stride and no dilation; the codegen calls this one for every other conv
 * (tvm_tinytrain/conv_geometry.py, is_plain).
 *   y[o, oy, ox] = requant(bias[o] + sum over c in o's group, ky, kx of
 *                  (x[c, oy*sh + ky*dh - pad_top, ox*sw + kx*dw - pad_left] - x_zero) * w[o, c', ky, kx])
 * Positions outside the input are x_zero (they add 0 and are skipped). The int32 sum is exact, so the
 * order does not matter. TT_ERR_ARG: a null pointer, the geometry (tt_conv_geom.h), quant params.
 */
#include "tt_conv_geom.h"
#include "tt_requant.h"

int tt_conv2d_geom_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                      const int32_t *mult, const int32_t *shift, const tt_conv_geom *g, const tt_quant_params *q,
                      int8_t *y, tt_dims out)
{
    if (!x || !w || !bias || !mult || !shift || !y || !tt_geom_ok(in, kh, kw, g, out) || !tt_quant_ok(q) ||
        !tt_shifts_ok(shift, out.c))
        return TT_ERR_ARG;
    const int32_t cg = in.c / g->groups, og = out.c / g->groups;
    for (int32_t o = 0; o < out.c; o++) {
        const int8_t *xg = x + (o / og) * cg * in.h * in.w; /* first input channel of o's group */
        const int8_t *wo = w + o * cg * kh * kw;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * g->stride_h - g->pad_top;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * g->stride_w - g->pad_left;
                int32_t acc = bias[o];
                for (int32_t c = 0; c < cg; c++)
                    for (int32_t ky = 0; ky < kh; ky++) {
                        const int32_t iy = iy0 + ky * g->dilation_h;
                        if (iy < 0 || iy >= in.h)
                            continue;
                        const int8_t *xr = xg + (c * in.h + iy) * in.w;
                        const int8_t *wr = wo + (c * kh + ky) * kw;
                        for (int32_t kx = 0; kx < kw; kx++) {
                            const int32_t ix = ix0 + kx * g->dilation_w;
                            if (ix >= 0 && ix < in.w)
                                acc += (xr[ix] - q->x_zero) * wr[kx];
                        }
                    }
                y[(o * out.h + oy) * out.w + ox] =
                    tt_requantize(acc, mult[o], shift[o], q->y_zero, q->act_min, q->act_max);
            }
        }
    }
    return TT_OK;
}
