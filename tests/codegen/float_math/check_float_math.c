/* tt_expf / tt_logf (kernels/tt_float_util.h) over a sweep of arguments: prints a hash of every
 * result bit and the largest relative error against the C library's double exp / log (host only).
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

__attribute__((noinline)) static uint32_t sweep(void)
{
    for (int32_t i = 0; i < 100000; i++) mix(tt_expf(-90.0f * (float)i / 100000.0f));
    for (int32_t i = 1; i < 100000; i++) mix(tt_logf(1.0f + 999.0f * (float)i / 100000.0f));
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
static void finish(void)
{
    semihost(0x18, (const void *)(uintptr_t)0x20026); /* SYS_EXIT: ApplicationExit */
    for (;;) {
    }
}
__attribute__((noinline)) static void report(void)
{
    static char text[11];
    uint32_t v = sweep();
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
    printf("%08x %.3g %.3g\n", (unsigned)sweep(), worst_exp, worst_log);
    return 0;
}
#endif
