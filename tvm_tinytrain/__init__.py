"""tvm_tinytrain: compile pretrained CNNs into C programs that fine-tune them on Cortex-M.

Import path (each step its own module):

    load_backbone("mbv2-w0.35")                        -> int8 Graph (the paper's backbones)
    from_torch(module, x) / from_onnx(path)            -> RelaxModel (fp32 Relax, BN folded)
    to_graph(relax_model)                              -> float Graph
    quantize(graph, calibration_images)                -> int8 Graph
    to_relax(int8_graph)                               -> Relax IRModule of int8 arithmetic
    compile(int8_graph or MODEL, scheme, **options)    -> training program + prediction module + C
    run_int8(graph, x_q) / run_float(graph, x)         -> numpy reference (the oracle)

Names are resolved lazily so `import tvm_tinytrain` does not import TVM or torch.
"""
import importlib

__version__ = "0.2.0"  # the one source: setup.py reads it from here, --version and doctor print it

_API = {
    "load_backbone": "backbones", "BACKBONES": "backbones",
    "from_torch": "frontend.torch", "RelaxModel": "frontend.torch",
    "from_onnx": "frontend.onnx",
    "to_graph": "frontend.to_graph",
    "quantize": "quantization.ptq", "quantize_input": "quantization.ptq",
    "to_relax": "quantization.lower",
    "run_int8": "reference", "run_float": "reference",
    "compile": "compiler", "Compiled": "compiler",
    "Graph": "graph", "Layer": "graph", "QParams": "graph",
    "TinyTrainError": "errors",
}

__all__ = sorted(_API)


def __getattr__(name):
    if name not in _API:
        raise AttributeError(f"module 'tvm_tinytrain' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_API[name]}", __name__), name)
