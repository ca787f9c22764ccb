/* tt_expf / tt_logf and tt_mla_f32 (kernels/tt_float_util.h) over a sweep of arguments: prints a hash of
 * every result bit and the largest relative error against the C library's double exp / log (host only),
 * and (host only) the hash of the same multiply-accumulate sweep computed fused (fmaf), which must differ:
 * the sweep holds sums where rounding the product first changes the result.
 * Bare metal under QEMU (semihosting, tests/codegen/dsp_check/link.ld) or hosted. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tt_float_util.h"

static uint32_t hash = 2166136261u;

static void mix(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    hash = (hash ^ u) * 16777619u;
}

/* pseudo-random floats in [-2, 2) */
static float uniform(uint32_t *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(int32_t)(*state >> 8) * (1.0f / 4194304.0f) - 2.0f;
}

/* chained multiply-accumulates, as the backward kernels' dot products run them */
static float mla_fused(float acc, float a, float b);

__attribute__((noinline)) static uint32_t sweep(int fused)
{
    for (int32_t i = 0; i < 100000; i++) mix(tt_expf(-90.0f * (float)i / 100000.0f));
    for (int32_t i = 1; i < 100000; i++) mix(tt_logf(1.0f + 999.0f * (float)i / 100000.0f));
    uint32_t state = 1u;
    float acc = 0.0f;
    for (int32_t i = 0; i < 100000; i++) {
        const float a = uniform(&state), b = uniform(&state);
        acc = fused ? mla_fused(acc, a, b) : tt_mla_f32(acc, a, b);
        mix(acc);
        if ((i & 63) == 63) acc = uniform(&state);
    }
    return hash;
}

#if defined(__arm__)
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static float mla_fused(float acc, float a, float b)
{
    return acc + a * b; /* not called on the device */
}
static void finish(void)
{
    semihost(0x18, (const void *)(uintptr_t)0x20026); /* SYS_EXIT: ApplicationExit */
    for (;;) {
    }
}
__attribute__((noinline)) static void report(void)
{
    static char text[11];
    uint32_t v = sweep(0);
    for (int i = 0; i < 8; i++) text[i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15u];
    text[8] = '\n';
    semihost(0x04, text); /* SYS_WRITE0 */
    finish();
}
extern uint32_t __bss_start__, __bss_end__, __stack_top;
void reset_handler(void);
__attribute__((section(".isr_vector"), used)) static const void *const vectors[4] = {
    &__stack_top, (const void *)reset_handler, (const void *)finish, (const void *)finish};
void reset_handler(void)
{
    for (uint32_t *p = &__bss_start__; p < &__bss_end__; p++) *p = 0;
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    report();
}
#else
#include <stdio.h>
static float mla_fused(float acc, float a, float b)
{
    return fmaf(a, b, acc);
}
int main(void)
{
    double worst_exp = 0.0, worst_log = 0.0;
    for (int32_t i = 0; i < 100000; i++) {
        float x = -80.0f * (float)i / 100000.0f;
        double want = exp((double)x), err = fabs(tt_expf(x) - want) / want;
        if (err > worst_exp) worst_exp = err;
    }
    for (int32_t i = 1; i < 100000; i++) {
        float s = 1.0f + 999.0f * (float)i / 100000.0f;
        double want = log((double)s), err = fabs(tt_logf(s) - want) / want;
        if (err > worst_log) worst_log = err;
    }
    const uint32_t unfused = sweep(0);
    hash = 2166136261u;
    printf("%08x %.3g %.3g %08x\n", (unsigned)unfused, worst_exp, worst_log, (unsigned)sweep(1));
    return 0;
}
#endif
