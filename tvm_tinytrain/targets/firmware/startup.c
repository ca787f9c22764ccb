/*
 * Bare-metal startup for the QEMU Cortex-M boards (mps2-an500 / an386, mps3-an547).
 *
 * Reset: copy .data from flash to SRAM, zero .bss, paint the stack (from the end of .bss to
 * the top of the RAM budget) with TT_STACK_PAINT so tt_stack_used() can report a high-water
 * mark, enable the FPU, start SysTick, run main() and end with its status (tt_exit, transport.h).
 *
 * Counting instructions: QEMU has no cycle counter (DWT->CYCCNT reads 0), but run with
 * `-icount shift=0` every instruction advances virtual time by exactly 1 ns, and SysTick runs
 * from the CPU clock (TT_SYSTICK_HZ: 25 MHz on mps2, 32 MHz on mps3-an547; -D from the board
 * file). SysTick free-runs as a 24-bit down counter from 0xFFFFFF; its interrupt counts wraps.
 * tt_instructions() = ticks * 1e9 / TT_SYSTICK_HZ: instructions executed (resolution 40 on
 * mps2), deterministic from run to run. These are instructions, not cycles.
 * Every fault ends the program with status TT_EXIT_FAULT (tt_exit: QEMU's exit status, and over a
 * UART an exit record) and a message (tt_report).
 */
#include <stdint.h>

#include "transport.h"

#define TT_STACK_PAINT 0xDEADBEEFu
#define TT_EXIT_FAULT 3
#ifndef TT_SYSTICK_HZ
#define TT_SYSTICK_HZ 25000000u
#endif

#define TT_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define TT_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define TT_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define TT_SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define TT_ICSR_PENDSTSET (1u << 26)

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_limit__, __stack_top__;

int main(void);
void tt_reset_handler(void);

static void tt_fault_handler(void)
{
    tt_report("tt firmware: fault (HardFault / MemManage / BusFault / UsageFault)\n");
    tt_exit(TT_EXIT_FAULT);
}

static void tt_unexpected_irq(void)
{
    tt_report("tt firmware: unexpected interrupt\n");
    tt_exit(TT_EXIT_FAULT);
}

static volatile uint32_t tt_systick_wraps;

static void tt_systick_handler(void)
{
    tt_systick_wraps++;
}

/* Instructions executed since reset (under QEMU -icount shift=0; see the top of this file). */
uint64_t tt_instructions(void)
{
    uint32_t wraps, value, icsr;
    do {
        wraps = tt_systick_wraps;
        value = TT_SYST_CVR;
        icsr = TT_SCB_ICSR;
    } while (wraps != tt_systick_wraps);
    /* Wrapped but the interrupt is not taken yet: the counter restarted from 0xFFFFFF. */
    if ((icsr & TT_ICSR_PENDSTSET) && value > 0x800000u)
        wraps++;
    uint64_t ticks = ((uint64_t)wraps << 24) + (0xFFFFFFu - value);
    return ticks * 1000000000ull / TT_SYSTICK_HZ;
}

/* 16 core exceptions; SysTick counts wraps, no device interrupt is enabled. */
__attribute__((section(".isr_vector"), used)) static const void *const tt_vectors[16] = {
    &__stack_top__,                 /* initial SP */
    (const void *)tt_reset_handler, /* reset */
    (const void *)tt_fault_handler, /* NMI */
    (const void *)tt_fault_handler, /* HardFault */
    (const void *)tt_fault_handler, /* MemManage */
    (const void *)tt_fault_handler, /* BusFault */
    (const void *)tt_fault_handler, /* UsageFault */
    (const void *)tt_fault_handler, /* SecureFault (v8-M) */
    0, 0, 0,
    (const void *)tt_unexpected_irq, /* SVCall */
    (const void *)tt_unexpected_irq, /* DebugMonitor */
    0,
    (const void *)tt_unexpected_irq, /* PendSV */
    (const void *)tt_systick_handler, /* SysTick */
};

/* Bytes of stack ever used: from the top down to the deepest overwritten paint word. */
uint32_t tt_stack_used(void)
{
    const uint32_t *p = &__stack_limit__;
    while (p < &__stack_top__ && *p == TT_STACK_PAINT)
        p++;
    return (uint32_t)((uintptr_t)&__stack_top__ - (uintptr_t)p);
}

/* Nonzero when the stack has reached its lowest word (it may have run into .bss). */
int tt_stack_overflowed(void)
{
    return __stack_limit__ != TT_STACK_PAINT;
}

__attribute__((noreturn)) void tt_reset_handler(void)
{
    uint32_t *src = &__data_load__, *dst;
    for (dst = &__data_start__; dst < &__data_end__;)
        *dst++ = *src++;
    for (dst = &__bss_start__; dst < &__bss_end__;)
        *dst++ = 0;
    /* Paint below the current frame only (leave 64 bytes of margin for this function). */
    {
        uint32_t *sp;
        __asm__ volatile("mov %0, sp" : "=r"(sp));
        for (dst = &__stack_limit__; dst < sp - 16;)
            *dst++ = TT_STACK_PAINT;
    }
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10, CP11 (FPU, MVE) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    TT_SYST_RVR = 0xFFFFFFu;
    TT_SYST_CVR = 0; /* any write clears it; it reloads on the next tick */
    TT_SYST_CSR = 7; /* enable, interrupt on wrap, CPU clock */
    tt_exit(main());
}
