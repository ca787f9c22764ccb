"""`compile(model, scheme, **options)`: one pipeline run gives the training program, the prediction
module and the C; `check=True` checks every stage and names the one that broke the module."""
import json
import warnings

import numpy as np
import pytest

from tvm_tinytrain._tvm import relax, tensor_type
from tvm_tinytrain.codegen.templates import c_float
from tvm_tinytrain.compiler import compile
from tvm_tinytrain.errors import TinyTrainError
from tvm_tinytrain.model_spec import load_model
from tvm_tinytrain.passes import pipeline
from tvm_tinytrain.passes.training_graph import op_bindings
from tvm_tinytrain.scheme import Scheme

TINY = "tvm_tinytrain.models.tiny_resnet:build"


@pytest.fixture(scope="module")
def tiny():
    from tvm_tinytrain.quantization.calibration import quantize_for_shapes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random calibration inputs leave dead channels
        return quantize_for_shapes(load_model(TINY))


def test_one_run_gives_program_prediction_and_c(tiny):
    compiled = compile(tiny, "bias-only", check=True, qas=False, lr_weight=0.01)
    assert compiled.scheme.qas is False and compiled.scheme.lr_weight == 0.01 and compiled.scheme.lr_bias == 0.05
    assert compiled.program.graph is tiny and compiled.program.memory.peak_bytes > 0
    predict_params = [p.name for p in compiled.predict["main"].params]
    assert predict_params[0] == "x" and "label" not in predict_params  # the forward only
    assert set(predict_params[1:]) <= set(compiled.program.params)  # the training step's parameters
    assert "sgd" not in compiled.predict.script()
    assert compiled.project is compiled.project  # generated once
    memory = json.loads(compiled.project.files["memory.json"])
    assert memory == compiled.memory and memory["scheme"] == "bias-only" and memory["fp32_classifier"] is False
    assert f"static float tt_lr_weight = {c_float(0.01)};" in compiled.project.files["model.c"]


def test_the_fp32_head_is_a_stage_of_the_same_pipeline(tiny):
    compiled = compile(tiny, "bias-only", fp32_classifier=True, check=True)
    ops = [b.op for b in op_bindings(compiled.predict)]
    assert ops[-1] == "linear_f32"  # the trained float head ends tt_predict, as in the training step
    assert compiled.memory["fp32_classifier"] is True
    assert "float *logits" in compiled.project.files["model.h"]


def test_a_resolved_scheme_takes_the_overrides(tiny):
    scheme = Scheme("head", bias=(tiny.output,))
    compiled = compile(tiny, scheme, lr_bias=0.2, qas=None)
    assert compiled.scheme == Scheme("head", bias=(tiny.output,), lr_bias=0.2)
    with pytest.raises(TinyTrainError, match="override: lr_bias must be a finite number >= 0"):
        compile(tiny, scheme, lr_bias=-1.0)


def test_a_model_spec_is_loaded_with_its_head():
    assert compile("mcunet-5fps", "bias-only", num_classes=5).graph.num_classes == 5


def test_options_are_checked():
    with pytest.raises(TinyTrainError, match=r"unknown option 'lr'; the options are lr_weight, lr_bias, qas, "
                                             r"fp32_classifier, momentum, float_copy, loss and check"):
        compile("mcunet-5fps", "bias-only", lr=0.1)
    with pytest.raises(TinyTrainError, match="compile: check must be true or false, got 'yes'"):
        compile("mcunet-5fps", "bias-only", check="yes")


def test_an_fp32_model_must_be_quantized_first():
    with pytest.raises(TinyTrainError, match=r"compile: .*tiny_resnet:build is an fp32 model: quantize it first"):
        compile(TINY, "bias-only")


def _free_variable(mod):
    """A module whose main returns a variable nothing defines (ill-formed Relax)."""
    main = mod["main"]
    stray = relax.Var("stray", tensor_type((1,), "float32"))
    mod = mod.clone()
    mod["main"] = relax.Function(list(main.params), stray, tensor_type((1,), "float32")).with_attrs(main.attrs)
    return mod


