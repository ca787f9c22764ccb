/*
 * Request stream over a UART (-DTT_TRANSPORT_UART), for a board without a debugger's
 * semihosting: QEMU's CMSDK APB UART (-DTT_UART_CMSDK, the mps2/mps3 machines) or an STM32F7
 * USART (-DTT_UART_STM32F7: USART1 on PA9/PB7, the ST-LINK virtual COM port of the
 * STM32F746G-DISCO). TT_UART_BASE, and for the STM32 TT_UART_CLOCK_HZ / TT_UART_BAUD, come
 * from the board file.
 *
 * A UART has no end of file: the host ends a session with an END request. Device -> host bytes
 * are escaped so the end of the program can be signalled in band at any point, even inside an
 * answer: 0xDB is sent as 0xDB 0xDD, and tt_exit(status, detail) sends 0xDB 0xDE, the int32
 * status and the uint32 detail (CFSR of a fault), escaped, which targets/serial_link.py raises.
 * With TT_SEMIHOSTING (QEMU), tt_exit then also ends QEMU and tt_report prints on its stderr.
 */
#include "semihost.h"
#include "transport.h"

#define TT_ESC 0xDBu
#define TT_ESC_ESC 0xDDu
#define TT_ESC_EXIT 0xDEu

#define TT_REG(offset) (*(volatile uint32_t *)(TT_UART_BASE + (offset)))

#if defined(TT_UART_CMSDK)
/* DATA 0x0, STATE 0x4 (bit 0 TX full, bit 1 RX full), CTRL 0x8 (bit 0 TX, bit 1 RX enable),
 * BAUDDIV 0x10 (QEMU drops output while it is below 16). */
static void uart_init(void)
{
    TT_REG(0x10) = 16;
    TT_REG(0x08) = 3;
}

static void uart_put(uint8_t byte)
{
    while (TT_REG(0x04) & 1u) {
    }
    TT_REG(0x00) = byte;
}

static uint8_t uart_get(void)
{
    while (!(TT_REG(0x04) & 2u)) {
    }
    return (uint8_t)TT_REG(0x00);
}
#elif defined(TT_UART_STM32F7)
/* RCC AHB1ENR / APB2ENR; GPIOA PA9 and GPIOB PB7 to alternate function 7 (USART1);
 * USART CR1 0x0, BRR 0xC, ISR 0x1C (RXNE bit 5, TXE bit 7, ORE bit 3), ICR 0x20, RDR 0x24, TDR 0x28. */
#define TT_RCC_AHB1ENR (*(volatile uint32_t *)0x40023830u)
#define TT_RCC_APB2ENR (*(volatile uint32_t *)0x40023844u)
#define TT_GPIOA(offset) (*(volatile uint32_t *)(0x40020000u + (offset)))
#define TT_GPIOB(offset) (*(volatile uint32_t *)(0x40020400u + (offset)))

static void uart_init(void)
{
    TT_RCC_AHB1ENR |= 3u;       /* GPIOA, GPIOB */
    TT_RCC_APB2ENR |= 1u << 4;  /* USART1 */
    (void)TT_RCC_APB2ENR;       /* let the clock enable settle */
    TT_GPIOA(0x00) = (TT_GPIOA(0x00) & ~(3u << 18)) | (2u << 18); /* PA9 alternate */
    TT_GPIOA(0x24) = (TT_GPIOA(0x24) & ~(15u << 4)) | (7u << 4);  /* AFRH: PA9 = AF7 */
    TT_GPIOB(0x00) = (TT_GPIOB(0x00) & ~(3u << 14)) | (2u << 14); /* PB7 alternate */
    TT_GPIOB(0x20) = (TT_GPIOB(0x20) & ~(15u << 28)) | (7u << 28); /* AFRL: PB7 = AF7 */
    TT_REG(0x0C) = (TT_UART_CLOCK_HZ + TT_UART_BAUD / 2) / TT_UART_BAUD;
    TT_REG(0x00) = (1u << 3) | (1u << 2) | 1u; /* TE, RE, UE */
}

static void uart_put(uint8_t byte)
{
    while (!(TT_REG(0x1C) & (1u << 7))) {
    }
    TT_REG(0x28) = byte;
}

static uint8_t uart_get(void)
{
    while (!(TT_REG(0x1C) & (1u << 5))) {
        if (TT_REG(0x1C) & (1u << 3))
            TT_REG(0x20) = 1u << 3; /* clear an overrun (the byte is lost: the host times out) */
    }
    return (uint8_t)TT_REG(0x24);
}
#else
#error "TT_TRANSPORT_UART needs TT_UART_CMSDK or TT_UART_STM32F7 (the board file's uart.driver)"
#endif

static void put_escaped(const uint8_t *p, int32_t len)
{
    for (; len > 0; len--, p++) {
        if (*p == TT_ESC) {
            uart_put(TT_ESC);
            uart_put(TT_ESC_ESC);
        } else {
            uart_put(*p);
        }
    }
}

int tt_link_open(void)
{
    uart_init();
    return 0;
}

int32_t tt_link_read(void *buf, int32_t len)
{
    uint8_t *p = buf;
    int32_t i;
    for (i = 0; i < len; i++)
        p[i] = uart_get();
    return len;
}

int tt_link_write(const void *buf, int32_t len)
{
    put_escaped(buf, len);
    return 0;
}

void tt_link_close(void)
{
}

void tt_report(const char *message)
{
#ifdef TT_SEMIHOSTING
    tt_semihost(TT_SYS_WRITE0, message);
#else
    (void)message;
#endif
}

void tt_exit(int32_t status, uint32_t detail)
{
    uart_put(TT_ESC);
    uart_put(TT_ESC_EXIT);
    put_escaped((const uint8_t *)&status, sizeof status);
    put_escaped((const uint8_t *)&detail, sizeof detail);
#ifdef TT_SEMIHOSTING
    tt_semihost_exit(status);
#else
    for (;;) {
    }
#endif
}
