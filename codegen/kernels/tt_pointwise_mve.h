/*
 * Private helper of the pointwise int8 convs (tt_conv2d_1x1_s8.c, tt_conv2d_1x1_split_s8.c), not part of the API:
 * their Cortex-M55 Helium (MVE) path, a 1x1 conv as a matrix product over the pixels of a channel-major input x
 * (channels, hw).
 *
 * VMLADAVA.S8 multiplies 16 int8 pairs and adds them to a 32-bit scalar, so it wants an output's 16 weights (a row
 * of w: contiguous) against one pixel's 16 input channels (strided by hw in x). A block of pixels is therefore
 * copied pixel by pixel into a buffer first (tt_pointwise_pack_mve: one VLDRB.U16 gather of 8 channels, one
 * truncating VSTRB.16), then two outputs by four pixels take 2 + 4 loads and 8 VMLADAVA per 16 channels
 * (tt_pointwise_2x4_mve), the sums go into one vector per output and are requantized four pixels at a time
 * (tt_pw_mve_requant: VQDMULH, VRSHL, VADD, VMAX, VMIN, VSTRB) (tt_pw_mve_groups). Inputs too wide for four pixels in
 * the buffer go one pixel at a time, four outputs a turn (tt_pw_mve_wide).
 * The zero point is not subtracted in the loop: the sums start from bias - x_zero * sum w. VMLADAVA and VADD wrap
 * modulo 2^32 (no C overflow), and the portable loop's sum bias + sum (x - x_zero) * w fits in int32
 * (docs/int8-semantics.md), so the wrapped sum is that same integer: the output is identical bit for bit.
 */
#ifndef TT_POINTWISE_MVE_H
#define TT_POINTWISE_MVE_H

#include "tt_kernels.h"

/* Integer MVE (bit 0 of __ARM_FEATURE_MVE), only where the DSP paths are on (TT_NO_DSP, the portable build, turns it
 * off too); TT_NO_MVE keeps the DSP path on a Cortex-M55. */
#if TT_USE_DSP && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) && !defined(TT_NO_MVE)
#define TT_USE_MVE 1
#else
#define TT_USE_MVE 0
#endif

#if TT_USE_MVE
#include <arm_mve.h>

#include "tt_requant.h"

/* The packed pixels' buffer (stack), the DSP path's 1 KB: groups of four pixels up to 256 input channels, one pixel
 * up to 1024 (tt_pw_mve_wide; every 1x1 of the paper's backbones). 4096 (four pixels of 1024 channels) made MCUNet's
 * inference about 4 % cheaper on the M55 (19.4 against 20.2 M) for 2.9 KB more peak SRAM. */
#define TT_PW_MVE_BYTES 1024
/* The gather's offsets c * hw (c < 8) are 16-bit. */
#define TT_PW_MVE_MAX_PIXELS (65535 / 7)

/* Bytes of a packed group of four pixels (tt_pointwise_pack_mve) of an input of this many channels. */
static inline int32_t tt_pw_mve_group_bytes(int32_t channels)
{
    return 64 * ((channels + 15) / 16);
}

/* tt_pointwise_mve applies to these weight parts (channels of the lead and of the rest, 0 for none) and pixels: one
 * pixel of them fits in the buffer. */
static inline int tt_pointwise_mve_ok(int32_t lead, int32_t rest, int32_t hw)
{
    return (tt_pw_mve_group_bytes(lead) + tt_pw_mve_group_bytes(rest)) / 4 <= TT_PW_MVE_BYTES &&
           hw <= TT_PW_MVE_MAX_PIXELS;
}

