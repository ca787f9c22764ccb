"""restore_onnx_ops: the ONNX importer's maximum/minimum call_tirs become R.clip again."""
import math

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from tvm import topi

from tvm_tinytrain import _tvm
from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.errors import UnsupportedOpError
from tvm_tinytrain.passes.relax_utils import bindings_of
from tvm_tinytrain.passes.restore_onnx_ops import restore_onnx_ops

SHAPE = (1, 3, 4, 4)


def _imported_clip(lo, hi):
    """A 1-node ONNX Clip (None: bound omitted) through TVM's importer, scalars bound as frontend/onnx.py does."""
    from tvm.relax.frontend.onnx import from_onnx

    inits, inputs = [], ["x"]
    for name, value in (("lo", lo), ("hi", hi)):
        if value is None:
            inputs.append("")
        else:
            inits.append(numpy_helper.from_array(np.array(value, np.float32), name))
            inputs.append(name)
    while inputs[-1] == "":
        inputs.pop()
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(SHAPE))
    graph = helper.make_graph([helper.make_node("Clip", inputs, ["y"], name="clip0")], "g", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    mod = from_onnx(model, keep_params_in_input=True)
    mod, detached = relax.frontend.detach_params(mod)
    names = [p.name for p in mod["main"].params[1:]]
    scalars = {n: v.numpy() for n, v in zip(names, detached.get("main", []))}
    if scalars:
        mod = relax.transform.BindParams("main", scalars)(mod)
        mod = relax.transform.FoldConstant()(mod)
    return mod


def _prims(mod):
    return sorted(gv.name_hint for gv in mod.get_global_vars() if gv.name_hint != "main")


def _clips(mod):
    return [v for v in bindings_of(mod["main"]).values() if _tvm.op_name(v) == "relax.clip"]


def _input():
    return np.linspace(-8, 8, int(np.prod(SHAPE)), dtype=np.float32).reshape(SHAPE)


@pytest.mark.parametrize("lo, hi, prims", [
    (0.0, 6.0, ["maximum", "minimum"]),
    (-1.5, 2.25, ["maximum", "minimum"]),
    (0.5, None, ["maximum"]),
    (None, 3.0, ["minimum"]),
])
def test_clip_is_restored(lo, hi, prims):
    mod = _imported_clip(lo, hi)
    assert _prims(mod) == prims and mod.script().count("R.call_tir(") == len(prims)  # the precondition
    script = mod.script()
    restored = restore_onnx_ops(mod)
    assert "call_tir" not in restored.script() and _prims(restored) == []
    assert mod.script() == script  # the input module is untouched
    (clip,) = _clips(restored)
    assert clip.args[0].same_as(restored["main"].params[0])
    want_lo = -math.inf if lo is None else lo
    want_hi = math.inf if hi is None else hi
    assert (float(clip.args[1].value), float(clip.args[2].value)) == (want_lo, want_hi)
    relax.analysis.well_formed(restored)
    x = _input()
    got, ref = _tvm.build(restored)(x), _tvm.build(mod)(x)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(got, np.clip(x, want_lo, want_hi))


def _call_tir_module(prim, n_operands=1):
    """main(x) = call_tir(<prim>, (x, ...)) built with emit_te; the PrimFunc is named after `prim`."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor_type(SHAPE, "float32"))
    with bb.function("main", [x]):
        with bb.dataflow():
            args = [x] + [relax.const(np.float32(1.0))] * (n_operands - 1)
            y = bb.emit_te(prim, *args)
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    return bb.get()


def test_unknown_prim_func_is_an_error():
    def my_sigmoid(t):
        return topi.sigmoid(t)

    mod = _call_tir_module(my_sigmoid)
    assert _prims(mod) == ["my_sigmoid"]
    with pytest.raises(UnsupportedOpError) as err:
        restore_onnx_ops(mod)
    assert "'my_sigmoid'" in str(err.value)


def test_maximum_with_wrong_arity_is_an_error():
    def maximum(t):  # named like the importer's PrimFunc but with one operand
        return topi.abs(t)

    with pytest.raises(UnsupportedOpError, match="'maximum'"):
        restore_onnx_ops(_call_tir_module(maximum))


def test_tensor_maximum_becomes_relax_maximum():
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor_type(SHAPE, "float32"))
    other = np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)
    with bb.function("main", [x]):
        with bb.dataflow():
            y = bb.emit_te(topi.maximum, x, relax.const(other))
            out = bb.emit_output(y)
        bb.emit_func_output(out)
    mod = bb.get()
    restored = restore_onnx_ops(mod)
    ops = [_tvm.op_name(v) for v in bindings_of(restored["main"]).values()]
    assert "relax.maximum" in ops and "call_tir" not in restored.script()
    x_val = _input()
    np.testing.assert_array_equal(_tvm.build(restored)(x_val), np.maximum(x_val, other))


def test_shared_maximum_is_not_merged():
    """max(x, 0) used twice: the min must not swallow it (the other use needs the unclipped-above value)."""
    bb = relax.BlockBuilder()
    x = relax.Var("x", tensor_type(SHAPE, "float32"))
    zero, six = relax.const(np.float32(0.0)), relax.const(np.float32(6.0))
    with bb.function("main", [x]):
        with bb.dataflow():
            a = bb.emit_te(topi.maximum, x, zero)
            b = bb.emit_te(topi.minimum, a, six)
            out = bb.emit_output(relax.op.add(a, b))
        bb.emit_func_output(out)
    restored = restore_onnx_ops(bb.get())
    bounds = sorted((float(c.args[1].value), float(c.args[2].value)) for c in _clips(restored))
    assert bounds == [(-math.inf, 6.0), (0.0, math.inf)]
    x_val = _input()
    np.testing.assert_array_equal(_tvm.build(restored)(x_val),
                                  np.maximum(x_val, 0) + np.minimum(np.maximum(x_val, 0), 6))
