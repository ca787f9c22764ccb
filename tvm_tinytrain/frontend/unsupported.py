"""Every unsupported operator or attribute of a model, reported at once.

A user whose model has three kinds of layer we cannot take should learn it from one run, not
three: the frontends' checks and `to_graph` collect what they cannot represent, each with
where it is (torch module path, ONNX node name, Relax binding), and raise one error that lists
them grouped by kind, then what is supported.
"""
from __future__ import annotations

from ..errors import UnsupportedOpError

SHOWN = 4  # places listed per kind of problem; the rest are counted


class Problems:
    def __init__(self, who: str):
        self.who = who
        self.places: dict[str, list[str]] = {}  # what -> where, in the order found

    def add(self, what: str, where: str):
        self.places.setdefault(what, []).append(where)

    def __bool__(self):
        return bool(self.places)

    def raise_if_any(self, supported: str):
        if not self.places:
            return
        lines = []
        for what, where in self.places.items():
            more = f" (+{len(where) - SHOWN} more)" if len(where) > SHOWN else ""
            lines.append(f"  - {what}: {', '.join(where[:SHOWN])}{more}")
        count = sum(len(w) for w in self.places.values())
        raise UnsupportedOpError(f"{self.who}: {count} unsupported operator use(s) or attribute(s) in the model, "
                                 f"{len(self.places)} kind(s):\n" + "\n".join(lines) + f"\nsupported: {supported}")
