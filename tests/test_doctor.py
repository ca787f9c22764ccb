"""`tvm-tinytrain doctor` and `--version` through the real command line: ready on this machine;
each missing tool named with its apt package when PATH lacks it; each missing data item named
with its fetch command when no datasets folder exists; the cache found when only it holds the data."""
import re
import shutil
import sys
from pathlib import Path

import pytest

import tvm_tinytrain

from data_isolation import only_this_data
from tvm_tinytrain import __version__, paths
from tvm_tinytrain.cli import main
from tvm_tinytrain.targets.qemu import toolchain_missing

APT = "sudo apt-get install --no-install-recommends"
needs_tools = pytest.mark.skipif(bool(toolchain_missing()) or shutil.which("gcc") is None,
                                 reason="needs arm-none-eabi-gcc, qemu-system-arm and gcc")


def _doctor(capsys):
    status = main(["doctor"])
    out, err = capsys.readouterr()
    return status, out, err


def _line(out: str, name: str) -> str:
    """The report line whose first word is `name`."""
    return next(line for line in out.splitlines() if line.split()[:1] == [name])


def _path_with(tmp_path, monkeypatch, **scripts):
    """PATH = one folder holding the host gcc and the given fake tools (name -> shell script body)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "gcc").symlink_to(shutil.which("gcc"))
    for name, body in scripts.items():
        (bin_ / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_ / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_))


def test_version_names_the_package_tvm_torch_and_python(capsys):
    import torch
    import tvm

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    python = ".".join(map(str, sys.version_info[:3]))
    assert capsys.readouterr().out == (f"tvm-tinytrain {__version__} (TVM {tvm.__version__}, torch "
                                       f"{torch.__version__}, Python {python})\n")
    assert __version__ == "0.2.0"


@needs_tools
def test_ready_on_this_machine(capsys):
    status, out, err = _doctor(capsys)
    assert status == 0 and err == "", err
    lines = out.splitlines()
    assert lines[0].startswith(f"tvm-tinytrain {__version__} (TVM ")
    assert lines[1] == f"installed: {Path(tvm_tinytrain.__file__).parent}"
    assert [line.split()[0] for line in lines[3:6]] == [paths.ENV_VAR, "../shared/datasets", "cache"]
    for item in paths.FORMS:  # each where the lookup finds it
        label, found = paths.locate(item)
        assert _line(out, item) == f"  {item:<20} {found} ({label})"
    assert "newlib (libc.a)" in out and re.search(r"libc\.a\n", out)
    assert "missing" not in out and lines[-1].startswith("ready: ")


@needs_tools
def test_without_the_arm_tools_each_is_named_with_its_apt_package(tmp_path, monkeypatch, capsys):
    _path_with(tmp_path, monkeypatch)  # only the host compiler
    status, out, err = _doctor(capsys)
    assert status == 1
    for tool, package in (("arm-none-eabi-gcc", "gcc-arm-none-eabi"), ("arm-none-eabi-size", "binutils-arm-none-eabi"),
                          ("newlib (libc.a)", "libnewlib-arm-none-eabi"), ("qemu-system-arm", "qemu-system-arm")):
        assert f"  {tool:<20} missing: apt package {package}\n" in out
    assert _line(out, "host").startswith("  host C compiler      ") and "missing" not in _line(out, "host")
    assert err == ("error: not ready for the demo: arm-none-eabi-gcc, arm-none-eabi-size, newlib (libc.a), "
                   f"qemu-system-arm (install them: {APT} gcc-arm-none-eabi binutils-arm-none-eabi "
                   "libnewlib-arm-none-eabi qemu-system-arm)\n")


@needs_tools
def test_an_arm_gcc_without_newlib_names_newlib(tmp_path, monkeypatch, capsys):
    # gcc prints the bare name when its library search finds no libc.a (no libnewlib-arm-none-eabi)
    gcc = 'case "$1" in --version) echo "arm-none-eabi-gcc 12.2.1";; -print-file-name=*) echo libc.a;; esac'
    _path_with(tmp_path, monkeypatch, **{"arm-none-eabi-gcc": gcc, "arm-none-eabi-size": "true",
                                        "qemu-system-arm": "echo QEMU emulator version 7.2"})
    status, out, err = _doctor(capsys)
    assert status == 1
    assert "  arm-none-eabi-gcc    arm-none-eabi-gcc 12.2.1\n" in out
    assert "  newlib (libc.a)      missing: apt package libnewlib-arm-none-eabi\n" in out
    assert err == f"error: not ready for the demo: newlib (libc.a) (install them: {APT} libnewlib-arm-none-eabi)\n"


@needs_tools
def test_with_no_data_anywhere_each_item_names_its_fetch(tmp_path, monkeypatch, capsys):
    only_this_data(monkeypatch, None, tmp_path / "cache")
    status, out, err = _doctor(capsys)
    assert status == 1
    assert f"  {paths.ENV_VAR:<20} not set\n" in out
    assert "  ../shared/datasets   absent" in out
    assert f"  cache                {tmp_path / 'cache' / 'data'} (absent: `tvm-tinytrain fetch` fills it)\n" in out
    for item in paths.FETCHABLE:
        assert _line(out, item) == f"  {item:<20} missing: run `tvm-tinytrain fetch {item}` (or set {paths.ENV_VAR} " \
                                   f"to a datasets folder holding it)"
    for item in ("mnist", "samples"):
        assert _line(out, item) == f"  {item:<20} missing: {paths.fix_for(item)}"
    # only what the demo reads makes it not ready
    assert err.startswith("error: not ready for the demo: backbones (run `tvm-tinytrain fetch backbones`")
    assert "cifar10 (run `tvm-tinytrain fetch cifar10`" in err and "fashion-mnist" not in err
    assert len(err.splitlines()) == 1


@needs_tools
def test_data_only_in_the_cache_is_found_there(tmp_path, monkeypatch, capsys):
    only_this_data(monkeypatch, None, tmp_path / "cache")
    data = tmp_path / "cache" / "data"
    for rel in (paths.FORMS["backbones"][0], paths.FORMS["cifar10"][-1]):  # the official CIFAR-10 binary form
        (data / rel).parent.mkdir(parents=True, exist_ok=True)
        (data / rel).write_bytes(b"x")
    status, out, err = _doctor(capsys)
    assert status == 0, err
    assert f"  cache                {data} (present)\n" in out
    assert _line(out, "cifar10") == f"  cifar10              {data / paths.FORMS['cifar10'][-1]} (cache)"
    assert _line(out, "fashion-mnist").startswith("  fashion-mnist        missing: run `tvm-tinytrain fetch")
