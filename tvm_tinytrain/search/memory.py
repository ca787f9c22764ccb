"""The memory of a scheme as the generated C would use it: the planned activation arena
(training and inference share it) + the trained parameters kept in SRAM.  Computed by the
real pipeline and planner, never estimated; memoised per scheme because a search asks often."""
from __future__ import annotations

import json
import re

from ..errors import TinyTrainError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|kib|mb|m|mib)?\s*$", re.IGNORECASE)
_UNIT = {None: 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20}


def parse_budget(text) -> int:
    """'100KB' / '100k' / '102400' -> bytes (KB = 1024 bytes, as the paper's tables)."""
    m = _SIZE.match(str(text))
    if not m:
        raise TinyTrainError(f"budget {text!r}: expected a size such as 100KB, 0.5MB or 102400")
    return int(float(m.group(1)) * _UNIT[m.group(2).lower() if m.group(2) else None])


class SchemeMemory:
    """`options` (e.g. fp32_classifier, momentum, float_copy) are added to every scheme asked about: they
    change the SRAM a scheme needs (a float32 classifier's 4 bytes a value, momentum's velocity, a float copy)."""

    def __init__(self, graph, options: dict | None = None):
        self.graph = graph
        self.options = dict(options or {})
        self._cache: dict[str, dict] = {}

    def __call__(self, scheme_dict: dict) -> int:
        return self.breakdown(scheme_dict)["total_bytes"]

    def breakdown(self, scheme_dict: dict) -> dict:
        from ..compiler import compile

        scheme_dict = {**scheme_dict, **self.options}
        key = json.dumps(scheme_dict, sort_keys=True)
        if key not in self._cache:
            memory = compile(self.graph, scheme_dict).memory
            self._cache[key] = {"arena_bytes": memory["arena_bytes"], "param_bytes": memory["updated_param_bytes"],
                                "total_bytes": memory["arena_bytes"] + memory["updated_param_bytes"]}
        return self._cache[key]
