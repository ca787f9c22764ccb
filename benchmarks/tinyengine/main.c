/*
 * Our harness around TinyEngine's generated training demo (built in place from
 * ../shared/peers/tinyengine by benchmarks/tinyengine_peer.py; none of its code is here).
 *
 * It is linked with our firmware's startup.c (stack painting, SysTick instruction counting under
 * QEMU -icount shift=0) and transport_semihost.c (requests.bin / answers.bin), so TinyEngine is
 * counted exactly as our firmware is.
 *
 * Requests: records [int32 kind][int32 label][int8 input, 128x128x3 HWC], written to getInput()
 *   0 TRAIN    invoke(labels), labels the one-hot float vector of `label`   -> nothing
 *   1 INFER    invoke_inf()                                                 -> int8 logits[10]
 * Every answer is followed by the uint64 instructions the call took; after the last request:
 * the int32 stack high-water mark (bytes).
 */
#include <stdint.h>

#include "genNN.h"
#include "transport.h"

#define TE_INPUT_BYTES (128 * 128 * 3)
#define TE_CLASSES 10

uint32_t tt_stack_used(void);
uint64_t tt_instructions(void);

static void fail(const char *message)
{
    tt_report(message);
    tt_exit(2, 0);
}

static void send(const void *buf, int32_t len)
{
    if (tt_link_write(buf, len) != 0)
        fail("tinyengine harness: write failed\n");
}

int main(void)
{
    static float labels[TE_CLASSES];
    int32_t header[2], stack, i;
    uint64_t start, spent;

    if (tt_link_open() != 0)
        fail("tinyengine harness: cannot open requests.bin / answers.bin\n");
    while (tt_link_read(header, sizeof header) == (int32_t)sizeof header) {
        if (header[1] < 0 || header[1] >= TE_CLASSES || (header[0] != 0 && header[0] != 1))
            fail("tinyengine harness: bad request header\n");
        if (tt_link_read(getInput(), TE_INPUT_BYTES) != TE_INPUT_BYTES)
            fail("tinyengine harness: truncated request\n");
        for (i = 0; i < TE_CLASSES; i++)
            labels[i] = i == header[1] ? 1.0f : 0.0f;
        start = tt_instructions();
        if (header[0] == 0)
            invoke(labels);
        else
            invoke_inf();
        spent = tt_instructions() - start;
        if (header[0] == 1)
            send(getOutput(), TE_CLASSES);
        send(&spent, sizeof spent);
    }
    stack = (int32_t)tt_stack_used();
    send(&stack, sizeof stack);
    tt_link_close();
    return 0;
}
