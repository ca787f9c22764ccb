/*
 * Host runner for a generated model (the `host` target): answers a stream of requests.
 *
 *   host_runner REQUESTS ANSWERS      (files, FIFOs, or "-" for stdin / stdout)
 *
 * The byte format is codegen/protocol.py's: records [int32 kind][int32 arg][payload]:
 *   0 TRAIN    arg = label, payload int8 input[TT_INPUT_BYTES]  -> float32 loss
 *              (TT_TARGET_FLOATS > 0, the MSE loss: then float32 target[TT_TARGET_FLOATS])
 *   1 PREDICT  payload int8 input[TT_INPUT_BYTES]               -> logits (TT_LOGITS_TYPE)
 *   With TT_INPUT_ROWS (model.h) the input is its rows in order, each (TT_INPUT_WIDTH, TT_INPUT_CHANNELS),
 *   read as the step asks for them (tt_train_step_rows); an MSE target then comes before the rows.
 *   2 SET_LR   payload float32 lr_weight, lr_bias               -> nothing
 *   3 PARAMS   no payload                                       -> every trained parameter
 *   4 END      no payload: the end of the requests, like end of file (a UART has none)
 * Each answer is flushed at once, so the runner can be driven through pipes. At the end of the
 * requests (END or end of file): every trained parameter (tt_params order, raw bytes), then
 * the int32 tt_error().
 * Exit status: 0 ok, 1 tt_error() != 0, 2 I/O or protocol error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

static FILE *in, *out;

static void fail(const char *message)
{
    fprintf(stderr, "host runner: %s\n", message);
    exit(2);
}

static void read_exact(void *buf, size_t n)
{
    if (fread(buf, 1, n, in) != n)
        fail("truncated request");
}

#if TT_INPUT_ROWS
/* The stem's row source: the sample's next rows, straight from the request stream. */
static void read_rows(void *ctx, int8_t *dst, int32_t first_row, int32_t n_rows)
{
    (void)ctx;
    (void)first_row;
    read_exact(dst, (size_t)n_rows * TT_INPUT_WIDTH * TT_INPUT_CHANNELS);
}
#endif

static void send(const void *buf, size_t n)
{
    if (n > 0 && fwrite(buf, 1, n, out) != n)
        fail("cannot write an answer");
}

static void send_params(void)
{
    int32_t count, i;
    const tt_param *params = tt_params(&count);
    for (i = 0; i < count; i++)
        send(params[i].data, params[i].bytes);
}

int main(int argc, char **argv)
{
#if !TT_INPUT_ROWS
    static int8_t input[TT_INPUT_BYTES];
#endif
    TT_LOGITS_TYPE logits[TT_NUM_CLASSES];
    int32_t header[2], status;
    float rates[2], loss;
    size_t got;
#if TT_TARGET_FLOATS > 0
    static float target[TT_TARGET_FLOATS];
#endif

    if (argc != 3) {
        fprintf(stderr, "usage: %s REQUESTS ANSWERS   (files, FIFOs or - for stdin/stdout)\n", argv[0]);
        return 2;
    }
    in = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
    out = strcmp(argv[2], "-") == 0 ? stdout : fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    while ((got = fread(header, 1, sizeof header, in)) == sizeof header && header[0] != 4) {
        switch (header[0]) {
        case 0:
#if TT_INPUT_ROWS && TT_TARGET_FLOATS > 0
            read_exact(target, sizeof target);
            loss = tt_train_step_rows(read_rows, NULL, target);
#elif TT_INPUT_ROWS
            loss = tt_train_step_rows(read_rows, NULL, header[1]);
#elif TT_TARGET_FLOATS > 0
            read_exact(input, TT_INPUT_BYTES);
            read_exact(target, sizeof target);
            loss = tt_train_step(input, target);
#else
            read_exact(input, TT_INPUT_BYTES);
            loss = tt_train_step(input, header[1]);
#endif
            send(&loss, sizeof loss);
            break;
        case 1:
#if TT_INPUT_ROWS
            tt_predict_rows(read_rows, NULL, logits);
#else
            read_exact(input, TT_INPUT_BYTES);
            tt_predict(input, logits);
#endif
            send(logits, sizeof logits);
            break;
        case 2:
            read_exact(rates, sizeof rates);
            tt_set_learning_rates(rates[0], rates[1]);
            break;
        case 3:
            send_params();
            break;
        default:
            fail("unknown request kind");
        }
        if (fflush(out) != 0)
            fail("cannot write an answer");
    }
    if (got != 0 && got != sizeof header)
        fail("truncated request header");
    send_params();
    status = tt_error();
    send(&status, sizeof status);
    if (fclose(out) != 0)
        fail("cannot write the answers");
    return status == 0 ? 0 : 1;
}