def _untyped_op(mod):
    """A module whose main ends with a plain Relax op, no tt op record behind it."""
    main = mod["main"]
    bb = relax.BlockBuilder()
    with bb.function("main", list(main.params)):
        with bb.dataflow():
            out = bb.emit_output(relax.op.add(main.params[0], main.params[0]))
        bb.emit_func_output(out)
    new = mod.clone()
    new["main"] = bb.get()["main"].with_attrs(main.attrs)
    return new


@pytest.mark.parametrize("breaker, why", [(_free_variable, "not well-formed Relax"),
                                          (_untyped_op, "is not a tt op call")])
def test_check_names_the_stage_that_broke_the_module(tiny, monkeypatch, breaker, why):
    monkeypatch.setattr(pipeline, "fuse_grad_update", breaker)
    with pytest.raises(TinyTrainError, match=rf"pipeline stage 'fuse_grad_update' produced a broken module .*{why}"):
        compile(tiny, "bias-only", check=True)


def test_check_names_an_op_without_a_record(tiny, monkeypatch):
    monkeypatch.setattr(pipeline, "RECORDS", {k: v for k, v in pipeline.RECORDS.items() if k != "conv2d_s8"})
    with pytest.raises(TinyTrainError, match=r"stage 'lower' .* main calls 'conv2d_s8', which no op record declares"):
        compile(tiny, "bias-only", check=True)


def test_the_prediction_module_matches_the_int8_reference(tiny):
    from tvm_tinytrain._tvm import build
    from tvm_tinytrain.reference import run_int8

    compiled = compile(tiny, "bias-only")
    x = np.random.default_rng(0).integers(-128, 128, tiny.input_shape, dtype=np.int8)
    params = [compiled.program.params[p.name] for p in compiled.predict["main"].params[1:]]
    logits = build(compiled.predict)(x[None], *params)
    np.testing.assert_array_equal(np.asarray(logits).reshape(-1), np.asarray(run_int8(tiny, x)).reshape(-1))


def test_compile_is_the_public_entry_point():
    import tvm_tinytrain as tt

    assert tt.compile is compile and tt.Compiled.__module__ == "tvm_tinytrain.compiler"


def test_memory_passes_that_cost_instructions_follow_the_sram_budget():
    from tests.block_cnn import EXPAND_TRAINED, quantized_block_cnn
    from tvm_tinytrain.compiler import DEVICE_RESERVE, FIRMWARE_RAM, STACK_RESERVE, static_sram

    graph, _ = quantized_block_cnn()
    roomy = compile(graph, EXPAND_TRAINED, sram_budget=10**6)
    assert roomy.program.chunked == [] and roomy.memory["memory_passes"] == {
        "sram_budget": 10**6, "static_budget": 10**6 - DEVICE_RESERVE,
        "reserved": {"stack": STACK_RESERVE, "firmware": FIRMWARE_RAM}, "chunk_depthwise_grad": [],
        "narrow_chunks": []}
    # the budget bounds the device's peak: the static SRAM gets it less the stack and the firmware's own RAM
    just = static_sram(roomy.program) + DEVICE_RESERVE
    assert compile(graph, EXPAND_TRAINED, sram_budget=just).program.chunked == []
    tight = compile(graph, EXPAND_TRAINED, sram_budget=just - 1)
    assert tight.memory["memory_passes"]["chunk_depthwise_grad"] == ["block.1.0"]  # its input gradient was the peak
    assert static_sram(tight.program) < static_sram(roomy.program)
    assert compile(graph, EXPAND_TRAINED).program.chunked == []  # no budget: none
    with pytest.raises(TinyTrainError, match="sram_budget must be a number of bytes > "):
        compile(graph, EXPAND_TRAINED, sram_budget="150K")
    with pytest.raises(TinyTrainError, match="the stack and the firmware's own RAM it reserves"):
        compile(graph, EXPAND_TRAINED, sram_budget=DEVICE_RESERVE)


