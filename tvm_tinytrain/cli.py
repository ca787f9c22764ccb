"""`tvm-tinytrain`: the command line.

    tvm-tinytrain inspect MODEL [--json]
    tvm-tinytrain convert-weights FILE.pkl [--out DIR] [--force]

Errors the user can fix are printed as one line (no traceback) with exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys

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
