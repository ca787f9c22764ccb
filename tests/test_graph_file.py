"""The int8 layer-graph file: a quantized user model (tiny_resnet on CIFAR-10) survives the round
trip bit for bit (numpy reference on real images, and the generated C's losses), derived
constants are recomputed rather than read, the hash names exactly the int8 arithmetic, and the
calibration draw does not depend on a run's own settings."""
import copy
import json

import numpy as np
import pytest

from tvm_tinytrain import graph_file
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import TRAIN
from tvm_tinytrain.data.datasets import load_dataset
from tvm_tinytrain.errors import TinyTrainError, WeightFileError
from tvm_tinytrain.graph import Graph, Layer, QParams
from tvm_tinytrain.model_spec import load_model
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.calibration import SEED, calibration_set, check_calibration, quantize_on_data
from tvm_tinytrain.quantization.ptq import quantize
from tvm_tinytrain.quantization.requant import weight_layer_requant
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.schemes import resolve_scheme

MODEL = "tvm_tinytrain.models.tiny_resnet:build"


@pytest.fixture(scope="module")
def resnet():
    return quantize_on_data(load_model(MODEL), "cifar10", 16, log=lambda *a: None)


@pytest.fixture(scope="module")
def saved(resnet, tmp_path_factory):
    json_path, npz_path = graph_file.save(resnet, tmp_path_factory.mktemp("gf") / "net")
    return json_path, npz_path


@pytest.fixture(scope="module")
def images(resnet):
    data = load_dataset("cifar10", resnet.input_shape, train_per_class=1, test_per_class=1, progress=False)
    return data.test_x, data.test_y


def test_files_are_numpy_and_json_only(saved):
    json_path, npz_path = saved
    assert (json_path.name, npz_path.name) == ("net.json", "net.npz")
    spec = json.loads(json_path.read_text())
    assert spec["format"] == graph_file.FORMAT and spec["version"] == graph_file.VERSION
    with np.load(npz_path, allow_pickle=False) as npz:
        members = {k: npz[k].dtype.name for k in npz.files}
    assert set(members.values()) == {"int8", "int32", "float32"}  # weight, bias, w_scale: no derived constants
    text = json_path.read_text()
    assert "multiplier" not in text and '"shift"' not in text


def test_round_trip_is_bit_identical_on_real_images(resnet, saved, images):
    loaded = load_model(str(saved[0]))
    assert loaded.quantized and graph_file.quantization_hash(loaded) == graph_file.quantization_hash(resnet)
    for a, b in zip(resnet.layers, loaded.layers, strict=True):
        assert (a.name, a.op, a.inputs, tuple(a.out_shape), a.attrs, a.out_q) == \
               (b.name, b.op, b.inputs, tuple(b.out_shape), b.attrs, b.out_q)
        for key, value in a.params.items():
            assert b.params[key].dtype == value.dtype and np.array_equal(b.params[key], value), (a.name, key)
    for x in images[0]:
        np.testing.assert_array_equal(run_int8(loaded, x[None]), run_int8(resnet, x[None]))


def test_compiled_host_c_gives_the_same_losses(resnet, saved, images, tmp_path):
    losses, sources = [], []
    for i, graph in enumerate((resnet, load_model(str(saved[0])))):
        program = build_training(graph, resolve_scheme("last-1", graph, lr_weight=0.005, lr_bias=0.005))
        write_project(generate(program), tmp_path / str(i))
        answers, _, error = HostProgram(tmp_path / str(i)).run(
            [(TRAIN, int(y), x) for x, y in zip(images[0][:4], images[1][:4])])
        assert error == 0
        losses.append(answers)
        sources.append((tmp_path / str(i) / "model.c").read_bytes())
        memory = json.loads((tmp_path / str(i) / "memory.json").read_text())
        assert memory["quantization"] == graph_file.quantization_hash(resnet)
    assert losses[0] == losses[1] and np.isfinite(losses[0]).all()
    assert sources[0] == sources[1]


def test_constants_follow_the_stored_scales(resnet, saved, tmp_path):
    """The head's output scale changed in the file: the loaded multipliers are recomputed from it
    (nothing derived is read), and the file must carry the hash of that new arithmetic."""
    spec = json.loads(saved[0].read_text())
    spec["layers"][-1]["out_q"]["scale"] *= 1.5
    (tmp_path / "net.json").write_text(json.dumps(spec))
    (tmp_path / "net.npz").write_bytes(saved[1].read_bytes())
    with pytest.raises(WeightFileError, match="quantization_hash"):
        graph_file.load(tmp_path / "net.json")
    head = copy.deepcopy(resnet)
    layer = head.layer(head.output)
    layer.out_q = QParams(spec["layers"][-1]["out_q"]["scale"], layer.out_q.zero)
    layer.params.update(weight_layer_requant(head.q_of(layer.inputs[0]), layer.params["w_scale"], layer.out_q))
    spec["quantization_hash"] = graph_file.quantization_hash(head)
    (tmp_path / "net.json").write_text(json.dumps(spec))
    loaded = graph_file.load(tmp_path / "net.json").layer(head.output)
    np.testing.assert_array_equal(loaded.params["multiplier"], layer.params["multiplier"])
    assert not np.array_equal(loaded.params["multiplier"], resnet.layer(resnet.output).params["multiplier"])
    spec.pop("quantization_hash")
    (tmp_path / "net.json").write_text(json.dumps(spec))
    with pytest.raises(WeightFileError, match="quantization_hash is missing"):
        graph_file.load(tmp_path / "net.json")


