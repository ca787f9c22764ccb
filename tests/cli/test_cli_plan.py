"""`tvm-tinytrain plan`: the memory plan of a scheme's training graph, as JSON or text,
the dumped stages, and one-line errors; its arena is the generated program's (memory.json), and its
liveness is what that arena holds: no sample when the sample arrives in rows (codegen/input_stream.py)."""
import json
import subprocess
import sys
from dataclasses import replace

import pytest

from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.cli import main
from tvm_tinytrain.codegen.emit import generate, plan_arena
from tvm_tinytrain.codegen.input_stream import program_input
from tvm_tinytrain.passes.pipeline import STAGES, build_training
from tvm_tinytrain.schemes import resolve_scheme


@pytest.fixture(scope="module")
def program():
    graph = load_backbone("mcunet-5fps", num_classes=10)
    return build_training(graph, resolve_scheme("paper-100kb", graph))


@pytest.fixture(scope="module")
def expected(program):
    return program.memory


def test_plan_json_peak_matches_the_pipeline(capsys, expected, tmp_path):
    assert main(["plan", "mcunet-5fps", "--scheme", "paper-100kb", "--json", "--dump", str(tmp_path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "mcunet-5fps" and data["scheme"] == "paper-99kb"  # the nearest paper scheme
    assert data["peak_bytes"] == expected.peak_bytes > 0
    assert data["updated_param_bytes"] == expected.updated_param_bytes
    assert len(data["ops"]) == len(expected.ops)
    dumped = sorted(p.name for p in tmp_path.iterdir())
    assert dumped == [f"{i:02d}_{stage}.py" for i, stage in enumerate(STAGES)]
    last = f"{STAGES.index('reorder'):02d}_reorder.py"  # the last training stage; then the prediction module
    assert dumped[0] == "00_lower.py" and dumped[-2:] == [last, f"{len(STAGES) - 1:02d}_predict.py"]
    for name in dumped:
        text = (tmp_path / name).read_text()
        assert "def main(" in text, name
    assert "sgd_s8" in (tmp_path / "05_sgd_update.py").read_text()
    assert "grad_update" in (tmp_path / last).read_text()  # fuse_grad_update
    assert "sgd_s8" not in (tmp_path / "04_qas.py").read_text()
    predict = (tmp_path / dumped[-1]).read_text()
    assert "conv_dw_pw_rows_s8" in predict and "sgd" not in predict and "label" not in predict  # forward only


def test_plan_text(capsys, program, expected):
    assert main(["plan", "mcunet-5fps", "--scheme", "paper-100kb"]) == 0
    out = capsys.readouterr().out
    assert "peak live bytes" in out
    assert f"peak live bytes {expected.peak_bytes:,}" in out  # MCUNet's peak is in the backward: no sample there
    assert "paper-99kb" in out and "live at the peak:" in out
    memory = generate(program).memory
    assert f"arena {memory['arena_bytes']:,} B (training step {memory['train_arena_bytes']:,} B" in out
    assert f"the sample: {memory['input']['why']}" in out and memory["input"]["rows"]
    assert f"the stem's output: training step {memory['input']['stem_output']['train']}; prediction" in out


@pytest.mark.parametrize("model, scheme, budget, rows", [
    ("mbv2-w0.35", "paper-100kb", [], True),  # streamed: its peak was the stem, beside the 48 KB sample
    # the budget takes the backward down to the forward: the step and then the prediction pull the stem's rows
    pytest.param("proxyless-w0.3", "paper-100kb", ["--sram-budget", "115K"], True, marks=pytest.mark.slow),  # ~40 s
    pytest.param("mcunet-5fps", "paper-100kb", [], True, marks=pytest.mark.slow),
    ("mcunet-5fps", "full", [], False),       # the stem trains: the whole image, in the arena
])
def test_plan_arena_is_the_generated_programs(capsys, monkeypatch, model, scheme, budget, rows):
    import tvm_tinytrain.compiler as compiler

    runs, original = [], compiler.compile  # the Compiled of plan's run: its generated project is the one to agree with
    monkeypatch.setattr(compiler, "compile", lambda *a, **k: runs.append(original(*a, **k)) or runs[-1])
    assert main(["plan", model, "--scheme", scheme, "--json", *budget]) == 0
    data = json.loads(capsys.readouterr().out)
    (compiled,) = runs
    memory, whole = compiled.project.memory, compiled.program.memory  # whole: the liveness with the sample
    for key in ("arena_bytes", "train_arena_bytes", "predict_arena_bytes", "input"):
        assert data[key] == memory[key], key
    assert data["input"]["rows"] is rows
    planned = {b["tensor"]: b["size"] for b in memory["plan"]}
    live = {t["name"]: t["bytes"] for t in data["tensors"]}
    assert set(live) == set(planned)  # the tensors plan reports are the arena's buffers ...
    assert all(planned[name] == (size + 7) // 8 * 8 for name, size in live.items())  # ... at their sizes
    assert data["peak_bytes"] <= data["train_arena_bytes"]  # what is live at once fits the planned arena
    assert data["peak_bytes"] == memory["peak_live_bytes"]
    sample = compiled.program.mod["main"].params[0].name
    if rows:
        assert sample not in live and data["peak_bytes"] <= whole.peak_bytes
        assert data["peak_bytes"] < whole.peak_bytes or whole.peak_op != 0  # lower where the sample was in the peak
        # the prediction: blocks.1 pulls the stem's output rows (its peak beside blocks.1, op 1) where that lowers the
        # program's arena, the larger of the two
        predict_path = program_input(compiled.program.mod, compiled.program.predict)[1]
        unchained = plan_arena(compiled.program.predict, replace(predict_path, chained=None))[1].arena_bytes
        if unchained > data["train_arena_bytes"]:
            assert data["input"]["stem_output"]["predict"].startswith("rows, pulled by conv_dw_pw_rows_s8 of blocks.1.")
            assert data["predict_arena_bytes"] < unchained
        else:
            assert data["input"]["stem_output"]["predict"].startswith("whole: the prediction's arena")
            assert data["predict_arena_bytes"] == unchained
        assert bool(budget) == (unchained > data["train_arena_bytes"])  # 115K takes Proxyless's step below it
    else:
        assert live[sample] == 3 * 128 * 128 and data["peak_bytes"] == whole.peak_bytes


def test_plan_bad_scheme_is_one_line():
    argv = ["plan", "mcunet-5fps", "--scheme", "paper-1kb"]
    result = subprocess.run([sys.executable, "-m", "tvm_tinytrain.cli", *argv], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "paper-99kb" in result.stderr  # names the real ones
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n")
    assert result.stdout == ""


def test_plan_unknown_scheme_in_process(capsys):
    assert main(["plan", "mcunet-5fps", "--scheme", "no-such-scheme"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and "no-such-scheme" in captured.err
    assert captured.err.count("\n") == 1
