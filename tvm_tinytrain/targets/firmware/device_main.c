/*
 * Firmware main for a generated model under QEMU: the host runner's request/answer protocol
 * (codegen/host_main.c) over semihosting file I/O.
 *
 * Opens "requests.bin" (read) and "answers.bin" (write) relative to QEMU's working directory.
 * requests.bin: records of [int32 kind][int32 label][int8 input[TT_INPUT_BYTES]]
 *               kind 0 = training step (answers the float32 loss), 1 = predict (the logits:
 *               int8, or float32 with an fp32 classifier: TT_LOGITS_TYPE in model.h)
 * answers.bin:  per request its answer followed by the uint64 count of instructions the request
 *               took (measured with SysTick, startup.c), then every trained parameter (tt_params
 *               order, raw bytes), the int32 tt_error() value, then the int32 stack high-water
 *               mark in bytes.
 * Exit status: 0 ok, 1 tt_error() != 0, 2 I/O or protocol error, 3 fault (startup.c),
 *              4 the stack reached the end of its region.
 */
#include <stdint.h>

#include "model.h"
#include "semihost.h"

uint32_t tt_stack_used(void);
int tt_stack_overflowed(void);
uint64_t tt_instructions(void);

static int32_t sh_open(const char *name, int32_t len, int32_t mode)
{
    uint32_t block[3] = {(uint32_t)(uintptr_t)name, (uint32_t)mode, (uint32_t)len};
    return tt_semihost(TT_SYS_OPEN, block);
}

/* Bytes actually read (SYS_READ returns the count NOT read). */
static int32_t sh_read(int32_t fd, void *buf, int32_t len)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return len - tt_semihost(TT_SYS_READ, block);
}

static int sh_write(int32_t fd, const void *buf, int32_t len)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)len};
    return tt_semihost(TT_SYS_WRITE, block) == 0;
}

static void sh_close(int32_t fd)
{
    uint32_t block[1] = {(uint32_t)fd};
    tt_semihost(TT_SYS_CLOSE, block);
}

static void fail(const char *message)
{
    tt_semihost(TT_SYS_WRITE0, message);
    tt_exit(2);
}

static int8_t input[TT_INPUT_BYTES] __attribute__((aligned(8)));

int main(void)
{
    static const char req_name[] = "requests.bin", out_name[] = "answers.bin";
    TT_LOGITS_TYPE logits[TT_NUM_CLASSES];
    int32_t header[2], count, i, status, stack, got;
    const tt_param *params;
    int32_t in, out;
    uint64_t start, spent;

    in = sh_open(req_name, sizeof req_name - 1, 1);  /* "rb" */
    out = sh_open(out_name, sizeof out_name - 1, 5); /* "wb" */
    if (in < 0 || out < 0)
        fail("tt firmware: cannot open requests.bin or answers.bin\n");
    while ((got = sh_read(in, header, sizeof header)) == (int32_t)sizeof header) {
        if (sh_read(in, input, TT_INPUT_BYTES) != TT_INPUT_BYTES)
            fail("tt firmware: truncated request\n");
        if (header[0] == 0) {
            float loss;
            start = tt_instructions();
            loss = tt_train_step(input, header[1]);
            spent = tt_instructions() - start;
            if (!sh_write(out, &loss, sizeof loss))
                fail("tt firmware: write failed\n");
        } else {
            start = tt_instructions();
            tt_predict(input, logits);
            spent = tt_instructions() - start;
            if (!sh_write(out, logits, (int32_t)sizeof logits))
                fail("tt firmware: write failed\n");
        }
        if (!sh_write(out, &spent, sizeof spent))
            fail("tt firmware: write failed\n");
    }
    if (got != 0)
        fail("tt firmware: truncated request header\n");
    params = tt_params(&count);
    for (i = 0; i < count; i++) {
        if (!sh_write(out, params[i].data, (int32_t)params[i].bytes))
            fail("tt firmware: write failed\n");
    }
    status = tt_error();
    stack = (int32_t)tt_stack_used();
    if (!sh_write(out, &status, sizeof status) || !sh_write(out, &stack, sizeof stack))
        fail("tt firmware: write failed\n");
    sh_close(out);
    sh_close(in);
    if (tt_stack_overflowed()) {
        tt_semihost(TT_SYS_WRITE0, "tt firmware: the stack reached the end of its region\n");
        return 4;
    }
    return status == 0 ? 0 : 1;
}