/* buf[g * group + k * chunk + j * 16 + i] = x[(16k + i) * hw + 4g + j] for pixels 4g + j < n and channels 16k + i <
 * channels (chunk 64 and group >= tt_pw_mve_group_bytes(channels); for one pixel, chunk 16: its channels in order):
 * per group of four pixels, each chunk of 16 channels holds the four pixels one after the other, so that
 * tt_pointwise_2x4_mve reads a group from one pointer stepping by 16. The other bytes (the last chunk's lanes from
 * channels on, the last group's pixels from n on) are left as they are: the weights' lanes from channels on are
 * loaded as zeros, and the sums of pixels from n on are not stored. Reads nothing outside x's n pixels. */
static inline void tt_pointwise_pack_mve(const int8_t *x, int32_t hw, int32_t channels, int32_t n, int32_t group,
                                         int32_t chunk, int8_t *buf)
{
    const uint16x8_t off = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)hw); /* 0, hw, .., 7 hw */
    for (int32_t c = 0; c < channels; c += 8, x += 8 * hw) {
        uint8_t *b = (uint8_t *)buf + (c / 16) * chunk + c % 16;
        const uint8_t *xp = (const uint8_t *)x, *end = xp + n;
        if (channels - c >= 8) {
            for (; xp + 4 <= end; xp += 4, b += group) {
                vstrbq_u16(b, vldrbq_gather_offset_u16(xp, off));
                vstrbq_u16(b + 16, vldrbq_gather_offset_u16(xp + 1, off));
                vstrbq_u16(b + 32, vldrbq_gather_offset_u16(xp + 2, off));
                vstrbq_u16(b + 48, vldrbq_gather_offset_u16(xp + 3, off));
            }
            for (; xp < end; xp++, b += 16)
                vstrbq_u16(b, vldrbq_gather_offset_u16(xp, off));
        } else {
            const mve_pred16_t pr = vctp16q((uint32_t)(channels - c));
            for (; xp + 4 <= end; xp += 4, b += group) {
                vstrbq_u16(b, vldrbq_gather_offset_z_u16(xp, off, pr));
                vstrbq_u16(b + 16, vldrbq_gather_offset_z_u16(xp + 1, off, pr));
                vstrbq_u16(b + 32, vldrbq_gather_offset_z_u16(xp + 2, off, pr));
                vstrbq_u16(b + 48, vldrbq_gather_offset_z_u16(xp + 3, off, pr));
            }
            for (; xp < end; xp++, b += 16)
                vstrbq_u16(b, vldrbq_gather_offset_z_u16(xp, off, pr));
        }
    }
}

/* sum_{c < channels} w[c] */
static inline int32_t tt_weight_sum_mve(const int8_t *w, int32_t channels)
{
    int32_t s = 0, c = 0;
    for (; c + 16 <= channels; c += 16)
        s = vaddvaq_s8(s, vldrbq_s8(w + c));
    if (c < channels)
        s = vaddvaq_s8(s, vldrbq_z_s8(w + c, vctp8q((uint32_t)(channels - c))));
    return s;
}

/* The four int32 sums s0 .. s3 as one vector (two VMOV of two lanes each). */
static inline int32x4_t tt_lanes4_mve(int32_t s0, int32_t s1, int32_t s2, int32_t s3)
{
    int32x4_t v;
    __asm__("vmov %q0[2], %q0[0], %1, %3\n\t"
            "vmov %q0[3], %q0[1], %2, %4"
            : "=&w"(v)
            : "r"(s0), "r"(s1), "r"(s2), "r"(s3));
    return v;
}

/* One chunk of 16 channels of tt_pointwise_2x4_mve: the weights va, vb against the four pixels at xb. */
#define TT_PW_MVE_2X4_CHUNK(va, vb)                                                                                   \
    do {                                                                                                              \
        const int8x16_t x0 = vldrbq_s8(xb), x1 = vldrbq_s8(xb + 16), x2 = vldrbq_s8(xb + 32),                       \
                        x3 = vldrbq_s8(xb + 48);                                                                      \
        a0 = vmladavaq_s8(a0, x0, va), b0 = vmladavaq_s8(b0, x0, vb);                                                 \
        a1 = vmladavaq_s8(a1, x1, va), b1 = vmladavaq_s8(b1, x1, vb);                                                 \
        a2 = vmladavaq_s8(a2, x2, va), b2 = vmladavaq_s8(b2, x2, vb);                                                 \
        a3 = vmladavaq_s8(a3, x3, va), b3 = vmladavaq_s8(b3, x3, vb);                                                 \
    } while (0)

