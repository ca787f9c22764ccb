"""The bad-input corpus harness: run a command as a user would, with a bad input, and check
that it fails the way a user can act on.

Every case runs `tvm-tinytrain ARGV` in-process (cli.main) inside its own folder and asserts:

* a non-zero exit status (argparse's usage errors count: they exit 2 too);
* no Python traceback on stdout or stderr, and stderr starting with "error: " or "usage: ";
* every `expect` fragment in the message (case-insensitive): the problem, and the file, layer
  or field it is about;
* every file that existed in the case's folder before the command is still there, byte for
  byte (nothing a user made is lost or overwritten), and no temporary file is left behind.

A case's `setup(folder)` makes the bad input; `argv` may be a function of the folder.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from data_isolation import only_this_data
from tvm_tinytrain.cli import main

TEMP_MARKERS = (".tmp", ".partial", ".lock")


@dataclass
class Case:
    id: str
    argv: list | Callable[[Path], list]
    expect: tuple = ()
    setup: Callable[[Path], None] | None = None
    env: dict = field(default_factory=dict)

    def __repr__(self):  # pytest ids
        return self.id


def snapshot(folder: Path) -> dict:
    """{relative path: bytes} of every regular file under `folder` (read-only folders included)."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                try:
                    files[str(path.relative_to(folder))] = path.read_bytes()
                except PermissionError:
                    files[str(path.relative_to(folder))] = None
    return files


# A warning a library (torch, ...) raises while running the user's own code, e.g. building their module,
# is printed in Python's form before our error (the CLI hides no library warning): not ours to judge.
_LIBRARY_WARNING = re.compile(r"\A(?:\S*site-packages/\S+\.py:\d+: \w*Warning: [^\n]*\n(?:  [^\n]*\n)?)+")


def without_library_warnings(err: str) -> str:
    return _LIBRARY_WARNING.sub("", err)


def run_bad(case: Case, folder: Path, capsys, monkeypatch) -> str:
    """Run `case` in `folder`; assert it failed cleanly; return stderr."""
    monkeypatch.chdir(folder)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value if not callable(value) else value(folder))
    if "TINYTRAIN_DATA" in case.env:  # a made-up datasets folder is the only one the case sees
        only_this_data(monkeypatch, Path(os.environ["TINYTRAIN_DATA"]), folder / "empty-cache")
    if case.setup is not None:
        case.setup(folder)
    argv = [str(a) for a in (case.argv(folder) if callable(case.argv) else case.argv)]
    before = snapshot(folder)
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse
        status = exit_.code
    out, err = capsys.readouterr()
    assert status not in (0, None), f"{argv} succeeded (stdout {out[-300:]!r}); expected a clear error"
    assert "Traceback" not in out + err, f"{argv} printed a traceback:\n{err[-2000:]}"
    assert without_library_warnings(err).startswith(("error: ", "usage: ")), \
        f"{argv}: stderr does not start with 'error: ':\n{err[-2000:]}"
    for fragment in case.expect:
        assert fragment.lower() in err.lower(), f"{argv}: {fragment!r} not in the message:\n{err}"
    after = snapshot(folder)
    for name, data in before.items():
        assert name in after, f"{argv} removed the user's file {name}"
        assert after[name] == data, f"{argv} changed the user's file {name}"
    leftovers = [n for n in set(after) - set(before) if any(m in Path(n).name for m in TEMP_MARKERS)]
    assert not leftovers, f"{argv} left temporary files behind: {leftovers}"
    return err
