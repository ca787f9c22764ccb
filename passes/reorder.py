"""reorder: schedule the training step to keep the live set small.

The paper's operator reordering: instead of the whole backward followed by the optimizer,
each parameter is updated as soon as its gradient exists, and what the backward needs
from the forward (1-bit clamp masks, channel slices of layer inputs) is taken as soon as
the forward produces it, so full activations and gradients die early.

Needs:      a training `main` of tt ops (any stage after `quantized_autodiff`).
Guarantees: the same ops and outputs in a dependency-respecting order, where an in-place
            update of a parameter comes after every other reader of that parameter (the
            forward conv and the input gradient read the weights of the forward); so does an op that writes
            parameters besides its output (its record's `also_writes`), but for the ops reading its output.  Greedy
            list scheduling: among ready ops, take the one that grows the live bytes least
            (output bytes minus inputs it frees), ties in the original order.  Greedy is a
            heuristic: if its peak is above the incoming order's, the incoming order is kept,
            so the pass never makes the peak worse.
"""
from __future__ import annotations

from tvm_tinytrain._tvm import relax

from .memory_analysis import also_written, analyze, in_place, tensor_bytes
from .training_graph import copy_binding, op_bindings, result_fields, rewrite_main


def reorder(mod):
    bindings = op_bindings(mod)
    order = schedule(bindings, set(result_fields(mod)))
    results = result_fields(mod)

    def emit(bb):
        vmap = {}
        for i in order:
            copy_binding(bb, bindings[i], vmap)
        return relax.Tuple([vmap.get(v, v) for v in results]) if len(results) > 1 else vmap[results[0]]

    scheduled = rewrite_main(mod, list(mod["main"].params), emit)
    return scheduled if analyze(scheduled).peak_bytes <= analyze(mod).peak_bytes else mod


def schedule(bindings, outputs) -> list[int]:
    producer = {b.var: i for i, b in enumerate(bindings)}
    deps = [set() for _ in bindings]
    users: dict = {}
    for i, b in enumerate(bindings):
        for arg in b.args:
            users.setdefault(arg, set()).add(i)
            if arg in producer:
                deps[i].add(producer[arg])
    for i, b in enumerate(bindings):
        if in_place(b):  # write after every other read of the parameter
            deps[i] |= users.get(b.args[0], set()) - {i}
        for at in also_written(b):  # likewise, but not after the ops that read its output (its own updates)
            deps[i] |= {u for u in users.get(b.args[at], set()) - {i} if b.var not in bindings[u].args}
    size = [0 if in_place(b) else tensor_bytes(b.var.ty) for b in bindings]
    remaining = {var: len(us) for var, us in users.items()}
    waiting = [len(d) for d in deps]
    dependents = [[] for _ in bindings]
    for i, d in enumerate(deps):
        for j in d:
            dependents[j].append(i)
    ready = {i for i, n in enumerate(waiting) if n == 0}
    order = []
    while ready:
        best = min(ready, key=lambda i: (_growth(i, bindings, size, remaining, producer, outputs), i))
        ready.remove(best)
        order.append(best)
        for arg in bindings[best].args:
            if arg in remaining:
                remaining[arg] -= 1
        for j in dependents[best]:
            waiting[j] -= 1
            if waiting[j] == 0:
                ready.add(j)
    return order


def _growth(i, bindings, size, remaining, producer, outputs) -> int:
    freed = sum(size[producer[a]] for a in set(bindings[i].args)
                if a in producer and remaining.get(a) == 1 and a not in outputs)
    return size[i] - freed
