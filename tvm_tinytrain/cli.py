"""`tvm-tinytrain`: the command line.

    tvm-tinytrain inspect MODEL [--json]
    tvm-tinytrain plan MODEL --scheme S [--num-classes N] [--json] [--dump DIR]
    tvm-tinytrain compile MODEL --scheme S [--target T] --out DIR [--force]
    tvm-tinytrain convert-weights FILE.pkl [--out DIR] [--force]

Errors the user can fix are printed as one line (no traceback) with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from .errors import TinyTrainError


def _inspect(args):
    from .layer_table import format_table, layer_rows
    from .model_spec import load_model

    graph = load_model(args.model)
    if args.json:
        print(json.dumps({"model": graph.name, "input_shape": list(graph.input_shape),
                          "quantized": graph.quantized, "layers": layer_rows(graph)}, indent=1))
    else:
        print(format_table(graph))


def _plan(args):
    from .model_spec import load_model
    from .passes.memory_analysis import format_report
    from .passes.pipeline import build_training
    from .schemes import describe, resolve_scheme

    graph = load_model(args.model, num_classes=args.num_classes)
    note = ""
    if not graph.quantized:
        from .quantization.ptq import quantize

        rng = np.random.default_rng(0)
        graph = quantize(graph, [rng.standard_normal(graph.input_shape).astype(np.float32) for _ in range(4)],
                         progress=False)
        note = "fp32 model quantized with random calibration inputs (the memory plan depends on shapes only)"
    scheme = resolve_scheme(args.scheme, graph)
    program = build_training(graph, scheme, dump=args.dump)
    report = program.memory
    if args.json:
        print(json.dumps({"model": graph.name, "scheme": scheme.name, **report.to_json()}, indent=1))
        return
    print(describe(scheme, graph))
    if note:
        print(note)
    print(format_report(report))


def _compile(args):
    from .codegen.emit import generate, write_project
    from .passes.pipeline import build_training
    from .schemes import resolve_scheme

    graph = _quantized_model(args.model, args.num_classes)
    program = build_training(graph, resolve_scheme(args.scheme, graph))
    project = generate(program)
    write_project(project, args.out, force=args.force, target=args.target)
    m = project.memory
    print(f"{graph.name} / {m['scheme']} -> {args.out} (target {args.target})")
    print(f"  arena {m['arena_bytes']:,} B (first fit {m['first_fit_arena_bytes']:,} B, peak live "
          f"{m['peak_live_bytes']:,} B), trained parameters in SRAM {m['updated_param_bytes']:,} B, "
          f"constants in flash {m['const_bytes']:,} B")
    print(f"  files: model.h model.c memory.json kernels/ host_main.c Makefile")


def _quantized_model(spec, num_classes):
    from .model_spec import load_model

    graph = load_model(spec, num_classes=num_classes)
    if graph.quantized:
        return graph
    raise TinyTrainError(f"{spec} is an fp32 model: quantize it first (tvm_tinytrain.quantization with calibration "
                         f"images) and pass the int8 backbone .json, or use a paper backbone")


def _convert(args):
    from .convert_weights import convert_pkl

    npz, js = convert_pkl(args.file, out_dir=args.out, force=args.force)
    print(f"wrote {npz}\nwrote {js}")


def build_parser() -> argparse.ArgumentParser:
    from .model_spec import FORMS

    parser = argparse.ArgumentParser(prog="tvm-tinytrain", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("inspect", help="print the per-layer table of a model")
    p.add_argument("model", help=f"MODEL: {FORMS}")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=_inspect)
    p = sub.add_parser("plan", help="build the training graph of a scheme and print its memory")
    p.add_argument("model", help=f"MODEL: {FORMS}")
    p.add_argument("--scheme", required=True, help="a preset (bias-only, last-2, full, paper-100kb, ...) or a "
                                                   "scheme .json file")
    p.add_argument("--num-classes", type=int, default=10,
                   help="classes of the new head of a paper backbone (default 10)")
    p.add_argument("--json", action="store_true", help="machine-readable output (peak_bytes, tensors, ops)")
    p.add_argument("--dump", default=None, help="write the Relax module after every stage into this folder")
    p.set_defaults(run=_plan)
    p = sub.add_parser("compile", help="generate the standalone C training program")
    p.add_argument("model", help=f"MODEL: {FORMS}")
    p.add_argument("--scheme", required=True, help="a preset or a scheme .json file")
    p.add_argument("--target", default="host", choices=("host", "cortex-m7", "cortex-m4", "cortex-m55"))
    p.add_argument("--num-classes", type=int, default=10, help="classes of a paper backbone's new head")
    p.add_argument("--out", required=True, help="output folder (must be new or empty, or use --force)")
    p.add_argument("--force", action="store_true", help="overwrite the generated files in a non-empty folder")
    p.set_defaults(run=_compile)
    p = sub.add_parser("convert-weights", help="convert the paper's .pkl backbone into numpy-only npz + json")
    p.add_argument("file", help="the .pkl file (read with a restricted unpickler: numpy arrays only)")
    p.add_argument("--out", default=None, help="output folder (default: beside the .pkl)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(run=_convert)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except TinyTrainError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
