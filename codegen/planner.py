"""Static arena planner: every tensor of the training step gets an offset in one array.

Narrow interface, as in TF-Lite Micro: `add_buffer(name, size, first_use, last_use)`, then
`plan()` and `offset_of(name)`.  Placements are computed and the smallest kept:

- first fit (baseline): in order of first use, the lowest offset free of live buffers;
- greedy (ours): the same lowest-offset placement in several orders (largest first, longest
  lived first, largest size x lifetime first), keeping the smallest result;
- searched: where that still leaves a gap above the live bytes' floor (the most bytes live at
  one op, which no placement can go under), a depth-first search for a packing within a cap
  (`_packed`), the cap bisected between the floor and the best packing found, at most
  SEARCH_PROBES caps of SEARCH_NODES placements a buffer each, and where that ends a few hundred bytes above the
  floor, SEARCH_DRAWS seeded preorders at the floor itself.  It looks at lifetimes, where the
  orders only look at sizes: MbV2 paper-100kb at 120K with 2-channel chunks 48,136 -> 45,064 B
  (the floor), MCUNet at 150K 74,888 -> 72,968 B (the floor).  Deterministic: the same plan every run.

Both are checked: no two buffers live at the same time may share a byte.  In-place reuse
(an element-wise op writing over its dying input) arrives already merged into one buffer
by `passes/memory_analysis.py`.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from tvm_tinytrain.errors import TinyTrainError

ALIGN = 8
SEARCH_PROBES = 4  # caps the search tries, where the greedy orders leave a gap above the live floor
SEARCH_NODES = 2  # placements a probe may try per buffer and preorder before it gives that cap up
SEARCH_DRAWS = 16  # seeded preorders the search then tries at the live floor, where its best packing is just above it
SEARCH_NEAR = 512  # "just above": within these bytes of the floor
SEARCHED_KEPT = 64  # the last searches' packings kept, by their buffers (the same buffers, the same packing)
_SEARCHED: dict[tuple, dict | None] = {}


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
        floor = self.live_floor()
        if self._extent(chosen) > floor:
            key = SEARCH_PROBES, SEARCH_NODES, SEARCH_DRAWS, *((b.name, b.size, b.first, b.last) for b in self.buffers.values())
            if key not in _SEARCHED:  # the budget loop plans one program several times
                if len(_SEARCHED) >= SEARCHED_KEPT:
                    del _SEARCHED[next(iter(_SEARCHED))]
                _SEARCHED[key] = _search(list(self.buffers.values()), floor, self._extent(chosen))
            if _SEARCHED[key] is not None:
                chosen, self.strategy = _SEARCHED[key], "searched"
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


def _search(buffers: list[Buffer], floor: int, above: int) -> dict[str, int] | None:
    """The smallest packing `_packed` finds under `above` bytes, its cap bisected between the live floor (where it
    starts) and the best found, then, if that is within SEARCH_NEAR bytes above the floor, the first packing at the
    floor of SEARCH_DRAWS seeded preorders; None if it finds none."""
    bufs = [b for b in buffers if b.size]
    best, lo, cap = None, floor, floor  # lo: the lowest cap not given up
    for _ in range(SEARCH_PROBES if bufs else 0):
        found = next((p for p in (_packed(bufs, cap, key) for key in _PREORDERS) if p is not None), None)
        if found is None:
            lo = cap + ALIGN
        else:
            best = found
            above = max(found[b.name] + b.size for b in bufs)
        if lo > above - ALIGN:
            break
        cap = (lo + above - ALIGN) // 2 // ALIGN * ALIGN
    if floor < above <= floor + SEARCH_NEAR:  # a few bytes short of the floor: other ties there
        best = next((p for p in (_packed(bufs, floor, key) for key in _drawn_preorders(bufs)) if p is not None), best)
    if best is not None:
        best.update((b.name, 0) for b in buffers if not b.size)
    return best


# Orders in which the search tries buffers at equal offsets: by the most bytes live at one of their ops (the
# busiest stretch they cross), their lifetime, their size x lifetime, in turn.
_PREORDERS = (
    lambda b, busiest: (-busiest, -(b.last - b.first), -b.size * (b.last - b.first + 1)),
    lambda b, busiest: (-busiest, -b.size * (b.last - b.first + 1), -(b.last - b.first)),
    lambda b, busiest: (-(b.last - b.first), -b.size * (b.last - b.first + 1), -busiest),
)


def _drawn_preorders(buffers: list[Buffer]):
    """SEARCH_DRAWS preorders of the busiest stretch and the lifetime, each buffer's weighed by a seeded draw: where
    the fixed ones leave a few hundred bytes above the floor (their ties all broken alike), other ties often close
    it (a step of Proxyless paper-100kb at 115K: 36,096 -> 35,864 B, the floor, at the 6th draw).  The same every
    run."""
    rng = random.Random(len(buffers))
    for _ in range(SEARCH_DRAWS):
        weight = {b.name: rng.random() for b in buffers}
        yield lambda b, busiest, w=weight: (-busiest * (0.9 + 0.2 * w[b.name]), -(b.last - b.first) * w[b.name])


def _packed(buffers: list[Buffer], cap: int, preorder) -> dict[str, int] | None:
    """Offsets for `buffers` (none empty) within `cap` bytes, or None if a depth-first search finds none within
    SEARCH_NODES placements a buffer.  A packing is an order: each buffer in turn drops onto the highest placed
    buffer it is live with (every packing whose buffers sit as low as they go is one such order).  The search
    only follows orders whose offsets never decrease (ties in `preorder`), never places a buffer at or above the
    top another one could reach (that one would fit whole in the gap below), and gives a placement up as soon
    as the unplaced bytes live at some op no longer fit above that op's placed buffers and under the cap."""
    n, ops = len(buffers), max(b.last for b in buffers) + 1
    rest = [0] * ops  # bytes of the unplaced buffers live at each op
    for b in buffers:
        for t in range(b.first, b.last + 1):
            rest[t] += b.size
    ranked = sorted(buffers, key=lambda b: preorder(b, max(rest[b.first:b.last + 1])))
    size, first, last = [b.size for b in ranked], [b.first for b in ranked], [b.last for b in ranked]
    meets = [[j for j in range(n) if j != i and first[i] <= last[j] and first[j] <= last[i]] for i in range(n)]
    low = [0] * n  # each unplaced buffer's offset if it came next: the top of the placed ones live with it
    offset = [-1] * n
    top_at = [0] * ops  # the top of the placed buffers live at each op
    unplaced = set(range(n))

    def choices(after: int, tie: int) -> list[int]:
        reach = min(low[i] + size[i] for i in unplaced)
        return [i for i in sorted(unplaced, key=lambda i: (low[i], i))
                if (low[i] > after or (low[i] == after and i > tie)) and low[i] < reach and low[i] + size[i] <= cap]

    def place(i: int) -> tuple | None:
        """Place buffer i at low[i]: what undoes it, and whether the unplaced bytes still fit."""
        at, top, span = low[i], low[i] + size[i], range(first[i], last[i] + 1)
        raised = [(j, low[j]) for j in meets[i] if offset[j] < 0 and low[j] < top]
        for j, _ in raised:
            low[j] = top
        tops = top_at[first[i]:last[i] + 1]
        top_at[first[i]:last[i] + 1] = [top] * len(span)
        for t in span:
            rest[t] -= size[i]
        offset[i] = at
        unplaced.discard(i)
        fits = at + max(rest) <= cap and all(top + rest[t] <= cap for t in span)
        return (i, raised, tops), fits

    def undo(i, raised, tops):
        unplaced.add(i)
        offset[i] = -1
        for t in range(first[i], last[i] + 1):
            rest[t] += size[i]
        top_at[first[i]:last[i] + 1] = tops
        for j, was in raised:
            low[j] = was

    if max(rest) > cap:
        return None
    budget, frames = SEARCH_NODES * n, [[choices(0, -1), 0, None]]  # per depth: choices, next, what undoes it
    while frames:
        frame = frames[-1]
        if frame[2] is not None:
            undo(*frame[2])
            frame[2] = None
        if frame[1] == len(frame[0]):
            frames.pop()
            continue
        i = frame[0][frame[1]]
        frame[1] += 1
        frame[2], fits = place(i)
        if not fits:
            continue
        if not unplaced:
            return {b.name: offset[k] for k, b in enumerate(ranked)}
        budget -= 1
        if budget < 0:
            return None
        frames.append([choices(offset[i], i), 0, None])
    return None