/* a[k] = sa + sum_{c < channels} x_k[c] * wa[c] and b[k] likewise with sb and wb, k = 0..3, x_k the pixel k of a packed
 * group (tt_pointwise_pack_mve) at xb. Weights read in [0, channels) only (the last chunk by a predicated load).
 * VMLADAVA takes even registers only: with eight sums that is all of them, r0 .. r12 and lr, so the loop over the
 * whole chunks is written out (one chunk: 6 loads, 8 VMLADAVA and 2 for the loop: 16 instructions per 128
 * multiply-adds), the pointers in odd registers. */
static inline __attribute__((always_inline)) void tt_pointwise_2x4_mve(const int8_t *xb, int32_t channels,
                                                                       const int8_t *wa, const int8_t *wb, int32_t sa,
                                                                       int32_t sb, int32x4_t *a, int32x4_t *b)
{
    register int32_t a0 __asm__("r0") = sa, a1 __asm__("r2") = sa, a2 __asm__("r4") = sa, a3 __asm__("r6") = sa;
    register int32_t b0 __asm__("r8") = sb, b1 __asm__("r10") = sb, b2 __asm__("r12") = sb, b3 __asm__("lr") = sb;
    if (channels >= 16) {
        register const int8_t *xp __asm__("r1") = xb, *pa __asm__("r3") = wa, *pb __asm__("r5") = wb;
        register const int8_t *end __asm__("r9") = wa + (channels & ~15);
        __asm__("1:\n\t"
                "vldrb.8     q0, [%[pa]], #16\n\t"
                "vldrb.8     q1, [%[pb]], #16\n\t"
                "vldrb.8     q2, [%[xp]], #16\n\t"
                "vmladava.s8 %[a0], q2, q0\n\t"
                "vmladava.s8 %[b0], q2, q1\n\t"
                "vldrb.8     q3, [%[xp]], #16\n\t"
                "vmladava.s8 %[a1], q3, q0\n\t"
                "vmladava.s8 %[b1], q3, q1\n\t"
                "vldrb.8     q2, [%[xp]], #16\n\t"
                "vmladava.s8 %[a2], q2, q0\n\t"
                "vmladava.s8 %[b2], q2, q1\n\t"
                "vldrb.8     q3, [%[xp]], #16\n\t"
                "vmladava.s8 %[a3], q3, q0\n\t"
                "vmladava.s8 %[b3], q3, q1\n\t"
                "cmp         %[pa], %[end]\n\t"
                "bne         1b"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0), [b1] "+r"(b1),
                  [b2] "+r"(b2), [b3] "+r"(b3), [xp] "+r"(xp), [pa] "+r"(pa), [pb] "+r"(pb)
                : [end] "r"(end)
                : "q0", "q1", "q2", "q3", "cc", "memory");
        xb = xp, wa = pa, wb = pb;
    }
    if (channels & 15) {
        const mve_pred16_t pr = vctp8q((uint32_t)(channels & 15));
        const int8x16_t va = vldrbq_z_s8(wa, pr), vb = vldrbq_z_s8(wb, pr);
        TT_PW_MVE_2X4_CHUNK(va, vb);
    }
    *a = tt_lanes4_mve(a0, a1, a2, a3), *b = tt_lanes4_mve(b0, b1, b2, b3);
}

