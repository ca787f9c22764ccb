"""Relax passes of tvm-tinytrain, one module per pass (installed as `tvm_tinytrain.passes`).

Each pass is a function `(mod, params) -> (mod, params)` or `mod -> mod` whose docstring
is its contract: what it needs, what it guarantees, the names it produces.
docs/writing-a-pass.md walks through one.
"""
