/*
 * Any int8 conv2d (layouts as tt_conv2d_general_s8): dispatches to
 *   tt_conv2d_1x1_s8        kh == kw == 1 and groups == 1,
 *   tt_depthwise_conv2d_s8  groups == in.c == out.c,
 *   tt_conv2d_general_s8    otherwise.
 * All three compute the same result bit for bit. TT_ERR_ARG: conv == NULL, else as the callee.
 */
#include "tt_kernels.h"

int tt_conv2d_s8(const int8_t *x, tt_dims in, const int8_t *w, int32_t kh, int32_t kw, const int32_t *bias,
                 const int32_t *mult, const int32_t *shift, const tt_conv_params *conv,
                 const tt_quant_params *q, int8_t *y, tt_dims out)
{
    if (!conv)
        return TT_ERR_ARG;
    if (kh == 1 && kw == 1 && conv->groups == 1)
        return tt_conv2d_1x1_s8(x, in, w, bias, mult, shift, conv, q, y, out);
    if (conv->groups == in.c && conv->groups == out.c)
        return tt_depthwise_conv2d_s8(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out);
    return tt_conv2d_general_s8(x, in, w, kh, kw, bias, mult, shift, conv, q, y, out);
}