@pytest.mark.slow
def test_the_budget_reads_the_arena_as_it_holds_a_streamed_sample():
    """Proxyless paper-100kb streams its sample: its peak is the backward's depthwise gradient (the liveness
    without streaming would put it at the 48 KB input), so a 150 KB budget takes that layer (through its
    projection) and fits."""
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.compiler import static_budget, static_sram

    compiled = compile(load_backbone("proxyless-w0.3", num_classes=10), "paper-100kb", sram_budget=150 * 1024)
    assert compiled.program.chunked == ["blocks.15.pointwise2"]  # through its projection: the depthwise's too
    assert static_sram(compiled.program) <= static_budget(150 * 1024)


def _arenas_by_layers(table: dict, fits: int):
    """A measure for choose_layers from {frozenset of layers: (arena, peak, layers at the peak)}; done at `fits`."""
    from tvm_tinytrain.compiler import StepArena

    asked = []

    def measure(layers):
        asked.append(tuple(layers))
        arena, peak, at_peak = table[frozenset(layers)]
        return StepArena(arena, peak, frozenset(at_peak), arena <= fits)

    return measure, asked


def test_the_budget_loop_keeps_no_layer_that_lowers_nothing():
    from tvm_tinytrain.compiler import choose_layers

    table = {frozenset(): (100, 100, {"a"}), frozenset("a"): (90, 90, {"b"}), frozenset("ab"): (90, 90, ()),
             frozenset("ac"): (80, 80, ()), frozenset("c"): (95, 95, ())}
    measure, asked = _arenas_by_layers(table, fits=80)
    assert choose_layers(["a", "b", "c"], measure) == ["a", "c"]  # b, at the peak, lowered neither
    assert ("a", "b") in asked and ("c",) in asked  # c alone (the prune): the arena rose, so a stays


def test_the_budget_loop_goes_on_past_a_peak_that_is_no_input_gradient():
    from tvm_tinytrain.compiler import choose_layers

    # the peak is a weight update (no gradient live there), yet chunking "b" lowers the arena the planner packs
    table = {frozenset(): (100, 90, ()), frozenset("a"): (100, 90, ()), frozenset("b"): (96, 90, ()),
             frozenset("ab"): (96, 90, ())}
    measure, _ = _arenas_by_layers(table, fits=50)
    assert choose_layers(["a", "b"], measure) == ["b"]


def test_the_budget_loop_drops_a_layer_the_final_arena_does_not_need():
    from tvm_tinytrain.compiler import choose_layers

    # "a" only lowers the peak (kept: it can let the next layer lower the arena), "b" then lowers the arena
    # without it too: the prune drops "a"; "c" (never lowering anything) is tried once and not kept
    table = {frozenset(): (100, 100, {"a"}), frozenset("a"): (100, 95, {"b"}), frozenset("ab"): (90, 90, ()),
             frozenset("abc"): (90, 90, ()), frozenset("b"): (90, 92, ()), frozenset("bc"): (90, 92, ())}
    measure, asked = _arenas_by_layers(table, fits=10)
    assert choose_layers(["a", "b", "c"], measure) == ["b"]
    assert asked.count(("a", "b", "c")) == 1


def test_the_budget_loop_goes_through_a_layer_the_packing_does_not_follow_at_once():
    from tvm_tinytrain.compiler import choose_layers

    # "a" lowers the live peak while the packed arena rises; "b" after it gives the lowest arena; alone "b"
    # lowers nothing; "c" after them lowers the peak only and raises the arena: the choice is the best seen
    table = {frozenset(): (100, 90, {"a"}), frozenset("a"): (104, 85, {"b"}), frozenset("ab"): (92, 84, {"c"}),
             frozenset("abc"): (95, 80, ()), frozenset("b"): (100, 90, ()), frozenset("ac"): (104, 85, ())}
    measure, _ = _arenas_by_layers(table, fits=50)
    assert choose_layers(["a", "b", "c"], measure) == ["a", "b"]


def test_the_budget_loop_takes_a_layer_that_lowers_one_of_two_equal_peaks():
    from tvm_tinytrain.compiler import StepArena, choose_layers

    # two ops hold the peak: "a" takes one of them away (the peak's bytes stay), "b" then the other
    table = {frozenset(): (100, 2), frozenset("a"): (100, 1), frozenset("b"): (100, 1), frozenset("ab"): (80, 1)}

    def measure(layers):
        arena, ops = table[frozenset(layers)]
        return StepArena(arena, arena, frozenset(), arena <= 80, ops)

    assert choose_layers(["a", "b"], measure) == ["a", "b"]


