"""The host kernel library cache (codegen/host_build.py): built into and loaded from the private
per-user cache only, never from a predictable path in the shared temp folder that another local
user could have planted a library at."""
import hashlib
import os
import subprocess
import tempfile

import pytest

from tvm_tinytrain.codegen import host_build
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.user_cache import ENV_VAR

# A library that announces it was loaded: its constructor runs at dlopen.
PLANTED = """#include <stdio.h>
__attribute__((constructor)) static void planted(void)
{
    FILE *f = fopen("%s", "w");
    if (f) { fputs("planted code ran", f); fclose(f); }
}
int tt_planted_marker(void) { return 42; }
"""


def _plant(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    src = path.with_name("planted.c")
    src.write_text(PLANTED % marker)
    subprocess.run(["gcc", "-shared", "-fPIC", str(src), "-o", str(path)], check=True, capture_output=True)


@pytest.fixture
def private(tmp_path, monkeypatch):
    """A fresh private cache, and a temp folder of our own standing for the shared /tmp."""
    shared = tmp_path / "shared_tmp"
    shared.mkdir()
    monkeypatch.setenv("TMPDIR", str(shared))
    monkeypatch.setattr(tempfile, "tempdir", None)  # gettempdir() re-reads TMPDIR
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    return shared


def test_a_library_planted_in_the_shared_temp_path_is_never_loaded(private, tmp_path):
    marker = tmp_path / "planted_ran"
    sources, flags = host_build.kernel_sources(), ("-fPIC", "-shared")
    h = hashlib.sha256()  # the name the cache had in the shared temp folder
    for f in [*sources, *sorted(host_build.KERNEL_DIR.glob("*.h"))]:
        h.update(f.read_bytes())
    h.update(" ".join(flags).encode())
    _plant(private / "tvm_tinytrain_build" / f"tt_kernels_{h.hexdigest()[:20]}.so", marker)
    lib = host_build.kernel_library()
    assert not marker.exists(), "a library from the shared temp folder was loaded"
    assert not hasattr(lib, "tt_planted_marker") and hasattr(lib, "tt_conv2d_s8")
    built = list((tmp_path / "cache" / "build").iterdir())
    assert [p.name[:11] for p in built] == ["tt_kernels_"] and os.stat(built[0]).st_mode & 0o077 == 0


def test_a_cached_library_others_could_have_written_is_refused(private, tmp_path):
    source = tmp_path / "probe.c"
    source.write_text("int tt_probe(void) { return 7; }\n")
    assert host_build.shared_library("probe", [source]).tt_probe() == 7  # built, then loaded
    (cached,) = (tmp_path / "cache" / "build").glob("probe_*.so")
    assert host_build.shared_library("probe", [source]).tt_probe() == 7  # from the cache
    marker = tmp_path / "planted_ran"
    _plant(cached, marker)  # replaced, and made writable by others, as if another user had
    os.chmod(cached, 0o777)
    with pytest.raises(TinyTrainError, match=rf"cached file {cached} is writable by other users"):
        host_build.shared_library("probe", [source])
    assert not marker.exists()


def test_a_shared_cache_folder_is_refused_before_building(private, tmp_path):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o777)
    os.chmod(folder, 0o777)
    source = tmp_path / "probe.c"
    source.write_text("int tt_probe(void) { return 7; }\n")
    with pytest.raises(TinyTrainError, match=rf"cache folder {folder} is writable by other users"):
        host_build.shared_library("probe", [source])
    assert list(folder.iterdir()) == []
