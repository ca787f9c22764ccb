"""The calibration set of an fp32 model: chosen by the user (`--calibration N`), never by a run.

Why: `train` used to calibrate on the first samples of its own training subset, so two runs of
"the same model" with another `--seed` or `--train-per-class` trained different int8 models and a
checkpoint resumed under other scales.  Here the N samples come from the dataset's training split
with a fixed seed, whatever the run's own settings, and `quantize`, `compile --data` and `train`
all take them from `quantize_on_data`.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import TinyTrainError
from ..graph import Graph

CALIBRATION = 64     # default number of calibration samples
SEED = 20_240_611    # fixed: independent of --seed and --train-per-class
MAX_CALIBRATION = 100_000


def check_calibration(n) -> int:
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_CALIBRATION:
        raise TinyTrainError(f"--calibration {n}: give a number of calibration samples from 1 to "
                             f"{MAX_CALIBRATION:,} (default {CALIBRATION})")
    return int(n)


def known_classes(spec: str) -> int | None:
    """How many classes `spec` selects, when known without reading its samples."""
    from ..data.datasets import CLASSES, parse_spec
    from ..data.image_folder import list_image_folder

    parsed = parse_spec(spec)
    if parsed.classes is not None:
        return len(parsed.classes)
    if parsed.kind in CLASSES:
        return len(CLASSES[parsed.kind])
    if parsed.kind == "folder":
        return len(list_image_folder(parsed.path)[0])
    return None


def calibration_set(spec: str, input_shape, n: int | None = None):
    """(the first `n` float inputs of the seeded calibration draw, the data's input quantization).

    `n` None: CALIBRATION samples, or the whole training split if it is smaller; a number the
    split cannot give is an error."""
    from ..data.datasets import load_dataset

    want = check_calibration(CALIBRATION if n is None else n)
    classes = known_classes(spec)
    per_class = math.ceil(want / classes) if classes else None
    data = load_dataset(spec, input_shape, train_per_class=per_class, test_per_class=1, seed=SEED, progress=False)
    if len(data.train_x) < want and per_class is not None:  # some classes are smaller: draw from all of them
        data = load_dataset(spec, input_shape, test_per_class=1, seed=SEED, progress=False)
    if len(data.train_x) < want and n is not None:
        raise TinyTrainError(f"--calibration {n}: the training split of {spec} has only {len(data.train_x)} "
                             f"samples; give --calibration {len(data.train_x)} or fewer")
    return [data.to_float(x) for x in data.train_x[:want]], data.input_q


def quantize_on_data(graph: Graph, spec: str, n: int | None = None, log=print) -> Graph:
    """The int8 graph of fp32 `graph`, calibrated on `calibration_set(spec, ...)` and reading its
    input in the dataset's quantization."""
    from .ptq import quantize

    inputs, input_q = calibration_set(spec, graph.input_shape, n)
    log(f"{graph.name} is fp32: quantizing it to int8 on {len(inputs)} calibration samples of {spec} (a fixed "
        f"draw of its training split)")
    return quantize(graph, inputs, progress=False, input_q=input_q)


def quantize_for_shapes(graph: Graph) -> Graph:
    """An int8 graph whose values do not matter, only its shapes (memory plans, scheme search):
    fp32 `graph` calibrated on seeded random inputs, so no dataset is needed."""
    import warnings

    from .ptq import quantize

    rng = np.random.default_rng(SEED)
    with warnings.catch_warnings():  # dead channels on random inputs say nothing about the model
        warnings.filterwarnings("ignore", message=r"quantize .*: dead output channels", category=UserWarning)
        return quantize(graph, [rng.standard_normal(graph.input_shape).astype(np.float32) for _ in range(4)],
                        progress=False)
