/*
 * Host runner for a generated model (the `host` target): replays a file of requests.
 *
 *   host_runner REQUESTS OUTPUT
 *
 * REQUESTS: records of [int32 kind][int32 label][int8 input[TT_INPUT_BYTES]]
 *           kind 0 = training step (writes the float32 loss), 1 = predict (writes the logits:
 *           int8, or float32 with an fp32 classifier: TT_LOGITS_TYPE in model.h)
 * OUTPUT:   the answers in order, then every trained parameter (tt_params order, raw bytes),
 *           then the int32 tt_error() value.
 */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

int main(int argc, char **argv)
{
    static int8_t input[TT_INPUT_BYTES];
    TT_LOGITS_TYPE logits[TT_NUM_CLASSES];
    int32_t header[2], count, i, status;
    const tt_param *params;
    FILE *in, *out;

    if (argc != 3) {
        fprintf(stderr, "usage: %s REQUESTS OUTPUT\n", argv[0]);
        return 2;
    }
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    if (in == NULL || out == NULL) {
        fprintf(stderr, "cannot open %s or %s\n", argv[1], argv[2]);
        return 2;
    }
    while (fread(header, sizeof header, 1, in) == 1) {
        if (fread(input, 1, TT_INPUT_BYTES, in) != TT_INPUT_BYTES) {
            fprintf(stderr, "truncated request\n");
            return 2;
        }
        if (header[0] == 0) {
            float loss = tt_train_step(input, header[1]);
            fwrite(&loss, sizeof loss, 1, out);
        } else {
            tt_predict(input, logits);
            fwrite(logits, sizeof logits[0], TT_NUM_CLASSES, out);
        }
    }
    params = tt_params(&count);
    for (i = 0; i < count; i++) {
        fwrite(params[i].data, 1, params[i].bytes, out);
    }
    status = tt_error();
    fwrite(&status, sizeof status, 1, out);
    fclose(out);
    fclose(in);
    return status == 0 ? 0 : 1;
}
