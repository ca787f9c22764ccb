/*
 * Firmware main for a generated model: codegen/protocol.py's request/answer stream (the same as
 * codegen/host_main.c) over the transport chosen at build time (transport.h).
 *
 * Requests: records [int32 kind][int32 arg][payload]
 *   0 TRAIN    arg = label, payload int8 input[TT_INPUT_BYTES]  -> float32 loss
 *              (TT_TARGET_FLOATS > 0, the MSE loss: then float32 target[TT_TARGET_FLOATS])
 *   1 PREDICT  payload int8 input[TT_INPUT_BYTES]               -> logits (TT_LOGITS_TYPE)
 *   With TT_INPUT_ROWS (model.h) the input is its rows in order, each (TT_INPUT_WIDTH, TT_INPUT_CHANNELS),
 *   read from the link as the stem asks for them, so no buffer of the sample's size exists; an MSE
 *   target then comes before the rows.  The instructions the link's reads take are not counted.
 *   2 SET_LR   payload float32 lr_weight, lr_bias               -> nothing
 *   3 PARAMS   no payload                                       -> every trained parameter
 *   4 END      no payload: the end of the requests, like end of file (a UART has none)
 * Every answer (SET_LR's empty one too) is followed by the uint64 count of instructions the
 * request took (SysTick, startup.c). At the end of the requests (END or end of file): every
 * trained parameter (tt_params order, raw bytes), the int32 tt_error() value, the int32 stack
 * high-water mark.
 * Exit status: 0 ok, 1 tt_error() != 0, 2 I/O or protocol error, 3 fault (startup.c),
 *              4 the stack reached the end of its region, 5 stack overflow caught by the
 *              guard (startup.c).
 */
#include <stdint.h>

#include "model.h"
#include "transport.h"

uint32_t tt_stack_used(void);
int tt_stack_overflowed(void);
uint64_t tt_instructions(void);

static void fail(const char *message)
{
    tt_report(message);
    tt_exit(2, 0);
}

static void read_exact(void *buf, int32_t len)
{
    if (tt_link_read(buf, len) != len)
        fail("tt firmware: truncated request\n");
}

#if TT_INPUT_ROWS
static uint64_t tt_link_instructions; /* spent in read_rows during the current request */

/* The stem's row source: the sample's next rows, straight from the link (a camera's DMA on a product). */
static void read_rows(void *ctx, int8_t *dst, int32_t first_row, int32_t n_rows)
{
    uint64_t start = tt_instructions();
    (void)ctx;
    (void)first_row;
    read_exact(dst, n_rows * TT_INPUT_WIDTH * TT_INPUT_CHANNELS);
    tt_link_instructions += tt_instructions() - start;
}
#endif

static void send(const void *buf, int32_t len)
{
    if (tt_link_write(buf, len) != 0)
        fail("tt firmware: write failed\n");
}

static void send_params(void)
{
    int32_t count, i;
    const tt_param *params = tt_params(&count);
    for (i = 0; i < count; i++)
        send(params[i].data, (int32_t)params[i].bytes);
}

int main(void)
{
#if !TT_INPUT_ROWS
    int8_t *input = tt_input_buffer(); /* a slot of the model's arena: the sample needs no SRAM of its own */
#endif
    TT_LOGITS_TYPE logits[TT_NUM_CLASSES];
    int32_t header[2], status, stack, got;
    float rates[2], loss;
    uint64_t start, spent;
#if TT_TARGET_FLOATS > 0
    static float target[TT_TARGET_FLOATS]; /* static: counted in the firmware's SRAM by the linker */
#endif

    if (tt_link_open() != 0)
        fail("tt firmware: cannot open the request stream (requests.bin / answers.bin)\n");
    while ((got = tt_link_read(header, sizeof header)) == (int32_t)sizeof header && header[0] != 4) {
        switch (header[0]) {
        case 0:
#if TT_INPUT_ROWS && TT_TARGET_FLOATS > 0
            read_exact(target, (int32_t)sizeof target);
            tt_link_instructions = 0;
            start = tt_instructions();
            loss = tt_train_step_rows(read_rows, 0, target);
            spent = tt_instructions() - start - tt_link_instructions;
#elif TT_INPUT_ROWS
            tt_link_instructions = 0;
            start = tt_instructions();
            loss = tt_train_step_rows(read_rows, 0, header[1]);
            spent = tt_instructions() - start - tt_link_instructions;
#elif TT_TARGET_FLOATS > 0
            read_exact(input, TT_INPUT_BYTES);
            read_exact(target, (int32_t)sizeof target);
            start = tt_instructions();
            loss = tt_train_step(input, target);
            spent = tt_instructions() - start;
#else
            read_exact(input, TT_INPUT_BYTES);
            start = tt_instructions();
            loss = tt_train_step(input, header[1]);
            spent = tt_instructions() - start;
#endif
            send(&loss, sizeof loss);
            break;
        case 1:
#if TT_INPUT_ROWS
            tt_link_instructions = 0;
            start = tt_instructions();
            tt_predict_rows(read_rows, 0, logits);
            spent = tt_instructions() - start - tt_link_instructions;
#else
            read_exact(input, TT_INPUT_BYTES);
            start = tt_instructions();
            tt_predict(input, logits);
            spent = tt_instructions() - start;
#endif
            send(logits, (int32_t)sizeof logits);
            break;
        case 2:
            read_exact(rates, sizeof rates);
            start = tt_instructions();
            tt_set_learning_rates(rates[0], rates[1]);
            spent = tt_instructions() - start;
            break;
        case 3:
            start = tt_instructions();
            send_params();
            spent = tt_instructions() - start;
            break;
        default:
            fail("tt firmware: unknown request kind\n");
        }
        send(&spent, sizeof spent);
    }
    if (got != 0 && got != (int32_t)sizeof header)
        fail("tt firmware: truncated request header\n");
    send_params();
    status = tt_error();
    stack = (int32_t)tt_stack_used();
    send(&status, sizeof status);
    send(&stack, sizeof stack);
    tt_link_close();
    if (tt_stack_overflowed()) {
        tt_report("tt firmware: the stack reached the end of its region\n");
        return 4;
    }
    return status == 0 ? 0 : 1;
}
