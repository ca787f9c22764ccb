"""The wheel works outside the repository: `pip wheel` of the checkout, installed into a new
virtualenv in a temporary folder, compiles for the host and the Cortex-M7 and trains on the host
and on QEMU, run from that virtualenv's own `bin/tvm-tinytrain` with the working folder outside
the checkout. An editable install hides a missing subpackage or data file: at e6a155e the wheel
lacked tvm_tinytrain.passes.gradients, and the first `compile` from it failed.

What is real: the wheel (built by pip from the checkout's files, as they would be committed: no
build/ left over), the virtualenv (`python -m venv`, with its own pip), the installation of the
wheel by that pip, the console script, every command, the toolchains, QEMU and the data (the
real datasets folder, through TINYTRAIN_DATA: nothing beside the install holds data).
What is a shortcut: the dependencies (TVM, torch, numpy, ...) are not installed into the new
virtualenv (no network, and minutes of copying); a `.pth` file there names the site-packages folder
of the interpreter running the tests, and the wheel is installed with `--no-deps --no-index`.
A path line in a `.pth` does not run that folder's own `.pth` files, so the editable install of
the checkout is not visible to the new virtualenv (checked before the wheel is installed).
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tvm_tinytrain import __version__
from tvm_tinytrain.paths import data_root
from tvm_tinytrain.targets.qemu import toolchain_missing

REPO = Path(__file__).resolve().parents[1]
# Source folder -> where its files land in the wheel (setup.py's package_dir).
PACKAGE_DIRS = {"tvm_tinytrain": "tvm_tinytrain", "passes": "tvm_tinytrain/passes", "codegen": "tvm_tinytrain/codegen"}
# Path constants derived from __file__ that are not read at run time: the docs tables that
# `python -m tvm_tinytrain.options` / `.layer_kinds` regenerate in a checkout.
REPOSITORY_ONLY = {"tvm_tinytrain.options.TABLE_PATH", "tvm_tinytrain.layer_kinds.TABLE_PATH"}
needs_arm = pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")


def _run(argv, cwd, env=None, status=0):
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == status, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def _checkout_files() -> list[str]:
    """The checkout's files as they would be committed: tracked and new, not ignored."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout
    return [name for name in listed.split("\n") if name and (REPO / name).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    for name in _checkout_files():
        (tmp / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, tmp / "src" / name)
    _run([sys.executable, "-m", "pip", "wheel", str(tmp / "src"), "--no-deps", "--no-build-isolation", "-q",
          "--disable-pip-version-check", "-w", str(tmp / "dist")], tmp)
    return next((tmp / "dist").glob("tvm_tinytrain-*.whl"))


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    """A new virtualenv with the wheel installed, a working folder and the environment of its commands."""
    tmp = tmp_path_factory.mktemp("elsewhere")
    assert REPO not in tmp.parents and tmp not in REPO.parents
    _run([sys.executable, "-m", "venv", str(tmp / "venv")], tmp)
    python = tmp / "venv" / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PIP_DISABLE_PIP_VERSION_CHECK="1", TINYTRAIN_DATA=str(data_root()),
               TVM_TINYTRAIN_CACHE=str(tmp / "cache"))
    seen = _run([python, "-c", "import importlib.util as u; print(*(u.find_spec(m) is not None for m in "
                 "('tvm', 'torch', 'numpy', 'tvm_tinytrain')))"], tmp, env).split()
    assert seen == ["True", "True", "True", "False"], f"before the wheel: tvm, torch, numpy, tvm_tinytrain found {seen}"
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], tmp, env)
    (tmp / "work").mkdir()
    return {"tmp": tmp, "site": site, "python": python, "cli": tmp / "venv" / "bin" / "tvm-tinytrain",
            "work": tmp / "work", "env": env}


