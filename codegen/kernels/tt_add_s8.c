/*
 * int8 residual add of two same-shaped tensors of n elements (any layout, elementwise).
 *   y[i] = clamp(rshift_round((a[i] - a_zero) * mult_a + (b[i] - b_zero) * mult_b, shift) + y_zero,
 *                act_min, act_max)                                         (int64 products)
 * q->x_zero is not used (a_zero, b_zero are the inputs' zero points). y may alias a or b.
 * tt_add_s8_rows: the same sum on `rows` rows of n elements, row i of a, b and y at i * a_step, b_step, y_step
 * elements (a residual block's output row of every channel: tt_conv_dw_pw_rows_add_s8.c); tt_add_s8 is its one row.
 * TT_ERR_ARG: a null pointer, n or rows < 0, a zero point outside int8, shift outside [1, 62], bad clamp range.
 */
#include "tt_dsp.h"
#include "tt_kernels.h"
#include "tt_requant.h"

#if TT_USE_DSP
/* The DSP path for 16 <= shift <= 47 (every residual add of the paper's backbones), in int32 only: with
 * c = 2^(shift-1) - a_zero mult_a - b_zero mult_b + y_zero 2^shift = ch 2^16 + cl (cl in [0, 2^16)) and each
 * multiplier split as m = mh 2^16 + ml (ml its low half as int16, mh int16), the element's
 * v = a mult_a + b mult_b + c has floor(v / 2^16) = u = (ch + a mh_a + b mh_b) + ((cl + a ml_a + b ml_b) >> 16),
 * two SMLAD on the pair (a, b), and y = SSAT(u >> (shift - 16)) = floor(v / 2^shift) saturated: the portable
 * loop's integer (its y_zero after the floor is a multiple of 2^shift before it). |u| < 2^30 + 2^24 when
 * |ch| <= 2^30 (add_split), so nothing overflows. Four elements a turn from one word of a and one of b (SXTB16,
 * PKH to the pairs): about 9 instructions an element against about 14 for the 64-bit products. */
typedef struct {
    int32_t mh, ml, ch, cl, k;
} add_split;

static int add_split_ok(int32_t a_zero, int32_t b_zero, int32_t mult_a, int32_t mult_b, int32_t shift,
                        int32_t y_zero, add_split *s)
{
    if (shift < 16 || shift > 47)
        return 0;
    const int32_t la = (int16_t)(mult_a & 0xFFFF), lb = (int16_t)(mult_b & 0xFFFF);
    const int64_t ha = ((int64_t)mult_a - la) >> 16, hb = ((int64_t)mult_b - lb) >> 16;
    const int64_t c = ((int64_t)1 << (shift - 1)) - (int64_t)a_zero * mult_a - (int64_t)b_zero * mult_b +
                      (int64_t)y_zero * ((int64_t)1 << shift);
    const int64_t ch = c >> 16;
    if (ha < -32768 || ha > 32767 || hb < -32768 || hb > 32767 || ch < -(1ll << 30) || ch > (1ll << 30))
        return 0;
    s->mh = (int32_t)tt_pack_lo((uint32_t)ha, (uint32_t)hb), s->ml = (int32_t)tt_pack_lo((uint32_t)la, (uint32_t)lb);
    s->ch = (int32_t)ch, s->cl = (int32_t)(c & 0xFFFF), s->k = shift - 16;
    return 1;
}

static inline int8_t add_pair(int32_t ab, int32_t mh, int32_t ml, int32_t ch, int32_t cl, int32_t k)
{
    const int32_t u = __smlad(ab, mh, ch) + (__smlad(ab, ml, cl) >> 16);
    return (int8_t)__ssat(u >> k, 8);
}

/* The rows of tt_add_s8_rows on the pair form, its constants in registers (locals whose address is not taken: the
 * int8 stores alias anything in memory, and would have them reloaded per element). */
static void add_split_rows(const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int32_t rows, int32_t n,
                           const add_split *s, int8_t *y, int32_t y_step)
{
    const int32_t mh = s->mh, ml = s->ml, ch = s->ch, cl = s->cl, k = s->k;
    for (int32_t r = 0; r < rows; r++, a += a_step, b += b_step, y += y_step) {
        int32_t i = 0;
        for (; i + 4 <= n; i += 4) { /* both words read before y's: y may be a or b */
            const uint32_t va = tt_load32(a + i), vb = tt_load32(b + i);
            const uint32_t ea = (uint32_t)__sxtb16((int32_t)va), eb = (uint32_t)__sxtb16((int32_t)vb);
            const uint32_t oa = (uint32_t)tt_sxtb16_ror8(va), ob = (uint32_t)tt_sxtb16_ror8(vb);
            y[i] = add_pair((int32_t)tt_pack_lo(ea, eb), mh, ml, ch, cl, k);
            y[i + 1] = add_pair((int32_t)tt_pack_lo(oa, ob), mh, ml, ch, cl, k);
            y[i + 2] = add_pair((int32_t)tt_pack_hi(ea, eb), mh, ml, ch, cl, k);
            y[i + 3] = add_pair((int32_t)tt_pack_hi(oa, ob), mh, ml, ch, cl, k);
        }
        for (; i < n; i++)
            y[i] = add_pair((int32_t)tt_pack_lo((uint32_t)(int32_t)a[i], (uint32_t)(int32_t)b[i]), mh, ml, ch, cl, k);
    }
}
#endif

