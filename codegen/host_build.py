"""Compile C with the host gcc: the kernel library as a shared object (for tests through
ctypes) or a generated project as an executable (optionally with sanitizers).

Host builds (the kernel library, the host runner) are `-O3 -march=native` on top of CFLAGS, for
speed: -ffp-contract=off stays and there is no -ffast-math, so GCC neither contracts nor reorders
float arithmetic and every value equals the portable and device builds' (the x86 SIMD paths keep
each output's summation order). Board builds and the generated Makefile keep CFLAGS alone.

Shared objects are cached by a hash of the sources, headers, flags and the CPU features
-march=native means here (a library built for this CPU must not be loaded on a CPU lacking them),
so repeated test runs do not recompile, in the private per-user cache (tvm_tinytrain/user_cache.py):
never in a shared temp folder, where another user could plant the library we would load.
"""
from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.user_cache import building, checked_file, private_dir

KERNEL_DIR = Path(__file__).resolve().parent / "kernels"
# -ffp-contract=off: no fused multiply-add, so float results do not depend on the optimizer.
CFLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off")
NATIVE = ("-O3", "-march=native")
SANITIZE = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g")


def kernel_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.c"))


def _digest(sources, flags, include_dirs) -> str:
    h = hashlib.sha256()
    for src in sources:
        h.update(Path(src).read_bytes())
    for folder in (KERNEL_DIR, *include_dirs):
        for header in sorted(Path(folder).glob("*.h")):
            h.update(header.read_bytes())
    h.update(" ".join(flags).encode())
    if "-march=native" in flags:
        h.update(native_macros().encode())
    return h.hexdigest()[:20]


@lru_cache(maxsize=None)
def native_macros() -> str:
    """The macros the host compiler predefines with -march=native (__AVX2__, __AVX512F__, tuning,
    ...): what a native build assumes of this CPU, so it keys the cache; "" if there is no compiler
    or it refuses the flag."""
    cc = host_compiler()
    if cc is None:
        return ""
    result = subprocess.run([cc, "-march=native", "-dM", "-E", "-"], input="", capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def host_flags() -> tuple:
    """-O3, and -march=native where the host compiler accepts it (gcc does on x86-64 and Arm64)."""
    return NATIVE if native_macros() else NATIVE[:1]


def host_compiler() -> str | None:
    """The host C compiler's path (gcc, else cc), or None: `doctor` checks the same one."""
    return shutil.which("gcc") or shutil.which("cc")


def compile_c(sources, output: Path, flags=(), include_dirs=()):
    """Run gcc; a failure becomes a TinyTrainError carrying gcc's messages."""
    cc = host_compiler()
    if cc is None:
        raise TinyTrainError("no host C compiler (gcc) found; install gcc")
    cmd = [cc, *CFLAGS, *flags, *(f"-I{d}" for d in (KERNEL_DIR, *include_dirs)), *map(str, sources),
           "-o", str(output), "-lm"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise TinyTrainError(f"host C build failed:\n{' '.join(cmd)}\n{result.stderr.strip()}")
    return output


def shared_library(name: str, sources, flags=(), include_dirs=()) -> ctypes.CDLL:
    """`sources` built as a shared object loaded with ctypes, cached in private_dir("build")."""
    flags = ("-fPIC", "-shared", *flags)
    path = private_dir("build") / f"{name}_{_digest(sources, flags, include_dirs)}.so"
    if not path.exists():
        with building(path) as tmp:
            compile_c(sources, tmp, flags, include_dirs)
    return ctypes.CDLL(str(checked_file(path)))


def kernel_library() -> ctypes.CDLL:
    """The whole kernel library as a shared object loaded with ctypes (cached), built like the host
    runner (host_flags()), so the kernel tests check the paths the host runs."""
    return shared_library("tt_kernels", kernel_sources(), host_flags())
