"""benchmarks.ptq_agreement end to end on a tiny configuration (TinyResNet, both import paths)."""
import json

from benchmarks.ptq_agreement import main

FIELDS = {"model", "import_path", "fp32_acc", "int8_acc", "agreement", "bit_exact_mismatches", "n_test", "train"}


def test_ptq_agreement_smoke(tmp_path):
    out = tmp_path / "ptq"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a user's file in the output folder survives
    main(["--out", str(out), "--models", "tinyresnet", "--epochs", "1", "--train-per-class", "20",
          "--test-per-class", "5"])

    summary = json.loads((out / "summary.json").read_text())
    rows = summary["rows"]
    assert [(r["model"], r["import_path"]) for r in rows] == [("tinyresnet", "torch"), ("tinyresnet", "onnx")]
    for row in rows:
        assert FIELDS <= set(row)
        assert row["n_test"] == 50
        assert row["bit_exact_mismatches"] == 0
        assert 0.0 <= row["agreement"] <= 1.0
        assert 0.0 <= row["fp32_acc"] <= 1.0 and 0.0 <= row["int8_acc"] <= 1.0
        assert row["train"]["epochs"] == 1 and row["train"]["train_per_class"] == 20
    assert rows[0]["fp32_acc"] == rows[1]["fp32_acc"]  # one trained model, two import paths
    assert (out / "ptq_agreement.png").stat().st_size > 0
    assert "| TinyResNet | onnx |" in (out / "results.md").read_text()
    assert (out / "notes.txt").read_text() == "mine"
