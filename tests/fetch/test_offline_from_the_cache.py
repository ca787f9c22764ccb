"""A machine with no datasets folder: the cache filled by fetch (the paper's real .pkl files and a
made-up cifar-10-binary.tar.gz built from real CIFAR-10 images, whose size and SHA-256 replace the
catalogue's here) is all the package sees, and it runs offline afterwards.

The package is a copy outside the checkout (tvm_tinytrain/ with passes/ and codegen/ inside it, as
setup.py's package_dir installs them; PYTHONPATH names it), so ../shared/datasets is not beside it;
TINYTRAIN_DATA is unset and TINYTRAIN_MIRROR points at a closed port: a download would fail."""
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from data.cifar10_forms import BINARY, TRAIN, pixels, real_jpegs, record, write_binary
from data_isolation import only_this_data
from local_http import closed_port, serving
from tvm_tinytrain import paths
from tvm_tinytrain.fetch import fetch
from tvm_tinytrain.fetch.catalogue import ITEMS, Item, Remote
from tvm_tinytrain.targets.qemu import toolchain_missing

REPO = Path(__file__).resolve().parents[2]


def made_up_cifar10(path: Path) -> bytes:
    """The binary version with one real test image per class in every batch (the loader wants each class)."""
    records = b"".join(record(label, pixels(jpegs[0])) for label, jpegs in enumerate(real_jpegs(1)))
    return write_binary(path, {**{name: records for name in TRAIN}, "test_batch.bin": records}).read_bytes()


@pytest.fixture(scope="module")
def offline(tmp_path_factory):
    """(environment, working folder) of a package copy whose only data is a fetched cache."""
    tmp = tmp_path_factory.mktemp("offline")
    shared = paths.data_root()
    files = {f.rel: (shared / f.rel).read_bytes() for f in ITEMS["backbones"].files}
    files[BINARY] = made_up_cifar10(tmp / "made-up" / "cifar-10-binary.tar.gz")
    with pytest.MonkeyPatch.context() as mp, serving(files) as (base, state):
        only_this_data(mp, None, tmp / "cache")
        mp.setenv("TINYTRAIN_MIRROR", base)
        mp.setitem(ITEMS, "cifar10", Item("cifar10", (Remote("https://unused.example", len(files[BINARY]),
                                                             hashlib.sha256(files[BINARY]).hexdigest(), "test",
                                                             BINARY),), "cifar10"))
        assert [fresh for _, fresh, _ in fetch(["backbones", "cifar10"], progress=False)] == [True, True]
    package = tmp / "site" / "tvm_tinytrain"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO / "tvm_tinytrain", package, ignore=ignore)
    for folder in ("passes", "codegen"):
        shutil.copytree(REPO / folder, package / folder, ignore=ignore)
    env = {k: v for k, v in os.environ.items() if k not in (paths.ENV_VAR, "PYTHONPATH")}
    env.update(PYTHONPATH=str(tmp / "site"), TVM_TINYTRAIN_CACHE=str(tmp / "cache"), TINYTRAIN_MIRROR=closed_port())
    (tmp / "work").mkdir()
    return env, tmp / "work"


def run(offline, *argv) -> str:
    env, work = offline
    result = subprocess.run([sys.executable, *argv], cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "fetching it" not in result.stdout + result.stderr  # ensure_available found everything
    return result.stdout


def test_the_copy_sees_only_the_cache(offline):
    out = run(offline, "-c", "import tvm_tinytrain.paths as p, tvm_tinytrain.passes as q;"
                             "print(p.__file__, q.__file__, p.data_roots(), p.locate('cifar10')[1])")
    site = str(Path(offline[0]["PYTHONPATH"]))
    paths_file, passes_file, *rest = out.split(" ", 2)
    assert paths_file.startswith(site) and passes_file.startswith(site)
    assert "../shared" not in rest[0] and "TINYTRAIN_DATA" not in rest[0]
    assert out.rstrip().endswith("cache/data/cifar10/cifar-10-binary.tar.gz")


def test_host_training_offline_from_the_cache(offline):
    run(offline, "-m", "tvm_tinytrain.cli", "train", "mcunet-5fps", "--scheme", "paper-49kb", "--data",
        "cifar10:classes=0,1", "--epochs", "1", "--train-per-class", "1", "--test-per-class", "1", "--target",
        "host", "--out", "run")
    assert (offline[1] / "run" / "checkpoint.npz").is_file()


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_the_demo_offline_from_the_cache(offline):
    out = run(offline, "-m", "tvm_tinytrain.demo", "--steps", "2", "--epochs", "1", "--classes",
              "airplane,automobile", "--held-out", "1")
    assert "the host build of the same C gives the same losses and logits" in out and "demo finished" in out
