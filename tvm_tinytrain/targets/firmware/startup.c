/*
 * Bare-metal startup for the Cortex-M boards (QEMU mps2-an500 / an386, mps3-an547; STM32F746).
 *
 * Reset: copy .data from flash to SRAM, zero .bss, paint the stack (from the end of .bss to
 * the top of the RAM budget) with TT_STACK_PAINT so tt_stack_used() can report a high-water
 * mark, arm the stack guard, enable the FPU, start SysTick, run main() and end with its status
 * (tt_exit, transport.h).
 *
 * Stack guard: memory below the stack is .bss (the trained parameters, the arena), and an
 * overflow would silently corrupt it. On ARMv7-M (M4, M7) an MPU region with no access covers
 * the lowest TT_STACK_GUARD_BYTES of the stack (aligned to its size, as the MPU requires); on
 * ARMv8-M (M55) MSPLIM is set to the stack's lower end. A push past it faults; the fault entry
 * moves SP back to the top of the stack before any C runs (the faulting SP may sit in the
 * guard), and the program ends with TT_EXIT_STACK_OVERFLOW and the fault status registers.
 *
 * Counting instructions: QEMU has no cycle counter (DWT->CYCCNT reads 0), but run with
 * `-icount shift=0` every instruction advances virtual time by exactly 1 ns, and SysTick runs
 * from the CPU clock (TT_SYSTICK_HZ: 25 MHz on mps2, 32 MHz on mps3-an547; -D from the board
 * file). SysTick free-runs as a 24-bit down counter from 0xFFFFFF; its interrupt counts wraps.
 * tt_instructions() = ticks * 1e9 / TT_SYSTICK_HZ: instructions executed (resolution 40 on
 * mps2), deterministic from run to run. These are instructions, not cycles.
 * Every other fault ends the program with status TT_EXIT_FAULT (tt_exit: QEMU's exit status, and
 * over a UART an exit record, with CFSR) and a message naming the status registers (tt_report).
 */
#include <stdint.h>

#include "transport.h"

#define TT_STACK_PAINT 0xDEADBEEFu
#define TT_STACK_GUARD_BYTES 256u /* a power of two, >= 32 (ARMv7-M MPU region) */
#define TT_EXIT_FAULT 3
#define TT_EXIT_STACK_OVERFLOW 5
#ifndef TT_SYSTICK_HZ
#define TT_SYSTICK_HZ 25000000u
#endif

#define TT_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define TT_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define TT_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define TT_SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)
#define TT_ICSR_PENDSTSET (1u << 26)
#define TT_SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define TT_SCB_CFSR (*(volatile uint32_t *)0xE000ED28u)
#define TT_SCB_HFSR (*(volatile uint32_t *)0xE000ED2Cu)
#define TT_SCB_MMFAR (*(volatile uint32_t *)0xE000ED34u)
#define TT_SCB_BFAR (*(volatile uint32_t *)0xE000ED38u)
#define TT_MPU_TYPE (*(volatile uint32_t *)0xE000ED90u)
#define TT_MPU_CTRL (*(volatile uint32_t *)0xE000ED94u)
#define TT_MPU_RNR (*(volatile uint32_t *)0xE000ED98u)
#define TT_MPU_RBAR (*(volatile uint32_t *)0xE000ED9Cu)
#define TT_MPU_RASR (*(volatile uint32_t *)0xE000EDA0u)
#define TT_CFSR_MSTKERR (1u << 4)   /* MemManage on exception stacking */
#define TT_CFSR_MMARVALID (1u << 7)
#define TT_CFSR_STKOF (1u << 20)    /* UsageFault: stack limit (ARMv8-M) */

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern uint32_t __stack_limit__, __stack_top__;

int main(void);
void tt_reset_handler(void);

/* The lowest usable stack word, above the guard (set at reset). */
static uint32_t *tt_stack_bottom = &__stack_limit__;

static char *tt_put_hex(char *out, const char *label, uint32_t value)
{
    int shift;
    while (*label)
        *out++ = *label++;
    *out++ = '0';
    *out++ = 'x';
    for (shift = 28; shift >= 0; shift -= 4)
        *out++ = "0123456789ABCDEF"[(value >> shift) & 15u];
    return out;
}

/* Entered from tt_fault_entry on the top of the stack; `sp`: the stack pointer at the fault.  The message is a local:
 * the faulted frames below are dead, so the stack has room for it, and a static buffer would take 200 B of SRAM
 * from every program for the one report.  The exception frame's PC is read first, before the message can cover it
 * (a fault near the top of the stack). */