/* tt_pointwise_2x4_mve for one output (an odd last one). */
static inline __attribute__((always_inline)) int32x4_t tt_pointwise_1x4_mve(const int8_t *xb, int32_t channels,
                                                                            const int8_t *w, int32_t start)
{
    int32_t a0 = start, a1 = start, a2 = start, a3 = start;
    const int8_t *wend = w + (channels & ~15);
    for (; w < wend; w += 16, xb += 64) {
        const int8x16_t v = vldrbq_s8(w);
        a0 = vmladavaq_s8(a0, vldrbq_s8(xb), v), a1 = vmladavaq_s8(a1, vldrbq_s8(xb + 16), v);
        a2 = vmladavaq_s8(a2, vldrbq_s8(xb + 32), v), a3 = vmladavaq_s8(a3, vldrbq_s8(xb + 48), v);
    }
    if (channels & 15) {
        const int8x16_t v = vldrbq_z_s8(w, vctp8q((uint32_t)(channels & 15)));
        a0 = vmladavaq_s8(a0, vldrbq_s8(xb), v), a1 = vmladavaq_s8(a1, vldrbq_s8(xb + 16), v);
        a2 = vmladavaq_s8(a2, vldrbq_s8(xb + 32), v), a3 = vmladavaq_s8(a3, vldrbq_s8(xb + 48), v);
    }
    return tt_lanes4_mve(a0, a1, a2, a3);
}

/* tt_requantize(s[k], mult, shift, zero, lo, hi) for the four lanes, shift >= 32 (every layer of the paper's
 * backbones), rs = 31 - shift, lo and hi as vectors: VQDMULH.S32 by the scalar mult is floor(acc * mult / 2^31) (it
 * saturates only for -2^31 * -2^31, and mult >= 2^30), and VRSHL by rs rounds it as (v + 2^(shift-32)) >> (shift - 31),
 * which is floor((acc * mult + 2^(shift-1)) / 2^shift), tt_requantize's rshift_round (nested floors of divisions by
 * powers of 2 make one); then + zero and the clamp. A truncating VSTRB.32 stores the lanes' low bytes. */
static inline __attribute__((always_inline)) int32x4_t tt_pw_mve_requant(int32x4_t s, int32_t mult, int32_t rs,
                                                                         int32_t zero, int32x4_t lo, int32x4_t hi)
{
    return vminq_s32(vmaxq_s32(vaddq_n_s32(vrshlq_n_s32(vqdmulhq_n_s32(s, mult), rs), zero), lo), hi);
}

/* y[0 .. n) (n in 1..4) = tt_requantize(s[k], mult, shift, zero, lo, hi): tt_pw_mve_requant from shift 32, else lane
 * by lane. */
static inline __attribute__((always_inline)) void tt_pointwise_requant4_mve(int32x4_t s, int32_t mult, int32_t shift,
                                                                            int32_t zero, int32x4_t lo, int32x4_t hi,
                                                                            int8_t *y, int32_t n)
{
    if (shift >= 32) {
        vstrbq_p_s32(y, tt_pw_mve_requant(s, mult, 31 - shift, zero, lo, hi), vctp32q((uint32_t)n));
        return;
    }
    int32_t acc[4];
    vst1q_s32(acc, s);
    for (int32_t k = 0; k < n; k++)
        y[k] = tt_requantize(acc[k], mult, shift, zero, vgetq_lane_s32(lo, 0), vgetq_lane_s32(hi, 0));
}

/* tt_pointwise_2x4_mve over both weight parts of tt_pointwise_mve: the lead's chunks at xb, the rest's (r > 0) at
 * xb + lead_bytes. */
static inline __attribute__((always_inline)) void tt_pw_mve_2x4_parts(const int8_t *xb, int32_t lead_bytes, int32_t k,
                                                                      int32_t r, const int8_t *la, const int8_t *lb,
                                                                      const int8_t *ra, const int8_t *rb, int32_t sa,
                                                                      int32_t sb, int32x4_t *a, int32x4_t *b)
{
    tt_pointwise_2x4_mve(xb, k, la, lb, sa, sb, a, b);
    if (r) {
        int32x4_t ar, br;
        tt_pointwise_2x4_mve(xb + lead_bytes, r, ra, rb, 0, 0, &ar, &br);
        *a = vaddq_s32(*a, ar), *b = vaddq_s32(*b, br);
    }
}

