"""ONNX models -> fp32 Relax in the same form as the torch frontend.

TVM's ONNX importer is exact for inference but lowers Clip to `call_tir`s (no
gradient); `restore_onnx_ops` puts Relax ops back so the model can be trained.
Parameters keep the ONNX initializer names (`features.3.conv.0.weight` for a model
exported from torch).  torch's dynamo exporter writes a 1-D pool it has no 1-D ONNX form for
(AdaptiveAvgPool1d) as Unsqueeze(axes=[-2]) -> 2-D pool -> Squeeze(axes=[-2]): the H axis of the
layer graph's (C, 1, L) layout, so those two are taken (to_graph reads them as no-ops); any other
Unsqueeze / Squeeze of constant axes is refused here, naming its node (what computed axes come to,
to_graph checks).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ShapeError, TinyTrainError, UnsupportedOpError, WeightFileError
from .torch import RelaxModel, layer_input_shape
from .unsupported import Problems

SUPPORTED_ONNX = {
    "Conv", "BatchNormalization", "Relu", "Clip", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean",
    "Flatten", "Reshape", "Gemm", "MatMul", "Identity", "Dropout", "Constant", "Squeeze", "Unsqueeze", "Transpose",
    "Concat",
    # elementwise int8 table layers; Mul: SiLU's x * Sigmoid(x) (frontend/elementwise.py), else the mul layer
    "HardSwish", "HardSigmoid", "Sigmoid", "Tanh", "LeakyRelu", "Mul",
}

ONNX_DOMAINS = ("", "ai.onnx")
# Below 11, Clip takes its range as attributes, which TVM's importer lowers to TIR that cannot be
# trained; above the onnx package's newest opset, operator semantics are unknown to us.
MIN_OPSET = 11


def _check_opset(model, onnx):
    """A declared standard opset must be in range (a file declaring none is left to onnx's checker)."""
    newest = onnx.defs.onnx_opset_version()
    versions = [o.version for o in model.opset_import if o.domain in ONNX_DOMAINS]
    if versions and not MIN_OPSET <= versions[0] <= newest:
        raise UnsupportedOpError(f"from_onnx: the model uses ONNX opset {versions[0]}; supported opsets are "
                                 f"{MIN_OPSET}..{newest}: re-export it (torch.onnx.export(..., opset_version=17)) "
                                 f"or convert it with onnx.version_converter")


def _check_nodes(model, onnx):
    """Every node the layer graph cannot represent (operator, domain or attribute), in one error."""
    problems = Problems("from_onnx")
    shapes = _Shapes(model, onnx)
    for node in model.graph.node:
        where = f"node {node.name!r}" if node.name else f"an unnamed node with output {node.output[0]!r}"
        if node.domain not in ONNX_DOMAINS:
            problems.add(f"operator {node.op_type} from domain {node.domain!r} (only the standard ONNX operators "
                         f"are supported)", where)
        elif node.op_type not in SUPPORTED_ONNX:
            problems.add(f"operator {node.op_type} is not supported", where)
        else:
            reason = _unsupported_attribute(node, onnx) or _height_axis_problem(node, onnx, shapes)
            if reason:
                problems.add(f"{node.op_type} with {reason}", where)
    problems.raise_if_any(f"the ONNX operators {', '.join(sorted(SUPPORTED_ONNX))}")


def _unsupported_attribute(node, onnx) -> str | None:
    """The first attribute value the layer graph cannot represent, as 'name=value (supported: ...)'."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def ints(name):
        value = attrs.get(name)
        return [int(v) for v in value] if value is not None else None

    if node.op_type in ("MaxPool", "AveragePool"):
        dilations = ints("dilations")
        if dilations and any(d != 1 for d in dilations):
            return f"dilations={dilations} (supported: 1)"
        if attrs.get("ceil_mode", 0):
            return "ceil_mode=1 (supported: 0)"
        if len(node.output) > 1 and node.output[1]:
            return "a second output (indices; supported: the pooled values only)"
    return None


class _Shapes:
    """Static shapes (onnx shape inference, run only if a node asks) and constant values of a model's tensors."""

    def __init__(self, model, onnx):
        self.model, self.onnx, self._shapes = model, onnx, None
        self._tensors = {i.name: i for i in model.graph.initializer}
        for node in model.graph.node:
            if node.op_type == "Constant":
                self._tensors.update({node.output[0]: a.t for a in node.attribute if a.name == "value"})

    def constant(self, name: str):
        """The value of an initializer or a Constant node's output, else None."""
        tensor = self._tensors.get(name)
        return None if tensor is None else self.onnx.numpy_helper.to_array(tensor)

    def shape(self, name: str) -> tuple | None:
        """The tensor's dims (None for a dim without a fixed size), or None when its rank is unknown."""
        if self._shapes is None:
            try:
                graph = self.onnx.shape_inference.infer_shapes(self.model).graph
            except Exception:  # an uninferable model: only the shapes it declares are known
                graph = self.model.graph
            infos = [*graph.input, *graph.value_info, *graph.output]
            self._shapes = {i.name: tuple(d.dim_value if d.HasField("dim_value") else None
                                          for d in i.type.tensor_type.shape.dim)
                            for i in infos if i.type.tensor_type.HasField("shape")}
            self._shapes.update({n: tuple(t.dims) for n, t in self._tensors.items()})
        return self._shapes.get(name)


def _height_axis_problem(node, onnx, shapes: _Shapes) -> str | None:
    """Why an Unsqueeze / Squeeze is not the H axis of a 1-D tensor: Unsqueeze of axis 2 (or -2) of an
    (N, C, L) tensor, Squeeze of that axis of an (N, C, 1, L) one, the only form the layer graph has.
    Axes computed by other nodes, or an input whose shape inference cannot tell, are left to to_graph,
    which sees what TVM's importer made of them (and refuses anything but that form)."""
    if node.op_type not in ("Unsqueeze", "Squeeze"):
        return None
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    axes = attrs.get("axes")  # opset 11; an input from opset 13
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = shapes.constant(node.input[1])
        if axes is None:
            return None
    if axes is None:
        return f"no axes ({_HEIGHT_AXIS})"
    axes = [int(a) for a in np.asarray(axes).reshape(-1)]
    shape = shapes.shape(node.input[0])
    if shape is None:
        return None
    if len(shape) != (3 if node.op_type == "Unsqueeze" else 4) or axes not in ([2], [-2]) \
            or (node.op_type == "Squeeze" and shape[2] != 1):
        return f"axes={axes} on an input of shape {list(shape)} ({_HEIGHT_AXIS})"
    return None


_HEIGHT_AXIS = ("supported: Unsqueeze / Squeeze of axis 2 or -2 between N x C x L and N x C x 1 x L, as torch's "
                "dynamo exporter writes a 1-D pool; remove the node or reshape the model to that form")


def from_onnx(path_or_model, name: str | None = None) -> RelaxModel:
    import onnx

    from tvm_tinytrain._tvm import relax
    from tvm.relax.frontend.onnx import from_onnx as tvm_from_onnx
    from tvm_tinytrain.passes.fold_batchnorm import fold_batchnorm
    from tvm_tinytrain.passes.restore_onnx_ops import restore_onnx_ops

    model = _load(path_or_model, onnx)
    name = name or (Path(path_or_model).stem if isinstance(path_or_model, (str, Path)) else model.graph.name)
    _check_nodes(model, onnx)
    input_shape = _input_shape(model)
    try:
        mod = tvm_from_onnx(model, keep_params_in_input=True)
    except Exception as err:
        raise UnsupportedOpError(f"from_onnx: TVM's ONNX importer rejected the model: {err}") from None
    mod, detached = relax.frontend.detach_params(mod)
    names = [p.name for p in mod["main"].params[1:]]
    params = {n: v.numpy() for n, v in zip(names, detached["main"])}
    # Scalars and integer shape tensors are importer plumbing, not weights: make them constants.
    plumbing = {n: v for n, v in params.items() if v.ndim == 0 or not np.issubdtype(v.dtype, np.floating)}
    if plumbing:
        mod = relax.transform.BindParams("main", plumbing)(mod)
        mod = relax.transform.FoldConstant()(mod)
    params = {n: v for n, v in params.items() if n not in plumbing}
    mod = restore_onnx_ops(mod)
    mod, params = fold_batchnorm(mod, params)
    return RelaxModel(mod, params, name, input_shape)


def _load(path_or_model, onnx):
    if isinstance(path_or_model, onnx.ModelProto):
        model = path_or_model
    else:
        path = Path(path_or_model)
        if not path.is_file():
            raise WeightFileError(f"from_onnx: {path} does not exist")
        try:
            model = onnx.load(str(path))
        except Exception as err:
            raise WeightFileError(f"from_onnx: {path} is not a readable ONNX file ({err})") from None
    _check_opset(model, onnx)  # before the checker, whose message for an old opset names only a node
    try:
        onnx.checker.check_model(model)
    except Exception as err:
        raise WeightFileError(f"from_onnx: the ONNX model is invalid: {err}") from None
    return model


def _input_shape(model) -> tuple[int, ...]:
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise TinyTrainError(f"from_onnx: expected one image input, found {[i.name for i in inputs]}")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
    if len(shape) not in (3, 4) or None in shape or shape[0] != 1:
        raise ShapeError(f"from_onnx: input {inputs[0].name!r} has shape {shape}; export the model with a "
                         f"fixed input shape (1, C, H, W) or (1, C, L)")
    return layer_input_shape(shape)
