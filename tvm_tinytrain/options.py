"""Every scheme and compile option, declared once.

An `Option` holds a name's type, default, validation, help and where it appears: a key of
the scheme JSON format, an override of `resolve_scheme` / `compile`, a flag of which commands.
The JSON key check and the value checks of schemes.py, the overrides, `describe`, the CLI flags
of plan / compile / train and the option table of docs/schemes.md all read OPTIONS, so a new
option is one entry here (`python -m tvm_tinytrain.options` rewrites the docs table).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import TinyTrainError
from .scheme import Scheme

NAME_CHARS = 200  # a name is printed in messages and tables (and escaped wherever it reaches C)
RATIOS = (0, 0.125, 0.25, 0.5, 1)
RATIO_TEXT = "0, 1/8 (0.125), 1/4 (0.25), 1/2 (0.5) or 1"
LR_DOC = ("the default, which every preset takes, was tuned on the paper's backbones: on another model "
          "`train --lr auto` chooses one ([training.md](training.md#--lr-auto-a-learning-rate-for-your-model))")


@dataclass(frozen=True)
class Option:
    name: str
    default: object                  # None: no default value (the default_text says what happens)
    default_text: str                # the docs' default column
    help: str                        # one phrase: the docs' meaning column and the CLI help
    check: Callable                  # check(key, value, where) raises TinyTrainError naming key and fix
    scheme_key: bool = True          # a key of the scheme JSON format
    override: bool = False           # resolve_scheme / compile keyword (None keeps the scheme's value)
    commands: tuple[str, ...] = ()   # the commands with a --flag for it
    summary: Callable | None = None  # its part of `describe`'s first line
    doc: str = ""                    # more text for the docs table only

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _fail(key, value, where, expected):
    raise TinyTrainError(f"{where}: {key} must be {expected}, got {value!r:.80}")


def _text(key, value, where):
    if not isinstance(value, str):
        _fail(key, value, where, "a string")


def _line(key, value, where):
    _text(key, value, where)
    if not (0 < len(value) <= NAME_CHARS and value.isprintable()):
        _fail(key, value, where, f"one line of 1..{NAME_CHARS} printable characters")


def _bool(key, value, where):
    if not isinstance(value, bool):
        _fail(key, value, where, "true or false")


def _rate(key, value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        _fail(key, value, where, "a finite number >= 0")


def _momentum(key, value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        _fail(key, value, where, "a number in [0, 1) (0: plain SGD)")


LOSSES = ("cross_entropy", "mse")


def _loss(key, value, where):
    if value not in LOSSES:
        _fail(key, value, where, '"cross_entropy" (a class label per sample) or "mse" (a float target per sample)')


def _n_bias(key, value, where):
    if value != "all" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        _fail(key, value, where, 'an integer >= 0 or "all"')


def _layers(key, value, where):
    if not isinstance(value, list):
        _fail(key, value, where, "a list of layer indices (int) or layer names (str)")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise TinyTrainError(f"{where}: {key} entries are layer indices (int) or layer names (str), "
                                 f"got {item!r:.80}")


def _ratios(key, value, where):
    if not isinstance(value, list):
        _fail(key, value, where, f"a list of ratios, each {RATIO_TEXT}")
    for i, ratio in enumerate(value):
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or ratio not in RATIOS:
            raise TinyTrainError(f"{where}: weight_ratios[{i}] = {ratio!r:.40} is not an allowed ratio; "
                                 f"use {RATIO_TEXT}")


OPTIONS = (
    Option("name", None, "file stem / preset / `custom`", "the scheme's name", _line),
    Option("model", None, "none", "if given, the graph's name must be this (guards index lists against being "
                                  "used on another model)", _line),
    Option("about", None, "none", "free text, ignored", _text),
    Option("n_bias_update", 0, "0", "biases of the last n conv layers (classifier not counted); an integer "
                                    "0..#convs or `\"all\"` (every conv)", _n_bias),
    Option("bias_layers", [], "`[]`", "further layers (index or name) whose bias is updated", _layers),
    Option("weight_layers", [], "`[]`", "layers (index or name) whose weights are updated", _layers),
    Option("weight_ratios", None, "all 1", "one per weight layer: 0, 0.125, 0.25, 0.5 or 1", _ratios),
    Option("train_classifier", True, "`true`", "the output layer's whole weight and its bias are updated", _bool),
    Option("lr_weight", Scheme.lr_weight, f"{Scheme.lr_weight:g}", "SGD learning rate of weights (>= 0; train: "
           "the peak of the schedule)", _rate, override=True, commands=("plan", "compile", "train"),
           summary=lambda v: f"lr_weight {v:g}", doc=LR_DOC),
    Option("lr_bias", Scheme.lr_bias, f"{Scheme.lr_bias:g}", "SGD learning rate of biases (>= 0; train: the "
           "peak of the schedule)", _rate, override=True, commands=("plan", "compile", "train"),
           summary=lambda v: f"lr_bias {v:g}", doc=LR_DOC),
    Option("qas", Scheme.qas, "`true`", "quantization-aware scaling of the gradients", _bool, override=True,
           commands=("plan", "compile", "train"), summary=lambda v: f"QAS {'on' if v else 'off'}"),
    Option("fp32_classifier", Scheme.fp32_classifier, "`false`", "train a float32 copy of the classifier",
           _bool, override=True, commands=("plan", "compile", "train"),
           summary=lambda v: f"{'fp32' if v else 'int8'} classifier"),
    Option("momentum", Scheme.momentum, "0", "SGD momentum (v <- m v + G, the update applies v); above 0 every "
           "trained value keeps a float32 velocity in SRAM (plan reports it as optimizer state)", _momentum,
           override=True, commands=("plan", "compile", "train"),
           summary=lambda v: f"SGD momentum {v:g}" if v else ""),
    Option("float_copy", Scheme.float_copy, "`false`", "the paper's float32 copy of each trained int8 weight and "
           "int32 bias: the update moves the copy and the tensor becomes it rounded to nearest (deterministic, no "
           "stochastic rounding); 4 bytes of SRAM per trained value (plan reports it as optimizer state)", _bool,
           override=True, commands=("plan", "compile", "train"), summary=lambda v: "float32 copy" if v else ""),
    Option("loss", Scheme.loss, "`cross_entropy`", "the training loss: `cross_entropy` on class labels, or "
           "`mse`, the mean squared error of the real-valued output against a float32 target shaped like it "
           "(an autoencoder: the target is the input)", _loss, override=True, commands=("plan", "compile", "train"),
           summary=lambda v: "MSE loss" if v == "mse" else "", doc="see [training-semantics.md](training-semantics.md)"),
    Option("check", False, "`false`", "check every pipeline stage's module (Relax well-formedness, tt ops "
           "only) and name the stage that broke it", _bool, scheme_key=False, commands=("plan", "compile")),
)
BY_NAME = {o.name: o for o in OPTIONS}
KEYS = tuple(o.name for o in OPTIONS if o.scheme_key)
OVERRIDES = tuple(o.name for o in OPTIONS if o.override)
DEFAULTS = {o.name: o.default for o in OPTIONS if o.scheme_key and o.default is not None}


def check_value(key: str, value, where: str):
    """Raise a TinyTrainError naming `where`, `key` and what it must be, unless `value` fits."""
    BY_NAME[key].check(key, value, where)


def add_flags(parser: argparse.ArgumentParser, command: str):
    """The flags of `command`: an override as --x / --no-x or --x VALUE (absent: the scheme's value)."""
    for o in OPTIONS:
        if command not in o.commands:
            continue
        if not o.override:
            parser.add_argument(o.flag, action="store_true", help=o.help)
        elif isinstance(o.default, bool):
            parser.add_argument(o.flag, action=argparse.BooleanOptionalAction, default=None,
                                help=f"{o.help} (default: the scheme's)")
        elif isinstance(o.default, str):
            parser.add_argument(o.flag, default=None, help=f"{o.help} (default: the scheme's)")
        else:
            parser.add_argument(o.flag, type=float, default=None, help=f"{o.help} (default: the scheme's)")


def overrides_from(args) -> dict:
    """The overrides a command line gave (absent flags are left out)."""
    return {name: getattr(args, name) for name in OVERRIDES if getattr(args, name, None) is not None}


def summary(scheme: Scheme) -> str:
    """`describe`'s view of the overrides: 'lr_weight 0.05, lr_bias 0.05, QAS on, int8 classifier'."""
    parts = (o.summary(getattr(scheme, o.name)) for o in OPTIONS if o.summary)
    return ", ".join(part for part in parts if part)  # an empty part: the setting is off and unremarkable


TABLE_PATH = Path(__file__).resolve().parent.parent / "docs" / "schemes.md"
BEGIN = ("<!-- options table: generated by tvm_tinytrain.options.docs_table(); tests/test_options.py checks it. "
         "Edit OPTIONS, then run: python -m tvm_tinytrain.options -->")
END = "<!-- end of the options table -->"


def docs_table() -> str:
    """The option table of docs/schemes.md, from OPTIONS."""
    rows = [BEGIN, "", "| key | scheme JSON | default | flag (commands) | meaning |", "|---|---|---|---|---|"]
    for o in OPTIONS:
        flag = "" if not o.commands else (f"`{o.flag}` / `--no-{o.flag[2:]}`" if o.override and isinstance(
            o.default, bool) else f"`{o.flag}`") + f" ({', '.join(o.commands)})"
        meaning = f"{o.help}; {o.doc}" if o.doc else o.help
        rows.append(f"| `{o.name}` | {'yes' if o.scheme_key else 'no'} | {o.default_text} | {flag} | {meaning} |")
    return "\n".join(rows + ["", END])


def docs_with_table(text: str) -> str:
    """`text` (docs/schemes.md) with its generated table replaced by the current one."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise TinyTrainError(f"{TABLE_PATH}: the markers of the generated options table are missing")
    return text[:start] + docs_table() + text[end + len(END):]


if __name__ == "__main__":
    TABLE_PATH.write_text(docs_with_table(TABLE_PATH.read_text()))
