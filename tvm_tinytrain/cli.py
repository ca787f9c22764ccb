"""`tvm-tinytrain`: the command line.

    tvm-tinytrain inspect MODEL [--json]
    tvm-tinytrain plan MODEL --scheme S [--num-classes N] [--json] [--dump DIR] [--check] [OPTIONS]
    tvm-tinytrain compile MODEL --scheme S [--target T] [--data SPEC [--calibration N]] --out DIR [--force]
                          [--check] [OPTIONS]
    tvm-tinytrain quantize MODEL --data SPEC [--calibration N] --out FILE [--force]
    tvm-tinytrain convert-weights FILE.pkl [--out DIR] [--force]
    tvm-tinytrain fetch NAME... | --list
    tvm-tinytrain train MODEL --scheme S --data SPEC --epochs N [--target T] [--out DIR] ...
    tvm-tinytrain analyze MODEL --data SPEC --out contrib.json [--layers ...] [--workers N] [--ray ADDR]
    tvm-tinytrain search MODEL --contrib contrib.json --budget 100KB --out scheme.json [--measure N]
    tvm-tinytrain doctor            (exit 0: ready for the demo; 1: prints what is missing)
    tvm-tinytrain --version

OPTIONS (plan, compile, train): --lr-weight X, --lr-bias X, --qas / --no-qas, --fp32-classifier /
--no-fp32-classifier override the scheme's values (declared in options.py).

Errors the user can fix are printed as one line (no traceback) with exit status 2. Every
--out is checked (a folder or file we can write, nothing of the user's in the way) and locked
before any work is done. Ctrl-C (SIGINT) or SIGTERM stops any running program (the host runner,
QEMU) and removes its FIFOs, prints one line saying so and exits with 128 + the signal: 130 for
SIGINT, 143 for SIGTERM.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import signal
import sys
import threading
from pathlib import Path

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
    from .codegen.input_stream import arena_report, program_input
    from .compiler import compile
    from .model_spec import load_model
    from .options import overrides_from
    from .passes.memory_analysis import format_report
    from .schemes import describe

    budget = _sram_budget(args)  # checked before any work
    graph = load_model(args.model, num_classes=args.num_classes)
    note = ""
    if not graph.quantized:
        from .quantization.calibration import quantize_for_shapes

        graph = quantize_for_shapes(graph)
        note = "fp32 model quantized with random calibration inputs (the memory plan depends on shapes only)"
    compiled = compile(graph, args.scheme, dump=args.dump, check=args.check, sram_budget=budget,
                       **overrides_from(args))
    scheme, program, memory = compiled.scheme, compiled.program, compiled.memory  # memory: the generated program's
    report = arena_report(program.memory, program_input(program.mod, program.predict)[0])  # as its arena holds it
    arenas = {k: memory[k] for k in ("arena_bytes", "train_arena_bytes", "predict_arena_bytes")}
    if args.json:
        print(json.dumps({"model": graph.name, "scheme": scheme.name, **arenas, "input": memory["input"],
                          "memory_passes": memory["memory_passes"], **report.to_json()}, indent=1))
        return
    print(describe(scheme, graph))
    if note:
        print(note)
    print(f"arena {arenas['arena_bytes']:,} B (training step {arenas['train_arena_bytes']:,} B, prediction "
          f"{arenas['predict_arena_bytes']:,} B); the sample: {memory['input']['why']}")
    print(_stem_output_line(memory))
    print(_memory_passes_line(memory))
    print(format_report(report))


def _compile(args):
    from .codegen.emit import write_project
    from .compiler import compile
    from .options import overrides_from

    budget = _sram_budget(args)  # checked before any work
    if args.target != "host":  # a board: the toolchain its fit check needs, before any work
        from .targets.fit import check_fit, require_toolchain

        require_toolchain(args.target)
    graph = _quantized_model(args.model, args.num_classes, args.data, args.calibration)
    project = compile(graph, args.scheme, check=args.check, sram_budget=budget, **overrides_from(args)).project
    fit = None
    if args.target != "host":  # linked against the board's budgets before anything is written
        try:
            fit = check_fit(project, args.target)
        except TinyTrainError as err:
            raise TinyTrainError(f"{err} Nothing was written to {args.out}.") from None
    write_project(project, args.out, force=args.force, target=args.target)
    m = project.memory
    print(f"{graph.name} / {m['scheme']} -> {args.out} (target {args.target})")
    print("  " + _stem_output_line(m))
    print("  " + _memory_passes_line(m))
    print(f"  arena {m['arena_bytes']:,} B (first fit {m['first_fit_arena_bytes']:,} B, peak live "
          f"{m['peak_live_bytes']:,} B), trained parameters in SRAM {m['updated_param_bytes']:,} B"
          f"{_state_note(m)}, "
          f"constants in flash {m['const_bytes']:,} B")
    if fit is not None:
        print(f"  fits {args.target}: firmware flash {fit['flash_bytes']:,} B of {fit['flash_budget']}, static "
              f"SRAM {fit['ram_bytes']:,} B of {fit['ram_budget']} (the rest is the stack)")
    print("  files: model.h model.c memory.json kernels/ host_main.c Makefile")


def _sram_budget(args) -> int | None:
    """--sram-budget in bytes (the device's peak); absent, the target board's SRAM less what its minimum stack (the
    link's check) needs beyond the compiler's stack reserve (None on the host)."""
    from .compiler import DEVICE_RESERVE, STACK_RESERVE
    from .targets.qemu import load_board, parse_size

    if args.sram_budget is None:
        if args.target == "host":
            return None
        board = load_board(args.target)
        return parse_size(board["ram"]["length"]) - max(0, parse_size(board.get("min_stack", "0")) - STACK_RESERVE)
    try:
        budget = parse_size(args.sram_budget)
    except TinyTrainError:
        budget = 0
    if budget <= 0:
        raise TinyTrainError(f"--sram-budget {args.sram_budget!r:.40} is not a size; give bytes, e.g. 150K or 153600")
    if budget <= DEVICE_RESERVE:
        raise TinyTrainError(f"--sram-budget {args.sram_budget!r:.40} leaves nothing for the step: "
                             f"{DEVICE_RESERVE:,} B are reserved for the stack and the firmware; give more, e.g. 150K")
    return budget


def _stem_output_line(memory: dict) -> str:
    """Whether a streamed stem's output is pulled in rows by its reader, in the step and in the prediction."""
    stem = memory["input"]["stem_output"]
    return f"the stem's output: training step {stem['train']}; prediction {stem['predict']}"


def _memory_passes_line(memory: dict) -> str:
    """Which memory passes that cost instructions the SRAM budget made the compiler apply."""
    passes, budget = memory["memory_passes"], memory["memory_passes"]["sram_budget"]
    chunked = ", ".join(passes["chunk_depthwise_grad"]) or "none"
    if passes["narrow_chunks"]:
        chunked += f" (narrowed chunks, a smaller scratch: {', '.join(passes['narrow_chunks'])})"
    static, bound = memory["arena_bytes"] + memory["updated_param_bytes"], passes["static_budget"]
    over = f", {static - bound:,} B over" if bound is not None and static > bound else ""
    reserve = passes["reserved"]
    about = "none" if budget is None else (
        f"{budget:,} B of device peak ({reserve['stack']:,} B reserved for the stack, {reserve['firmware']:,} B "
        f"for the firmware's own RAM: static SRAM up to {bound:,} B)")
    return (f"SRAM budget {about}: chunk_depthwise_grad (costs instructions) on {chunked}; static SRAM {static:,} B "
            f"(arena + trained parameters{over})")


def _quantized_model(spec, num_classes, data=None, calibration=None):
    """MODEL as int8: as loaded, or an fp32 model quantized on `calibration` samples of `data`."""
    from .data.datasets import check_spec
    from .model_spec import load_model
    from .quantization.calibration import CALIBRATION, check_calibration, known_classes, quantize_on_data

    if calibration is not None:
        check_calibration(calibration)
    if data is not None:
        check_spec(data)
        num_classes = known_classes(data) or num_classes  # a head for the data's classes
    graph = load_model(spec, num_classes=num_classes)
    if graph.quantized:
        if data is not None or calibration is not None:
            print(f"note: {spec} is already int8; --data and --calibration are not used")
        return graph
    if data is None:
        raise TinyTrainError(f"{spec} is an fp32 model: give --data SPEC to quantize it on {CALIBRATION} samples of "
                             f"that dataset, or quantize it once (`tvm-tinytrain quantize {spec} --data SPEC --out "
                             f"FILE`) and pass FILE.json as MODEL")
    return quantize_on_data(graph, data, calibration)


def _quantize_cmd(args):
    from . import graph_file
    from .data.datasets import check_spec
    from .model_spec import load_model
    from .outputs import check_out_file, output_lock
    from .quantization.calibration import SEED, check_calibration, known_classes, quantize_on_data

    if args.calibration is not None:
        check_calibration(args.calibration)
    check_spec(args.data)
    classes = known_classes(args.data)
    json_path, npz_path = graph_file.paths(args.out)
    for path in (json_path, npz_path):
        check_out_file(path, force=args.force)
    with output_lock(json_path.parent, name=f".{json_path.name}.lock"):
        graph = load_model(args.model, num_classes=classes)  # a function taking num_classes fits the data
        if graph.quantized:
            raise TinyTrainError(f"{args.model} is already an int8 model (a paper backbone or an int8 graph file): "
                                 f"pass it to the other commands as it is")
        graph = quantize_on_data(graph, args.data, args.calibration)
        graph_file.save(graph, json_path, provenance={"model": args.model, "data": args.data,
                                                     "calibration": args.calibration, "calibration_seed": SEED})
    print(f"{graph.name}: int8 layer graph of {len(graph.layers)} layers, quantization "
          f"{graph_file.quantization_hash(graph)[:16]} -> {json_path} + {npz_path.name}")


def _convert(args):
    from .convert_weights import convert_pkl

    npz, js = convert_pkl(args.file, out_dir=args.out, force=args.force)
    print(f"wrote {npz}\nwrote {js}")


def _fetch(args):
    from . import fetch

    if args.list:
        print("\n".join(fetch.listing()))
        return
    print("\n".join(fetch.report(fetch.fetch(args.names))))


def _train(args):
    from .options import overrides_from
    from .training.run import train

    overrides = {k: v for k, v in overrides_from(args).items() if k not in ("lr_weight", "lr_bias")}  # with --lr
    train(args.model, args.scheme, args.data, args.epochs, args.out, target=args.target, engine=args.engine,
          lr_weight=args.lr_weight, lr_bias=args.lr_bias, warmup_epochs=args.warmup_epochs,
          train_per_class=args.train_per_class, test_per_class=args.test_per_class, seed=args.seed,
          init=args.init, force=args.force, lr=args.lr, calibration=args.calibration, overrides=overrides)


def _analyze(args):
    from .search.contribution import RATIOS, analyze, auto_learning_rate, plan_trials
    from .training.run import learning_rates
    from .data.datasets import check_per_class, check_spec
    from .model_spec import load_model

    check_spec(args.data)  # the workers read the data: a bad --data is refused before they start
    check_per_class(args.train_per_class, args.test_per_class)
    lr, _, auto = learning_rates(args.lr, None, None)
    graph = load_model(args.model, num_classes=args.num_classes)
    n_conv = len(graph.weight_layers()) - 1
    layers = args.layers if args.layers is not None else list(range(n_conv // 2, n_conv))
    bias_ks = args.bias_depths if args.bias_depths is not None else sorted({max(1, n_conv * f // 8) for f in range(1, 9)})
    trials = plan_trials(graph, bias_ks, layers, args.ratios or RATIOS)
    config = {"model": args.model, "data": args.data, "train_per_class": args.train_per_class,
              "test_per_class": args.test_per_class, "epochs": args.epochs, "lr": lr, "seed": args.seed}
    lr_range = None
    if auto:
        config, test = auto_learning_rate(config, trials)
        lr_range = test.to_json()
        print(test.summary())
    results = analyze(config, trials, args.out, workers=args.workers, ray_address=args.ray, lr_range=lr_range)
    print(f"{len(results['runs'])} runs in {args.out}; baseline (classifier only) accuracy "
          f"{100 * results['runs']['baseline']['accuracy']:.1f}%")


def _search(args):
    from pathlib import Path

    from .model_spec import load_model
    from .schemes import save_scheme
    from .search.budget_search import search
    from .search.contribution import gains
    from .search.memory import SchemeMemory, parse_budget
    from .search.results_file import check_layers, load_results, same_model

    budget = parse_budget(args.budget)
    if args.measure is not None and args.measure < 1:
        raise TinyTrainError(f"--measure {args.measure}: give the number of candidate schemes to run, 1 or more")
    results = load_results(args.contrib)
    recorded = results["config"]["model"]
    if not same_model(recorded, args.model):
        raise TinyTrainError(f"{args.contrib} is the analysis of model {recorded!r}, not of {args.model!r}; "
                             f"search it with MODEL {recorded!r} or run analyze on {args.model!r}")
    graph = load_model(args.model, num_classes=args.num_classes)
    if not graph.quantized:  # the search needs memory figures only, which depend on shapes
        from .quantization.calibration import quantize_for_shapes

        graph = quantize_for_shapes(graph)
    check_layers(results, graph, f"contribution results {args.contrib}")
    gain_b, gain_w = gains(results)
    out = Path(args.out)
    if out.exists() and not args.force:
        raise TinyTrainError(f"{out} exists; choose another --out or pass --force")
    memory = SchemeMemory(graph, results["config"].get("scheme_options"))  # sized as the analysis trained
    if args.measure is None:
        found = search(graph, gain_b, gain_w, budget, memory, name=out.stem)
        about = f"summed gain {found['gain']:+.3f}"
    else:
        found = _measured_search(args, results, graph, gain_b, gain_w, budget, memory)
        about = (f"the best measured of {args.measure} candidates ({_measured_path(args)}): measured gain "
                 f"{found['measured_gain']:+.3f}, summed gain {found['gain']:+.3f}")
    spec = {**found["scheme"], "name": out.stem, "model": graph.name, "lr_weight": results["config"]["lr"],
            "lr_bias": results["config"]["lr"],
            "about": f"searched under {args.budget} from {args.contrib}: {about}, "
                     f"memory {found['memory']['total_bytes']:,} B"}
    save_scheme(spec, out)
    m = found["memory"]
    print(f"{out}: bias of the last {spec['n_bias_update']} convs, weights of layers {spec['weight_layers']} "
          f"(ratios {spec['weight_ratios']}); summed gain {100 * found['gain']:+.1f} points"
          + (f", measured {100 * found['measured_gain']:+.1f}" if "measured_gain" in found else "") + "; memory "
          f"{m['total_bytes']:,} B (arena {m.get('arena_bytes', 0):,} + trained parameters {m.get('param_bytes', 0):,}) "
          f"of {budget:,} B")


def _measured_search(args, results, graph, gain_b, gain_w, budget, memory) -> dict:
    """--measure N: the analysis's short run of each of the N best candidates; the best measured."""
    from .data.datasets import check_per_class, check_spec
    from .search.measured_search import candidates, measure, table

    config = results["config"]
    for key in ("data", "epochs", "seed"):  # what the runs need beside model and lr
        if key not in config:
            raise TinyTrainError(f"{args.contrib}: config has no field {key!r}, which --measure needs to run the "
                                 f"candidates as the analysis ran; give the file `analyze` wrote")
    check_spec(config["data"])  # the workers read the data: a bad spec is refused before they start
    check_per_class(config.get("train_per_class"), config.get("test_per_class"))
    found = candidates(graph, gain_b, gain_w, budget, memory, args.measure)
    search = measure(found, results, _measured_path(args), workers=args.workers)
    print(table(search))
    best = search["candidates"][search["chosen"]]
    return {"scheme": best["scheme"], "gain": best["summed_gain"], "measured_gain": best["measured_gain"],
            "memory": best["memory"]}


def _measured_path(args) -> Path:
    """Where --measure keeps its runs: --measured, or beside --out."""
    out = Path(args.out)
    return Path(args.measured) if args.measured else out.with_name(f"{out.stem}.measured.json")


def _state_note(memory: dict) -> str:
    state = memory.get("optimizer_state_bytes", 0)
    return f" (of which optimizer state {state:,} B: momentum's velocities, float copies)" if state else ""


def _doctor(args) -> int:
    from .doctor import run

    return run()


class _Version(argparse.Action):
    """--version: the versions are looked up only when asked for."""

    def __call__(self, parser, namespace, values, option_string=None):
        from .doctor import version_line

        print(version_line())
        parser.exit()


# Where generated C runs: this host, or a board under QEMU (codegen/emit.py TARGET_FLAGS, tests check
# they agree; cortex-m7-sp is the STM32F746's single-precision FPU).
TARGETS = ("host", "cortex-m7", "cortex-m7-sp", "cortex-m4", "cortex-m55")

# One working example per command, shown under its --help (tests/cli/test_help_examples.py parses
# every one through this parser and runs the cheap ones).
EXAMPLES = {
    "inspect": "tvm-tinytrain inspect mcunet-5fps",
    "plan": "tvm-tinytrain plan mcunet-5fps --scheme paper-100kb",
    "compile": "tvm-tinytrain compile mcunet-5fps --scheme paper-100kb --target cortex-m7 --out build/m7",
    "quantize": "tvm-tinytrain quantize tvm_tinytrain.models.resnet8:build --data cifar10 --out resnet8-int8",
    "convert-weights": "tvm-tinytrain convert-weights mcunet-5fps.pkl --out weights/",
    "fetch": "tvm-tinytrain fetch backbones cifar10",
    "train": "tvm-tinytrain train mcunet-5fps --scheme paper-100kb --data cifar10:classes=0,1,2 --epochs 1 "
             "--train-per-class 10 --target cortex-m7 --out runs/m7",
    "analyze": "tvm-tinytrain analyze mcunet-5fps --data cifar10 --out contrib.json",
    "search": "tvm-tinytrain search mcunet-5fps --contrib contrib.json --budget 200KB --out my-scheme.json",
    "doctor": "tvm-tinytrain doctor",
}


SRAM_BUDGET_HELP = ("the device's peak SRAM the step may take, static + stack (e.g. 150K): the stack and the "
                    "firmware's own RAM are reserved from it, and memory passes that cost instructions are applied "
                    "only where the rest needs them (default: the target board's SRAM less what its minimum stack "
                    "needs beyond that reserve; none on the host)")


def build_parser() -> argparse.ArgumentParser:
    from .model_spec import FORMS
    from .options import add_flags

    parser = argparse.ArgumentParser(prog="tvm-tinytrain", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action=_Version, nargs=0,
                        help="print the version of tvm-tinytrain, TVM, torch and Python, and exit")
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
    p.add_argument("--target", default="host", choices=TARGETS, help="the board whose SRAM is the default "
                                                                     "--sram-budget (default host: none)")
    p.add_argument("--sram-budget", default=None, help=SRAM_BUDGET_HELP)
    add_flags(p, "plan")
    p.set_defaults(run=_plan)
    p = sub.add_parser("compile", help="generate the standalone C training program")
    p.add_argument("model", help=f"MODEL: {FORMS}")
    p.add_argument("--scheme", required=True, help="a preset or a scheme .json file")
    p.add_argument("--target", default="host", choices=TARGETS)
    p.add_argument("--num-classes", type=int, default=10,
                   help="classes of a paper backbone's new head (or of a module:function taking num_classes)")
    p.add_argument("--data", default=None, help="quantize an fp32 MODEL on samples of this dataset (as for train)")
    p.add_argument("--calibration", type=int, default=None, help="calibration samples of --data (default 64)")
    p.add_argument("--out", required=True, help="output folder (must be new or empty, or use --force)")
    p.add_argument("--force", action="store_true", help="overwrite the generated files in a non-empty folder")
    p.add_argument("--sram-budget", default=None, help=SRAM_BUDGET_HELP)
    add_flags(p, "compile")
    p.set_defaults(run=_compile)
    p = sub.add_parser("quantize", help="quantize a model once to an int8 layer-graph file (FILE.json + FILE.npz) "
                                        "that every command takes as MODEL")
    p.add_argument("model", help=f"MODEL: {FORMS}")
    p.add_argument("--data", required=True, help="the dataset whose training split calibrates it (as for train)")
    p.add_argument("--calibration", type=int, default=None,
                   help="calibration samples, a fixed draw from the training split (default 64, or all of a "
                        "smaller split)")
    p.add_argument("--out", required=True, help="FILE: writes FILE.json and FILE.npz (docs/graph-file.md)")
    p.add_argument("--force", action="store_true", help="replace an existing FILE.json / FILE.npz")
    p.set_defaults(run=_quantize_cmd)
    p = sub.add_parser("convert-weights", help="convert the paper's .pkl backbone into numpy-only npz + json")
    p.add_argument("file", help="the .pkl file (read with a restricted unpickler: numpy arrays only)")
    p.add_argument("--out", default=None, help="output folder (default: beside the .pkl)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.set_defaults(run=_convert)
    p = sub.add_parser("fetch", help="download the backbones or a dataset (checked against recorded SHA-256) "
                                     "into the per-user cache")
    p.add_argument("names", nargs="*", metavar="NAME", help="backbones, cifar10, fashion-mnist, speech-commands "
                                                            "or all")
    p.add_argument("--list", action="store_true", help="each item, its size and where it is found now")
    p.set_defaults(run=_fetch)

    p = sub.add_parser("train", help="fine-tune a model on a dataset (the generated C on this host or on QEMU)")
    p.add_argument("model", help=f"MODEL: {FORMS}")
    p.add_argument("--scheme", required=True, help="a preset or a scheme .json file")
    p.add_argument("--data", required=True, help="cifar10, fashion-mnist, mnist, speech-commands, an image folder or "
                                                 "npz:FILE.npz (arrays x, y; docs/training.md)")
    p.add_argument("--calibration", type=int, default=None,
                   help="samples that quantize an fp32 MODEL, a fixed draw from the training split (default 64)")
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--target", default="host", choices=TARGETS,
                   help="where the generated C runs (a board runs under QEMU; default host)")
    p.add_argument("--engine", default="c", choices=("c", "fp32"),
                   help="c: the generated int8 program (default); fp32: the PyTorch fp32 baseline")
    p.add_argument("--lr", default=None, help="peak learning rate of weights and biases, or 'auto': a short "
                                              "learning-rate range test on the host build chooses it (the presets' "
                                              "0.05 was tuned on the paper's backbones)")
    add_flags(p, "train")  # --lr-weight, --lr-bias, --qas / --no-qas, --fp32-classifier (options.py)
    p.add_argument("--warmup-epochs", type=float, default=0.0, help="linear warm-up before the cosine decay")
    p.add_argument("--train-per-class", type=int, default=None, help="training samples per class (default all)")
    p.add_argument("--test-per-class", type=int, default=None, help="test samples per class (default all)")
    p.add_argument("--seed", type=int, default=0, help="shuffling seed")
    p.add_argument("--init", default=None, help="start from this checkpoint.npz (written by an earlier run)")
    p.add_argument("--out", default="runs/train", help="output folder: checkpoint.npz, history.json, loss.png")
    p.add_argument("--force", action="store_true", help="overwrite the outputs of an earlier run in --out")
    p.set_defaults(run=_train)

    p = sub.add_parser("analyze", help="contribution analysis: one short fine-tuning run per bias depth and "
                                       "per (layer, channel ratio)")
    p.add_argument("model", help=f"MODEL: {FORMS}")
    p.add_argument("--data", required=True, help="dataset spec, as for train")
    p.add_argument("--out", required=True, help="results JSON (resumed if it exists with the same settings)")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--layers", type=int, nargs="+", default=None, help="conv indices (default: the later half)")
    p.add_argument("--ratios", type=float, nargs="+", default=None, help="channel ratios (default 1/8 1/4 1/2 1)")
    p.add_argument("--bias-depths", type=int, nargs="+", default=None, help="values of k for the bias runs")
    p.add_argument("--train-per-class", type=int, default=20)
    p.add_argument("--test-per-class", type=int, default=20)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", default="0.01", help="learning rate of every run (default 0.01), or 'auto': one "
                                                "learning-rate range test on the host build chooses it")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--ray", default=None, help="run on a Ray cluster at this address ('local' starts one)")
    p.set_defaults(run=_analyze)

    p = sub.add_parser("search", help="choose a scheme under a memory budget from a contribution analysis")
    p.add_argument("model", help=f"MODEL the analysis was run on ({FORMS}); compared with the model "
                                 f"recorded in --contrib, which never chooses code")
    p.add_argument("--contrib", required=True, help="results JSON of `analyze`")
    p.add_argument("--budget", required=True, help="SRAM for arena + trained parameters, e.g. 100KB")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--out", required=True, help="scheme .json to write (accepted by compile and train)")
    p.add_argument("--force", action="store_true")
    p.add_argument("--measure", type=int, default=None, metavar="N",
                   help="run the N best candidate schemes of the summed-gain search as the analysis ran its runs "
                        "and choose the best measured (docs/training.md)")
    p.add_argument("--measured", default=None, metavar="FILE", help="--measure's runs, resumed if it exists "
                   "(default: beside --out, <stem>.measured.json)")
    p.add_argument("--workers", type=int, default=None, help="--measure's local worker processes (default: all cores)")
    p.set_defaults(run=_search)

    p = sub.add_parser("doctor", help="check what the demo needs: the data (where each item is found), the ARM "
                                      "toolchain, QEMU and a host C compiler; exit 1 naming what is missing")
    p.set_defaults(run=_doctor)
    for name, p in sub.choices.items():
        p.formatter_class, p.epilog = argparse.RawDescriptionHelpFormatter, f"example:\n  {EXAMPLES[name]}"
    return parser


def _claim_out(args, stack: contextlib.ExitStack):
    """Every command's output checked before any work is done, and locked while it runs (train
    checks and locks its own --out, as its API does)."""
    from .outputs import check_out_file, check_out_folder, output_lock

    if args.command == "compile":
        from .codegen.emit import check_project_folder

        check_project_folder(Path(args.out), args.force, args.target, what="--out")
        stack.enter_context(output_lock(args.out))
    elif args.command == "convert-weights":
        folder = Path(args.out) if args.out is not None else Path(args.file).parent
        check_out_folder(folder, what="--out" if args.out is not None else "output folder (beside the .pkl)")
        stack.enter_context(output_lock(folder))
    elif args.command in ("analyze", "search"):  # a file: analyze resumes an existing one
        out = check_out_file(args.out, force=args.command == "analyze" or args.force)
        stack.enter_context(output_lock(out.parent, name=f".{out.name}.lock"))
        if args.command == "search" and args.measured is not None and args.measure is None:
            raise TinyTrainError("--measured names the file of --measure's runs; give --measure N too")
        if args.command == "search" and args.measure is not None:  # its runs' file, resumed as analyze's
            measured = check_out_file(_measured_path(args), what="--measured", force=True)
            if measured.resolve() in (out.resolve(), Path(args.contrib).resolve()):
                raise TinyTrainError(f"--measured {measured} is also --out or --contrib; give the runs a file "
                                     f"of their own")
            stack.enter_context(output_lock(measured.parent, name=f".{measured.name}.lock"))
    elif args.command == "plan" and args.dump is not None:
        check_out_folder(args.dump, what="--dump")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM, raised where the program is, so every `with` cleans up on its way out."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _on_signal(signum, frame):
    for sig in (signal.SIGINT, signal.SIGTERM):  # the clean-up runs once, to its end
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


def _interruption(err: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C / SIGTERM behind `err`: itself, or one it was raised while handling (a library's
    own clean-up can fail when interrupted half-way, e.g. TVM's BlockBuilder stack check)."""
    seen = set()
    while err is not None and id(err) not in seen:
        if isinstance(err, KeyboardInterrupt):
            return err
        seen.add(id(err))
        err = err.__context__
    return None


def _interrupted_report(err: KeyboardInterrupt) -> tuple[str, int]:
    """The one line of an interrupted command and its exit status (128 + signal: 130 for Ctrl-C
    / SIGINT, 143 for SIGTERM)."""
    signum = getattr(err, "signum", signal.SIGINT)
    session = sys.modules.get("tvm_tinytrain.codegen.session")
    stopped = session.take_interrupted() if session is not None else []
    done = "; ".join(stopped) if stopped else "no program was running"
    return f"interrupted by {signal.Signals(signum).name}; {done}; nothing left running", 128 + signum


def main(argv=None) -> int:
    """Errors: `error: <message>` and status 2. Ctrl-C / SIGTERM: one line saying what was
    stopped and removed, and status 130 / 143."""
    args = build_parser().parse_args(argv)
    handlers, interrupted = {}, None
    if threading.current_thread() is threading.main_thread():
        handlers = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(_plain_warnings())
            _claim_out(args, stack)
            status = args.run(args)  # None, or a command's own status (doctor: 1 when not ready)
    except BaseException as err:
        cause = _interruption(err)
        if cause is not None:
            interrupted, cause = _interrupted_report(cause), None  # its frames may go now
        elif isinstance(err, TinyTrainError):
            print(f"error: {err}", file=sys.stderr)
            return 2
        else:
            raise
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    if interrupted is None:
        return status or 0
    _drop_interrupted_builders()
    _close_progress_bars()
    print(interrupted[0], file=sys.stderr)
    return interrupted[1]


@contextlib.contextmanager
def _plain_warnings():
    """Our warnings (dead channels, an old checkpoint) as `warning: <message>` lines, not Python's
    `file.py:71: UserWarning:` form. A library's warnings keep Python's form and filters (the
    user's -W): none is hidden here, so new noise is seen and silenced where it arises, by name
    (frontend/torch.py LEAF_SPEC_NOISE), and tests/cli/test_warnings.py catches it."""
    import warnings

    ours = _source_roots()

    def show(message, category, filename, lineno, file=None, line=None):
        if any(Path(filename).resolve().is_relative_to(root) for root in ours):
            print(f"warning: {message}", file=sys.stderr)
        else:
            sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.filterwarnings("default", module=r"tvm_tinytrain\.")
        warnings.showwarning = show
        yield


def _source_roots() -> tuple[Path, ...]:
    """The folders of our code: tvm_tinytrain, and passes/ and codegen/, which an editable install
    leaves outside it (found without importing them, which would import TVM)."""
    import importlib.util

    names = ("tvm_tinytrain.passes", "tvm_tinytrain.codegen")
    folders = [*sys.modules["tvm_tinytrain"].__path__]
    folders += [f for n in names for f in importlib.util.find_spec(n).submodule_search_locations]
    return tuple(Path(f).resolve() for f in folders)


def _drop_interrupted_builders():
    """A Relax build interrupted half-way leaves BlockBuilders with open blocks (on TVM's
    class-level stack, or in reference cycles), and TVM warns about each one as it is freed,
    at exit, after the report: free them now, quietly."""
    relax = sys.modules.get("tvm.relax")
    if relax is None:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        getattr(getattr(relax, "BlockBuilder", None), "_stack", []).clear()
        gc.collect()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _close_progress_bars():
    """Clear the progress bars an interruption left open, so the report starts its own line."""
    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())):
        bar.close()


if __name__ == "__main__":
    sys.exit(main())
