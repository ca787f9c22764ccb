/* ARM semihosting calls (bkpt 0xab) used by the firmware: QEMU serves them with
 * -semihosting-config enable=on,target=native (paths relative to QEMU's working directory). */
#ifndef TT_SEMIHOST_H
#define TT_SEMIHOST_H

#include <stdint.h>

#define TT_SYS_OPEN 0x01
#define TT_SYS_CLOSE 0x02
#define TT_SYS_WRITE0 0x04
#define TT_SYS_WRITE 0x05
#define TT_SYS_READ 0x06
#define TT_SYS_EXIT_EXTENDED 0x20
#define TT_ADP_STOPPED_APPLICATION_EXIT 0x20026

static inline int32_t tt_semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

/* Ends the QEMU process with exit status `status` (never returns). */
static inline __attribute__((noreturn)) void tt_semihost_exit(int32_t status)
{
    uint32_t block[2] = {TT_ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    tt_semihost(TT_SYS_EXIT_EXTENDED, block);
    for (;;) {
    }
}

#endif
