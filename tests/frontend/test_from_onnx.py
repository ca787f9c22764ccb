"""from_onnx: torch-exported ONNX files -> fp32 Relax in the torch frontend's form."""
import importlib

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from tvm_tinytrain import _tvm
from tvm_tinytrain.cli import main
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_float_input
from tvm_tinytrain.errors import ShapeError, TinyTrainError, UnsupportedOpError, WeightFileError
from tvm_tinytrain.frontend.onnx import from_onnx
from tvm_tinytrain.frontend.to_graph import to_graph
from tvm_tinytrain.frontend.torch import from_torch
from tvm_tinytrain.graph_file import quantization_hash
from tvm_tinytrain.passes.relax_utils import bindings_of
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.reference import run_float

from frontend_helpers import MODELS, torch_logits

@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{name: (torch model, example input, path of the dynamo-exported .onnx)}."""
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for name, (build, _) in MODELS.items():
        model, x = build()
        path = folder / f"{name}.onnx"
        torch.onnx.export(model, (x,), str(path), dynamo=True)
        out[name] = (model, x, path)
    return out


@pytest.fixture(scope="module")
def real_inputs():
    images, _ = load_cifar10("test", per_class=1)
    return {name: np.stack([to_float_input(resize_to(img, size)) for img in images[:3]])
            for name, (_, size) in MODELS.items()}


@pytest.fixture(scope="module")
def imports(exported):
    return {name: from_onnx(path) for name, (_, _, path) in exported.items()}


@pytest.fixture(scope="module", params=sorted(MODELS))
def imported(request, exported, imports):
    return request.param, exported[request.param][0], imports[request.param]


def test_relax_matches_torch_on_real_images(imported, real_inputs):
    name, model, rm = imported
    built = _tvm.build(rm.mod)
    for x in real_inputs[name]:
        x = x[None]
        ref = torch_logits(model, x)
        got = built(x, *[rm.params[p.name] for p in rm.mod["main"].params[1:]])
        assert got.shape == ref.shape == (1, 10)
        assert np.abs(got - ref).max() < 1e-4


def test_form_names_and_shapes(imported):
    name, model, rm = imported
    script = rm.mod.script()
    assert "call_tir" not in script and "batch_norm" not in script
    assert rm.name == name and rm.input_shape == MODELS[name][0]()[1].shape[1:]
    func = rm.mod["main"]
    assert sorted(p.name for p in func.params[1:]) == sorted(rm.params)
    # initializers keep the torch module paths; no importer plumbing (scalars, int shapes) left
    first = "stem.0.weight" if name == "tiny_resnet" else "first_conv.0.weight"
    assert {first, "classifier.weight", "classifier.bias"} <= set(rm.params)
    for key, value in rm.params.items():
        assert value.dtype == np.float32 and value.ndim >= 1, key
    assert len(rm.mod.get_global_vars()) == 1  # restore_onnx_ops left no PrimFunc behind
    _tvm.relax.analysis.well_formed(rm.mod)


def test_mbv2_clips_are_restored_relu6(exported, imports):
    model, rm = exported["mbv2"][0], imports["mbv2"]
    clips = [v for v in bindings_of(rm.mod["main"]).values() if _tvm.op_name(v) == "relax.clip"]
    relu6 = sum(isinstance(m, torch.nn.ReLU6) for m in model.modules())
    assert relu6 == 34 and len(clips) == relu6
    assert rm.mod.script().count("R.clip(") == relu6
    assert {(float(c.args[1].value), float(c.args[2].value)) for c in clips} == {(0.0, 6.0)}


def test_onnx_graph_equals_torch_graph(imported, real_inputs):
    """to_graph reads the ONNX import like the torch one: same layers, same float outputs.

    TVM's ONNX importer emits a conv's bias add after the parallel shortcut conv in
    TinyResNet; the bias must still be absorbed into its own conv.
    """
    name, model, rm = imported
    g_onnx = to_graph(rm)
    if name == "tiny_resnet":  # (mbv2's torch import is covered by test_to_graph; it costs 4 s)
        g_torch = to_graph(from_torch(model, MODELS[name][0]()[1]))
        assert [(l.name, l.op, l.inputs, l.attrs.get("act")) for l in g_onnx.layers] == \
               [(l.name, l.op, l.inputs, l.attrs.get("act")) for l in g_torch.layers]
        assert g_onnx.layer("layer2.conv2").attrs["act"] is None
    else:
        assert [l.conv_index for l in g_onnx.weight_layers()] == list(range(52))
        assert sum(l.attrs.get("act") == "relu6" for l in g_onnx.layers) == 34
        assert sum(l.op == "add" for l in g_onnx.layers) == 10
    for x in real_inputs[name][:2]:
        ref = torch_logits(model, x[None]).reshape(-1)
        assert np.abs(run_float(g_onnx, x) - ref).max() < 1e-4


# -- errors ------------------------------------------------------------------------------

def _conv_model(op_type=None, batch=1, node_name="act0"):
    """x (batch, 3, 8, 8) -> Conv 3x3 -> [op_type] -> y, opset 17."""
    dims = [batch, 3, 8, 8]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4, 8, 8])
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "conv.weight")
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c" if op_type else "y"], name="conv0", pads=[1] * 4)]
    if op_type:
        nodes.append(helper.make_node(op_type, ["c"], ["y"], name=node_name))
    graph = helper.make_graph(nodes, "tiny", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_hand_built_model_imports(tmp_path):
    path = tmp_path / "conv_relu.onnx"
    onnx.save(_conv_model("Relu"), str(path))
    rm = from_onnx(path)
    assert list(rm.params) == ["conv.weight"] and rm.input_shape == (3, 8, 8) and rm.name == "conv_relu"
    assert from_onnx(_conv_model("Relu")).name == "tiny"  # a ModelProto works too


def test_missing_file(tmp_path):
    with pytest.raises(WeightFileError, match="does not exist"):
        from_onnx(tmp_path / "nope.onnx")


def test_garbage_file(tmp_path):
    path = tmp_path / "garbage.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf\xff\xfe" * 10)
    with pytest.raises(WeightFileError):
        from_onnx(path)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(WeightFileError):
        from_onnx(empty)


@pytest.mark.parametrize("op_type", ["Softplus", "Softmax", "Elu"])  # (Sigmoid, HardSwish: the lut layer)
def test_unsupported_op_names_op_and_node(op_type):
    with pytest.raises(UnsupportedOpError) as err:
        from_onnx(_conv_model(op_type, node_name="head/act_7"))
    assert op_type in str(err.value) and "'head/act_7'" in str(err.value)


def test_unsupported_op_from_torch_export(tmp_path):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3)

        def forward(self, x):
            return torch.nn.functional.softplus(self.conv(x))

    path = tmp_path / "softplus.onnx"
    torch.onnx.export(Net().eval(), (torch.randn(1, 3, 8, 8),), str(path), dynamo=True)
    with pytest.raises(UnsupportedOpError, match="Softplus"):
        from_onnx(path)


@pytest.mark.parametrize("batch", ["N", 2])
def test_dynamic_or_non_unit_batch(batch):
    with pytest.raises(ShapeError, match="fixed input shape"):
        from_onnx(_conv_model("Relu", batch=batch))


def test_two_image_inputs():
    model = _conv_model("Relu")
    model.graph.input.append(helper.make_tensor_value_info("x2", TensorProto.FLOAT, [1, 3, 8, 8]))
    with pytest.raises(TinyTrainError, match="one image input"):
        from_onnx(model)


def _relu6_model(opset):
    """Conv -> BatchNormalization -> Clip(0, 6) -> GlobalAveragePool -> Flatten -> Gemm at `opset`."""
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    arrays = {"conv.weight": rng.normal(size=(4, 3, 3, 3)), "bn.scale": rng.uniform(0.5, 2, 4),
              "bn.bias": rng.normal(size=4), "bn.mean": rng.normal(size=4), "bn.var": rng.uniform(0.5, 2, 4),
              "fc.weight": rng.normal(size=(2, 4)), "fc.bias": rng.normal(size=2), "lo": np.array(0.0),
              "hi": np.array(6.0)}
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in arrays.items()]
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="conv", pads=[1] * 4),
             helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["b"]),
             helper.make_node("Clip", ["b", "lo", "hi"], ["r"]),
             helper.make_node("GlobalAveragePool", ["r"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "relu6", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def test_every_supported_opset_imports_the_same_graph():
    """11 (Clip's range became inputs) up to the onnx package's newest opset; outside that range the
    importer refuses (below 11 TVM lowers Clip to TIR that cannot be trained)."""
    from tvm_tinytrain.frontend.onnx import MIN_OPSET
    from tvm_tinytrain.frontend.to_graph import to_graph
    from tvm_tinytrain.reference import run_float

    x = np.random.default_rng(1).normal(size=(3, 8, 8)).astype(np.float32)
    outputs = []
    for opset in sorted({MIN_OPSET, 13, 17, 21, onnx.defs.onnx_opset_version()}):
        graph = to_graph(from_onnx(_relu6_model(opset)))
        assert [(l.op, l.attrs.get("act")) for l in graph.layers] == \
               [("conv2d", "relu6"), ("avgpool", None), ("flatten", None), ("linear", None)]
        outputs.append(run_float(graph, x))
    assert all(np.array_equal(outputs[0], out) for out in outputs[1:])
    for opset in (MIN_OPSET - 1, onnx.defs.onnx_opset_version() + 1):
        with pytest.raises(UnsupportedOpError, match=f"opset {opset}"):
            from_onnx(_relu6_model(opset))


def test_every_unsupported_node_is_reported_at_once():
    model = _conv_model("Softplus", node_name="gate")
    extra = [helper.make_node("Elu", ["y"], ["z"], name="act"),
             helper.make_node("MaxPool", ["x"], ["d"], name="dilated", kernel_shape=[2, 2], dilations=[2, 2]),
             helper.make_node("Relu", ["z"], ["r"], name="custom", domain="com.example")]
    model.graph.node.extend(extra)
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(UnsupportedOpError) as err:
        from_onnx(model)
    text = str(err.value)
    assert text.startswith("from_onnx: 4 unsupported")
    for fragment in ("Softplus is not supported: node 'gate'", "Elu is not supported: node 'act'",
                     "dilations=[2, 2]", "node 'dilated'", "domain 'com.example'", "node 'custom'"):
        assert fragment in text


# -- Unsqueeze / Squeeze: the H axis of a 1-D tensor ----------------------------------------

@pytest.mark.filterwarnings("ignore:.*dead output channels")  # random weights: the same warning for both imports
@pytest.mark.parametrize("name", ["sensor_cnn1d", "temporal_cnn"])
def test_dynamo_export_of_the_1d_models_gives_the_torch_int8_graph(name, tmp_path):
    """torch's default (dynamo) exporter writes sensor_cnn1d's AdaptiveAvgPool1d as Unsqueeze -> AveragePool
    -> Squeeze; its import is the torch import's layer graph, to the same int8 graph (quantization hash)."""
    module = importlib.import_module(f"tvm_tinytrain.models.{name}")
    model, x = module.build()
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ("Unsqueeze" in ops and "Squeeze" in ops) == (name == "sensor_cnn1d")
    from_torch_graph, from_onnx_graph = to_graph(from_torch(model, x, name=name)), to_graph(from_onnx(path, name=name))
    assert [(l.name, l.op, l.inputs, l.attrs, l.out_shape) for l in from_onnx_graph.layers] == \
           [(l.name, l.op, l.inputs, l.attrs, l.out_shape) for l in from_torch_graph.layers]
    calibration = np.random.default_rng(0).normal(0, 1, (8, *module.INPUT_SHAPE)).astype(np.float32)
    calibration = calibration.reshape(8, *from_torch_graph.input_shape)
    hashes = {quantization_hash(quantize(g, calibration, progress=False)) for g in (from_torch_graph, from_onnx_graph)}
    assert len(hashes) == 1


def _signal_model(nodes, y_shape, inits=(), opset=17):
    """x (1, 3, 8) -> Conv of kernel 3 -> c (1, 4, 8) -> nodes -> y of `y_shape`."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3)).astype(np.float32), "conv.weight")
    conv = helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="conv0", pads=[1, 1])
    graph = helper.make_graph([conv, *nodes], "signal", [x], [y], [w, *inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    return model


def _axes(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def _height_pool(opset):
    """c -> Unsqueeze(-2) -> MaxPool (1, 2) -> Squeeze(-2) -> y (1, 4, 4): axes as an input from opset 13, an
    attribute before."""
    if opset >= 13:
        up = helper.make_node("Unsqueeze", ["c", "h"], ["u"], name="up")
        down = helper.make_node("Squeeze", ["p", "h"], ["y"], name="down")
        inits = [_axes("h", [-2])]
    else:
        up = helper.make_node("Unsqueeze", ["c"], ["u"], name="up", axes=[-2])
        down = helper.make_node("Squeeze", ["p"], ["y"], name="down", axes=[-2])
        inits = []
    pool = helper.make_node("MaxPool", ["u"], ["p"], name="pool", kernel_shape=[1, 2], strides=[1, 2])
    return _signal_model([up, pool, down], [1, 4, 4], inits, opset)


@pytest.mark.parametrize("opset", [11, 17])
def test_unsqueeze_pool_squeeze_of_the_height_axis_is_a_1d_pool(opset):
    graph = to_graph(from_onnx(_height_pool(opset)))
    assert [(l.op, l.out_shape) for l in graph.layers] == [("conv2d", (4, 1, 8)), ("maxpool", (4, 1, 4))]
    assert graph.layers[1].attrs == {"kernel": (1, 2), "stride": (1, 2), "padding": (0, 0, 0, 0)}


REFUSED = {  # node name: (nodes, y shape, initializers, what the message says)
    "up_w": ([helper.make_node("Unsqueeze", ["c", "a3"], ["y"], name="up_w")], [1, 4, 8, 1], [_axes("a3", [3])],
             "Unsqueeze with axes=[3] on an input of shape [1, 4, 8]"),
    "up_twice": ([helper.make_node("Unsqueeze", ["c", "a2"], ["u"], name="up"),
                  helper.make_node("Unsqueeze", ["u", "a2"], ["y"], name="up_twice")], [1, 4, 1, 1, 8],
                 [_axes("a2", [2])], "Unsqueeze with axes=[2] on an input of shape [1, 4, 1, 8]"),
    "drop_batch": ([helper.make_node("Unsqueeze", ["c", "a2"], ["u"], name="up"),
                    helper.make_node("Squeeze", ["u", "a0"], ["y"], name="drop_batch")], [4, 1, 8],
                   [_axes("a2", [2]), _axes("a0", [0])], "Squeeze with axes=[0] on an input of shape [1, 4, 1, 8]"),
    "every_axis": ([helper.make_node("Unsqueeze", ["c", "a2"], ["u"], name="up"),
                    helper.make_node("Squeeze", ["u"], ["y"], name="every_axis")], [4, 8], [_axes("a2", [2])],
                   "Squeeze with no axes"),
}


def test_axes_computed_by_other_nodes_are_left_to_what_the_importer_makes_of_them():
    """Axes through an Identity: TVM folds them and to_graph sees the H axis, or refuses another axis."""
    nodes = [helper.make_node("Identity", ["axes"], ["k"], name="copy"),
             helper.make_node("Unsqueeze", ["c", "k"], ["y"], name="computed")]
    graph = to_graph(from_onnx(_signal_model(nodes, [1, 4, 1, 8], [_axes("axes", [2])])))
    assert [(l.op, l.out_shape) for l in graph.layers] == [("conv2d", (4, 1, 8))]
    with pytest.raises(UnsupportedOpError, match="relax.expand_dims is not supported"):
        to_graph(from_onnx(_signal_model(nodes, [1, 4, 8, 1], [_axes("axes", [3])])))


@pytest.mark.parametrize("node", sorted(REFUSED))
def test_any_other_unsqueeze_or_squeeze_is_refused_naming_the_node(node, tmp_path, capsys):
    nodes, y_shape, inits, message = REFUSED[node]
    path = tmp_path / "model.onnx"
    onnx.save(_signal_model(nodes, y_shape, inits), str(path))
    assert main(["inspect", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{message} (supported: Unsqueeze / Squeeze of axis 2 or -2" in err and f"node {node!r}" in err
    assert "Traceback" not in err
