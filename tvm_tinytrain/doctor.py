"""`tvm-tinytrain doctor` and `--version`: what this install is, and what the demo still lacks.

A user on a new machine meets a missing dataset, toolchain or emulator only half-way through a
command; the doctor looks for all of them at once: the data in lookup order (paths.py), the ARM
toolchain with newlib, QEMU and a host C compiler, each missing tool named with its apt package.
The report goes to stdout; the exit status is 0 when the demo can run, else 1 with one
`error: ` line on stderr saying what is missing and how to get it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from . import __version__, paths
from .codegen.host_build import host_compiler
from .demo import DATA_NEEDED as DEMO_ITEMS  # what `./dev demo` reads
from .errors import TinyTrainError
from .targets.qemu import GCC, QEMU, SIZE

APT_INSTALL = "sudo apt-get install --no-install-recommends"


def _version_of(distributions: tuple[str, ...], module: str) -> str:
    """A dependency's version from its installed metadata (no import: TVM takes seconds), else
    from the module itself (a source build has no metadata)."""
    for name in distributions:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        return __import__(module).__version__
    except ImportError:
        return "not installed"


def version_line() -> str:
    """`tvm-tinytrain 0.2.0 (TVM 0.27.0, torch 2.13.0, Python 3.11.7)`."""
    python = ".".join(map(str, sys.version_info[:3]))
    return (f"tvm-tinytrain {__version__} (TVM {_version_of(('apache-tvm', 'tvm'), 'tvm')}, "
            f"torch {_version_of(('torch',), 'torch')}, Python {python})")


def _first_line(argv: list[str]) -> str | None:
    """The first output line of a tool, or None when it cannot run."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (result.stdout or result.stderr).strip().splitlines()
    return lines[0] if result.returncode == 0 and lines else None


def _newlib() -> str | None:
    """libc.a of the ARM toolchain (newlib, a separate apt package): gcc prints the bare name
    when it has none."""
    found = _first_line([GCC, "-print-file-name=libc.a"]) if shutil.which(GCC) else None
    return found if found and Path(found).is_absolute() and Path(found).is_file() else None


def tools() -> list[tuple[str, str | None, str]]:
    """(tool, what was found or None, the apt package that brings it), for the demo's tools."""
    cc = host_compiler()
    return [
        (GCC, shutil.which(GCC) and _first_line([GCC, "--version"]), "gcc-arm-none-eabi"),
        (SIZE, shutil.which(SIZE), "binutils-arm-none-eabi"),
        ("newlib (libc.a)", _newlib(), "libnewlib-arm-none-eabi"),
        (QEMU, shutil.which(QEMU) and _first_line([QEMU, "--version"]), "qemu-system-arm"),
        ("host C compiler", cc and f"{cc}: {_first_line([cc, '--version'])}", "gcc"),
    ]


def _roots() -> tuple[list[str], str | None]:
    """The report's lines on the three data locations, and the problem with TINYTRAIN_DATA, if any."""
    try:
        override, problem = paths.override_root(), None
    except TinyTrainError as err:
        override, problem = None, str(err)
    shared, cache = paths.shared_root(), paths.cache_data_root()
    lines = [f"  {paths.ENV_VAR:<20} {problem or (f'{override} (present)' if override else 'not set')}",
             f"  {'../shared/datasets':<20} {f'{shared} (present)' if shared else 'absent (none beside this install)'}",
             f"  {'cache':<20} {cache} ({'present' if cache.is_dir() else 'absent: `tvm-tinytrain fetch` fills it'})"]
    return lines, problem


def _items() -> tuple[list[str], list[str]]:
    """A line per data item (where it is found now, or how to get it) and the demo's missing items."""
    lines, missing = [], []
    for item in paths.FORMS:
        found = paths.locate(item)
        if found is None:
            lines.append(f"  {item:<20} missing: {paths.fix_for(item)}")
            missing += [f"{item} ({paths.fix_for(item)})"] if item in DEMO_ITEMS else []
        else:
            lines.append(f"  {item:<20} {found[1]} ({found[0]})")
    return lines, missing


def report() -> tuple[list[str], list[str]]:
    """(the report's lines, what the demo lacks: each with its fix)."""
    import tvm_tinytrain

    lines = [version_line(), f"installed: {Path(tvm_tinytrain.__file__).parent}", "data, in lookup order:"]
    root_lines, problem = _roots()
    lines += root_lines
    missing = [problem] if problem else []
    lines.append("data items:")
    if problem:
        lines.append(f"  not looked up: fix {paths.ENV_VAR} first")
    else:
        item_lines, missing_items = _items()
        lines += item_lines
        missing += missing_items
    lines.append("tools:")
    absent = []
    for name, found, package in tools():
        lines.append(f"  {name:<20} {found or f'missing: apt package {package}'}")
        absent += [] if found else [(name, package)]
    if absent:
        missing.append(f"{', '.join(name for name, _ in absent)} (install them: {APT_INSTALL} "
                       f"{' '.join(dict.fromkeys(package for _, package in absent))})")
    return lines, missing


def run() -> int:
    """Print the report; 0 when the demo can run, else 1 and what is missing on stderr."""
    lines, missing = report()
    print("\n".join(lines))
    if missing:
        print(f"error: not ready for the demo: {'; '.join(missing)}", file=sys.stderr)
        return 1
    print("ready: the demo can run (./dev demo, or tvm-tinytrain train MODEL ... --target cortex-m7)")
    return 0
