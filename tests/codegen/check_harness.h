/*
 * What the bare-metal kernel checks share (dsp_check/check_dsp.c, mve_check/check_mve.c): text out and the exit
 * status through semihosting on a Cortex-M under QEMU (stdio and exit() on the host), the cases' draw, an
 * xorshift32 from CHECK_SEED (each check defines its own, so its cases stay the same ones), and on a Cortex-M the
 * startup that runs main.
 */
#ifndef CHECK_HARNESS_H
#define CHECK_HARNESS_H

#include <stdint.h>
#include <stdlib.h>

#ifndef CHECK_SEED
#error "define CHECK_SEED (the xorshift32 seed of the cases' draw) before including check_harness.h"
#endif

#if defined(__arm__)
static inline int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static inline void put(const char *s)
{
    semihost(0x04, s); /* SYS_WRITE0 */
}
static inline void finish(int failed)
{
    semihost(0x18, (const void *)(uintptr_t)(failed ? 0x20023 : 0x20026)); /* SYS_EXIT: error / ApplicationExit */
    for (;;) {
    }
}
#else
#include <stdio.h>
static inline void put(const char *s)
{
    fputs(s, stdout);
}
static inline void finish(int failed)
{
    exit(failed);
}
#endif

static inline void put_int(long v)
{
    char buf[24], *p = buf + sizeof buf - 1;
    unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
    *p = 0;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    put(p);
}

static uint32_t rng_state = CHECK_SEED;
static inline uint32_t rnd(void) /* xorshift32 */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}
static inline int32_t uniform(int32_t lo, int32_t hi) /* [lo, hi] */
{
    return (int32_t)((uint32_t)lo + rnd() % ((uint32_t)hi - (uint32_t)lo + 1u)); /* span < 2^32 */
}

#if defined(__arm__)
/* Bare-metal startup (Cortex-M under QEMU, link.ld): the vector table, .bss cleared, the FPU (and MVE) enabled, then
 * main's result as the exit status. */
int main(void);
extern uint32_t __bss_start__, __bss_end__, __stack_top;
void reset_handler(void);
static void fault_handler(void)
{
    put("FAULT\n");
    finish(1);
}

__attribute__((section(".isr_vector"), used)) static const void *const vectors[16] = {
    &__stack_top, (const void *)reset_handler, (const void *)fault_handler, (const void *)fault_handler,
    (const void *)fault_handler, (const void *)fault_handler, (const void *)fault_handler,
};

void reset_handler(void)
{
    for (uint32_t *p = &__bss_start__; p < &__bss_end__; p++)
        *p = 0;
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10, CP11 (the FPU and MVE) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    finish(main());
}
#endif

#endif