/* The start of an output's sums, bias - x_zero * sum w over both weight parts, in wrapping arithmetic (see above). */
static inline int32_t tt_pw_mve_start(int32_t bias, uint32_t x_zero, const int8_t *lead, int32_t k, const int8_t *rest,
                                      int32_t r)
{
    uint32_t ws = (uint32_t)tt_weight_sum_mve(lead, k);
    if (r)
        ws += (uint32_t)tt_weight_sum_mve(rest, r);
    return (int32_t)((uint32_t)bias - x_zero * ws);
}

/* y[o * y_plane + p] for o < out_c, p < hw: the 1x1 conv of x (k + r channels, hw) by the weight of rows
 * lead[o * k .. + k) followed by rest[o * r .. + r) (r = 0: one part, rest not read; tt_conv2d_1x1_split_s8's two parts
 * otherwise), blocks of pixels packed once (tt_pointwise_pack_mve, the rest's chunks after the lead's in each group),
 * outputs two at a time (tt_pointwise_2x4_mve, once per part), an odd last one alone, each output's start once per
 * block. Needs four pixels of the k + r channels to fit in TT_PW_MVE_BYTES. noinline: its buffer and
 * tt_pw_mve_wide's never share a frame; unused: not every file including this header calls them. */
static __attribute__((noinline, unused)) void tt_pw_mve_groups(const int8_t *x, int32_t hw, const int8_t *lead,
                                                               int32_t k, const int8_t *rest, int32_t r,
                                                               const int32_t *bias, const int32_t *mult,
                                                               const int32_t *shift, const tt_quant_params *q,
                                                               int8_t *y, int32_t y_plane, int32_t out_c)
{
    int8_t buf[TT_PW_MVE_BYTES] __attribute__((aligned(16)));
    const int32_t lead_bytes = tt_pw_mve_group_bytes(k), group = lead_bytes + tt_pw_mve_group_bytes(r);
    const int32_t block = 4 * (TT_PW_MVE_BYTES / group); /* pixels, >= 4 */
    const uint32_t x_zero = (uint32_t)q->x_zero;
    const int32_t zero = q->y_zero;
    const int32x4_t lo = vdupq_n_s32(q->act_min), hi = vdupq_n_s32(q->act_max);
    for (int32_t p0 = 0; p0 < hw; p0 += block) {
        const int32_t n = hw - p0 < block ? hw - p0 : block;
        tt_pointwise_pack_mve(x + p0, hw, k, n, group, 64, buf);
        if (r)
            tt_pointwise_pack_mve(x + k * hw + p0, hw, r, n, group, 64, buf + lead_bytes);
        int32_t o = 0;
        for (; o + 2 <= out_c; o += 2) {
            const int8_t *la = lead + o * k, *lb = la + k, *ra = rest + o * r, *rb = ra + r;
            const int32_t sa = tt_pw_mve_start(bias[o], x_zero, la, k, ra, r);
            const int32_t sb = tt_pw_mve_start(bias[o + 1], x_zero, lb, k, rb, r);
            const int32_t ma = mult[o], mb = mult[o + 1], ta = shift[o], tb = shift[o + 1];
            int8_t *ya = y + o * y_plane + p0, *yb = ya + y_plane;
            const int8_t *xb = buf;
            int32_t g = 0;
            if (ta >= 32 && tb >= 32) /* whole groups, the constants set once */
                for (const int32_t ra_ = 31 - ta, rb_ = 31 - tb; g + 4 <= n; g += 4, xb += group) {
                    int32x4_t a, b;
                    tt_pw_mve_2x4_parts(xb, lead_bytes, k, r, la, lb, ra, rb, sa, sb, &a, &b);
                    vstrbq_s32(ya + g, tt_pw_mve_requant(a, ma, ra_, zero, lo, hi));
                    vstrbq_s32(yb + g, tt_pw_mve_requant(b, mb, rb_, zero, lo, hi));
                }
            for (; g < n; g += 4, xb += group) {
                int32x4_t a, b;
                tt_pw_mve_2x4_parts(xb, lead_bytes, k, r, la, lb, ra, rb, sa, sb, &a, &b);
                const int32_t m = n - g < 4 ? n - g : 4;
                tt_pointwise_requant4_mve(a, ma, ta, zero, lo, hi, ya + g, m);
                tt_pointwise_requant4_mve(b, mb, tb, zero, lo, hi, yb + g, m);
            }
        }
        if (o < out_c) {
            const int8_t *wl = lead + o * k, *wr = rest + o * r;
            const int32_t so = tt_pw_mve_start(bias[o], x_zero, wl, k, wr, r);
            for (int32_t g = 0; g < n; g += 4) {
                const int8_t *xb = buf + g / 4 * group;
                int32x4_t a = tt_pointwise_1x4_mve(xb, k, wl, so);
                if (r)
                    a = vaddq_s32(a, tt_pointwise_1x4_mve(xb + lead_bytes, r, wr, 0));
                tt_pointwise_requant4_mve(a, mult[o], shift[o], zero, lo, hi, y + o * y_plane + p0 + g,
                                          n - g < 4 ? n - g : 4);
            }
        }
    }
}
/* sum_{c < channels} xp[c] * w[c] + *ws, with *ws += sum w: one pixel's packed channels against one output's weights
 * (the last chunk's weights by a predicated load). */
