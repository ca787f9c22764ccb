"""Bad models: ONNX files, torch `module:function` models and backbone names, each a clear error
that names the operator, attribute and value, node or module, or the file."""
import re

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from bad_input_harness import Case, run_bad


def onnx_model(path="m.onnx", opset=17, node=None, extra_nodes=(), domain="", batch=1, inputs=1, **conv_attrs):
    """x (batch, 3, 8, 8) -> Conv 3x3 (conv_attrs) -> [node] -> GlobalAveragePool -> Flatten -> MatMul."""
    def setup(folder):
        rng = np.random.default_rng(0)
        x = [helper.make_tensor_value_info(f"x{i}" if i else "x", TensorProto.FLOAT, [batch, 3, 8, 8])
             for i in range(inputs)]
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
        inits = [numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "conv.weight"),
                 numpy_helper.from_array(rng.normal(size=(4, 2)).astype(np.float32), "fc.weight")]
        attrs = {"pads": [1] * 4, **conv_attrs}
        nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["c"], name="model/conv2d/Conv2D:0", **attrs)]
        last = "c"
        if node is not None:
            op, node_attrs, n_in = node
            nodes.append(helper.make_node(op, [last] + [f"k{i}" for i in range(n_in - 1)], ["a"], name="head/act_7",
                                          domain=domain, **node_attrs))
            for i in range(n_in - 1):
                inits.append(numpy_helper.from_array(np.array([-1.0, 1.0][i], np.float32), f"k{i}"))
            last = "a"
        nodes += [helper.make_node("GlobalAveragePool", [last], ["p"], name="gap"),
                  helper.make_node("Flatten", ["p"], ["f"], name="flat"),
                  helper.make_node("MatMul", ["f", "fc.weight"], ["y"], name="fc"), *extra_nodes]
        imports = [helper.make_opsetid("", opset)] if opset is not None else []
        if domain:
            imports.append(helper.make_opsetid(domain, 1))
        model = helper.make_model(helper.make_graph(nodes, "tiny", x, [y], inits), opset_imports=imports)
        (folder / path).write_bytes(model.SerializeToString())
    return setup


