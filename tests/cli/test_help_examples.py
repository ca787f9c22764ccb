"""The example under each command's --help works: every one read out of the help text, parsed by
the real parser, and the cheap ones run for real, so an example that stops working fails here."""
import re
import shlex
import shutil

import pytest

from tvm_tinytrain import paths
from tvm_tinytrain.cli import build_parser, main
from tvm_tinytrain.targets.qemu import toolchain_missing


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def commands(capsys) -> list[str]:
    return re.search(r"\{([a-z,-]+)\}", help_text(capsys)).group(1).split(",")


def example(capsys, command) -> list[str]:
    """The command's example, as the shell would split it, without the program name."""
    found = re.search(r"\nexample:\n  (tvm-tinytrain .+)\n", help_text(capsys, command))
    assert found, f"`tvm-tinytrain {command} --help` shows no example"
    argv = shlex.split(found.group(1))
    assert argv[:2] == ["tvm-tinytrain", command]
    return argv[1:]


def test_every_command_has_an_example_the_parser_takes(capsys):
    names = commands(capsys)
    assert {"inspect", "plan", "compile", "train", "fetch", "doctor"} <= set(names)
    for name in names:
        args = build_parser().parse_args(example(capsys, name))  # exits on a flag or value it refuses
        assert args.command == name


def run_example(capsys, command, folder, monkeypatch) -> str:
    argv = example(capsys, command)
    monkeypatch.chdir(folder)  # the example's relative --out lands in a fresh folder
    assert main(argv) == 0, capsys.readouterr()
    return capsys.readouterr().out


def test_inspect_and_plan_examples_run(capsys, tmp_path, monkeypatch):
    assert "first_conv" in run_example(capsys, "inspect", tmp_path, monkeypatch)
    assert "peak" in run_example(capsys, "plan", tmp_path, monkeypatch)


def test_convert_weights_example_runs(capsys, tmp_path, monkeypatch):
    shared = paths.shared_root()
    pkl = shared / "weights" / "tiny-training-pkl" / "mcunet-5fps.pkl" if shared else None
    if pkl is None or not pkl.exists():
        pytest.skip("needs the paper's mcunet-5fps.pkl in ../shared/datasets")
    shutil.copy(pkl, tmp_path)
    run_example(capsys, "convert-weights", tmp_path, monkeypatch)
    assert (tmp_path / "weights" / "mcunet-5fps.npz").exists() and (tmp_path / "weights" / "mcunet-5fps.json").exists()


@pytest.mark.skipif(bool(toolchain_missing()), reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_compile_example_runs(capsys, tmp_path, monkeypatch):
    assert "fits cortex-m7" in run_example(capsys, "compile", tmp_path, monkeypatch)
    assert (tmp_path / "build" / "m7" / "model.c").exists()


def test_quantize_example_runs(capsys, tmp_path, monkeypatch):
    assert "int8 layer graph" in run_example(capsys, "quantize", tmp_path, monkeypatch)
    assert (tmp_path / "resnet8-int8.json").exists()
