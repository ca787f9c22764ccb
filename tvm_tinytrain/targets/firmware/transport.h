/* The byte stream device_main.c answers requests over, chosen at build time:
 * transport_semihost.c (QEMU semihosting files/FIFOs, the default) or transport_uart.c
 * (-DTT_TRANSPORT_UART: QEMU's CMSDK UART or a real board's serial port). */
#ifndef TT_TRANSPORT_H
#define TT_TRANSPORT_H

#include <stdint.h>

/* 0 on success. */
int tt_link_open(void);
/* Bytes read, up to len: len, or fewer only at the end of the request stream (0 = EOF). */
int32_t tt_link_read(void *buf, int32_t len);
/* 0 on success. */
int tt_link_write(const void *buf, int32_t len);
void tt_link_close(void);
/* A diagnostic for whoever watches the board (QEMU's stderr, a debugger's console). */
void tt_report(const char *message);
/* The end of the program with an exit status (device_main.c, startup.c) and, for a fault, the
 * fault status register CFSR (else 0): QEMU's exit status through semihosting; over a UART
 * also an in-band exit record with both, which the host reads (serial_link.py). */
__attribute__((noreturn)) void tt_exit(int32_t status, uint32_t detail);

#endif
