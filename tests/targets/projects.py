"""Projects the target tests share: a hand-written toy "model" for the protocol and failure
paths (fast to build, with requests that fault, hang, overflow the stack or loop a known number
of times), and
tiny_resnet as a real generated project small enough for a UART."""
import json
from pathlib import Path

TOY_H = """#include <stdint.h>
#define TT_INPUT_BYTES 48
#define TT_NUM_CLASSES 2
#define TT_LOGITS_TYPE int8_t
typedef struct { const char *name; void *data; uint32_t bytes; } tt_param;
int8_t *tt_input_buffer(void);
float tt_train_step(const int8_t *input, int32_t label);
void tt_predict(const int8_t *input, int8_t *logits);
void tt_set_learning_rates(float lr_weight, float lr_bias);
int32_t tt_error(void);
const tt_param *tt_params(int32_t *count);
"""
TOY_C = """#include "model.h"
static int32_t bias[2];
static int8_t sample[48];
int8_t *tt_input_buffer(void) { return sample; }
static const tt_param table[] = {{"fc.bias", bias, sizeof bias}};
__attribute__((noinline)) static int32_t deep(int32_t n)  /* ~80 bytes of stack per level */
{
    volatile int32_t pad[16];
    pad[0] = n;
    return n == 0 ? 0 : deep(n - 1) + pad[0];
}
float tt_train_step(const int8_t *input, int32_t label)
{
    if (label == 11) return (float)deep(1 << 20);          /* stack overflow */
    if (label == 7) __asm__ volatile("udf #0");          /* fault */
    if (label == 9) for (volatile int i = 0;; i++) {}     /* hang */
    if (label == 5) { uint32_t n = 100000; __asm__ volatile("1: subs %0, %0, #1\\n\\tbne 1b" : "+r"(n) :: "cc"); }
    bias[label & 1] += input[0];
    return 0.25f * (float)label;
}
void tt_predict(const int8_t *input, int8_t *logits) { logits[0] = input[1]; logits[1] = (int8_t)bias[0]; }
void tt_set_learning_rates(float lr_weight, float lr_bias) { bias[1] = (int32_t)(lr_weight + lr_bias); }
int32_t tt_error(void) { return 0; }
const tt_param *tt_params(int32_t *count) { *count = 1; return table; }
"""


def write_toy(folder: Path) -> Path:
    (folder / "kernels").mkdir(parents=True, exist_ok=True)
    (folder / "model.h").write_text(TOY_H)
    (folder / "model.c").write_text(TOY_C)
    (folder / "memory.json").write_text(json.dumps({
        "model": "toy", "scheme": "toy", "arena_bytes": 0, "updated_param_bytes": 8, "const_bytes": 0,
        "input_shape": [3, 4, 4], "num_classes": 2,
        "trained_params": [{"name": "fc.bias", "dtype": "int32", "shape": [2]}]}))
    return folder


def tiny_resnet_graph():
    """tiny_resnet (3x32x32 input, 10 classes) calibrated on eight CIFAR-10 test images."""
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import to_float_input
    from tvm_tinytrain.frontend.to_graph import to_graph
    from tvm_tinytrain.frontend.torch import from_torch
    from tvm_tinytrain.models.tiny_resnet import build
    from tvm_tinytrain.quantization.ptq import quantize

    pixels, _ = load_cifar10("test", per_class=1)
    model, example = build()
    return quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)


def write_tiny_resnet(folder: Path) -> Path:
    """tiny_resnet_graph's project, the last-1 scheme."""
    from tvm_tinytrain.codegen.emit import generate, write_project
    from tvm_tinytrain.passes.pipeline import build_training
    from tvm_tinytrain.schemes import resolve_scheme

    graph = tiny_resnet_graph()
    write_project(generate(build_training(graph, resolve_scheme("last-1", graph))), folder)
    return folder


def cifar_images(n: int = 4):
    """(int8 3x32x32 input, label) pairs from the CIFAR-10 test set."""
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import to_int8_input

    pixels, labels = load_cifar10("test", per_class=1)
    return [(to_int8_input(p), int(label)) for p, label in zip(pixels[:n], labels)]


def qemu_processes(elf: Path) -> list[int]:
    """Processes whose command line names this firmware (QEMU left behind)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(elf).encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            pass
    return pids