def truncated_onnx(folder):
    onnx_model("full.onnx")(folder)
    data = (folder / "full.onnx").read_bytes()
    (folder / "m.onnx").write_bytes(data[: len(data) // 2])


INSPECT = ["inspect", "m.onnx"]

ONNX_CASES = [
    Case("onnx-missing", INSPECT, ("m.onnx", "does not exist")),
    Case("onnx-folder", INSPECT, ("m.onnx",), setup=lambda f: (f / "m.onnx").mkdir()),
    Case("onnx-empty", INSPECT, ("invalid",), setup=lambda f: (f / "m.onnx").write_bytes(b"")),
    Case("onnx-garbage", INSPECT, ("m.onnx",), setup=lambda f: (f / "m.onnx").write_bytes(b"\x08\x07junk\xff" * 9)),
    Case("onnx-truncated", INSPECT, ("m.onnx",), setup=truncated_onnx),
    Case("onnx-opset-7", INSPECT, ("opset 7", "11..")),
    Case("onnx-opset-10", INSPECT, ("opset 10", "11..")),
    Case("onnx-opset-future", INSPECT, ("opset 99",), setup=onnx_model(opset=99)),
    Case("onnx-no-opset", INSPECT, ("opset_import",), setup=onnx_model(opset=None)),
    Case("onnx-custom-domain", INSPECT, ("head/act_7", "com.example"),
         setup=onnx_model(node=("Relu", {}, 1), domain="com.example")),
    Case("onnx-maxpool-dilation", INSPECT, ("head/act_7", "dilations=[2, 2]"),
         setup=onnx_model(node=("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2]}, 1))),
    Case("onnx-maxpool-ceil", INSPECT, ("head/act_7", "ceil_mode=1"),
         setup=onnx_model(node=("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}, 1))),
    Case("onnx-averagepool-ceil", INSPECT, ("head/act_7", "ceil_mode=1"),
         setup=onnx_model(node=("AveragePool", {"kernel_shape": [2, 3], "ceil_mode": 1}, 1))),
    Case("onnx-averagepool-pads", INSPECT, ("avg_pool2d", "padding (2, 2, 2, 2) must be smaller than the kernel"),
         setup=onnx_model(node=("AveragePool", {"kernel_shape": [2, 2], "pads": [2, 2, 2, 2]}, 1))),
    Case("onnx-maxpool-dilation", INSPECT, ("head/act_7", "dilations=[2, 2]"),
         setup=onnx_model(node=("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2]}, 1))),
    Case("onnx-clip-range", INSPECT, ("clips to [-1, 1]", "ReLU6"), setup=onnx_model(node=("Clip", {}, 3))),
    Case("onnx-batch-2", INSPECT, ("fixed input shape",), setup=onnx_model(batch=2)),
    Case("onnx-dynamic-batch", INSPECT, ("fixed input shape",), setup=onnx_model(batch="N")),
    Case("onnx-two-inputs", INSPECT, ("one image input",), setup=onnx_model(inputs=2)),
] + [Case(f"onnx-op-{op.lower()}", INSPECT, (op, "head/act_7", "supported"), setup=onnx_model(node=(op, attrs, 1)))
     for op, attrs in [("Softplus", {}), ("Selu", {}), ("ThresholdedRelu", {"alpha": 0.1}), ("Softmax", {}),
                       ("Softsign", {}), ("Elu", {}), ("Resize", {})]]  # (Sigmoid, HardSwish, ...: the lut layer)
# the opset cases share one builder; give each the model it names
for case in ONNX_CASES:
    match = re.fullmatch(r"onnx-opset-(\d+)", case.id)
    if match:
        case.setup = onnx_model(opset=int(match.group(1)))


TORCH_MODULE = '''
import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, out=10, **conv):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, **conv), nn.ReLU())
        self.fc = nn.Linear(8, out)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))

class Pooled(nn.Module):
    def __init__(self, pool, act=None):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pool = pool
        self.act = act or nn.ReLU()
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.pool(self.act(self.conv(x))).mean((2, 3)))

x = torch.zeros(1, 3, 16, 16)
'''

TORCH_FUNCTIONS = {
    "raises": ("def build():\n    raise ValueError('weights file not found')\n", ("raised ValueError", "weights file not found")),
    "exits": ("def build():\n    raise SystemExit(3)\n", ("raised SystemExit",)),
    "keyerror": ("def build():\n    return {}['x']\n", ("raised KeyError",)),
    "returns-int": ("def build():\n    return 5\n", ("must return (torch_module, example_input)", "int")),
    "returns-triple": ("def build():\n    return Net(), x, 1\n", ("must return (torch_module, example_input)",)),
    "not-a-module": ("def build():\n    return 'net', x\n", ("torch.nn.Module", "str")),
    "input-3d": ("def build():\n    return Net(), torch.zeros(3, 16, 16)\n", ("(1, C, H, W)", "(3, 16, 16)")),
    "input-batch-2": ("def build():\n    return Net(), torch.zeros(2, 3, 16, 16)\n", ("(1, C, H, W)",)),
    "head-zero-outputs": ("def build():\n    return Net(out=0), x\n", ("'fc'", "(0,)", "at least one output")),
    "conv-transposed": ("def build():\n    return Pooled(nn.ConvTranspose2d(8, 8, 3, padding=1)), x\n",
                        ("'pool'", "aten.conv_transpose2d")),
    "avgpool-ceil": ("def build():\n    return Pooled(nn.AvgPool2d(3, 2, ceil_mode=True)), x\n",
                     ("'pool'", "aten.avg_pool2d", "ceil_mode=True")),
    "avgpool-divisor": ("def build():\n    return Pooled(nn.AvgPool2d(2, divisor_override=3)), x\n",
                        ("'pool'", "divisor_override=3")),
    "conv1d-all-at-once": ("def build():\n    return nn.Sequential(nn.Conv1d(3, 8, 3, dilation=2), nn.ReLU(), "
                           "nn.MaxPool1d(3, 2, ceil_mode=True), nn.AvgPool1d(2, ceil_mode=True), nn.AdaptiveAvgPool1d(1), "
                           "nn.Flatten(), nn.Linear(8, 4)), torch.zeros(1, 3, 32)\n",
                           ("2 unsupported", "aten.max_pool1d", "aten.avg_pool1d", "ceil_mode=True")),
    "adaptive-avgpool-uneven": ("def build():\n    return Pooled(nn.AdaptiveAvgPool2d(5)), x\n",
                                ("pools a (16, 16) map to (5, 5)", "sizes dividing the input")),
    "maxpool-ceil": ("def build():\n    return Pooled(nn.MaxPool2d(3, 2, ceil_mode=True)), x\n",
                     ("'pool'", "ceil_mode=True")),
    "gelu": ("def build():\n    return Pooled(nn.Identity(), nn.GELU()), x\n", ("aten.gelu", "'act'")),
    "softplus": ("def build():\n    return Pooled(nn.Identity(), nn.Softplus()), x\n", ("aten.softplus", "'act'")),
    "shape-mismatch": ("def build():\n    return Net(), torch.zeros(1, 4, 16, 16)\n", ("torch.export",)),
}


def torch_case(key, body, expect):
    module = f"user_model_{key.replace('-', '_')}"

    def setup(folder):
        (folder / f"{module}.py").write_text(TORCH_MODULE + body)
    return Case(f"torch-{key}", ["inspect", f"{module}:build"], expect, setup=setup)


TORCH_CASES = [torch_case(k, body, expect) for k, (body, expect) in TORCH_FUNCTIONS.items()] + [
    Case("torch-import-raises", ["inspect", "user_model_import_raises:build"],
         ("importing 'user_model_import_raises'", "RuntimeError", "no GPU"),
         setup=lambda f: (f / "user_model_import_raises.py").write_text("raise RuntimeError('no GPU')\n")),
    Case("torch-syntax-error", ["inspect", "user_model_syntax:build"], ("user_model_syntax", "SyntaxError"),
         setup=lambda f: (f / "user_model_syntax.py").write_text("def build(:\n")),
    Case("torch-no-module", ["inspect", "no_such_user_module:build"], ("cannot import", "no_such_user_module")),
    Case("torch-no-function", ["inspect", "user_model_nofunc:make"], ("has no function", "'make'"),
         setup=lambda f: (f / "user_model_nofunc.py").write_text("def build():\n    pass\n")),
    Case("torch-not-callable", ["inspect", "user_model_value:build"], ("has no function", "'build'"),
         setup=lambda f: (f / "user_model_value.py").write_text("build = 5\n")),
]

NAME_CASES = [
    Case("backbone-unknown", ["inspect", "resnet50"], ("resnet50", "mbv2-w0.35")),
    Case("backbone-typo", ["inspect", "mcunet"], ("mcunet", "mcunet-5fps")),
    Case("model-empty", ["inspect", ""], ("MODEL must be",)),
    Case("model-json-missing", ["inspect", "nothere.json"], ("nothere.json", "does not exist")),
    Case("plan-num-classes-1", ["plan", "mcunet-5fps", "--scheme", "bias-only", "--num-classes", "1"],
         ("num_classes", ">= 2")),
    Case("plan-num-classes-0", ["plan", "mcunet-5fps", "--scheme", "bias-only", "--num-classes", "0"],
         ("num_classes", ">= 2")),
]


@pytest.mark.parametrize("case", ONNX_CASES + TORCH_CASES + NAME_CASES, ids=repr)
def test_bad_input(case, tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))  # the user's module sits beside them, as with PYTHONPATH=.
    run_bad(case, tmp_path, capsys, monkeypatch)
