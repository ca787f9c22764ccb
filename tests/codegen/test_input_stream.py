"""The sample in rows (codegen/input_stream.py): a program whose frozen fused stem is the input's only
reader takes its input as rows (HWC, in order) and plans no input buffer; its C equals the TVM-built step
(tests/three_way.py); tt_train_step / tt_predict on a whole image in the caller's memory (a row source over
the pointer) give the same losses, trained values and logits bit for bit as the rows read from the request
stream; a stem that trains (its weight gradient reads the whole input) keeps the whole-image path (its C is
what every other test of a whole-image program checks), and says why.  Where the stem's output has one reader, a
frozen fused block, the two run as one call pulling the stem's rows (tt_conv_dw_pw_chain_s8): no buffer for that
output, smaller arenas, the C equal to the TVM-built step, and its prediction equal to the numpy oracle's bit for
bit."""
import json
import subprocess
from dataclasses import replace

import numpy as np
import pytest
from stem_cnn import BLOCKS_FROZEN, STEM_FROZEN, TALL, quantized_stem_cnn
from three_way import c_matches_relax

from tvm_tinytrain.codegen.emit import generate, plan_arena, write_project
from tvm_tinytrain.codegen.host_build import CFLAGS
from tvm_tinytrain.codegen.host_runner import HostProgram
from tvm_tinytrain.codegen.input_stream import program_input
from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN
from tvm_tinytrain.passes.pipeline import build_training
from tvm_tinytrain.reference import run_int8
from tvm_tinytrain.schemes import resolve_scheme


@pytest.fixture(scope="module")
def stem_cnn():
    return quantized_stem_cnn()


@pytest.fixture(scope="module")
def streamed(stem_cnn, tmp_path_factory):
    """(program, folder) of the generated project with the stem frozen."""
    graph, _ = stem_cnn
    program = build_training(graph, STEM_FROZEN)
    folder = tmp_path_factory.mktemp("streamed")
    write_project(generate(program), folder)
    return program, folder


def test_streamed_program_plans_no_input_and_equals_relax(stem_cnn, streamed):
    graph, samples = stem_cnn
    program, folder = streamed
    memory = HostProgram(folder).memory
    assert memory["input"]["rows"] and memory["input"]["chw"] == [3, 21, 18]
    assert "stem.0.0+stem.1.0+stem.2.0" in memory["input"]["why"]
    assert "x" not in {b["tensor"] for b in memory["plan"]}
    assert memory["predict_arena_bytes"] < plan_arena(program.predict)[1].arena_bytes  # the whole-image plan
    assert memory["input"]["stem_output"]["train"].startswith("whole: its reader (conv2d_s8 of block.0.0)")
    model_c, model_h = (folder / "model.c").read_text(), (folder / "model.h").read_text()
    assert model_c.count("tt_conv_dw_pw_stream_s8(rows,") == 2 and "tt_conv_dw_pw_rows_s8(" not in model_c
    assert "#define TT_INPUT_ROWS 1" in model_h and "tt_input_buffer" not in model_h
    c_matches_relax(graph, STEM_FROZEN, samples[:3], folder)


_WHOLE_IMAGE_MAIN = r"""
#include <stdio.h>
#include "model.h"
/* The requests of the test through tt_train_step / tt_predict on whole images in this program's memory. */
int main(int argc, char **argv)
{
    static int8_t x[TT_INPUT_BYTES];
    int32_t labels[8], n = 0, count, i;
    int8_t logits[TT_NUM_CLASSES];
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    (void)argc;
    while (fread(&labels[n], 4, 1, in) == 1 && fread(x, 1, sizeof x, in) == sizeof x) {
        if (labels[n] < 0) {
            tt_predict(x, logits);
            fwrite(logits, 1, sizeof logits, out);
        } else {
            float loss = tt_train_step(x, labels[n]);
            fwrite(&loss, 4, 1, out);
        }
    }
    const tt_param *params = tt_params(&count);
    for (i = 0; i < count; i++) fwrite(params[i].data, 1, params[i].bytes, out);
    return fclose(out) != 0 || tt_error() != 0;
}
"""


