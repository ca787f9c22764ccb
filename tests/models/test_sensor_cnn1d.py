"""The 1-D family end to end on models/sensor_cnn1d.py (Conv1d + BatchNorm1d, MaxPool1d, a depthwise
Conv1d, a padded AvgPool1d, AdaptiveAvgPool1d, BatchNorm1d after Linear) on accelerometer-like
signals: torch and ONNX import it onto the 2-D layers with H = 1 (both batch norms folded) and
compute torch's values; TVM's int8 forward equals the numpy reference bit for bit; a full training
step agrees three ways (PyTorch oracle, Relax, C on the host); QEMU's Cortex-M7 equals the host."""
import numpy as np
import pytest
import torch

from three_way import c_matches_relax, relax_matches_oracle
from tvm_tinytrain import _tvm
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.models import sensor_cnn1d
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_float, run_int8
from tvm_tinytrain.schemes import resolve_scheme
from tvm_tinytrain.targets.qemu import QemuProgram, toolchain_missing

STEPS = 3
OPS = ["conv2d", "maxpool", "conv2d", "conv2d", "avgpool", "conv2d", "avgpool", "flatten", "linear", "linear"]


def signals(n, seed=0):
    """Accelerometer-like (3, 128) windows: a per-axis sinusoid of random frequency and phase plus
    noise; the label is the dominant frequency band (6 classes)."""
    rng = np.random.default_rng(seed)
    t = np.arange(128) / 128.0
    labels = rng.integers(0, 6, n)
    freq = (labels + 1)[:, None, None] * 2.0 + rng.uniform(-0.5, 0.5, (n, 3, 1))
    x = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi, (n, 3, 1))) + 0.2 * rng.standard_normal((n, 3, 128))
    return x.astype(np.float32), labels


@pytest.fixture(scope="module")
def case():
    """(torch model, float graph, int8 graph, (int8 (3, 1, 128) input, label) samples)."""
    model, x = sensor_cnn1d.build()
    graph = to_graph(from_torch(model, x, name="sensor_cnn1d"))
    xs, labels = signals(20)
    qgraph = quantize(graph, [v[:, None, :] for v in xs[:12]], progress=False)
    samples = [(quantize_input(qgraph, v[:, None, :])[0], int(y)) for v, y in zip(xs[12:], labels[12:])]
    return model, graph, qgraph, samples


def test_torch_import_maps_1d_layers_onto_2d_with_h_1(case):
    model, graph, _, _ = case
    assert [l.op for l in graph.layers] == OPS and graph.input_shape == (3, 1, 128)
    first = graph.layers[0]
    assert first.params["weight"].shape == (16, 3, 1, 5) and first.attrs["padding"] == (0, 2, 0, 2)
    assert first.attrs["stride"] == 2 and first.out_shape == (16, 1, 64) and first.attrs["act"] == "relu"
    assert graph.layers[1].attrs == {"kernel": (1, 3), "stride": (1, 2), "padding": (0, 1, 0, 1)}
    assert graph.layers[2].attrs["groups"] == 16
    assert graph.layers[4].attrs == {"kernel": (1, 4), "stride": (1, 2), "padding": (0, 1, 0, 1),
                                     "count_include_pad": True}
    assert graph.layers[6].out_shape == (32, 1, 2)
    assert graph.layers[8].attrs["act"] == "relu"  # Linear + BatchNorm1d (folded) + ReLU
    assert not any("running" in name or "head.1" in name for name in from_torch(model, torch.zeros(1, 3, 128)).params)
    xs, _ = signals(3, seed=5)
    for v in xs:
        with torch.no_grad():
            expect = model(torch.from_numpy(v)[None]).numpy()[0]
        np.testing.assert_allclose(run_float(graph, v[:, None, :]), expect, atol=1e-4, rtol=1e-4)


def test_onnx_import_gives_the_same_graph(case, tmp_path):
    model, graph, _, _ = case
    path = tmp_path / "sensor.onnx"
    torch.onnx.export(model, (torch.zeros(1, 3, 128),), str(path), input_names=["x"], dynamo=False)
    onnx_graph = to_graph(from_onnx(path))
    assert [l.op for l in onnx_graph.layers] == OPS and onnx_graph.input_shape == (3, 1, 128)
    assert [l.out_shape for l in onnx_graph.layers] == [l.out_shape for l in graph.layers]
    v = signals(1, seed=7)[0][0]
    np.testing.assert_allclose(run_float(onnx_graph, v[:, None, :]), run_float(graph, v[:, None, :]), atol=1e-4,
                               rtol=1e-4)


def test_tvm_int8_forward_equals_the_reference(case):
    _, _, qgraph, samples = case
    built = _tvm.build(to_relax(qgraph, outputs="all"))
    for x_q, _ in samples[:4]:
        ref = run_int8(qgraph, x_q, return_all=True)
        for out, layer in zip(built(x_q[None]), qgraph.layers):
            np.testing.assert_array_equal(out.reshape(ref[layer.name].shape), ref[layer.name], err_msg=layer.name)


@pytest.fixture(scope="module")
def project(case, tmp_path_factory):
    """The generated C project of the full scheme."""
    _, _, qgraph, _ = case
    folder = tmp_path_factory.mktemp("sensor_cnn1d")
    write_project(generate(build_training(qgraph, resolve_scheme("full", qgraph))), folder)
    return folder


def test_full_training_step_relax_equals_oracle_and_c(case, project):
    _, _, qgraph, samples = case
    scheme = resolve_scheme("full", qgraph)
    relax_matches_oracle(qgraph, scheme, samples[:STEPS])
    c_matches_relax(qgraph, scheme, samples[:STEPS], project)


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_qemu_cortex_m7_equals_host(case, project):
    _, _, _, samples = case
    requests = [(TRAIN, label, x) for x, label in samples[:2]] + [(PREDICT, 0, samples[2][0])]
    host_answers, host_params, host_error = HostProgram(project).run(requests)
    with QemuProgram(project, "cortex-m7").session(timeout=120) as s:
        losses = [s.train(x, label) for x, label in samples[:2]]
        logits = s.predict(samples[2][0])
    assert host_error == 0 and s.error == 0
    assert losses == host_answers[:2] and all(np.isfinite(losses))
    np.testing.assert_array_equal(logits, host_answers[2])
    for name, value in host_params.items():
        np.testing.assert_array_equal(s.final_params[name], value, err_msg=name)
