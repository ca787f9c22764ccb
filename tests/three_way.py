"""A training step computed three ways on a quantized graph: the PyTorch oracle, the TVM-built Relax
step and the generated C on the host (sanitizers on), with the tolerances every layer's tests share.

Relax against the oracle, each step from the same parameters: the loss within 1e-5 relative, every
gradient within 1e-5 of the oracle's largest, updated integers within one unit (a float product on a
rounding boundary), float values within 1e-5 of the largest.  The C against Relax over the same
steps: losses within 1e-5, trained integers within one unit and at most one in a thousand apart.
"""
from __future__ import annotations

import numpy as np

from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import TRAIN
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.relax_trainer import RelaxTrainer


def _close(value, expected, what):
    if expected.dtype == np.float32:
        err = np.abs(value - expected).max()
        assert err <= 1e-5 * max(np.abs(expected).max(), 1e-30), (what, err)
    else:
        assert np.abs(value.astype(np.int64) - expected.astype(np.int64)).max() <= 1, what


def relax_matches_oracle(graph, scheme, samples) -> list:
    """[(Relax gradients, oracle StepResult)] of each step, after checking they agree."""
    relax_side = RelaxTrainer(build_training(graph, scheme, return_grads=True))
    oracle = TorchTrainer(graph, scheme)
    steps = []
    for step, (x, label) in enumerate(samples):
        loss = relax_side.step(x, label, step)
        ref = oracle.step(x, label, step)
        assert abs(loss - ref.loss) <= 1e-5 * abs(ref.loss) + 1e-6, (step, loss, ref.loss)
        assert set(relax_side.grads) == set(ref.grads)
        for name, grad in relax_side.grads.items():
            err = np.abs(grad - ref.grads[name]).max() / max(np.abs(ref.grads[name]).max(), 1e-30)
            assert err <= 1e-5, (step, name, err)
        for name in relax_side.updated:
            _close(relax_side.params[name], ref.params[name], (step, name))
        steps.append((dict(relax_side.grads), ref))
        oracle.load_params(relax_side.params)  # start the next step from the same state
    return steps


def c_matches_relax(graph, scheme, samples, folder) -> dict:
    """The trained values the C on the host read back after `samples`, checked against Relax's.
    `folder` holds the generated project (written here unless it already has one)."""
    program = build_training(graph, scheme)
    if not (folder / "model.c").exists():
        write_project(generate(program), folder)
    answers, c_params, error = HostProgram(folder, sanitize=True).run([(TRAIN, label, x) for x, label in samples])
    assert error == 0
    relax_side = RelaxTrainer(program)
    for step, (x, label) in enumerate(samples):
        loss = relax_side.step(x, label, step)
        assert abs(answers[step] - loss) <= 1e-5 * abs(loss) + 1e-6, (step, answers[step], loss)
    differ = total = 0
    for name, value in c_params.items():
        expected = relax_side.params[name]
        # a split weight (trained leading channels in SRAM, the rest frozen in flash) reads back its lead
        expected = expected[tuple(slice(0, n) for n in value.shape)] if value.ndim == expected.ndim else expected
        _close(value, expected, name)
        if expected.dtype != np.float32:
            differ += int((value != expected).sum())
            total += value.size
    assert c_params and differ <= max(3, total // 1000), (differ, total)
    return c_params
