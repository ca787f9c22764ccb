"""Generated C (host gcc, AddressSanitizer + UBSan) against the TVM-built Relax training step.

Three training steps on CIFAR-10 images, then a prediction: losses within 1e-5 relative,
updated parameters equal or one unit apart at rounding boundaries (counted, printed,
bounded), logits bit for bit against TVM's int8 forward with the parameters the C trained.
"""
import copy
import functools

import numpy as np
import pytest

from tvm_tinytrain import _tvm
from tvm_tinytrain.backbones import BACKBONES, load_backbone
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.data.cifar10 import load_cifar10
from tvm_tinytrain.data.images import resize_to, to_int8_input
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.quantization.lower import to_relax
from tvm_tinytrain.relax_trainer import RelaxTrainer
from tvm_tinytrain.scheme import is_state
from tvm_tinytrain.schemes import resolve_scheme

STEPS = 3


@pytest.fixture(scope="module")
def images():
    pixels, labels = load_cifar10("test", per_class=1)
    return [(to_int8_input(resize_to(p, 128)), int(label)) for p, label in zip(pixels[:STEPS + 1], labels)]


@functools.cache
def int8_forward(name):
    """TVM's int8 forward of a backbone with its parameters as inputs, and those parameters: the
    same module for every scheme, so it is built once."""
    mod, params = to_relax(load_backbone(name, num_classes=10), params_as_inputs=True)
    return _tvm.build(mod), params