static inline __attribute__((always_inline)) int32_t tt_pw_mve_dot(const int8_t *xp, const int8_t *w,
                                                                   int32_t channels, int32_t acc, int32_t *ws)
{
    int32_t s = *ws;
    const int8_t *end = w + (channels & ~15);
    for (; w < end; w += 16, xp += 16) {
        const int8x16_t v = vldrbq_s8(w);
        acc = vmladavaq_s8(acc, vldrbq_s8(xp), v), s = vaddvaq_s8(s, v);
    }
    if (channels & 15) {
        const int8x16_t v = vldrbq_z_s8(w, vctp8q((uint32_t)(channels & 15)));
        acc = vmladavaq_s8(acc, vldrbq_s8(xp), v), s = vaddvaq_s8(s, v);
    }
    *ws = s;
    return acc;
}

/* One chunk of tt_pw_mve_4x1's four outputs: the weights at w0 .. w3 against the pixel's 16 channels in vx. */
#define TT_PW_MVE_4X1_CHUNK(LOAD)                                                                                     \
    do {                                                                                                              \
        int8x16_t v = LOAD(w0);                                                                                       \
        a0 = vmladavaq_s8(a0, vx, v), s0 = vaddvaq_s8(s0, v);                                                         \
        v = LOAD(w1), a1 = vmladavaq_s8(a1, vx, v), s1 = vaddvaq_s8(s1, v);                                          \
        v = LOAD(w2), a2 = vmladavaq_s8(a2, vx, v), s2 = vaddvaq_s8(s2, v);                                          \
        v = LOAD(w3), a3 = vmladavaq_s8(a3, vx, v), s3 = vaddvaq_s8(s3, v);                                          \
    } while (0)

/* a[j] = sum_{c < channels} xp[c] * w_j[c] and s[j] = sum_{c < channels} w_j[c], w_j = w + j * stride, j = 0..3: one
 * pixel's packed channels (tt_pointwise_pack_mve, n = 1) against four outputs' weights, their sums by VADDVA in the
 * same loop (the wide layers' starts: no stack for them). VMLADAVA and VADDVA take even registers only, so the loop
 * over the whole chunks is written out (15 instructions per 64 multiply-adds), the pointers in odd registers; the
 * last chunk's weights by predicated loads. */
