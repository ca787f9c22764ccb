/* out[c][i] = g[c][i] * scale[c], g (channels, inner) row-major (per-output-channel gradient
 * scaling, e.g. QAS); out may alias g. */
#include "tt_kernels.h"

int tt_scale_channels_f32(const float *g, int32_t channels, int32_t inner, const float *scale, float *out)
{
    if (!g || !scale || !out || channels <= 0 || inner <= 0) return TT_ERR_ARG;
    for (int32_t c = 0; c < channels; ++c) {
        const float f = scale[c];
        for (int32_t i = c * inner; i < (c + 1) * inner; ++i) out[i] = g[i] * f;
    }
    return TT_OK;
}
