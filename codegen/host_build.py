"""Compile C with the host gcc: the kernel library as a shared object (for tests through
ctypes) or a generated project as an executable (optionally with sanitizers).

Builds are cached by a hash of the sources and flags, so repeated test runs do not recompile.
"""
from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from tvm_tinytrain.errors import TinyTrainError

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
# -ffp-contract=off: no fused multiply-add, so float results do not depend on the optimizer.
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def kernel_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c"))


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "tvm_tinytrain_build"
    path.mkdir(exist_ok=True)
    return path


def _digest(sources, flags) -> str:
    h = hashlib.sha256()
    for src in sources:
        h.update(Path(src).read_bytes())
    for header in sorted(KERNEL_DIR.glob("*.h")):
        h.update(header.read_bytes())
    h.update(" ".join(flags).encode())
    return h.hexdigest()[:20]


def compile_c(sources, output: Path, flags=(), include_dirs=()):
    """Run gcc; a failure becomes a TinyTrainError carrying gcc's messages."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise TinyTrainError("no host C compiler (gcc) found; install gcc")
    cmd = [cc, *CFLAGS, *flags, *(f"-I{d}" for d in (KERNEL_DIR, *include_dirs)), *map(str, sources),
           "-o", str(output), "-lm"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise TinyTrainError(f"host C build failed:\n{' '.join(cmd)}\n{result.stderr.strip()}")
    return output


def kernel_library() -> ctypes.CDLL:
    """The whole kernel library as a shared object loaded with ctypes (cached)."""
    sources = kernel_sources()
    flags = ("-fPIC", "-shared")
    path = _cache_dir() / f"tt_kernels_{_digest(sources, flags)}.so"
    if not path.exists():
        tmp = path.with_suffix(".tmp.so")
        compile_c(sources, tmp, flags)
        tmp.replace(path)
    return ctypes.CDLL(str(path))
