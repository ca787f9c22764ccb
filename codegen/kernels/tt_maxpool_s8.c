/*
 * int8 max pool, square kernel: x (C, in.h, in.w) -> y (C, out.h, out.w), same quantization.
 *   y[c, oy, ox] = max over ky, kx < kernel of x[c, oy*s + ky - pad_top, ox*s + kx - pad_left]
 * Positions outside the input are ignored (a window entirely in the padding gives -128, as the
 * reference's -128 padding does). pool->stride and the pads are used, pool->groups is not.
 * TT_ERR_ARG: a null pointer, out.c != in.c, or the window geometry of tt_window_ok (tt_requant.h).
 */
#include "tt_kernels.h"
#include "tt_requant.h"

int tt_maxpool_s8(const int8_t *x, tt_dims in, int32_t kernel, const tt_conv_params *pool, int8_t *y,
                  tt_dims out)
{
    if (!x || !y || out.c != in.c || !tt_window_ok(in, kernel, kernel, pool, out))
        return TT_ERR_ARG;
    for (int32_t c = 0; c < in.c; c++) {
        const int8_t *xc = x + c * in.h * in.w;
        for (int32_t oy = 0; oy < out.h; oy++) {
            const int32_t iy0 = oy * pool->stride - pool->pad_top;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0, ky1 = in.h - iy0 < kernel ? in.h - iy0 : kernel;
            for (int32_t ox = 0; ox < out.w; ox++) {
                const int32_t ix0 = ox * pool->stride - pool->pad_left;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0, kx1 = in.w - ix0 < kernel ? in.w - ix0 : kernel;
                int32_t m = -128;
                for (int32_t ky = ky0; ky < ky1; ky++)
                    for (int32_t kx = kx0; kx < kx1; kx++) {
                        const int32_t v = xc[(iy0 + ky) * in.w + ix0 + kx];
                        m = v > m ? v : m;
                    }
                y[(c * out.h + oy) * out.w + ox] = (int8_t)m;
            }
        }
    }
    return TT_OK;
}