@pytest.mark.slow  # two more builds (~25 s); the kernel test checks tt_rows_from_chw == the whole tensor by default
def test_whole_image_pointer_equals_rows_from_the_stream(stem_cnn, streamed, tmp_path):
    _, samples = stem_cnn
    _, folder = streamed
    requests = [(TRAIN, label, x) for x, label in samples[:3]] + [(PREDICT, 0, samples[3][0])]
    answers, params, error = HostProgram(folder).run(requests)  # host_main.c: tt_train_step_rows from the stream
    assert error == 0
    (tmp_path / "main.c").write_text(_WHOLE_IMAGE_MAIN)
    kernels = sorted(str(p) for p in (folder / "kernels").glob("*.c"))
    subprocess.run(["gcc", *CFLAGS, f"-I{folder}", f"-I{folder / 'kernels'}", str(folder / "model.c"), *kernels,
                    str(tmp_path / "main.c"), "-o", str(tmp_path / "whole"), "-lm"], check=True)
    (tmp_path / "in.bin").write_bytes(b"".join(np.int32(label if kind == TRAIN else -1).tobytes() + x.tobytes()
                                               for kind, label, x in requests))
    subprocess.run([str(tmp_path / "whole"), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    data = (tmp_path / "out.bin").read_bytes()
    losses = np.frombuffer(data[:12], np.float32)
    assert losses.tolist() == answers[:3]
    np.testing.assert_array_equal(np.frombuffer(data[12:17], np.int8), answers[3])
    assert data[17:] == b"".join(v.tobytes() for v in params.values())


def test_trained_stem_keeps_the_whole_image(stem_cnn):
    graph, _ = stem_cnn
    project = generate(build_training(graph, resolve_scheme("full", graph)))
    why = project.memory["input"]["why"]
    assert not project.memory["input"]["rows"] and "read by 2 ops" in why and "stem.0.0" in why
    assert "#define TT_INPUT_ROWS 0" in project.files["model.h"] and "tt_input_buffer" in project.files["model.c"]
    assert "x" in {b["tensor"] for b in project.memory["plan"]}


@pytest.fixture(scope="module")
def chained(tmp_path_factory):
    """(graph, samples, program, folder) of the stem CNN on TALL samples, the stem and the block frozen: the block
    pulls the stem's rows."""
    graph, samples = quantized_stem_cnn(TALL)
    program = build_training(graph, BLOCKS_FROZEN)
    folder = tmp_path_factory.mktemp("chained")
    write_project(generate(program), folder)
    return graph, samples, program, folder


def test_chained_stem_plans_no_stem_output(chained):
    _, _, program, folder = chained
    memory = json.loads((folder / "memory.json").read_text())
    for module in ("train", "predict"):
        assert memory["input"]["stem_output"][module] == ("rows, pulled by conv_dw_pw_rows_s8 of "
                                                          "block.0.0+block.1.0+block.2.0 into a ring of 1 rows")
    model_c = (folder / "model.c").read_text()
    assert model_c.count("tt_conv_dw_pw_chain_s8(rows,") == 2 and "tt_conv_dw_pw_stream_s8(" not in model_c
    assert not {b["tensor"] for b in memory["plan"]} & {"x", "stem.0.0+stem.1.0+stem.2.0"}
    train_path, predict_path, _ = program_input(program.mod, program.predict)
    for module, path, key in ((program.mod, train_path, "train_arena_bytes"),
                              (program.predict, predict_path, "predict_arena_bytes")):
        unchained = plan_arena(module, replace(path, chained=None))[1].arena_bytes  # the stem streamed, alone
        assert memory[key] < unchained, (key, memory[key], unchained)


@pytest.mark.slow  # two host builds and the Relax step (~60 s); the kernel test checks the chain bit for bit
def test_chained_stem_predicts_as_the_oracle_and_equals_relax(chained):
    graph, samples, _, folder = chained
    # before any step the prediction is the frozen network's: the numpy oracle's logits
    answers = HostProgram(folder).run([(PREDICT, 0, x) for x, _ in samples])[0]
    for (x, _), logits in zip(samples, answers):
        np.testing.assert_array_equal(logits, run_int8(graph, x).reshape(-1))
    c_matches_relax(graph, BLOCKS_FROZEN, samples[:3], folder)


def test_small_stem_output_is_not_chained(stem_cnn):
    """On 21 x 18 samples the stem's output (6 x 11 x 9) weighs less than what pulling it adds to the scratch."""
    graph, _ = stem_cnn
    program = build_training(graph, BLOCKS_FROZEN)
    for path in program_input(program.mod, program.predict)[:2]:
        assert path.streamed and path.chained is None and "would lower neither" in path.chain_why, path.chain_why


def test_the_final_step_keeps_its_chain_only_where_the_arena_falls(chained, monkeypatch):
    """The chain is taken for a lower peak at the same arena too (the budget's chunking then sees the backward);
    in the program the budget chose (compiler.memory_passes) it stays only where it lowers the step's arena."""
    from tvm_tinytrain.codegen import emit, input_stream
    from tvm_tinytrain.codegen.input_stream import input_path, keep_chain_where_it_lowers

    graph, _, kept, _ = chained
    assert keep_chain_where_it_lowers(kept) is kept and input_path(kept.mod).chained is not None  # it lowers
    program = build_training(graph, BLOCKS_FROZEN)
    plan, taken = emit.plan_arena, input_path(program.mod)
    monkeypatch.setattr(input_stream, "input_path", lambda mod: taken)
    monkeypatch.setattr(emit, "plan_arena", lambda mod, path=None: plan(mod, replace(path, chained=None)))
    keep_chain_where_it_lowers(program)  # the arenas now the same either way
    monkeypatch.undo()
    path = input_path(program.mod)
    assert path.chained is None
    assert path.chain_why.startswith("whole: pulling its rows into conv_dw_pw_rows_s8 of block.0.0+")
    model_c = generate(program).files["model.c"]  # the prediction's arena here is not above the step's: whole too
    assert "tt_conv_dw_pw_chain_s8(" not in model_c and model_c.count("tt_conv_dw_pw_stream_s8(rows,") == 2