/* Clamping to int8 first changes no clamp to [lo, hi] within it: the narrower clamp after the int8 one. */
static void clamp_row(int8_t *y, int32_t n, int32_t lo, int32_t hi)
{
    for (int32_t i = 0; i < n; i++) y[i] = (int8_t)(y[i] < lo ? lo : y[i] > hi ? hi : y[i]);
}

/* The constants of tt_add_s8_rows's path by shift (where not the DSP pair form). */
typedef struct {
    int32_t a_zero, b_zero, mult_a, mult_b, shift, y_zero, lo, hi;
    int32_t k, t, unit; /* shift > 10: the scaled form's */
    int64_t base;
} add_form;

/* One row on that path. */
static void add_row(const int8_t *a, const int8_t *b, int32_t n, const add_form *f, int8_t *y)
{
    if (f->shift > 10) {
        const int32_t t = f->t, unit = f->unit, mult_a = f->mult_a, mult_b = f->mult_b, y_zero = f->y_zero;
        const int64_t base = f->base;
        for (int32_t i = 0; i < n; i++) {
            const int64_t v = base + (int64_t)(a[i] * unit) * mult_a + (int64_t)(b[i] * unit) * mult_b;
            const int32_t r = ((int32_t)(v >> 32) >> t) + y_zero;
#if TT_USE_DSP
            y[i] = (int8_t)__ssat(r, 8);
#else
            y[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
#endif
        }
    } else {
        for (int32_t i = 0; i < n; i++) {
            const int64_t v = (int64_t)(a[i] - f->a_zero) * f->mult_a + (int64_t)(b[i] - f->b_zero) * f->mult_b;
            y[i] = (int8_t)tt_clamp64(tt_rshift_round(v, f->shift) + f->y_zero, f->lo, f->hi);
        }
        return;
    }
    if (f->lo > -128 || f->hi < 127)
        clamp_row(y, n, f->lo, f->hi);
}

int tt_add_s8_rows(const int8_t *a, int32_t a_step, const int8_t *b, int32_t b_step, int32_t rows, int32_t n,
                   int32_t a_zero, int32_t b_zero, int32_t mult_a, int32_t mult_b, int32_t shift,
                   const tt_quant_params *q, int8_t *y, int32_t y_step)
{
    if (!a || !b || !y || n < 0 || rows < 0 || !tt_quant_ok(q) || !tt_is_s8(a_zero) || !tt_is_s8(b_zero) ||
        shift < 1 || shift > 62)
        return TT_ERR_ARG;
    add_form f = {.a_zero = a_zero, .b_zero = b_zero, .mult_a = mult_a, .mult_b = mult_b, .shift = shift,
                  .y_zero = q->y_zero, .lo = q->act_min, .hi = q->act_max};
#if TT_USE_DSP
    add_split split;
    if (add_split_ok(a_zero, b_zero, mult_a, mult_b, shift, f.y_zero, &split)) {
        add_split_rows(a, a_step, b, b_step, rows, n, &split, y, y_step);
        if (f.lo > -128 || f.hi < 127) /* as add_row's clamp */
            for (int32_t r = 0; r < rows; r++) clamp_row(y + r * y_step, n, f.lo, f.hi);
        return TT_OK;
    }
#endif
    if (shift > 10) {
        /* (v + 2^(shift-1)) >> shift = (floor(v / 2^32) + 2^(t-1)) >> t, t = shift - 32 (the low word cannot
         * change the floor, as in tt_requantize). A shift of 11..32 first scales v by unit = 2^k,
         * k = 33 - shift: rounding v 2^k by 2^33 is rounding v by 2^shift, the same integers. The zero
         * points and the rounding go into one 64-bit constant: v 2^k + 2^(t-1) 2^32 = base + a unit mult_a
         * + b unit mult_b. Bounds: |v| < 2^40, so every sum stays below 2^62 and its high word fits
         * int32; |a unit|, |zero unit| <= 2^29. About 16 instructions an element on a Cortex-M7, against
         * 39 for the 64-bit shift below. */
        f.k = shift > 32 ? 0 : 33 - shift, f.t = shift + f.k - 32, f.unit = 1 << f.k;
        f.base = ((int64_t)1 << (f.t + 31)) - (int64_t)(a_zero * f.unit) * mult_a - (int64_t)(b_zero * f.unit) * mult_b;
    }
    for (int32_t r = 0; r < rows; r++) /* row by row: y's row may be a's or b's, each read before it is written */
        add_row(a + r * a_step, b + r * b_step, n, &f, y + r * y_step);
    return TT_OK;
}

int tt_add_s8(const int8_t *a, const int8_t *b, int32_t n, int32_t a_zero, int32_t b_zero, int32_t mult_a,
              int32_t mult_b, int32_t shift, const tt_quant_params *q, int8_t *y)
{
    return tt_add_s8_rows(a, 0, b, 0, 1, n, a_zero, b_zero, mult_a, mult_b, shift, q, y, 0);
}
