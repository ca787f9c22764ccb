"""Streaming sessions with the host runner (codegen/session.py over host_main.c on pipes).

tiny_resnet (32x32 CIFAR-10 images) with the last-1 scheme: a session gives the batch run's
answers; a learning-rate change takes effect from the next step (lr 0 freezes the parameters);
PARAMS reads back what training wrote; a crash mid-session and misuse raise TinyTrainError.
"""
import numpy as np
import pytest

from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PARAMS, PREDICT, SET_LR, TRAIN, encode_request
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import to_float_input, to_int8_input
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models.tiny_resnet import build
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.schemes import resolve_scheme


@pytest.fixture(scope="module")
def images():
    pixels, labels = load_cifar10("test", per_class=1)
    return [(to_int8_input(p), int(label)) for p, label in zip(pixels[:4], labels)]


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    pixels, _ = load_cifar10("test", per_class=1)
    model, example = build()
    graph = quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)
    folder = tmp_path_factory.mktemp("tiny_resnet")
    write_project(generate(build_training(graph, resolve_scheme("last-1", graph))), folder)
    return HostProgram(folder)


def test_session_matches_batch_run(program, images):
    (x0, y0), (x1, y1), (x2, y2), (x3, _) = images
    requests = [(TRAIN, y0, x0), (TRAIN, y1, x1), (SET_LR, 0, (0.2, 0.1)), (PARAMS, 0, None), (TRAIN, y2, x2),
                (PREDICT, 0, x3)]
    answers, final, error = program.run(requests)
    with program.session() as s:
        losses = [s.train(x0, y0), s.train(x1, y1)]
        assert s.set_learning_rates(0.2, 0.1) is None
        middle = s.params()
        losses.append(s.train(x2, y2))
        logits = s.predict(x3)
        assert s.instructions is None and s.counts == []
    assert s.error == error == 0 and s.stack_bytes is None
    assert losses == [answers[0], answers[1], answers[4]] and all(np.isfinite(losses))
    assert answers[2] is None
    np.testing.assert_array_equal(logits, answers[5])
    assert logits.dtype == np.int8 and logits.shape == (10,)
    names = [p["name"] for p in program.memory["trained_params"]]
    assert list(middle) == list(final) == list(s.final_params) == names
    for name in names:
        np.testing.assert_array_equal(middle[name], answers[3][name])
        np.testing.assert_array_equal(s.final_params[name], final[name])
    assert any(not np.array_equal(middle[n], final[n]) for n in names)  # the third step trained


def test_learning_rate_change_takes_effect(program, images):
    (x0, y0), (x1, y1) = images[:2]
    with program.session() as s:
        s.train(x0, y0)
        s.set_learning_rates(0.0, 0.0)
        before = s.params()
        frozen = [s.train(x1, y1), s.train(x1, y1)]
        after = s.params()
    assert frozen[0] == frozen[1]  # nothing moves: the same sample, the same loss
    for name, value in before.items():
        np.testing.assert_array_equal(after[name], value, err_msg=name)
    with program.session() as s:  # a new session starts from the initial parameters again
        first = s.train(x0, y0)
    with program.session() as t:
        assert t.train(x0, y0) == first


def test_crash_mid_session_raises_and_reaps(program, images):
    x, y = images[0]
    with pytest.raises(TinyTrainError, match=r"host runner: the host runner ended during request 2 \(train\) "
                                             r"with status -9: killed by signal 9"):
        with program.session() as s:
            s.train(x, y)
            s.proc.kill()
            s.train(x, y)
    assert s.proc.returncode == -9


def test_misuse_is_reported(program, images):
    x, y = images[0]
    with program.session() as s:
        with pytest.raises(TinyTrainError, match="input has 48 values, the model takes 3072"):
            s.train(np.zeros(48, np.int8), y)
        s.train(x, y)  # a refused request is never sent: the session goes on
    with pytest.raises(TinyTrainError, match="the session has ended"):
        s.predict(x)
    with pytest.raises(TinyTrainError, match="unknown request kind 7"):
        encode_request(7, 0, None, program.memory, "host runner")


def test_timeout_kills_a_stuck_runner(program):
    # A request cut short leaves the runner waiting for the rest of its input: no answer comes.
    with pytest.raises(TinyTrainError, match=r"did not answer request 1 \(params\) within 0.5 s"):
        with program.session(timeout=0.5) as s:
            s.link.write(encode_request(TRAIN, 0, np.zeros(3072, np.int8), program.memory, "test")[:100], None)
            s.request(PARAMS, 0, None)
    assert s.proc.returncode == -9
