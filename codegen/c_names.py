"""User strings in generated C: always data, never code.

Model, scheme, layer and parameter names come from files other people made (scheme files,
ONNX graphs, weight files, paths), so every one that reaches C goes through here:

* `comment(text)`: text for inside `/* ... */` that cannot close (or open) a comment, with
  non-printable and non-ASCII characters written as escapes;
* `string(text)`: a C string literal whose bytes are the UTF-8 bytes of `text`, every byte
  that is not plain printable ASCII an octal escape (no quote, backslash or trigraph is live);
* `Symbols`: names mangled to unique `[A-Za-z0-9_]` identifiers, with the table back to them.
"""
from __future__ import annotations

import hashlib
import itertools
import re
from collections import Counter

_PLAIN = re.compile(r"[A-Za-z0-9_.]+")
_NOT_IDENT = re.compile(r"[^A-Za-z0-9_]")
STEM_CHARS = 40  # of a mangled name before its hash: identifiers stay readable, any name fits
SIGNIFICANT = 63  # characters of an internal identifier a C99 compiler must tell apart


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def comment(text) -> str:
    """`text` for inside a C comment: printable ASCII only, `*/` and `/*` broken by a backslash."""
    out = "".join("\\\\" if ch == "\\" else ch if " " <= ch <= "~" else _escape_char(ch) for ch in str(text))
    return out.replace("*/", "*\\/").replace("/*", "/\\*")


def string(text) -> str:
    """A C string literal of `text`'s UTF-8 bytes (lone surrogates kept as their bytes)."""
    out = []
    for byte in str(text).encode("utf-8", "surrogatepass"):
        ch = chr(byte)
        if ch in '\\"?':  # `?`: no trigraph can form
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:  # three octal digits: a following digit can never extend the escape
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


class Symbols:
    """C identifiers `prefix + name` for a set of names, each also usable with the `derived`
    suffixes (e.g. `_lead`, `_rest` of a split weight).

    A short name of `[A-Za-z0-9_.]` whose identifier (dots as `_`) no other such name reaches
    keeps exactly that identifier (the paper backbones' names); any other name (other
    characters, too long, or a clash like `a.b` / `a_b`) gets its characters outside
    `[A-Za-z0-9_]` as `_`, cut to STEM_CHARS, plus a hash of the original.  The result depends
    only on the set of names, and no two names (nor their derived identifiers) share one."""

    def __init__(self, prefix: str, names, derived: tuple[str, ...] = ()):
        self.derived = ("", *derived)
        names = sorted(set(names))
        longest = len(prefix) + max(map(len, self.derived))
        plain = {n: prefix + n.replace(".", "_") for n in names
                 if _PLAIN.fullmatch(n) and len(n) + longest <= SIGNIFICANT}
        reach = Counter(s for sym in plain.values() for s in self._family(sym))
        self._of = {n: sym for n, sym in plain.items() if all(reach[s] == 1 for s in self._family(sym))}
        taken = {s for sym in self._of.values() for s in self._family(sym)}
        for name in names:
            if name in self._of:
                continue
            stem = prefix + _NOT_IDENT.sub("_", name)[:STEM_CHARS] + "_"
            stem += hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
            symbol = next(s for s in (stem if i == 0 else f"{stem}_{i}" for i in itertools.count())
                          if not taken & set(self._family(s)))
            self._of[name] = symbol
            taken.update(self._family(symbol))

    def _family(self, symbol: str) -> list[str]:
        return [symbol + suffix for suffix in self.derived]

    def __getitem__(self, name: str) -> str:
        return self._of[name]
