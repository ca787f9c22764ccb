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
 * bits' flags a LSLS).  NIBBLE(L, B, GO): the TBB on t (a nibble) to case L00..L14 (table label L0), each storing
 * its zeros (Z) at o + B..B + 12 bytes then going on at label GO, the last case falling through to it; 15 goes on at
 * once. */
#define Z(off) "str %[z], [%[o], #" #off "]\n\t"
#define NIBBLE(L, B, GO) \
    "tbb [pc, %[t]]\n\t" \
    #L "0:\n\t" \
    ".byte (" #L "00f-" #L "0b)/2, (" #L "01f-" #L "0b)/2, (" #L "02f-" #L "0b)/2, (" #L "03f-" #L "0b)/2\n\t" \
    ".byte (" #L "04f-" #L "0b)/2, (" #L "05f-" #L "0b)/2, (" #L "06f-" #L "0b)/2, (" #L "07f-" #L "0b)/2\n\t" \
    ".byte (" #L "08f-" #L "0b)/2, (" #L "09f-" #L "0b)/2, (" #L "10f-" #L "0b)/2, (" #L "11f-" #L "0b)/2\n\t" \
    ".byte (" #L "12f-" #L "0b)/2, (" #L "13f-" #L "0b)/2, (" #L "14f-" #L "0b)/2, (" #GO "f-" #L "0b)/2\n\t" \
    ".p2align 1\n\t" \
    #L "00:\n\t" Z(B + 0) Z(B + 4) Z(B + 8) Z(B + 12) "b.w " #GO "f\n\t" \
    #L "01:\n\t" Z(B + 4) Z(B + 8) Z(B + 12) "b.w " #GO "f\n\t" \
    #L "02:\n\t" Z(B + 0) Z(B + 8) Z(B + 12) "b.w " #GO "f\n\t" \
    #L "03:\n\t" Z(B + 8) Z(B + 12) "b.w " #GO "f\n\t" \
    #L "04:\n\t" Z(B + 0) Z(B + 4) Z(B + 12) "b.w " #GO "f\n\t" \
    #L "05:\n\t" Z(B + 4) Z(B + 12) "b.w " #GO "f\n\t" \
    #L "06:\n\t" Z(B + 0) Z(B + 12) "b.w " #GO "f\n\t" \
    #L "07:\n\t" Z(B + 12) "b.w " #GO "f\n\t" \
    #L "08:\n\t" Z(B + 0) Z(B + 4) Z(B + 8) "b.w " #GO "f\n\t" \
    #L "09:\n\t" Z(B + 4) Z(B + 8) "b.w " #GO "f\n\t" \
    #L "10:\n\t" Z(B + 0) Z(B + 8) "b.w " #GO "f\n\t" \
    #L "11:\n\t" Z(B + 8) "b.w " #GO "f\n\t" \
    #L "12:\n\t" Z(B + 0) Z(B + 4) "b.w " #GO "f\n\t" \
    #L "13:\n\t" Z(B + 4) "b.w " #GO "f\n\t" \
    #L "14:\n\t" Z(B + 0) /* falls through */
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
        NIBBLE(1, 0, 4)
        "4:\n\t"
        "lsr %[t], %[m], #4\n\t"
        NIBBLE(2, 16, 9)
        "9:\n\t"
        "adds %[o], %[o], #32\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        : [o] "+r"(o), [mask] "+r"(mask), [n] "+r"(bytes), [m] "=&r"(m), [t] "=&r"(t)
        : [z] "r"(zero)
        : "cc", "memory");
}
#undef NIBBLE
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
