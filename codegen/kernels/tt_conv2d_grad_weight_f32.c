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
 * order (over positions, from 0), four output by four input channels at a time, the input values
 * converted to float once for all output channels; the same floats bit for bit.
 * x86-64 path (__AVX2__, host builds with -march=native): pointwise_grad_weight_avx2 takes sixteen (or eight)
 * input channels at a time (one output weight per lane, each lane the same sum over p in the same
 * order, multiply then add: the same floats bit for bit, tests/codegen/test_kernels_x86.py). */
#include "tt_float_util.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

/* dw[o][c] = x_scale * sum over p (in order) of d[o][p] * (x[c][p] - x_zero), o < rows, c < cols; four
 * output by four input channels at a time (each d value and each input value used four times). Four
 * input channels of at most GW_MAX_HW positions are converted to float once, into a stack block, for
 * all output channels, the rows % 4 after the blocks of four included; on a Cortex-M FPU an even number of
 * positions takes the 4 x 4 block in asm (tt_mla_4x4_f32: the same VMLAs in the same order), and the last
 * rows % 4 two and one at a time in asm (tt_mla_2x4_f32, tt_mla_1x4_f32), any number of positions. */
#define GW_MAX_HW 64
#if defined(__AVX2__)
/* dw[o][c] of pointwise_grad_weight for the channels c < cols & ~7 (all rows), when hw <= GW_MAX_HW:
 * the input of sixteen channels (then eight) transposed to float once (xt[p] = x[c .. c+15][p] - x_zero),
 * then lane j of each output row sums d[o][p] * xt[p][j] over p from 0. Returns the channels done. */
static int32_t pointwise_grad_weight_avx2(const int8_t *x, int32_t x_zero, float x_scale, const float *d,
                                          int32_t rows, int32_t cols, int32_t hw, float *dw)
{
    float xt[GW_MAX_HW][16];
    if (hw > GW_MAX_HW)
        return 0;
    const __m256 scale = _mm256_set1_ps(x_scale);
    int32_t c = 0;
    for (; c + 16 <= cols; c += 16) {
        for (int32_t j = 0; j < 16; ++j)
            for (int32_t p = 0; p < hw; ++p) xt[p][j] = (float)(x[(c + j) * hw + p] - x_zero);
        for (int32_t o = 0; o < rows; ++o) {
            const float *dr = d + o * hw;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            for (int32_t p = 0; p < hw; ++p) {
                const __m256 e = _mm256_set1_ps(dr[p]);
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(e, _mm256_loadu_ps(xt[p])));
                a1 = _mm256_add_ps(a1, _mm256_mul_ps(e, _mm256_loadu_ps(xt[p] + 8)));
            }
            _mm256_storeu_ps(dw + o * cols + c, _mm256_mul_ps(scale, a0));
            _mm256_storeu_ps(dw + o * cols + c + 8, _mm256_mul_ps(scale, a1));
        }
    }
    if (c + 8 <= cols) { /* eight channels (grad_update's 1x1 column blocks are eight wide) */
        for (int32_t j = 0; j < 8; ++j)
            for (int32_t p = 0; p < hw; ++p) xt[p][j] = (float)(x[(c + j) * hw + p] - x_zero);
        for (int32_t o = 0; o < rows; ++o) {
            const float *dr = d + o * hw;
            __m256 a0 = _mm256_setzero_ps();
            for (int32_t p = 0; p < hw; ++p)
                a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_set1_ps(dr[p]), _mm256_loadu_ps(xt[p])));
            _mm256_storeu_ps(dw + o * cols + c, _mm256_mul_ps(scale, a0));
        }
        c += 8;
    }
    return c;
}
#endif

/* dw[o * cols + j] = x_scale * sum over p (in order) of d[o * hw + p] * xt[p][j], o < n, j < 4: the n = rows % 4
 * output channels a 4-row block leaves, from the input channels converted for it (on a Cortex-M FPU two rows and
 * then one in asm, tt_mla_2x4_f32 / tt_mla_1x4_f32; a row at a time in C otherwise). */
