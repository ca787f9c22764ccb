"""What every test shares: the kernels' object files of host runner and firmware builds, compiled once.

A host runner (codegen/host_runner.HostProgram) and a firmware (targets/qemu.Firmware) are each one
gcc command over the project's own files and all ~60 kernel sources; the kernels are ~5 s of CPU
of it, the same in every test that builds with the same flags. Within a test session (per xdist
worker) they are compiled once per compiler and flag set, each kernel source on its own (gcc's
multi-file command compiles each alone too) with the same flags the product's command gives them,
and the product's own command links the objects in the same place of its source list. The
objects are keyed by the kernel sources' and headers' contents and the flags, so an edited or
broken kernel is compiled again (a failure: the product's command runs unchanged and reports it).
The project's other files (model.c, host_main.c, the firmware's startup and main) are compiled by
the product's command in every build, as before.
"""
import hashlib
import subprocess
import tempfile
from pathlib import Path

import pytest

from tvm_tinytrain.codegen import host_build, host_runner
from tvm_tinytrain.targets import qemu


class KernelObjects:
    """Kernel sources -> their object files, compiled once per compiler, flags and contents."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self, compiler, flags, kernels) -> list[Path] | None:
        """Objects of `kernels` (one folder of .c files, in order), or None if they do not compile."""
        headers = sorted(kernels[0].parent.glob("*.h"))
        h = hashlib.sha256("\0".join([compiler, *flags]).encode())
        for path in (*kernels, *headers):
            h.update(b"\0" + path.name.encode() + b"\0" + path.read_bytes())
        objects = self.folder / h.hexdigest()[:20]
        if not objects.exists():
            building = Path(tempfile.mkdtemp(dir=self.folder))
            cmd = [compiler, *flags, f"-I{kernels[0].parent}", "-c", *map(str, kernels)]
            if subprocess.run(cmd, cwd=building, capture_output=True).returncode != 0:
                return None
            building.rename(objects)
        return [objects / (k.stem + ".o") for k in kernels]


def in_place(sources, kernels, objects):
    """`sources` with each kernel's object in its place (unchanged without objects)."""
    by_source = dict(zip(kernels, objects or ()))
    return [by_source.get(s, s) for s in sources]


@pytest.fixture(scope="session", autouse=True)
def kernel_objects_once(tmp_path_factory):
    compiled = KernelObjects(tmp_path_factory.mktemp("kernel_objects"))
    product_compile, product_sources = host_runner.compile_c, qemu.Firmware.sources

    def compile_c(sources, output, flags=(), include_dirs=()):
        sources = [Path(s) for s in sources]
        kernels = [s for s in sources if s.parent == host_build.KERNEL_DIR]
        compiler = host_build.host_compiler()
        objects = kernels and compiler and compiled(compiler, (*host_build.CFLAGS, *flags), kernels)
        return product_compile(in_place(sources, kernels, objects), output, flags, include_dirs)

    def firmware_sources(self):
        sources = product_sources(self)
        kernels = [s for s in sources if s.parent == self.dir / "kernels"]
        return in_place(sources, kernels, kernels and compiled(qemu.GCC, self.compile_flags(), kernels))

    patch = pytest.MonkeyPatch()
    patch.setattr(host_runner, "compile_c", compile_c)
    patch.setattr(qemu.Firmware, "sources", firmware_sources)
    yield
    patch.undo()
