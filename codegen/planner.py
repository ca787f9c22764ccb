"""Static arena planner: every tensor of the training step gets an offset in one array.

Narrow interface, as in TF-Lite Micro: `add_buffer(name, size, first_use, last_use)`, then
`plan()` and `offset_of(name)`.  Two placements are computed and the smaller kept:

- first fit (baseline): in order of first use, the lowest offset free of live buffers;
- greedy (ours): the same lowest-offset placement in several orders (largest first, longest
  lived first, largest size x lifetime first), keeping the smallest result;
- searched: where that still leaves a gap above the live bytes' floor (the most bytes live at
  one op, which no placement can go under), up to SEARCH_ORDERS orders by size, each size
  weighted by a draw of a seeded generator (the same plan every run), until one reaches the floor
  (Proxyless paper-100kb at 115K: 44,928 -> 42,760 B, the floor 42,760).

Both are checked: no two buffers live at the same time may share a byte.  In-place reuse
(an element-wise op writing over its dying input) arrives already merged into one buffer
by `passes/memory_analysis.py`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from tvm_tinytrain.errors import TinyTrainError

ALIGN = 8
SEARCH_ORDERS = 64  # drawn orders tried at most, where the fixed ones leave a gap above the live floor


@dataclass
class Buffer:
    name: str
    size: int
    first: int
    last: int
    offset: int = -1

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


class ArenaPlanner:
    def __init__(self):
        self.buffers: dict[str, Buffer] = {}
        self.arena_bytes = 0
        self.baseline_bytes = 0
        self.strategy = ""

    def add_buffer(self, name: str, size: int, first_use: int, last_use: int):
        if name in self.buffers:
            raise TinyTrainError(f"planner: buffer {name!r} added twice")
        if size < 0 or last_use < first_use:
            raise TinyTrainError(f"planner: buffer {name!r} has size {size}, uses {first_use}..{last_use}")
        self.buffers[name] = Buffer(name, _aligned(size), first_use, last_use)

    def plan(self) -> int:
        """Place every buffer; returns the arena size in bytes."""
        ordered = sorted(self.buffers.values(), key=lambda b: (b.first, -b.size))
        baseline = _place(ordered)
        self.baseline_bytes = self._extent(baseline)
        chosen, self.strategy = baseline, "first fit"
        for strategy, key in _ORDERS.items():
            candidate = _place(sorted(self.buffers.values(), key=key))
            if self._extent(candidate) < self._extent(chosen):
                chosen, self.strategy = candidate, strategy
        floor, draws = self.live_floor(), random.Random(0)
        for _ in range(SEARCH_ORDERS):
            if self._extent(chosen) <= floor:
                break
            candidate = _place(sorted(self.buffers.values(), key=lambda b: -b.size * (1 + 0.3 * draws.random())))
            if self._extent(candidate) < self._extent(chosen):
                chosen, self.strategy = candidate, "searched"
        for buf in self.buffers.values():
            buf.offset = chosen[buf.name]
        self.arena_bytes = self._extent(chosen)
        self.check()
        return self.arena_bytes

    def live_floor(self) -> int:
        """The most bytes live at one op: no placement needs less."""
        changes: dict[int, int] = {}
        for b in self.buffers.values():
            changes[b.first] = changes.get(b.first, 0) + b.size
            changes[b.last + 1] = changes.get(b.last + 1, 0) - b.size
        live = floor = 0
        for op in sorted(changes):
            live += changes[op]
            floor = max(floor, live)
        return floor

    def _extent(self, offsets: dict[str, int]) -> int:
        return max((offsets[n] + b.size for n, b in self.buffers.items()), default=0)

    def offset_of(self, name: str) -> int:
        buf = self.buffers[name]
        if buf.offset < 0:
            raise TinyTrainError("planner: call plan() before offset_of()")
        return buf.offset

    def check(self):
        """No two buffers that are live at the same time share a byte."""
        bufs = sorted(self.buffers.values(), key=lambda b: b.offset)
        for i, a in enumerate(bufs):
            for b in bufs[i + 1:]:
                if b.offset >= a.offset + a.size:
                    break
                if a.overlaps_in_time(b) and a.size and b.size:
                    raise TinyTrainError(f"planner: {a.name} and {b.name} overlap in the arena while both live")

    def describe(self) -> str:
        lines = [f"arena {self.arena_bytes:,} bytes ({self.strategy}; first fit would need {self.baseline_bytes:,})",
                 f"{'offset':>9} {'bytes':>9}  ops        buffer"]
        for buf in sorted(self.buffers.values(), key=lambda b: (b.offset, b.first)):
            lines.append(f"{buf.offset:>9,} {buf.size:>9,}  {buf.first:>4}..{buf.last:<4} {buf.name}")
        return "\n".join(lines)


_ORDERS = {
    "greedy by size": lambda b: (-b.size, b.first),
    "greedy by lifetime": lambda b: (-(b.last - b.first), -b.size, b.first),
    "greedy by size x lifetime": lambda b: (-b.size * (b.last - b.first + 1), b.first),
}


def _aligned(size: int) -> int:
    return (size + ALIGN - 1) // ALIGN * ALIGN


def _place(order) -> dict[str, int]:
    """Lowest offset for each buffer, in the given order, clear of placed buffers live with it."""
    placed: list[tuple[int, Buffer]] = []
    offsets = {}
    for buf in order:
        offset = 0
        for start, other in sorted(((s, o) for s, o in placed if o.overlaps_in_time(buf)), key=lambda p: p[0]):
            if offset + buf.size <= start:
                break
            offset = max(offset, start + other.size)
        placed.append((offset, buf))
        offsets[buf.name] = offset
    return offsets