def test_the_budget_loop_chooses_again_once_narrowed_chunks_move_the_peak():
    from tvm_tinytrain.codegen.templates_memory import NARROW_STEPS
    from tvm_tinytrain.compiler import StepArena, choose_and_narrow, choose_layers

    # "a" lowers the arena; at full width "b" lowers nothing (a's scratch stays the peak), but with a's chunks
    # narrowed (to NARROW_STEPS' narrower or less) b's input gradient is the peak and taking "b" fits the step
    narrower = NARROW_STEPS[1]

    def arena(layers, narrow):
        narrowed = "a" in layers and narrow.get("a", 1 << 20) <= narrower
        return 100 - 10 * ("a" in layers) - 5 * narrowed - 15 * ("b" in layers and narrowed)

    def measure(layers, narrow=()):
        a = arena(set(layers), dict(narrow))
        return StepArena(a, a, frozenset(), a <= 75)

    assert choose_layers(["a", "b"], lambda layers: measure(layers)) == ["a"]
    assert choose_and_narrow(["a", "b"], measure) == (["a", "b"], {"a": narrower})


@pytest.mark.slow
def test_the_budget_takes_mbv2_past_its_weight_update_peak():
    """MbV2 paper-100kb at 120K: the loop goes on where the peak is a weight update, takes the projections (each
    also leaves its depthwise layer's output gradient unmade, blocks.13's strided one included) and keeps no layer
    the final arena does not need; still over, it narrows blocks.16.pointwise2's chunks (its expansion backward's
    scratch is at the peak beside the pool's gradient) to the widest that keeps the step within the budget; the
    residual blocks' chunk loops read the projection's gradient through its mask (no masked copy beside it), so
    no other layer is narrowed, and the planner packs the step in 44,968 B, within the 119,296 B of static SRAM
    that 120 KB leaves beside the stack and the firmware's own RAM."""
    from tvm_tinytrain.backbones import load_backbone
    from tvm_tinytrain.codegen.emit import sram_param_bytes
    from tvm_tinytrain.compiler import DEVICE_RESERVE, static_sram

    compiled = compile(load_backbone("mbv2-w0.35", num_classes=10), "paper-100kb", sram_budget=120 * 1024)
    program = compiled.program
    assert program.chunked == [f"blocks.{i}.pointwise2" for i in (16, 15, 14, 13, 12, 11, 10, 9)]
    assert program.narrow == ["blocks.16.pointwise2"]
    assert static_sram(program) - sram_param_bytes(program) == 44_968  # the step's arena
    assert static_sram(program) <= 120 * 1024 - DEVICE_RESERVE


def test_chunks_are_narrowed_only_where_the_arena_needs_it():
    from tvm_tinytrain.codegen.templates_memory import NARROW_CHUNK_BYTES, NARROW_STEPS
    from tvm_tinytrain.compiler import StepArena, narrow_chunks

    def measure_of(arena_of, fits: int):
        return lambda narrow: StepArena(arena_of(dict(narrow)), arena_of(dict(narrow)), frozenset(),
                                        arena_of(dict(narrow)) <= fits)

    # "a" narrowed lowers the arena as much at the narrower of NARROW_STEPS as at NARROW_CHUNK_BYTES, less at the
    # wider; "b" narrowed lowers nothing: "a" is kept at the narrower step (fewer turns than the narrowest), "b" whole
    wider, narrower = NARROW_STEPS
    lowers = {NARROW_CHUNK_BYTES: 10, narrower: 10, wider: 5}

    def arena_of(narrow):
        return 100 - lowers.get(narrow.get("a"), 0)

    assert narrow_chunks(["a", "b"], measure_of(arena_of, fits=50)) == {"a": narrower}
    assert narrow_chunks(["a", "b"], measure_of(arena_of, fits=100)) == {}  # the step fits: none
    assert narrow_chunks(["a", "b"], measure_of(lambda narrow: 100, fits=50)) == {}  # lowers nothing
    assert narrow_chunks([], measure_of(arena_of, fits=50)) == {}
