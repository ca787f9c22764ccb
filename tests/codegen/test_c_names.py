"""User strings in generated C (codegen/c_names.py): data, never code.

A scheme or model name that tries to close its comment stays inside it (the built program has
no symbol it tried to define); C string literals give back the exact UTF-8 bytes of a name;
ONNX-style layer names (slashes, colons, spaces, unicode, names that mangle alike) become
unique identifiers, and the program built from them compiles with -Werror and trains exactly
like the same graph with plain names.
"""
import copy
import dataclasses
import json
import random
import re
import subprocess

import numpy as np
import pytest

from tvm_tinytrain.codegen import c_names
from tvm_tinytrain.codegen.emit import generate, write_project
from tvm_tinytrain.codegen.host_build import CFLAGS, compile_c, kernel_sources
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.protocol import PARAMS, PREDICT, SET_LR, TRAIN
from tvm_tinytrain.graph import Graph
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.schemes import resolve_scheme

HOSTILE = ["x */ int injected = 1; /*", "line\nbreak */ int injected_nl = 2; /*", "back\\slash\\", 'q"uote"',
           "??= ??/ ??' trigraphs", "tab\tbell\a nul\0 del\x7f", "caf\u00e9 \u2603 \U0001f600", "/* nested */",
           "*/*/", "//", ""]
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _gcc(tmp_path, source: str, name: str):
    """Build and run a one-file C program with the project's warnings as errors; its stdout."""
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    exe = tmp_path / name
    subprocess.run(["gcc", *CFLAGS, str(src), "-o", str(exe)], check=True, capture_output=True, text=True)
    assert "injected" not in subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    return subprocess.run([str(exe)], capture_output=True, check=True).stdout


def test_comments_cannot_be_closed_or_opened(tmp_path):
    for text in HOSTILE:
        escaped = c_names.comment(text)
        assert "*/" not in escaped and "/*" not in escaped
        assert all(" " <= ch <= "~" for ch in escaped), escaped
    body = "\n".join(f"/* {c_names.comment(t)} */" for t in HOSTILE)
    assert _gcc(tmp_path, f"{body}\nint main(void) {{ return 0; }}\n", "comments") == b""
    assert c_names.comment("blocks.3.depthwise") == "blocks.3.depthwise"  # plain names read as before


def test_string_literals_give_back_the_exact_bytes(tmp_path):
    defs = "\n".join(f"static const char s{i}[] = {c_names.string(t)};" for i, t in enumerate(HOSTILE))
    prints = "\n".join(f"    fwrite(s{i}, 1, sizeof s{i} - 1, stdout); putchar(0xff);" for i in range(len(HOSTILE)))
    out = _gcc(tmp_path, f"#include <stdio.h>\n{defs}\nint main(void)\n{{\n{prints}\n    return 0;\n}}\n",
               "strings")
    assert out.split(b"\xff")[:-1] == [t.encode() for t in HOSTILE]  # 0xff is never in UTF-8
    assert c_names.string("first_conv.weight") == '"first_conv.weight"'


def test_symbols_are_unique_identifiers_with_plain_names_kept():
    names = ["first_conv.weight", "blocks.0.depthwise.bias", "model/conv2d/Conv2D:0", "model/conv2d/Conv2D 0",
             "a.b", "a_b", "x", "x_lead", "caf\u00e9", "caf\u00e8", "", "9lives", "w" * 300, *HOSTILE]
    symbols = c_names.Symbols("tt_p_", names, derived=("_lead", "_rest"))
    assert symbols["first_conv.weight"] == "tt_p_first_conv_weight"
    assert symbols["blocks.0.depthwise.bias"] == "tt_p_blocks_0_depthwise_bias"
    family = [symbols[n] + s for n in set(names) for s in ("", "_lead", "_rest")]
    assert len(family) == len(set(family)), "two names (or a split weight's parts) share a C symbol"
    assert all(IDENT.fullmatch(s) for s in family)
    assert max(len(s) for s in family) <= c_names.SIGNIFICANT  # long names are cut (and hashed)
    assert symbols["a.b"] != symbols["a_b"] and symbols["x"] != "tt_p_x"  # x_lead would collide with x's part
    shuffled = names[:]
    random.Random(0).shuffle(shuffled)
    again = c_names.Symbols("tt_p_", shuffled, derived=("_lead", "_rest"))
    assert all(again[n] == symbols[n] for n in names)  # deterministic: depends on the set only
    # A plain name crafted to equal another name's hashed symbol still gets a symbol of its own.
    crafted = symbols["model/conv2d/Conv2D:0"][len("tt_p_"):]
    both = c_names.Symbols("tt_p_", ["model/conv2d/Conv2D:0", crafted])
    assert both["model/conv2d/Conv2D:0"] != both[crafted]


