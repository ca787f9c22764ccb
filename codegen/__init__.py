"""C code generation (installed as `tvm_tinytrain.codegen`).

Lowers the final Relax training graph to standalone C99 (static arena, int8 kernels, no
TVM runtime).  Not written yet: see the codegen issue; the int8 arithmetic it must
reproduce bit for bit is fixed in docs/int8-semantics.md.
"""
