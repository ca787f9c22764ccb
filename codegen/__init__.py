"""C code generation (installed as `tvm_tinytrain.codegen`).

Lowers the final Relax training graph to standalone C99: `emit.py` writes model.c / model.h /
memory.json with one kernel call per tt op (`templates.py`), `planner.py` places every tensor
in one static arena, `kernels/` is the C kernel library, and `host_build.py` /
`host_runner.py` build and run a project on the host.
"""