static void last_rows_block(float *dw, int32_t cols, const float (*xt)[4], const float *d, int32_t hw, int32_t n,
                            float x_scale)
{
#ifdef TT_GW_4X4_ASM
    if (n >= 2) {
        tt_mla_2x4_f32(dw, cols, xt[0], d, hw, hw, x_scale);
        dw += 2 * cols, d += 2 * hw, n -= 2;
    }
    if (n == 1)
        tt_mla_1x4_f32(dw, xt[0], d, hw, x_scale);
#else
    for (int32_t o = 0; o < n; ++o) {
        const float *e = d + o * hw;
        float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
        for (int32_t p = 0; p < hw; ++p) {
            a0 = tt_mla_f32(a0, e[p], xt[p][0]), a1 = tt_mla_f32(a1, e[p], xt[p][1]);
            a2 = tt_mla_f32(a2, e[p], xt[p][2]), a3 = tt_mla_f32(a3, e[p], xt[p][3]);
        }
        float *r = dw + o * cols;
        r[0] = x_scale * a0, r[1] = x_scale * a1, r[2] = x_scale * a2, r[3] = x_scale * a3;
    }
#endif
}

static void pointwise_grad_weight(const int8_t *x, int32_t x_zero, float x_scale, const float *d, int32_t rows,
                                  int32_t cols, int32_t hw, float *dw)
{
    float xt[GW_MAX_HW][4]; /* xt[p][j] = x[c + j][p] - x_zero: four input channels, position by position */
    const int32_t rows4 = rows & ~3;
#if defined(__AVX2__)
    int32_t c = pointwise_grad_weight_avx2(x, x_zero, x_scale, d, rows, cols, hw, dw);
#else
    int32_t c = 0;
#endif
#if defined(TT_GW_4X4_ASM) && defined(TT_INT8_WORDS4)
    if (rows == 2 && hw % 4 == 0 && ((uintptr_t)x & 3) == 0) /* any hw: no stack block */
        for (; c + 4 <= cols; c += 4) tt_mla_2x4_int8_f32(dw + c, cols, x + c * hw, hw, x_zero, d, x_scale);
#endif
    if (hw <= GW_MAX_HW)
        for (; c + 4 <= cols; c += 4) {
#if defined(TT_GW_4X4_ASM) && defined(TT_INT8_WORDS4)
            if (hw % 4 == 0 && ((uintptr_t)x & 3) == 0)
                tt_int8_words4_f32(xt[0], x + c * hw, hw, x_zero);
            else
                tt_int8_columns4_f32(xt[0], x + c * hw, hw, x_zero);
#elif defined(TT_GW_4X4_ASM)
            tt_int8_columns4_f32(xt[0], x + c * hw, hw, x_zero);
#else
            for (int32_t j = 0; j < 4; ++j)
                for (int32_t p = 0; p < hw; ++p) xt[p][j] = (float)(x[(c + j) * hw + p] - x_zero);
#endif
            int32_t o = 0;
            for (; o < rows4; o += 4) {
#ifdef TT_GW_4X4_ASM
                if (hw % 2 == 0) {
                    tt_mla_4x4_f32(dw + o * cols + c, cols, xt[0], d + o * hw, hw, hw / 2, x_scale);
                    continue;
                }
#endif
                const float *d0 = d + o * hw, *d1 = d0 + hw, *d2 = d1 + hw, *d3 = d2 + hw;
                float a00 = 0.0f, a01 = 0.0f, a02 = 0.0f, a03 = 0.0f, a10 = 0.0f, a11 = 0.0f, a12 = 0.0f, a13 = 0.0f;
                float a20 = 0.0f, a21 = 0.0f, a22 = 0.0f, a23 = 0.0f, a30 = 0.0f, a31 = 0.0f, a32 = 0.0f, a33 = 0.0f;
                for (int32_t p = 0; p < hw; ++p) {
                    const float v0 = xt[p][0], v1 = xt[p][1], v2 = xt[p][2], v3 = xt[p][3];
                    const float e0 = d0[p], e1 = d1[p], e2 = d2[p], e3 = d3[p];
                    a00 = tt_mla_f32(a00, e0, v0), a01 = tt_mla_f32(a01, e0, v1),
                    a02 = tt_mla_f32(a02, e0, v2), a03 = tt_mla_f32(a03, e0, v3);
                    a10 = tt_mla_f32(a10, e1, v0), a11 = tt_mla_f32(a11, e1, v1),
                    a12 = tt_mla_f32(a12, e1, v2), a13 = tt_mla_f32(a13, e1, v3);
                    a20 = tt_mla_f32(a20, e2, v0), a21 = tt_mla_f32(a21, e2, v1),
                    a22 = tt_mla_f32(a22, e2, v2), a23 = tt_mla_f32(a23, e2, v3);
                    a30 = tt_mla_f32(a30, e3, v0), a31 = tt_mla_f32(a31, e3, v1),
                    a32 = tt_mla_f32(a32, e3, v2), a33 = tt_mla_f32(a33, e3, v3);
                }
                float *r0 = dw + o * cols + c, *r1 = r0 + cols, *r2 = r1 + cols, *r3 = r2 + cols;
                r0[0] = x_scale * a00, r0[1] = x_scale * a01, r0[2] = x_scale * a02, r0[3] = x_scale * a03;
                r1[0] = x_scale * a10, r1[1] = x_scale * a11, r1[2] = x_scale * a12, r1[3] = x_scale * a13;
                r2[0] = x_scale * a20, r2[1] = x_scale * a21, r2[2] = x_scale * a22, r2[3] = x_scale * a23;
                r3[0] = x_scale * a30, r3[1] = x_scale * a31, r3[2] = x_scale * a32, r3[3] = x_scale * a33;
            }
            if (o < rows)
                last_rows_block(dw + o * cols + c, cols, (const float (*)[4])xt, d + o * hw, hw, rows - o, x_scale);
        }
    /* the rest: channels c.. (all of them if hw > GW_MAX_HW), output blocks of four and then the last rows % 4 */
    if (c == cols)
        return;
    for (int32_t o = 0; o < rows4; o += 4) {
        const float *d0 = d + o * hw, *d1 = d0 + hw, *d2 = d1 + hw, *d3 = d2 + hw;
        for (int32_t cc = c; cc < cols; ++cc) {
            const int8_t *xc = x + cc * hw;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
            for (int32_t p = 0; p < hw; ++p) {
                const float xv = (float)(xc[p] - x_zero);
                a0 = tt_mla_f32(a0, d0[p], xv);
                a1 = tt_mla_f32(a1, d1[p], xv);
                a2 = tt_mla_f32(a2, d2[p], xv);
                a3 = tt_mla_f32(a3, d3[p], xv);
            }
            dw[o * cols + cc] = x_scale * a0;
            dw[(o + 1) * cols + cc] = x_scale * a1;
            dw[(o + 2) * cols + cc] = x_scale * a2;
            dw[(o + 3) * cols + cc] = x_scale * a3;
        }
    }
    for (int32_t o = rows4; o < rows; ++o)
        for (int32_t cc = c; cc < cols; ++cc) {
            const int8_t *xc = x + cc * hw;
            float a = 0.0f;
            for (int32_t p = 0; p < hw; ++p) a = tt_mla_f32(a, d[o * hw + p], (float)(xc[p] - x_zero));
            dw[o * cols + cc] = x_scale * a;
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
                            acc = tt_mla_f32(acc, drow[ox], (float)(xrow[ox * s + col0] - x_zero));
                    }
                    dwk[ky * kw + kx] = x_scale * acc;
                }
            }
        }
    }
    return TT_OK;
}