# --------------------------------------------------------------------------------- programs
ONNX_NAMES = {
    "stem.0": "model/conv2d/Conv2D:0", "maxpool": "model/max pool", "layer1.conv1": "layer1 conv1",
    "layer1.conv2": "layer1:conv1",  # mangles like "layer1 conv1"
    "add": "add */ int injected_layer = 1; /*", "layer2.conv1": "couche_2/conv_\u00e9",
    "layer2.conv2": 'q"uote\\back??/', "layer2.downsample.0": "\u5c422.\u4e0b\u91c7\u6837",
    "add2": "add\nline", "avgpool": "avg pool", "classifier": "model/dense/MatMul:0 \u2603",
}
SCHEME = {"n_bias_update": 4, "weight_layers": [4, 5], "weight_ratios": [1, 0.5]}


@pytest.fixture(scope="module")
def graph():
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import to_float_input
    from tvm_tinytrain.frontend.to_graph import to_graph
    from tvm_tinytrain.frontend.torch import from_torch
    from tvm_tinytrain.models.tiny_resnet import build
    from tvm_tinytrain.quantization.ptq import quantize

    pixels, _ = load_cifar10("test", per_class=1)
    model, example = build()
    return quantize(to_graph(from_torch(model, example)), list(to_float_input(pixels[:8])), progress=False)


@pytest.fixture(scope="module")
def requests_():
    from tvm_tinytrain.data.cifar10 import load_cifar10
    from tvm_tinytrain.data.images import to_int8_input

    pixels, labels = load_cifar10("test", per_class=1)
    samples = [(to_int8_input(p), int(y)) for p, y in zip(pixels[:3], labels)]
    return [(TRAIN, y, x) for x, y in samples] + [(SET_LR, 0, (0.02, 0.01)), (PARAMS, 0, None),
                                                   (TRAIN, samples[0][1], samples[0][0]), (PREDICT, 0, samples[1][0])]


def _project(graph, folder, name=None):
    scheme = resolve_scheme(SCHEME, graph)
    if name is not None:
        scheme = dataclasses.replace(scheme, name=name)
    write_project(generate(build_training(graph, scheme)), folder)
    return HostProgram(folder)  # gcc -Wall -Wextra -Werror


@pytest.fixture(scope="module")
def hostile_names(graph, tmp_path_factory):
    """The plain-named graph, its model and scheme names hostile."""
    named = copy.deepcopy(graph)
    named.name = "my model */ int injected_model = 2; /*\n\\\"?"
    return _project(named, tmp_path_factory.mktemp("hostile_names"), name=HOSTILE[0])


def _symbols_of(exe) -> str:
    return subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout


def test_scheme_and_model_names_stay_in_their_comment(hostile_names, requests_):
    assert "injected" not in _symbols_of(hostile_names.exe)
    header = (hostile_names.dir / "model.h").read_text()
    first = header.splitlines()[0]
    assert first == ("/* Generated by tvm-tinytrain for my model *\\/ int injected_model = 2; /\\*\\x0a\\\\\"? with "
                     "scheme x *\\/ int injected = 1; /\\*. Do not edit. */")
    memory = json.loads((hostile_names.dir / "memory.json").read_text())
    assert memory["scheme"] == HOSTILE[0] and memory["model"].startswith("my model */")  # JSON keeps them as they are
    answers, _, error = hostile_names.run(requests_[:1])
    assert error == 0 and np.isfinite(answers[0])


