"""benchmarks.user_models end to end on a tiny budget (the MLP-head CNN on MNIST): quantize from
torch and ONNX, compile for host and cortex-m7, train --lr auto, QEMU == host, TVM == C; then a
rerun resumes from the stored result instead of running the model again."""
import shutil

import pytest
import torch

import benchmarks.user_models as um


def test_pretrained_head_keeps_the_pretrained_rows(tmp_path):
    case = next(c for c in um.CASES if c.name == "mlp_head_cnn")
    model, _ = um.build(case, 6)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    wider, _ = um.pretrained("mlp_head_cnn", str(tmp_path / "w.pt"), 10)
    assert torch.equal(wider.classifier.weight[:6], model.classifier.weight)
    assert torch.equal(wider.hidden.weight, model.hidden.weight)
    norms = wider.classifier.weight[6:].norm(dim=1)
    assert torch.allclose(norms, model.classifier.weight.norm(dim=1).mean().expand(4), rtol=1e-5)


@pytest.mark.skipif(not (shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")),
                    reason="needs arm-none-eabi-gcc and qemu-system-arm")
def test_user_models_smoke(tmp_path, monkeypatch):
    results, work = tmp_path / "results", tmp_path / "work"
    args = ["--quick", "--models", "mlp_head_cnn", "--results", str(results), "--work", str(work)]
    [r] = um.main(args)
    assert r["model"] == "mlp_head_cnn" and r["torch_onnx_losses_equal"] and r["same_quantization"]
    d = r["device"]
    assert d["device_equals_host"] and d["qemu_losses"] == d["host_losses"] and len(d["qemu_losses"]) == 2
    assert d["tvm_equals_c"] and d["instructions_per_step"] > 0 and d["stack_bytes"] > 0
    assert d["ram_bytes"] >= r["arena_bytes"] + r["updated_param_bytes"] and d["flash_bytes"] > r["const_bytes"]
    assert 0 < r["lr_auto"] < 1 and r["lr_reason"]
    assert r["train_samples"] == 20 and "fits cortex-m7" in r["compile_output"]["cortex-m7"]
    text = (results / "results.md").read_text()
    assert "| CNN + MLP head" in text and "| resnet8 | not run |" in text
    assert (results / "user_models.png").stat().st_size > 0

    def refuse(*_):
        raise AssertionError("a model with stored results was run again")

    monkeypatch.setattr(um, "run_case", refuse)
    assert um.main(args) == [r]
