"""benchmarks.qas_experiment: each variant's optimizer settings reach the engine that runs it (the
paper's baseline: no QAS, momentum 0.9, a float32 classifier, one rate for every tensor); mean and
standard error over seeds; the --lrs grammar; the table and plot writers on made-up rows."""
import math

import pytest

from benchmarks import qas_experiment as qe
from tvm_tinytrain.backbones import load_backbone
from tvm_tinytrain.passes.training_graph import main_attr
from tvm_tinytrain.scheme import FLOAT_COPY, is_state, state_name

LR = 0.0004


@pytest.fixture(scope="module")
def graph():
    return load_backbone("mcunet-5fps", num_classes=10)


@pytest.mark.parametrize("name,qas,fp32_head,momentum,float_copy", [
    ("int8", False, False, 0.0, False), ("int8+QAS", True, False, 0.0, False),
    ("int8-paper", False, True, 0.9, False), ("int8+QAS-paper", True, True, 0.9, False),
    ("int8+QAS-paper-fcopy", True, True, 0.9, True), ("int8-paper-nomom", False, True, 0.0, False),
    ("int8+QAS-paper-nomom", True, True, 0.0, False), ("int8+QAS-paper-nomom-fcopy", True, True, 0.0, True),
    ("fp32-paper", True, False, 0.9, False)])
def test_variant_schemes_as_documented(graph, name, qas, fp32_head, momentum, float_copy):
    scheme = qe.variant_scheme(name, "last-1", graph, LR)
    assert (scheme.qas, scheme.fp32_classifier, scheme.momentum, scheme.float_copy) == \
        (qas, fp32_head, momentum, float_copy)
    assert scheme.lr_weight == scheme.lr_bias == LR


@pytest.mark.parametrize("name", ["int8-paper", "int8+QAS-paper", "int8+QAS-paper-fcopy"])
def test_paper_recipe_reaches_the_c_step(graph, monkeypatch, name):
    """The program the C engine is given has QAS as the variant says, a float32 classifier, a float32
    velocity for every trained tensor (momentum) and, with the float copy, a copy of every trained
    int8 / int32 tensor."""
    from tvm_tinytrain.training import engines

    given = []
    monkeypatch.setattr(engines, "CEngine", lambda program: given.append(program) or program)
    scheme = qe.variant_scheme(name, "last-1", graph, LR)
    program = qe.make_engine(name, graph, scheme)
    assert given == [program] and program.scheme == scheme
    assert bool(main_attr(program.mod, "tt.qas")) == qe.VARIANTS[name].qas
    assert program.params[graph.output + ".weight"].dtype.name == "float32"
    trained = [p for p in program.updated if not is_state(p)]
    assert trained and all(state_name(p) in program.params for p in trained)
    copied = [p for p in trained if program.params[p].dtype.name != "float32"]
    assert copied and all((state_name(p, FLOAT_COPY) in program.params) == qe.VARIANTS[name].float_copy
                          for p in copied)


def test_fp32_paper_engine_has_momentum(graph):
    engine = qe.make_engine("fp32-paper", graph, qe.variant_scheme("fp32-paper", "last-1", graph, LR))
    assert [(g["momentum"], g["lr"]) for g in engine.opt.param_groups] == [(0.9, LR), (0.9, LR)]


def test_mean_se_and_lrs():
    assert qe.mean_se([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / math.sqrt(3)))
    assert qe.mean_se([5.0]) == (5.0, 0.0)
    rates = qe.parse_lrs(["int8=0.005,5", "int8-paper=0.0004"], 0.01)
    assert rates["int8"] == [0.005, 5.0] and rates["int8-paper"] == [0.0004] and rates["fp32"] == [0.01]
    for bad in ("int9=0.1", "int8=", "int8=fast"):
        with pytest.raises(SystemExit, match="--lrs"):
            qe.parse_lrs([bad], 0.01)


def test_table_groups_seeds(tmp_path):
    def row(variant, lr, seed, acc):
        epochs = [{"epoch": 1, "loss": 1.0, "test_accuracy": acc}]
        return {"variant": variant, "lr": lr, "seed": seed, "accuracy": acc, "initial_accuracy": 0.1,
                "epochs": epochs, "seconds": 60.0}

    cfg = {"model": "mcunet-5fps", "data": "cifar10", "scheme": "last-2", "train_per_class": 100,
           "test_per_class": 100, "epochs": 1, "warmup_epochs": 0.5}
    rows = [row("int8-paper", 0.0004, 0, 0.5), row("int8-paper", 0.0004, 1, 0.6), row("fp32", 0.005, 0, 0.7)]
    qe.write_outputs({"config": cfg, "results": rows}, tmp_path)
    lines = (tmp_path / "results.md").read_text().splitlines()
    body = [line for line in lines if line.startswith("| fp32") or line.startswith("| int8")]
    assert body[0].startswith("| fp32 |") and "| 70.0 | 1 |" in body[0]
    assert body[1].startswith("| int8-paper |") and "| 0.0004 | 55.0 ± 5.0 | 2 | 10.0 | 75.4 | 1.0 |" in body[1]
    assert (tmp_path / "qas.png").stat().st_size > 0


@pytest.mark.slow
def test_body_changes_counts_what_qas_moves():
    """In 100 steps without QAS at the paper's rate, the body's int32 biases keep every value; with QAS
    they move (the counts the docs quote for the full epoch)."""
    plain = qe.body_changes("int8-paper", "mcunet-5fps", "cifar10", "last-1", LR, images_per_class=10)
    qas = qe.body_changes("int8+QAS-paper", "mcunet-5fps", "cifar10", "last-1", LR, images_per_class=10)
    assert plain.keys() == qas.keys() and "classifier.weight" not in plain
    biases = [name for name in plain if name.endswith(".bias")]
    assert biases and all(plain[b]["changed"] == 0 for b in biases)
    assert sum(qas[b]["changed"] for b in biases) > 0