def _renamed(graph: Graph, names: dict) -> Graph:
    layers = [dataclasses.replace(copy.deepcopy(layer), name=names.get(layer.name, layer.name),
                                  inputs=tuple(names.get(i, i) for i in layer.inputs)) for layer in graph.layers]
    return Graph(graph.name, graph.input_shape, layers, graph.input_q, names.get(graph.output, graph.output))


PRINT_NAMES = """#include <stdio.h>
#include "model.h"
int main(void)
{
    int32_t count, i;
    const tt_param *params = tt_params(&count);
    for (i = 0; i < count; i++)
        printf("%s%c", params[i].name, 0);
    return 0;
}
"""


def test_onnx_style_layer_names_compile_and_train_alike(graph, requests_, tmp_path):
    onnx = _project(_renamed(graph, ONNX_NAMES), tmp_path / "onnx")
    model_c = (onnx.dir / "model.c").read_text()
    assert "injected" not in _symbols_of(onnx.exe)
    assert "/* add *\\/ int injected_layer = 1; /\\*: add_s8 */" in model_c
    memory = json.loads((onnx.dir / "memory.json").read_text())
    params = [f"{layer.name}.{p}" for layer in _renamed(graph, ONNX_NAMES).layers for p in ("weight", "bias")
              if p in layer.params]
    assert sorted(set(memory["symbols"].values())) == sorted(params)  # every parameter, by its own name
    for symbol, name in memory["symbols"].items():
        assert IDENT.fullmatch(symbol) and re.search(rf"\b{symbol}\[", model_c), (symbol, name)
    assert any(s.endswith("_lead") for s in memory["symbols"])  # a split weight's parts are in the table
    conv1 = [s for s, n in memory["symbols"].items() if n.startswith(("layer1 conv1.", "layer1:conv1."))]
    assert len(conv1) == len(set(conv1)) == 4  # "layer1 conv1" / "layer1:conv1": alike once mangled, distinct
    # The read-back table's C strings are the parameters' exact names.
    printer = tmp_path / "print_names.c"
    printer.write_text(PRINT_NAMES)
    exe = compile_c([onnx.dir / "model.c", printer, *kernel_sources()], tmp_path / "print_names", ("-O0",),
                    include_dirs=(onnx.dir,))
    out = subprocess.run([str(exe)], capture_output=True, check=True).stdout
    trained = [p["name"] for p in memory["trained_params"]]
    assert out.split(b"\0")[:-1] == [n.encode() for n in trained]
    assert "model/dense/MatMul:0 \u2603.weight" in trained and 'q"uote\\back??/.weight' in trained
    # Names are names: the same graph with plain names trains exactly alike.
    answers, final, error = onnx.run(requests_)
    expected, expected_final, expected_error = _project(graph, tmp_path / "plain").run(requests_)
    assert error == expected_error == 0
    for got, want in zip(answers, expected):
        if want is None:
            assert got is None
        elif isinstance(want, dict):
            assert [np.asarray(v).tobytes() for v in got.values()] == [np.asarray(v).tobytes() for v in want.values()]
        else:
            np.testing.assert_array_equal(got, want)
    assert [v.tobytes() for v in final.values()] == [v.tobytes() for v in expected_final.values()]


def test_a_string_attribute_is_refused_not_pasted(graph, monkeypatch):
    """Only numbers are formatted into kernel calls: a string where a number belongs (from a
    crafted model file) stops the codegen with the layer and attribute named."""
    from tvm_tinytrain.codegen import emit
    from tvm_tinytrain.errors import UnsupportedOpError

    program = build_training(graph, resolve_scheme("bias-only", graph))
    real = emit.op_bindings

    def tampered(mod):
        bindings = real(mod)
        conv = next(b for b in bindings if b.op == "conv2d_s8")
        conv.attrs["stride"] = "1, 0, 0, 0, 0, 1}; int injected = 1; static int x[] = {0"
        return bindings

    monkeypatch.setattr(emit, "op_bindings", tampered)
    with pytest.raises(UnsupportedOpError, match=r"layer 'stem.0' \(conv2d_s8\): attribute 'stride' is .*not a number"):
        generate(program)
