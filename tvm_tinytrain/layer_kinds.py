"""The layer-graph ops (graph.py) as records: what each supports and the tt ops it becomes.

The layer graph's op set, the frontends' "supported layers are ..." text and the table in
docs/supported-layers.md are all read from LAYER_KINDS, so a new layer kind is declared once.
Kept free of TVM (graph.py imports it); the tt op names refer to tvm_tinytrain/ops/registry.py
records, which tests/ops/test_op_records.py checks.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LayerKind:
    """`op` is the layer-graph op, `forward` the tt op quantization/lower.py emits for it, `tt_ops`
    every tt op a training step or prediction may use for it (forward, fused, backward, update);
    `layers` names the torch / ONNX layers it covers and `supports` its attributes and limits."""

    op: str
    forward: str
    tt_ops: tuple[str, ...]
    layers: str
    supports: str


_CONV_BACKWARD = ("clamp_mask", "mask_grad", "channel_slice", "scale_channels", "bias_grad", "sgd_s8", "sgd_s32",
                  "momentum_f32", "sgd_f32", "round_copy_s8", "round_copy_s32", "grad_update", "grad_add")
LAYER_KINDS = (
    LayerKind("conv2d", "conv2d_s8",
              ("conv2d_s8", "expand_depthwise_s8", "depthwise_inplace_s8", "conv_dw_pw_rows_s8",
               "conv_dw_pw_rows_add_s8", "conv2d_grad_input", "depthwise_grad_input_inplace", "conv2d_grad_weight",
               "bias_grad_dw_chunks",
               "conv2d_grad_input_dw_chunks", "grad_update_dw_chunks", "bias_grad_pw_chunks",
               "conv2d_grad_input_pw_chunks", "grad_update_pw_chunks", "expansion_backward_dw_chunks",
               "expansion_backward_pw_chunks", "chunked_update", *_CONV_BACKWARD),
              "conv2d and conv1d",
              "any kernel size and padding, stride (sh, sw) and dilation (dh, dw) (one stride and no dilation take "
              "the fast kernels, any other the portable tt_conv2d_geom ones); any groups (1, depthwise, or grouped: "
              "a grouped conv's weight[:, :k] slice trains the leading k input channels of every group); batch norm and "
              "ReLU/ReLU6 after it are folded into it; a Conv1d on (N, C, L) is a 1 x k conv2d of the (C, 1, L) map (the 1-D family: "
              "MaxPool1d / AvgPool1d / AdaptiveAvgPool1d become 1 x k pools, also from ONNX as torch's dynamo "
              "exporter writes them (Unsqueeze -> 2-D pool -> Squeeze of the H axis), BatchNorm1d is folded)"),
    LayerKind("add", "add_s8", ("add_s8", "clamp_mask", "mask_grad", "grad_add"), "add",
              "two tensors of the same shape (residual connections); a ReLU after it is folded"),
    LayerKind("concat", "concat_s8", ("concat_s8", "concat_grad"), "channel concatenation (torch.cat / ONNX Concat)",
              "2 or more tensors of the same H x W along channels (inception- and U-Net-style joins); each input "
              "requantized to the output's quantization (a copy when it has it); the backward keeps nothing"),
    LayerKind("maxpool", "maxpool_s8", ("maxpool_s8", "maxpool_grad"), "max pooling",
              "any kernel (kh, kw), stride (sh, sw) and padding (top, left, bottom, right) smaller than the kernel; "
              "dilation 1, ceil_mode off"),
    LayerKind("avgpool", "avgpool_s8", ("avgpool_s8", "avgpool_grad"), "average pooling",
              "global (AdaptiveAvgPool2d(1), GlobalAveragePool, a mean over H and W), AdaptiveAvgPool2d to a size "
              "dividing the input, or any kernel, stride and padding smaller than the kernel with or without "
              "count_include_pad (torch AvgPool2d, ONNX AveragePool); ceil_mode off, no divisor_override"),
    LayerKind("flatten", "flatten", ("flatten", "reshape_grad"), "flatten", "(C, H, W) -> (C*H*W,)"),
    LayerKind("linear", "linear_s8",
              ("linear_s8", "linear_grad_input", "linear_grad_weight", *_CONV_BACKWARD, "linear_f32", "dequantize",
               "linear_f32_grad_input", "linear_f32_grad_weight", "linear_f32_grad_bias"),
              "linear", "on a flattened or pooled feature vector; BatchNorm1d and ReLU/ReLU6 after it are folded; "
              "as the classifier "
              "it may be trained in float32 (fp32_classifier)"),
    LayerKind("lut", "lut_s8", ("lut_s8", "lut_grad", "interval_mask", "select_grad"),
              "Hardswish, Hardsigmoid, Sigmoid, SiLU, Tanh, LeakyReLU",
              "elementwise on any shape, as a 256-entry int8 table per layer (exact for every input); ONNX's "
              "x * Sigmoid(x) is SiLU; the backward keeps the int8 input, or 1 bit per element for LeakyReLU "
              "and Hardsigmoid"),
    LayerKind("mul", "mul_s8", ("mul_s8", "clamp_mask", "mask_grad", "mul_grad_input", "mul_grad_gate", "grad_add"),
              "multiply of two tensors (torch x * gate, ONNX Mul)",
              "x (C, H, W) times a gate (C, 1, 1) broadcast over H x W (squeeze-and-excitation), or two tensors of "
              "one shape; requantized with one multiplier and shift; the backward keeps both int8 inputs"),
)
KIND_OF = {kind.op: kind for kind in LAYER_KINDS}
LOSS_OPS = ("cross_entropy", "cross_entropy_grad", "mse", "mse_grad")  # added by the training passes, not by a layer


def supported_text() -> str:
    """The supported layers as one phrase, for unsupported-op messages."""
    names = [kind.layers for kind in LAYER_KINDS]
    names.insert(1, "batch norm, ReLU/ReLU6")  # folded into the conv or linear before them
    return ", ".join(names[:-1]) + " and " + names[-1]


def supported_table() -> str:
    """docs/supported-layers.md: one row per layer kind, generated from LAYER_KINDS."""
    rows = [f"| `{k.op}` | {k.layers} | {k.supports} | {', '.join(f'`{t}`' for t in k.tt_ops)} |"
            for k in LAYER_KINDS]
    return "\n".join([
        "# Supported layers",
        "",
        "<!-- Generated by tvm_tinytrain.layer_kinds.supported_table(); tests/ops/test_op_records.py checks it. "
        "Edit LAYER_KINDS, then run: python -m tvm_tinytrain.layer_kinds -->",
        "",
        "A torch or ONNX model imports when every layer is one of these (after batch norm is folded). "
        "Anything else is reported at once, each op with its torch module path or ONNX node name. "
        "How to add an op: [adding-an-op.md](adding-an-op.md).",
        "",
        "| layer-graph op | torch / ONNX layers | supports | tt ops (tvm_tinytrain/ops/) |",
        "| --- | --- | --- | --- |",
        *rows,
        "",
        f"The loss adds {', '.join(f'`{t}`' for t in LOSS_OPS)}.",
        "",
    ])


TABLE_PATH = Path(__file__).resolve().parent.parent / "docs" / "supported-layers.md"

if __name__ == "__main__":
    TABLE_PATH.write_text(supported_table())
    print(f"wrote {TABLE_PATH}")
