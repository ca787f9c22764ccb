/* out[i] = (mask bit i) ? g[i] : 0, mask bit-packed LSB first (tt_clamp_mask_s8); out may alias g.
 * Eight elements per mask byte: an all-ones byte is a copy (nothing at all in place, the usual case:
 * a clamp is rarely active), an all-zeros byte eight zeros; a mixed byte in place stores only its zeros
 * (a test and a conditional store each), copied it moves each value's bits ANDed with its bit's all-ones
 * or zero word (+0.0f where the bit is 0, the value's exact bits where it is 1). */
#include <string.h>

#include "tt_kernels.h"

/* Element b of eight, written out for b = 0..7 (GCC -O2 neither unrolls the loops nor keeps a memset out). */
#define TT_ZERO(b) o[b] = 0.0f
#define TT_ZERO_IF_CLEAR(b) if (!(m & (1u << (b)))) o[b] = 0.0f
#define TT_AND_BIT(b) do { uint32_t v; memcpy(&v, g8 + (b), 4); v &= 0u - ((m >> (b)) & 1u); memcpy(o + (b), &v, 4); } \
    while (0)
#define TT_EIGHT(op) op(0); op(1); op(2); op(3); op(4); op(5); op(6); op(7)

#if defined(__thumb2__)
/* In place, `bytes` >= 1 mask bytes of eight values: an all-ones byte left alone (6 instructions), otherwise each
 * nibble's clear bits' values set to +0.0f (all bits 0) by a TBB to the one of 16 cases that stores exactly those
 * zeros: 12 instructions a mixed byte and one a zero, against 26 a mixed byte for a conditional store a bit (two
 * bits' flags a LSLS).  Z(off): the zero stored at o + off bytes; a nibble of 15 goes on at once. */
#define Z(off) "str %[z], [%[o], #" #off "]\n\t"
static void mask_in_place_thumb2(float *o, const uint8_t *mask, int32_t bytes)
{
    int32_t m, t;
    const int32_t zero = 0;
    __asm__ volatile(
        "1:\n\t"
        "ldrb %[m], [%[mask]], #1\n\t"
        "cmp %[m], #255\n\t"
        "beq 9f\n\t"
        "and %[t], %[m], #15\n\t"
        "tbb [pc, %[t]]\n\t"
        "10:\n\t"
        ".byte (20f-10b)/2, (21f-10b)/2, (22f-10b)/2, (23f-10b)/2\n\t"
        ".byte (24f-10b)/2, (25f-10b)/2, (26f-10b)/2, (27f-10b)/2\n\t"
        ".byte (28f-10b)/2, (29f-10b)/2, (30f-10b)/2, (31f-10b)/2\n\t"
        ".byte (32f-10b)/2, (33f-10b)/2, (34f-10b)/2, (4f-10b)/2\n\t"
        ".p2align 1\n\t"
        "20:\n\t" Z(0) Z(4) Z(8) Z(12) "b.w 4f\n\t"
        "21:\n\t" Z(4) Z(8) Z(12) "b.w 4f\n\t"
        "22:\n\t" Z(0) Z(8) Z(12) "b.w 4f\n\t"
        "23:\n\t" Z(8) Z(12) "b.w 4f\n\t"
        "24:\n\t" Z(0) Z(4) Z(12) "b.w 4f\n\t"
        "25:\n\t" Z(4) Z(12) "b.w 4f\n\t"
        "26:\n\t" Z(0) Z(12) "b.w 4f\n\t"
        "27:\n\t" Z(12) "b.w 4f\n\t"
        "28:\n\t" Z(0) Z(4) Z(8) "b.w 4f\n\t"
        "29:\n\t" Z(4) Z(8) "b.w 4f\n\t"
        "30:\n\t" Z(0) Z(8) "b.w 4f\n\t"
        "31:\n\t" Z(8) "b.w 4f\n\t"
        "32:\n\t" Z(0) Z(4) "b.w 4f\n\t"
        "33:\n\t" Z(4) "b.w 4f\n\t"
        "34:\n\t" Z(0) /* falls through */
        "4:\n\t"
        "lsr %[t], %[m], #4\n\t"
        "tbb [pc, %[t]]\n\t"
        "11:\n\t"
        ".byte (40f-11b)/2, (41f-11b)/2, (42f-11b)/2, (43f-11b)/2\n\t"
        ".byte (44f-11b)/2, (45f-11b)/2, (46f-11b)/2, (47f-11b)/2\n\t"
        ".byte (48f-11b)/2, (49f-11b)/2, (50f-11b)/2, (51f-11b)/2\n\t"
        ".byte (52f-11b)/2, (53f-11b)/2, (54f-11b)/2, (9f-11b)/2\n\t"
        ".p2align 1\n\t"
        "40:\n\t" Z(16) Z(20) Z(24) Z(28) "b.w 9f\n\t"
        "41:\n\t" Z(20) Z(24) Z(28) "b.w 9f\n\t"
        "42:\n\t" Z(16) Z(24) Z(28) "b.w 9f\n\t"
        "43:\n\t" Z(24) Z(28) "b.w 9f\n\t"
        "44:\n\t" Z(16) Z(20) Z(28) "b.w 9f\n\t"
        "45:\n\t" Z(20) Z(28) "b.w 9f\n\t"
        "46:\n\t" Z(16) Z(28) "b.w 9f\n\t"
        "47:\n\t" Z(28) "b.w 9f\n\t"
        "48:\n\t" Z(16) Z(20) Z(24) "b.w 9f\n\t"
        "49:\n\t" Z(20) Z(24) "b.w 9f\n\t"
        "50:\n\t" Z(16) Z(24) "b.w 9f\n\t"
        "51:\n\t" Z(24) "b.w 9f\n\t"
        "52:\n\t" Z(16) Z(20) "b.w 9f\n\t"
        "53:\n\t" Z(20) "b.w 9f\n\t"
        "54:\n\t" Z(16) /* falls through */
        "9:\n\t"
        "adds %[o], %[o], #32\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [o] "+r"(o), [mask] "+r"(mask), [n] "+r"(bytes), [m] "=&r"(m), [t] "=&r"(t)
        : [z] "r"(zero)
        : "cc", "memory");
}
#undef Z
#endif

int tt_mask_grad_f32(const float *g, const uint8_t *mask, int32_t n, float *out)
{
    if (!g || !mask || !out || n < 0) return TT_ERR_ARG;
    int32_t i = 0;
#if defined(__thumb2__)
    if (out == g && n >= 8) { /* the usual case */
        mask_in_place_thumb2(out, mask, n >> 3);
        i = n & ~7;
    }
#endif
    for (; i + 8 <= n; i += 8) {
        const uint32_t m = mask[i >> 3];
        const float *g8 = g + i;
        float *o = out + i;
        if (m == 0xFFu) {
            if (out != g) memcpy(o, g8, 8 * sizeof(float));
        } else if (m == 0u) {
            TT_EIGHT(TT_ZERO);
        } else if (out == g) {
            TT_EIGHT(TT_ZERO_IF_CLEAR);
        } else {
            TT_EIGHT(TT_AND_BIT);
        }
    }
    for (; i < n; ++i) out[i] = ((mask[i >> 3] >> (i & 7)) & 1u) ? g[i] : 0.0f;
    return TT_OK;
}