def test_the_wheel_holds_every_module_and_data_file(wheel):
    assert wheel.name == f"tvm_tinytrain-{__version__}-py3-none-any.whl"
    inside = set(zipfile.ZipFile(wheel).namelist())
    sources = [name for name in _checkout_files() if name.split("/")[0] in PACKAGE_DIRS]
    data = [name for name in sources if not name.endswith(".py")]
    assert {"tvm_tinytrain/paper_schemes.json", "codegen/host_main.c", "codegen/kernels/tt_kernels.h",
            "tvm_tinytrain/targets/boards/cortex-m7.json", "tvm_tinytrain/targets/firmware/link.ld.in"} <= set(data)
    top, _, rest = zip(*(name.partition("/") for name in sources))
    missing = [src for src, folder, rel in zip(sources, top, rest) if f"{PACKAGE_DIRS[folder]}/{rel}" not in inside]
    assert not missing, f"not in the wheel (setup.py packages / package_data): {missing}"


def test_every_path_the_installed_code_anchors_on_its_files_exists(venv):
    """Each module-level Path built from a module's __file__ (kernels, firmware, boards, schemes):
    present in the installed package, not only in the checkout."""
    script = f"""
import importlib, pathlib, sys
site = pathlib.Path({str(venv['site'])!r})
names = sorted(".".join(p.relative_to(site).with_suffix("").parts) for p in (site / "tvm_tinytrain").rglob("*.py")
               if "__file__" in p.read_text())
for name in names:
    module = importlib.import_module(name.removesuffix(".__init__"))
    assert pathlib.Path(module.__file__).is_relative_to(site), module.__file__
    for attr, value in vars(module).items():
        if isinstance(value, pathlib.Path) and value.is_relative_to(site.parent.parent):
            print(f"{{name}}.{{attr}}", value.exists())
"""
    found = dict(line.split() for line in _run([venv["python"], "-c", script], venv["work"], venv["env"]).splitlines())
    assert {"tvm_tinytrain.schemes.PAPER_FILE", "tvm_tinytrain.codegen.host_build.KERNEL_DIR",
            "tvm_tinytrain.codegen.host_runner.HOST_MAIN", "tvm_tinytrain.targets.qemu.BOARD_DIR",
            "tvm_tinytrain.targets.qemu.FIRMWARE_DIR"} <= set(found)
    absent = [name for name, exists in found.items() if exists != "True" and name not in REPOSITORY_ONLY]
    assert not absent, f"read at run time but not installed: {absent}"


def test_version_and_doctor_name_the_install(venv):
    version = _run([venv["cli"], "--version"], venv["work"], venv["env"])
    assert version.startswith(f"tvm-tinytrain {__version__} (TVM 0.27"), version
    report = _run([venv["cli"], "doctor"], venv["work"], venv["env"], status=None if toolchain_missing() else 0)
    assert f"installed: {venv['site'] / 'tvm_tinytrain'}\n" in report
    assert f"TINYTRAIN_DATA       {data_root()} (present)" in report and "../shared/datasets   absent" in report
    assert f"  backbones            {data_root()}" in report


def _cli(venv, *argv):
    return _run([venv["cli"], *argv], venv["work"], venv["env"])


def test_compile_for_the_host_from_the_install(venv):
    _cli(venv, "compile", "mcunet-5fps", "--scheme", "bias-only", "--out", "host")
    assert (venv["work"] / "host" / "kernels" / "tt_kernels.h").is_file()


@needs_arm
def test_compile_for_cortex_m7_from_the_install(venv):
    out = _cli(venv, "compile", "mcunet-5fps", "--scheme", "paper-100kb", "--target", "cortex-m7", "--out", "m7")
    assert "fits cortex-m7" in out and (venv["work"] / "m7" / "model.c").is_file()


TRAIN = ("--data", "cifar10:classes=0,1", "--epochs", "1", "--train-per-class", "2", "--test-per-class", "1",
         "--lr", "0.005")


def test_train_on_the_host_from_the_install(venv):
    _cli(venv, "train", "mcunet-5fps", "--scheme", "bias-only", *TRAIN, "--out", "run-host")
    assert (venv["work"] / "run-host" / "checkpoint.npz").is_file()


@needs_arm
def test_train_on_qemu_from_the_install(venv):
    _cli(venv, "train", "mcunet-5fps", "--scheme", "paper-100kb", "--target", "cortex-m7", *TRAIN, "--out", "run-m7")
    assert (venv["work"] / "run-m7" / "checkpoint.npz").is_file()
