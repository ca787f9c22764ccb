"""The README's main job: `./dev demo`.

Imports one of the paper's int8 backbones, prints its layer table, builds the int8
Relax graph with TVM for the host, classifies the 20 ImageNet sample images, and checks
every logit against the independent numpy reference.  (Later stages of the project turn
this into the Cortex-M7 training demo on QEMU.)
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from .backbones import BACKBONES, load_backbone
from .errors import TinyTrainError
from .layer_table import format_table


def run(model: str) -> int:
    from . import _tvm
    from .data.images import center_crop_resize, to_int8_input
    from .data.samples import load_samples
    from .quantization.lower import to_relax
    from .reference import run_int8

    graph = load_backbone(model)
    print(format_table(graph), "\n")
    start = time.time()
    forward = _tvm.build(to_relax(graph))
    print(f"built the int8 Relax graph for llvm in {time.time() - start:.1f} s")
    top1 = top5 = mismatches = 0
    samples = load_samples("imagenet")
    for image, label in samples:
        x = to_int8_input(center_crop_resize(image))[None]
        logits = forward(x)[0]
        mismatches += not np.array_equal(logits, run_int8(graph, x))
        ranking = np.argsort(-logits.astype(np.int32), kind="stable")
        top1 += ranking[0] == label
        top5 += label in ranking[:5]
    print(f"{model} on {len(samples)} ImageNet samples: top-1 {top1}/{len(samples)}, top-5 {top5}/{len(samples)}; "
          f"TVM int8 logits equal the numpy reference on {len(samples) - mismatches}/{len(samples)} images")
    return 0 if mismatches == 0 else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tvm_tinytrain.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="mbv2-w0.35", choices=BACKBONES)
    args = parser.parse_args(argv)
    try:
        return run(args.model)
    except TinyTrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
