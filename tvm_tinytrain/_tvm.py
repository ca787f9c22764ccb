"""The one module that imports TVM.

TVM's Python API moves between releases (StructInfo became TensorType, tvm.tir became
tvm.tirx, ...).  Everything else in the project goes through the names here, so adapting
to a new release is a change in one place.
"""
import numpy as np
import tvm
from tvm import relax
from tvm.relax.expr_functor import PyExprMutator, mutator

# A Relax constant (relax.Constant in older releases).
Constant = tvm.ir.expr.GenericConst

__all__ = [
    "tvm", "relax", "Constant", "PyExprMutator", "mutator",
    "tensor_type", "op_name", "shape_of", "object_key", "clone_module", "well_formed", "build", "to_device", "from_device",
]


def tensor_type(shape, dtype):
    """A Relax tensor type (StructInfo in older releases)."""
    return relax.TensorType(tuple(int(s) for s in shape), dtype)


def object_key(obj) -> int:
    """The address of a TVM object: the same for every Python handle of it, while it lives."""
    return obj.__chandle__()


def clone_module(mod):
    """A copy of an IRModule, so a pass can replace functions without touching its input."""
    return mod.clone()


def well_formed(mod) -> str | None:
    """TVM's structural check of a Relax module (free variables, types, normal form): None, or
    the first violation (0.27's well_formed raises it; older releases returned a bool)."""
    try:
        ok = relax.analysis.well_formed(mod)
    except Exception as err:  # noqa: BLE001 - tvm-ffi maps the violation's kind to a Python class
        return str(err).strip().splitlines()[-1][:300]
    return None if ok in (None, True) else "tvm.relax.analysis.well_formed fails"


def op_name(call) -> str:
    """'relax.nn.conv2d' for a call of a Relax operator, '' for anything else."""
    op = getattr(call, "op", None)
    return op.name if isinstance(op, tvm.ir.Op) else ""


def shape_of(expr):
    return tuple(int(s) for s in expr.ty.shape)



class Built:
    """A Relax module compiled for the host CPU, callable on numpy arrays."""

    def __init__(self, mod, optimize: bool = False):
        # LLVM's -O3 is ~80 % of TVM's build time for our modules (22 s vs 4 s for a training
        # step); correctness checks build unoptimized, speed measurements with optimize=True.
        target = tvm.target.Target({"kind": "llvm", "opt-level": 3 if optimize else 0})
        self.executable = tvm.compile(mod, target=target)
        self.vm = relax.VirtualMachine(self.executable, tvm.cpu())

    def __call__(self, *arrays, func="main"):
        out = self.vm[func](*[to_device(a) for a in arrays])
        return from_device(out)


def build(mod, optimize: bool = False) -> Built:
    return Built(mod, optimize)


def to_device(array):
    return tvm.runtime.tensor(np.require(array, requirements="C"))  # keeps 0-d arrays 0-d


def from_device(value):
    """numpy array(s) from a VM result (tensor or nested tuple of tensors)."""
    if hasattr(value, "numpy"):
        return value.numpy()
    return tuple(from_device(v) for v in value)
