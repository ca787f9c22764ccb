/*
 * Request stream over semihosting file I/O: "requests.bin" (read) and "answers.bin" (write)
 * relative to QEMU's working directory. The host runner makes them FIFOs for a session
 * (QEMU's open() then blocks until the host has opened the other end, its read() until
 * bytes arrive), or they are plain files.
 */
#include "semihost.h"
#include "transport.h"

static int32_t tt_in = -1, tt_out = -1;

static int32_t sh_open(const char *name, int32_t len, int32_t mode)
{
    uint32_t block[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, (uint32_t)len};
    return tt_semihost(TT_SYS_OPEN, block);
}

static void sh_close(int32_t fd)
{
    uint32_t block[1] = {(uint32_t)fd};
    tt_semihost(TT_SYS_CLOSE, block);
}

int tt_link_open(void)
{
    static const char req_name[] = "requests.bin", out_name[] = "answers.bin";
    tt_in = sh_open(req_name, sizeof req_name - 1, 1);  /* "rb" */
    tt_out = sh_open(out_name, sizeof out_name - 1, 5); /* "wb" */
    return tt_in < 0 || tt_out < 0 ? -1 : 0;
}

/* SYS_READ returns the count NOT read; a FIFO may give fewer bytes than asked: loop. */
int32_t tt_link_read(void *buf, int32_t len)
{
    int32_t got = 0;
    while (got < len) {
        uint32_t block[3] = {(uint32_t)tt_in, (uint32_t)(uintptr_t)((char *)buf + got), (uint32_t)(len - got)};
        int32_t left = tt_semihost(TT_SYS_READ, block);
        if (left < 0 || left == len - got)
            break; /* error or end of file */
        got = len - left;
    }
    return got;
}

int tt_link_write(const void *buf, int32_t len)
{
    uint32_t block[3] = {(uint32_t)tt_out, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return len == 0 || tt_semihost(TT_SYS_WRITE, block) == 0 ? 0 : -1;
}

void tt_link_close(void)
{
    sh_close(tt_out);
    sh_close(tt_in);
}

void tt_report(const char *message)
{
    tt_semihost(TT_SYS_WRITE0, message);
}

void tt_exit(int32_t status, uint32_t detail)
{
    (void)detail; /* reported by tt_report on QEMU's stderr */
    tt_semihost_exit(status);
}