def test_hash_names_the_arithmetic_not_the_name(resnet):
    base = graph_file.quantization_hash(resnet)
    renamed = Graph("other", resnet.input_shape, resnet.layers, resnet.input_q, resnet.output)
    assert graph_file.quantization_hash(renamed) == base
    head = resnet.layer(resnet.output)
    head.params["weight"][0, 0] += 1
    try:
        assert graph_file.quantization_hash(resnet) != base
    finally:
        head.params["weight"][0, 0] -= 1
    assert graph_file.quantization_hash(resnet) == base


def test_paper_backbone_round_trip(tmp_path):
    graph = load_backbone("mbv2-w0.35", num_classes=10)
    json_path, _ = graph_file.save(graph, tmp_path / "mb.json")
    assert graph_file.quantization_hash(load_model(str(json_path))) == graph_file.quantization_hash(graph)
    assert load_model(str(json_path)).name == "mbv2-w0.35"


def test_float_graph_is_refused(tmp_path):
    float_graph = Graph("f", (1, 2, 2), [Layer("flat", "flatten", ("input",), (4,))])
    with pytest.raises(TinyTrainError, match="fp32"):
        graph_file.save(float_graph, tmp_path / "f")
    with pytest.raises(TinyTrainError, match="fp32"):
        graph_file.quantization_hash(float_graph)


def test_backbone_json_is_not_taken_for_a_graph_file(tmp_path):
    assert not graph_file.is_graph_file(str(tmp_path / "missing.json"))
    (tmp_path / "b.json").write_text('{"first_conv": {}}')
    assert not graph_file.is_graph_file(str(tmp_path / "b.json"))
    (tmp_path / "g.json").write_text('{"format": "x"}')
    assert graph_file.is_graph_file(str(tmp_path / "g.json"))


def test_calibration_draw_is_fixed_and_first_n():
    shape = (3, 32, 32)
    a, qa = calibration_set("cifar10", shape, 12)
    b, _ = calibration_set("cifar10", shape, 20)
    assert len(a) == 12 and len(b) == 20
    np.testing.assert_array_equal(np.stack(a), np.stack(b[:12]))  # N samples are the first N of a larger draw
    data = load_dataset("cifar10", shape, train_per_class=2, test_per_class=1, seed=SEED, progress=False)
    np.testing.assert_array_equal(np.stack(a), np.stack([data.to_float(x) for x in data.train_x[:12]]))
    assert qa == data.input_q


@pytest.mark.parametrize("n", [0, -1, True, 2.5, 10**9])
def test_bad_calibration_counts(n):
    with pytest.raises(TinyTrainError, match="--calibration"):
        check_calibration(n)


def test_quantize_refuses_more_calibration_than_the_data_has():
    with pytest.raises(TinyTrainError, match="has only 10000 samples"):
        calibration_set("cifar10:classes=0,1", (3, 32, 32), 10**5)  # cifar10 classes 0, 1 hold 10,000


def test_quantize_from_float_graph(tmp_path):
    rng = np.random.default_rng(0)
    layers = [Layer("c", "conv2d", ("input",), (2, 2, 2), {"stride": 1, "padding": (0, 0, 0, 0), "groups": 1,
                                                           "act": "relu"},
                    {"weight": rng.standard_normal((2, 1, 3, 3)).astype(np.float32), "bias": np.zeros(2, np.float32)}),
              Layer("flat", "flatten", ("c",), (8,)),
              Layer("fc", "linear", ("flat",), (2,), {"act": None},
                    {"weight": rng.standard_normal((2, 8)).astype(np.float32), "bias": np.ones(2, np.float32)})]
    q = quantize(Graph("g", (1, 4, 4), layers), [rng.standard_normal((1, 4, 4)).astype(np.float32)
                                                 for _ in range(4)], progress=False)
    path, _ = graph_file.save(q, tmp_path / "g")
    loaded = graph_file.load(path)
    assert graph_file.quantization_hash(loaded) == graph_file.quantization_hash(q)
    x = rng.integers(-128, 128, (1, 1, 4, 4)).astype(np.int8)
    np.testing.assert_array_equal(run_int8(loaded, x), run_int8(q, x))