def compare(name, scheme_spec, images, tmp_path, **overrides):
    graph = load_backbone(name, num_classes=10)
    program = build_training(graph, resolve_scheme(scheme_spec, graph, **overrides))
    write_project(generate(program), tmp_path)
    host = HostProgram(tmp_path, sanitize=True)
    requests = [(TRAIN, label, x) for x, label in images[:STEPS]] + [(PREDICT, 0, images[STEPS][0])]
    answers, c_params, error = host.run(requests)
    assert error == 0
    relax_side = RelaxTrainer(program)
    differ = total = 0
    for step, (x, label) in enumerate(images[:STEPS]):
        loss = relax_side.step(x, label, step)
        assert abs(answers[step] - loss) <= 1e-5 * abs(loss) + 1e-6, (step, answers[step], loss)
    entries = {e["name"]: e for e in host.memory["trained_params"]}
    for pname, value in relax_side.params.items():
        if pname not in c_params:
            continue
        if "slice" in entries[pname]:  # only the trained slice lives in SRAM: rebuild the whole weight
            k, whole = entries[pname]["slice"], value.copy()
            whole[(slice(0, k),) if entries[pname]["depthwise"] else (slice(None), slice(0, k))] = c_params[pname]
            c_params[pname] = whole
        if value.dtype == np.float32:
            assert np.abs(c_params[pname] - value).max() <= 1e-5 * max(np.abs(value).max(), 1e-30), pname
            continue
        diff = np.abs(c_params[pname].astype(np.int64) - value.astype(np.int64))
        assert diff.max() <= 1, (pname, int(diff.max()))
        differ += int(diff.sum())
        total += value.size
    print(f"\n{name} {scheme_spec}: {differ} of {total} trained values one unit apart after {STEPS} steps")
    assert differ <= max(3, total // 1000)
    # Prediction with the parameters the C trained, against TVM's int8 forward.
    forward, params = int8_forward(name)
    trained = {n: c_params.get(n, v) if c_params.get(n, v).dtype == v.dtype else v for n, v in params.items()}
    logits = forward(images[STEPS][0][None], *trained.values())
    if not program.scheme.fp32_classifier:
        np.testing.assert_array_equal(answers[STEPS], logits.reshape(-1))
    else:  # the trained float head: W x_r + B on the int8 features the forward gives
        feats = forward_features(graph, trained, images[STEPS][0])
        w, b = c_params[f"{graph.output}.weight"], c_params[f"{graph.output}.bias"]
        np.testing.assert_allclose(answers[STEPS], w @ feats + b, rtol=1e-5, atol=1e-5)
    return host


@pytest.mark.parametrize("scheme", ["paper-100kb", "last-2"])  # last-2 trains depthwise weights too
def test_mcunet(scheme, images, tmp_path):
    host = compare("mcunet-5fps", scheme, images, tmp_path)
    assert host.memory["arena_bytes"] <= host.memory["first_fit_arena_bytes"]


@pytest.mark.slow
@pytest.mark.parametrize("name, scheme", [(n, s) for n in ("mbv2-w0.35", "proxyless-w0.3")
                                          for s in ("bias-only", "last-2", "paper-100kb")]
                         + [("mcunet-5fps", "bias-only")] + [(n, "full") for n in BACKBONES])
def test_backbones_and_schemes(name, scheme, images, tmp_path):
    compare(name, scheme, images, tmp_path)


def test_split_weights_of_sliced_pointwise_and_depthwise_layers(images, tmp_path):
    """Slices of a pointwise and a depthwise conv: trained channels in SRAM, the rest const."""
    scheme = {"n_bias_update": 3, "weight_layers": ["blocks.13.depthwise", "blocks.13.pointwise1"],
              "weight_ratios": [0.5, 0.25]}
    host = compare("mcunet-5fps", scheme, images, tmp_path)
    model_c = (tmp_path / "model.c").read_text()
    assert "static const int8_t tt_p_blocks_13_depthwise_weight_rest" in model_c
    assert "static int8_t tt_p_blocks_13_pointwise1_weight_lead[13824]" in model_c  # 576 x 24
    assert "tt_conv2d_1x1_split_s8" in model_c
    entries = {e["name"]: e for e in host.memory["trained_params"]}
    assert entries["blocks.13.pointwise1.weight"]["shape"] == [576, 24, 1, 1]


def forward_features(graph, params, x):
    """Real-valued input of the classifier, from the numpy reference with the given params."""
    from tvm_tinytrain.reference import run_int8

    g = copy.deepcopy(graph)
    for layer in g.weight_layers():
        for key in ("weight", "bias"):
            value = params[f"{layer.name}.{key}"]
            if value.dtype == layer.params[key].dtype:
                layer.params[key] = value
    head = g.layer(g.output)
    q = g.q_of(head.inputs[0])
    feats = run_int8(g, x, return_all=True)[head.inputs[0]].astype(np.float32).reshape(-1)
    return np.float32(q.scale) * (feats - np.float32(q.zero))


def test_fp32_classifier_predicts_with_the_trained_float_head(images, tmp_path):
    # lr 0.005: at the scheme's 0.05 the float head's loss explodes to ~86 by step 3, where the two
    # sides (each running on its own) amplify one-ulp differences of exp/log beyond any tolerance
    compare("mcunet-5fps", "paper-100kb", images, tmp_path, fp32_classifier=True, lr_weight=0.005, lr_bias=0.005)
    assert "void tt_predict(const int8_t *input, float *logits);" in (tmp_path / "model.h").read_text()


def test_output_folder_is_not_overwritten(tmp_path):
    graph = load_backbone("mcunet-5fps", num_classes=10)
    project = generate(build_training(graph, resolve_scheme("bias-only", graph)))
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(TinyTrainError, match="--force"):
        write_project(project, tmp_path)
    write_project(project, tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "model.c").exists()


def test_momentum_state_lives_in_sram_and_is_read_back(images, tmp_path):
    """SGD with momentum: the C keeps every trained tensor's velocity in SRAM, updates it right after
    the gradient and reads it back; it equals TVM's after the steps like a trained float value."""
    host = compare("mcunet-5fps", "paper-100kb", images, tmp_path, momentum=0.9)
    entries = {e["name"]: e for e in host.memory["trained_params"]}
    states = [n for n in entries if is_state(n)]
    assert states and len(states) == len(entries) - len(states)
    assert "tt_momentum_f32" in (tmp_path / "model.c").read_text()