__attribute__((used, noreturn)) void tt_fault_report(const uint32_t *sp)
{
    char message[200];
    uint32_t cfsr = TT_SCB_CFSR, mmfar = TT_SCB_MMFAR;
    uintptr_t bottom = (uintptr_t)tt_stack_bottom;
    int overflow = (cfsr & (TT_CFSR_MSTKERR | TT_CFSR_STKOF)) != 0 || (uintptr_t)sp < bottom ||
                   ((cfsr & TT_CFSR_MMARVALID) && mmfar < bottom && mmfar >= bottom - TT_STACK_GUARD_BYTES);
    int has_pc = !overflow && (uintptr_t)sp + 32 <= (uintptr_t)&__stack_top__;
    uint32_t pc = has_pc ? sp[6] : 0; /* from the exception frame */
    const char *what = overflow ? "tt firmware: stack overflow (the stack ran into its guard):"
                                : "tt firmware: fault (HardFault / MemManage / BusFault / UsageFault):";
    char *out = message;
    while (*what)
        *out++ = *what++;
    out = tt_put_hex(out, " CFSR=", cfsr);
    out = tt_put_hex(out, " HFSR=", TT_SCB_HFSR);
    out = tt_put_hex(out, " MMFAR=", mmfar);
    out = tt_put_hex(out, " BFAR=", TT_SCB_BFAR);
    out = tt_put_hex(out, " SP=", (uint32_t)(uintptr_t)sp);
    if (has_pc)
        out = tt_put_hex(out, " PC=", pc);
    *out++ = '\n';
    *out = 0;
    tt_report(message);
    tt_exit(overflow ? TT_EXIT_STACK_OVERFLOW : TT_EXIT_FAULT, cfsr);
}

/* Faults: no push before SP is safe again (it may point into the guard). */
__attribute__((naked)) static void tt_fault_entry(void)
{
    __asm__ volatile("mov r0, sp\n\t"
                     "ldr r1, =__stack_top__\n\t"
                     "mov sp, r1\n\t"
                     "b tt_fault_report\n\t");
}

/* The guard below the stack (see the top of this file); tt_stack_bottom above it. */
static void tt_arm_stack_guard(void)
{
#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8_1M_MAIN__)
    __asm__ volatile("msr msplim, %0" ::"r"(&__stack_limit__));
#elif defined(__ARM_ARCH_7EM__) || defined(__ARM_ARCH_7M__)
    uintptr_t base = ((uintptr_t)&__stack_limit__ + TT_STACK_GUARD_BYTES - 1u) & ~(uintptr_t)(TT_STACK_GUARD_BYTES - 1u);
    uint32_t size_field = 31u - (uint32_t)__builtin_clz(TT_STACK_GUARD_BYTES) - 1u; /* size = 2^(field+1) */
    if (((TT_MPU_TYPE >> 8) & 0xFFu) == 0u)
        return; /* no MPU */
    TT_MPU_RNR = 0;
    TT_MPU_RBAR = (uint32_t)base;
    TT_MPU_RASR = (1u << 28) | (size_field << 1) | 1u; /* XN, AP = no access, enabled */
    TT_MPU_CTRL = (1u << 2) | 1u;                     /* default map for the rest, enable */
    TT_SCB_SHCSR |= 1u << 16;                         /* MemManage faults reach their handler */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    tt_stack_bottom = (uint32_t *)(base + TT_STACK_GUARD_BYTES);
#endif
}

static void tt_unexpected_irq(void)
{
    tt_report("tt firmware: unexpected interrupt\n");
    tt_exit(TT_EXIT_FAULT, 0);
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
    (const void *)tt_fault_entry,   /* NMI */
    (const void *)tt_fault_entry,   /* HardFault */
    (const void *)tt_fault_entry,   /* MemManage */
    (const void *)tt_fault_entry,   /* BusFault */
    (const void *)tt_fault_entry,   /* UsageFault */
    (const void *)tt_fault_entry,   /* SecureFault (v8-M) */
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
    const uint32_t *p = tt_stack_bottom;
    while (p < &__stack_top__ && *p == TT_STACK_PAINT)
        p++;
    return (uint32_t)((uintptr_t)&__stack_top__ - (uintptr_t)p);
}

/* Nonzero when the stack has reached its lowest usable word (without a guard it may have run
 * into .bss). */
int tt_stack_overflowed(void)
{
    return *tt_stack_bottom != TT_STACK_PAINT;
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
    tt_arm_stack_guard();
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20; /* CPACR: full access to CP10, CP11 (FPU, MVE) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    TT_SYST_RVR = 0xFFFFFFu;
    TT_SYST_CVR = 0; /* any write clears it; it reloads on the next tick */
    TT_SYST_CSR = 7; /* enable, interrupt on wrap, CPU clock */
    tt_exit(main(), 0);
}