static inline __attribute__((always_inline)) void tt_pw_mve_4x1(const int8_t *xp, const int8_t *w, int32_t stride,
                                                                int32_t channels, int32x4_t *a, int32x4_t *s)
{
    register int32_t a0 __asm__("r0") = 0, a1 __asm__("r2") = 0, a2 __asm__("r4") = 0, a3 __asm__("r6") = 0;
    register int32_t s0 __asm__("r8") = 0, s1 __asm__("r10") = 0, s2 __asm__("r12") = 0, s3 __asm__("lr") = 0;
    const int8_t *w0 = w, *w1 = w + stride, *w2 = w1 + stride, *w3 = w2 + stride;
    if (channels >= 16) {
        register const int8_t *x_ __asm__("r1") = xp, *p0 __asm__("r3") = w0, *p1 __asm__("r5") = w1;
        register const int8_t *p2 __asm__("r7") = w2, *p3 __asm__("r9") = w3, *end __asm__("r11") = w0 + (channels & ~15);
        __asm__("1:\n\t"
                "vldrb.8     q0, [%[x]], #16\n\t"
                "vldrb.8     q1, [%[p0]], #16\n\t"
                "vmladava.s8 %[a0], q0, q1\n\t"
                "vaddva.s8   %[s0], q1\n\t"
                "vldrb.8     q1, [%[p1]], #16\n\t"
                "vmladava.s8 %[a1], q0, q1\n\t"
                "vaddva.s8   %[s1], q1\n\t"
                "vldrb.8     q1, [%[p2]], #16\n\t"
                "vmladava.s8 %[a2], q0, q1\n\t"
                "vaddva.s8   %[s2], q1\n\t"
                "vldrb.8     q1, [%[p3]], #16\n\t"
                "vmladava.s8 %[a3], q0, q1\n\t"
                "vaddva.s8   %[s3], q1\n\t"
                "cmp         %[p0], %[end]\n\t"
                "bne         1b"
                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [s0] "+r"(s0), [s1] "+r"(s1),
                  [s2] "+r"(s2), [s3] "+r"(s3), [x] "+r"(x_), [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2),
                  [p3] "+r"(p3)
                : [end] "r"(end)
                : "q0", "q1", "cc", "memory");
        xp = x_, w0 = p0, w1 = p1, w2 = p2, w3 = p3;
    }
    if (channels & 15) {
        const mve_pred16_t pr = vctp8q((uint32_t)(channels & 15));
        const int8x16_t vx = vldrbq_s8(xp);
#define TT_PW_MVE_LOAD_Z(p) vldrbq_z_s8(p, pr)
        TT_PW_MVE_4X1_CHUNK(TT_PW_MVE_LOAD_Z);
#undef TT_PW_MVE_LOAD_Z
    }
    *a = tt_lanes4_mve(a0, a1, a2, a3), *s = tt_lanes4_mve(s0, s1, s2, s3);
}

/* tt_pw_mve_groups for inputs wider than four pixels of the buffer (256 channels): one pixel at a time, packed
 * (tt_pointwise_pack_mve with n = 1: its channels one after the other, the rest's after the lead's), then four
 * outputs a turn (tt_pw_mve_4x1, once per part), their starts bias - x_zero * sum w from the weight sums it takes,
 * requantized as one vector (tt_pw_mve_requant with the four outputs' multipliers and shifts as vectors) and stored
 * to their four planes by one scatter VSTRB.32; the outputs left (out_c % 4), and any four with a shift below 32, one
 * by one (tt_pw_mve_dot, tt_requantize). */
