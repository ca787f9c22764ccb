"""Importing channel concatenation: torch.cat / ONNX Concat along channels (axis 1, or -3 of a 4-D
tensor; of 1-D N x C x L tensors too) becomes one concat layer with torch's values, the model's own
input and one tensor twice included, whose int8 forward in TVM equals the numpy reference bit for bit
and whose training step sums the gradients of a tensor joined twice as the oracle does; a join along
H or W is reported, naming the axis, with the other problems of the model at once."""
import numpy as np
import pytest
import torch
from torch import nn

from tvm_tinytrain import _tvm
from tvm_tinytrain.errors import UnsupportedOpError
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.quantization.ptq import quantize, quantize_input
from tvm_tinytrain.reference import run_float, run_int8
from tvm_tinytrain.reference_train import TorchTrainer
from tvm_tinytrain.relax_trainer import RelaxTrainer
from tvm_tinytrain.schemes import resolve_scheme


class Dense(nn.Module):
    """DenseNet-style: the input joined to a conv of it, then a conv joined to itself twice (dim -3)."""

    def __init__(self, dim=1, one_d=False):
        super().__init__()
        conv = nn.Conv1d if one_d else nn.Conv2d
        self.dim, self.one_d = dim, one_d
        self.a = conv(3, 4, 3, padding=1)
        self.b = conv(7, 5, 1)
        self.head = nn.Linear(17, 4)

    def forward(self, x):
        y = torch.cat([x, torch.relu(self.a(x))], self.dim)
        z = torch.relu(self.b(y))
        z = torch.cat([y, z, z], 1 if self.one_d else -3)
        return self.head(z.mean(-1) if self.one_d else z.mean((2, 3)))


def _model(**kw):
    torch.manual_seed(0)
    return Dense(**kw).eval()


def _inputs(shape, n, seed=0):
    return list(np.random.default_rng(seed).normal(0, 1, (n, *shape)).astype(np.float32))


@pytest.mark.parametrize("one_d", [False, True])
def test_torch_and_onnx_give_concat_layers_with_torchs_values(one_d, tmp_path):
    model = _model(one_d=one_d)
    shape = (3, 10) if one_d else (3, 6, 6)
    x = torch.from_numpy(_inputs(shape, 1)[0][None])
    path = tmp_path / "dense.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    with torch.no_grad():
        want = model(x).numpy()[0]
    for graph in (to_graph(from_torch(model, x)), to_graph(from_onnx(path))):
        joins = [l for l in graph.layers if l.op == "concat"]
        assert [len(j.inputs) for j in joins] == [2, 3] and joins[0].inputs[0] == "input"
        assert joins[1].inputs[1] == joins[1].inputs[2]
        assert joins[1].out_shape == ((17, 1, 10) if one_d else (17, 6, 6))
        np.testing.assert_allclose(run_float(graph, x.numpy()[0].reshape(graph.input_shape)), want,
                                   atol=1e-5, rtol=1e-5)


def test_int8_forward_tvm_equals_reference_and_a_tensor_joined_twice_trains_as_the_oracle():
    model = _model()
    x = torch.from_numpy(_inputs((3, 6, 6), 1)[0][None])
    graph = quantize(to_graph(from_torch(model, x)), _inputs((3, 6, 6), 8), progress=False)
    forward = _tvm.build(to_relax(graph, outputs="all"))
    data = [(quantize_input(graph, v)[0], i % 4) for i, v in enumerate(_inputs((3, 6, 6), 3, seed=1))]
    for x_q, _ in data:
        ref = run_int8(graph, x_q, return_all=True)
        for value, layer in zip(forward(x_q[None]), graph.layers):
            np.testing.assert_array_equal(value.reshape(layer.out_shape), ref[layer.name], err_msg=layer.name)
    scheme = resolve_scheme("full", graph)
    relax_side, oracle = RelaxTrainer(build_training(graph, scheme, return_grads=True)), TorchTrainer(graph, scheme)
    for step, (x_q, label) in enumerate(data):
        loss, ref = relax_side.step(x_q, label, step), oracle.step(x_q, label, step)
        assert abs(loss - ref.loss) <= 1e-5 * abs(ref.loss) + 1e-6
        assert set(relax_side.grads) == set(ref.grads) and "a.weight" in ref.grads
        for name, grad in relax_side.grads.items():
            err = np.abs(grad - ref.grads[name]).max() / max(np.abs(ref.grads[name]).max(), 1e-30)
            assert err <= 1e-5, (name, err)
        oracle.load_params(relax_side.params)


class AlongH(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 3, padding=1)
        self.clip = nn.Hardtanh(-1.0, 1.0)
        self.head, self.head_b = nn.Linear(128, 2), nn.Linear(64, 2)

    def forward(self, x):
        y = self.a(x)
        return self.head(torch.cat([y, y], 2).flatten(1)) + self.head_b(self.clip(self.b(x)).flatten(1))


def test_a_join_along_h_is_reported_with_the_other_problems(tmp_path):
    model, x = AlongH().eval(), torch.randn(1, 3, 4, 4)
    path = tmp_path / "along_h.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=False)
    for load in (lambda: from_torch(model, x), lambda: from_onnx(path)):
        with pytest.raises(UnsupportedOpError) as err:
            to_graph(load())
        message = str(err.value)
        assert "relax.concat joins along axis 2 of a 4-D tensor (only along channels" in message, message
        assert "2 kind(s)" in message and "after layer 'b'" in message, message  # the clip (ONNX: isnan)