static __attribute__((noinline, unused)) void tt_pw_mve_wide(const int8_t *x, int32_t hw, const int8_t *lead,
                                                             int32_t k, const int8_t *rest, int32_t r,
                                                             const int32_t *bias, const int32_t *mult,
                                                             const int32_t *shift, const tt_quant_params *q, int8_t *y,
                                                             int32_t y_plane, int32_t out_c)
{
    int8_t buf[TT_PW_MVE_BYTES] __attribute__((aligned(16)));
    const int32_t lead_bytes = tt_pw_mve_group_bytes(k) / 4, zero = q->y_zero;
    const uint32_t x_zero = (uint32_t)q->x_zero;
    const int32x4_t lo = vdupq_n_s32(q->act_min), hi = vdupq_n_s32(q->act_max);
    const uint32x4_t planes = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)y_plane); /* 0, y_plane, 2 y_plane, 3 .. */
    for (int32_t p = 0; p < hw; p++) {
        tt_pointwise_pack_mve(x + p, hw, k, 1, 0, 16, buf);
        if (r)
            tt_pointwise_pack_mve(x + k * hw + p, hw, r, 1, 0, 16, buf + lead_bytes);
        int32_t o = 0;
        for (; o + 4 <= out_c; o += 4) {
            const int32x4_t sh = vld1q_s32(shift + o);
            if (vcmpltq_n_s32(sh, 32)) /* some shift below 32: one by one below */
                break;
            int32x4_t acc, ws;
            tt_pw_mve_4x1(buf, lead + o * k, k, k, &acc, &ws);
            if (r) {
                int32x4_t acc_r, ws_r;
                tt_pw_mve_4x1(buf + lead_bytes, rest + o * r, r, r, &acc_r, &ws_r);
                acc = vaddq_s32(acc, acc_r), ws = vaddq_s32(ws, ws_r);
            }
            /* wrapping, see above */
            acc = vaddq_s32(acc, vsubq_s32(vld1q_s32(bias + o), vmulq_n_s32(ws, (int32_t)x_zero)));
            int32x4_t v = vrshlq_s32(vqdmulhq_s32(acc, vld1q_s32(mult + o)), vsubq_s32(vdupq_n_s32(31), sh));
            v = vminq_s32(vmaxq_s32(vaddq_n_s32(v, zero), lo), hi);
            vstrbq_scatter_offset_s32(y + o * y_plane + p, planes, v);
        }
        for (; o < out_c; o++) {
            int32_t ws = 0, acc = tt_pw_mve_dot(buf, lead + o * k, k, 0, &ws);
            if (r)
                acc = tt_pw_mve_dot(buf + lead_bytes, rest + o * r, r, acc, &ws);
            acc = (int32_t)((uint32_t)acc + (uint32_t)bias[o] - x_zero * (uint32_t)ws); /* wrapping, see above */
            y[o * y_plane + p] = tt_requantize(acc, mult[o], shift[o], zero, q->act_min, q->act_max);
        }
    }
}

/* y[o * y_plane + p] for o < out_c, p < hw: the 1x1 conv of x (k + r channels, hw) by the weight of rows
 * lead[o * k .. + k) followed by rest[o * r .. + r) (r = 0: one part, rest not read), in groups of four pixels
 * (tt_pw_mve_groups) when they fit in the buffer, else pixel by pixel (tt_pw_mve_wide). Needs
 * tt_pointwise_mve_ok(k, r, hw). */
static inline void tt_pointwise_mve(const int8_t *x, int32_t hw, const int8_t *lead, int32_t k, const int8_t *rest,
                                    int32_t r, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                    const tt_quant_params *q, int8_t *y, int32_t y_plane, int32_t out_c)
{
    if (tt_pw_mve_group_bytes(k) + tt_pw_mve_group_bytes(r) <= TT_PW_MVE_BYTES)
        tt_pw_mve_groups(x, hw, lead, k, rest, r, bias, mult, shift, q, y, y_plane, out_c);
    else
        tt_pw_mve_wide(x, hw, lead, k, rest, r, bias, mult, shift, q, y, y_plane, out_c);
}
#endif

#endif /* TT_POINTWISE_MVE_H */
