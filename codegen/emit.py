"""Emit a standalone C99 project for a training program: model.h, model.c, memory.json.

The generated body is straight-line kernel calls, one per tt op of the final Relax
`main` (after `reorder`), each preceded by a comment naming its layer and op.  Tensors live
in one static arena at offsets from `planner.py`; frozen weights are `const` (flash on a
board), trained parameters and their state are plain statics (SRAM).  No malloc, no TVM.

    float tt_train_step(const int8_t *input, int32_t label);   /* returns the loss */
          (with the MSE loss: tt_train_step(const int8_t *input, const float *target), TT_TARGET_FLOATS > 0)
    void  tt_predict(const int8_t *input, <logits type> *logits);
    float tt_train_step_rows(read_rows, ctx, label) / void tt_predict_rows(read_rows, ctx, logits)
          (TT_INPUT_ROWS 1: the sample arrives in rows as the stem reads them, input_stream.py)
    void  tt_set_learning_rates(float lr_weight, float lr_bias);
    const tt_param *tt_params(int32_t *count);                  /* read back trained params */
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tvm_tinytrain import conv_geometry
from tvm_tinytrain.compiler import FIRMWARE_RAM, STACK_RESERVE, static_budget
from tvm_tinytrain._tvm import Constant
from tvm_tinytrain.errors import UnsupportedOpError
from tvm_tinytrain.graph_file import quantization_hash
from tvm_tinytrain.ops.registry import RECORDS
from tvm_tinytrain.passes.memory_analysis import analyze, in_place
from tvm_tinytrain.passes.step_inputs import SCALARS
from tvm_tinytrain.passes.training_graph import main_attr, op_bindings, result_fields

from . import dw_table
from .c_names import Symbols, comment, string
from .host_runner import HOST_MAIN
from .input_stream import ROWS, InputPath, arena_report, program_input, sample_chw, template
from .planner import ArenaPlanner
from .templates import Split, c_float

CALLS = {name: record.call for name, record in RECORDS.items()}  # the op records' C templates
ROW_BLOCKS = ("conv_dw_pw_rows_s8", "conv_dw_pw_rows_add_s8")  # x, (w, bias, mult, shift) of a, b, c, ...

C_TYPES = {"int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t", "uint32": "uint32_t",
           "float32": "float", "bool": "uint8_t", "uint8": "uint8_t"}


@dataclass
class Project:
    files: dict[str, str]
    memory: dict


def plan_arena(mod, path: InputPath | None = None):
    """Liveness of `mod`'s main as the arena holds it and the placement of its tensors: (report, planner).
    With a streamed input (`path`, input_stream.arena_report) the sample has no buffer and the stem's
    scratch holds its ring of input rows."""
    report = analyze(mod) if path is None else arena_report(analyze(mod), path)
    planner = ArenaPlanner()
    for t in report.tensors:
        planner.add_buffer(t.name, t.bytes, t.birth, t.death)
    planner.plan()
    return report, planner


def generate(program) -> Project:
    """The C project of a `passes.pipeline.TrainingProgram` built through its `predict` stage
    (`tvm_tinytrain.compiler.compile` gives both)."""
    if program.predict is None:
        raise ValueError("generate: the program has no prediction module; build it through the pipeline's "
                         "last stage (build_training's default stop_after='predict')")
    emitter = _Emitter(program)
    return emitter.run()


class _Emitter:
    def __init__(self, program):
        self.program = program
        self.graph = program.graph
        self.train_mod = program.mod
        self.predict_mod = program.predict
        self.consts: dict[bytes, str] = {}
        self.const_defs: list[str] = []
        self.params = program.params
        self.updated = set(main_attr(self.train_mod, "tt.updates", []))
        self.symbols = Symbols("tt_p_", self.params, derived=("_lead", "_rest"))
        self.split = _split_weights(self.train_mod, self._param_symbol)

    # -- storage -----------------------------------------------------------------------
    def _param_symbol(self, name: str) -> str:
        return self.symbols[name]

    def _const(self, value: np.ndarray) -> str:
        value = np.ascontiguousarray(value)
        if value.dtype == np.int64:  # requantize multipliers (< 2**31) and shifts
            value = value.astype(np.int32)
        key = value.dtype.str.encode() + value.tobytes()
        if key not in self.consts:
            name = f"tt_c{len(self.consts)}"
            self.consts[key] = name
            self.const_defs.append(f"static const {C_TYPES[str(value.dtype)]} {name}[{max(value.size, 1)}] = "
                                   f"{_c_array(value)};")
        return self.consts[key]

    # -- body --------------------------------------------------------------------------
    def _function_body(self, mod, planner, report, path: InputPath):
        params = {p.name: p for p in mod["main"].params}
        sample = mod["main"].params[0]
        if path.streamed:  # the stem reads the rows from the row source `rows`: no buffer, no copy
            exprs, lines = {sample: ROWS}, []
        else:
            x_buffer = f"((int8_t *)(tt_arena + {planner.offset_of(report.record_of[sample].name)}))"
            exprs = {sample: x_buffer}
            lines = [f"    if (input != {x_buffer})  /* the sample lives in the arena (tt_input_buffer) */",
                     f"        memmove({x_buffer}, input, TT_INPUT_BYTES);"]
        stem_args = None
        for b in op_bindings(mod):
            args = [self._arg(arg, exprs, params) for arg in b.args]
            if b.var in report.scratch_of:  # a kernel's working buffer, last
                args.append(f"(tt_arena + {planner.offset_of(report.scratch_of[b.var].name)})")
            if path.chained is not None and b.var.same_as(path.stem.var):  # computed inside its reader's call
                stem_args, exprs[b.var] = args, None
                lines.append(f"    /* {comment(b.layer or '-')}: {comment(b.op)}, row by row inside "
                             f"{comment(path.chained.layer or '-')}'s call */")
                continue
            if in_place(b):
                out = args[0]  # the update writes the parameter it reads
            else:
                record = report.record_of[b.var]
                out = f"(({C_TYPES[str(b.var.ty.dtype)]} *)(tt_arena + {planner.offset_of(record.name)}))"
            exprs[b.var] = out
            if b.op in ROW_BLOCKS:  # the depthwise's constants table after the three layers' 12 arguments
                args.insert(13, self._dw_table(b))
            call = template(path, b, stem_args) or CALLS.get(b.op)
            if call is None:
                raise UnsupportedOpError(f"codegen: tt op {b.op!r} (layer {b.layer!r}) has no C kernel")
            _check_numeric_attrs(b)
            lines.append(f"    /* {comment(b.layer or '-')}: {comment(b.op)} */")
            lines.append("    " + call(b, args, out))
        return lines, exprs

    def _dw_table(self, b) -> str:
        """The C name of row block b's depthwise constants table (dw_table.py), or NULL: none for its kernel, or a
        weight not known here or updated by the step (the table is made once, in flash)."""
        values = []
        for arg in b.args[5:9]:  # the depthwise's w, bias, mult, shift
            if isinstance(arg, Constant):
                values.append(arg.value.numpy())
            elif arg.name in self.params and arg.name not in self.updated and arg.name not in self.split:
                values.append(np.asarray(self.params[arg.name]))
            else:
                return "NULL"
        table = dw_table.table_3x3(*values, b.attrs["depthwise"])
        return "NULL" if table is None else self._const(table)

    def _arg(self, arg, exprs, params):
        if isinstance(arg, Constant):
            return self._const(arg.value.numpy())
        if arg in exprs:
            return exprs[arg]
        name = arg.name
        if name in SCALARS:
            return SCALARS[name].c_expr
        if name in self.split:
            return self.split[name]
        if name in self.params:
            return self._param_symbol(name)
        raise UnsupportedOpError(f"codegen: cannot place argument {name!r}")

    # -- files -------------------------------------------------------------------------
    def run(self) -> Project:
        train_path, predict_path, input_why = program_input(self.train_mod, self.predict_mod)
        train_report, train_plan = plan_arena(self.train_mod, train_path)
        predict_report, predict_plan = plan_arena(self.predict_mod, predict_path)
        train_lines, train_exprs = self._function_body(self.train_mod, train_plan, train_report, train_path)
        predict_lines, predict_exprs = self._function_body(self.predict_mod, predict_plan, predict_report,
                                                           predict_path)
        rows = train_path.streamed
        chw = sample_chw(self.train_mod) if rows else None  # the streamed sample's (c, h, w)
        arena = max(train_plan.arena_bytes, predict_plan.arena_bytes)
        loss_expr = train_exprs[result_fields(self.train_mod)[0]]
        input_expr = train_exprs[self.train_mod["main"].params[0]]  # the sample's arena slot (whole image)
        logits_var = result_fields(self.predict_mod)[0]
        logits_expr = predict_exprs[logits_var]
        fp32_head = self.program.scheme.fp32_classifier
        n_classes = self.graph.num_classes
        param_defs, table, symbols = self._param_defs()
        mse = self.program.scheme.loss == "mse"
        train_target = "const float *target" if mse else "int32_t label"
        logits_type = "float" if fp32_head else "int8_t"
        steps = (_STEPS_ROWS if rows else _STEPS_WHOLE).format(
            train_target=train_target, train_arg="target" if mse else "label", input=input_expr,
            train="\n".join(train_lines), loss=loss_expr, predict="\n".join(predict_lines), logits=logits_expr,
            logits_type=logits_type, logits_bytes=n_classes * (4 if fp32_head else 1),
            chw=", ".join(map(str, chw or ())))
        model_c = _MODEL_C.format(
            consts="\n".join(self.const_defs), params="\n".join(param_defs), arena=arena, steps=steps,
            table=",\n".join(table), n_params=len(table), lr_weight=c_float(self.program.scheme.lr_weight),
            lr_bias=c_float(self.program.scheme.lr_bias))
        input_api = (_INPUT_ROWS_H.format(train_target=train_target, logits_type=logits_type, c=chw[0], h=chw[1],
                                          w=chw[2], why=comment(input_why)) if rows
                     else _INPUT_WHOLE_H.format(why=comment(input_why)))
        model_h = _MODEL_H.format(input_bytes=int(np.prod(self.graph.input_shape)), n_classes=n_classes,
                                  input_api=input_api,
                                  train_target=train_target, target_floats=n_classes if mse else 0,
                                  train_doc=(f"int8 input, float32 target of the MSE loss ({n_classes} values)" if mse
                                             else "int8 input, class label"),
                                  arena=arena, model=comment(self.graph.name),
                                  scheme=comment(self.program.scheme.name),
                                  logits_type="float" if fp32_head else "int8_t",
                                  logits_doc="real-valued float32 logits of the trained fp32 classifier" if fp32_head
                                  else "int8 logits (real value = scale * (q - zero) of the classifier's output)")
        const_bytes = sum(_nbytes(v) for n, v in self.params.items() if n not in self.updated)
        const_bytes += sum(_split_parts(np.asarray(self.params[n]), sp)[1].nbytes for n, sp in self.split.items())
        const_bytes += sum(int(len(k)) - 3 for k in self.consts)  # dtype tag is 3 bytes of the key
        memory = {
            "model": self.graph.name, "scheme": self.program.scheme.name,
            "quantization": quantization_hash(self.graph),  # sha256 of the int8 graph (graph_file.py)
            "arena_bytes": arena, "train_arena_bytes": train_plan.arena_bytes,
            "predict_arena_bytes": predict_plan.arena_bytes,
            "first_fit_arena_bytes": train_plan.baseline_bytes, "peak_live_bytes": train_report.peak_bytes,
            "updated_param_bytes": sram_param_bytes(self.program),  # with the optimizer state, in SRAM too
            "optimizer_state_bytes": train_report.state_bytes,
            "const_bytes": const_bytes,
            "plan": [{"tensor": b.name, "offset": b.offset, "size": b.size, "first_op": b.first, "last_op": b.last}
                     for b in sorted(train_plan.buffers.values(), key=lambda b: b.offset)],
            "fp32_classifier": bool(fp32_head),
            "loss": self.program.scheme.loss,
            "trained_params": [self._trained_param_entry(n) for n in self.params if n in self.updated],
            "input_shape": list(self.graph.input_shape), "num_classes": n_classes,
            # rows: the sample arrives row by row, HWC, as the stem reads it (protocol.py sends it so)
            "input": {"rows": rows, "chw": list(chw) if rows else None, "why": input_why,
                      # the stem's output: rows pulled by its only reader, or whole, and why (input_stream.py)
                      "stem_output": {"train": train_path.chain_why, "predict": predict_path.chain_why}},
            # the memory passes that cost instructions, applied where the SRAM budget needs them (compiler.py): the
            # budget bounds the device's peak; the static SRAM (arena + trained parameters) gets it less the reserve
            "memory_passes": {"sram_budget": self.program.sram_budget,
                              "static_budget": static_budget(self.program.sram_budget),
                              "reserved": {"stack": STACK_RESERVE, "firmware": FIRMWARE_RAM},
                              "chunk_depthwise_grad": list(self.program.chunked),
                              "narrow_chunks": list(self.program.narrow)},
            "symbols": symbols,
        }
        return Project({"model.c": model_c, "model.h": model_h, "memory.json": json.dumps(memory, indent=1)}, memory)

    def _trained_param_entry(self, name: str) -> dict:
        """How a trained parameter appears in tt_params(): shape (of the trained slice if split)."""
        value = np.asarray(self.params[name])
        if name in self.split:
            value = _split_parts(value, self.split[name])[0]
            return {"name": name, "dtype": str(value.dtype), "shape": list(value.shape),
                    "slice": self.split[name].k, "depthwise": self.split[name].depthwise}
        return {"name": name, "dtype": str(value.dtype), "shape": list(value.shape)}

    def _param_defs(self):
        """C definitions of the parameters, the read-back table of the trained ones, and
        {C symbol: parameter name} (the names as they were, for memory.json)."""
        defs, table, symbols = [], [], {}
        for name, value in self.params.items():
            value = np.asarray(value)
            ctype = C_TYPES[str(value.dtype)]
            symbol = self._param_symbol(name)
            if name in self.split:
                lead, rest = _split_parts(value, self.split[name])
                defs.append(f"static {ctype} {symbol}_lead[{lead.size}] = {_c_array(lead)};  /* trained */")
                defs.append(f"static const {ctype} {symbol}_rest[{rest.size}] = {_c_array(rest)};")
                table.append(f"    {{{string(name)}, (void *){symbol}_lead, {lead.nbytes}u}}")
                symbols.update({f"{symbol}_lead": name, f"{symbol}_rest": name})
                continue
            storage = "static" if name in self.updated else "static const"
            defs.append(f"{storage} {ctype} {symbol}[{value.size}] = {_c_array(value)};")
            symbols[symbol] = name
            if name in self.updated:
                table.append(f"    {{{string(name)}, (void *){symbol}, {_nbytes(value)}u}}")
        return defs, table, symbols


def _split_weights(mod, symbol_of) -> dict:
    """Trained int8 weights with a channel slice of a pointwise or depthwise conv -> Split."""
    info = main_attr(mod, "tt.grad_info") or {}
    split = {}
    for b in op_bindings(mod):
        if b.op != "conv2d_s8" or not hasattr(b.args[1], "name") or b.args[1].name not in info:
            continue
        name, (o, i, kh, kw) = b.args[1].name, [int(s) for s in b.args[1].ty.shape]
        meta = info[name]
        depthwise = bool(meta["depthwise"])
        channels = o if depthwise else i
        pointwise = kh == kw == 1 and b.attrs["groups"] == 1 and conv_geometry.is_plain(b.attrs)
        if meta["k"] < channels and (pointwise or (depthwise and b.attrs["groups"] == o)):
            symbol = symbol_of(name)
            split[name] = Split(f"{symbol}_lead", f"{symbol}_rest", int(meta["k"]), depthwise)
    return split


# tt attributes that name things and never reach C; every other one is formatted into C code.
_NAMING_ATTRS = ("layer", "grad", "update", "fn")  # fn: the lut layer's function, whose tables reach C


def _check_numeric_attrs(b):
    """Only numbers are formatted into kernel calls: an attribute of any other type (a string
    from a crafted weight file, say) is refused instead of pasted into C."""
    def numeric(value):
        if isinstance(value, dict):
            return all(numeric(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return all(numeric(v) for v in value)
        return isinstance(value, (int, float, np.integer, np.floating))

    for key, value in b.attrs.items():
        if key not in _NAMING_ATTRS and not numeric(value):
            raise UnsupportedOpError(f"codegen: layer {b.layer!r} ({b.op}): attribute {key!r} is {value!r}, not a "
                                     f"number; the model's layer attributes must be numbers")


def _split_parts(value: np.ndarray, split: Split):
    """(lead, rest) arrays of a split weight, each contiguous."""
    if split.depthwise:
        return np.ascontiguousarray(value[:split.k]), np.ascontiguousarray(value[split.k:])
    return np.ascontiguousarray(value[:, :split.k]), np.ascontiguousarray(value[:, split.k:])


def sram_param_bytes(program) -> int:
    """Bytes of the parameters the generated C keeps in SRAM: trained tensors, and only the
    trained slice of a split weight."""
    split = _split_weights(program.mod, lambda n: n)
    total = 0
    for name in main_attr(program.mod, "tt.updates", []):
        value = np.asarray(program.params[name])
        total += _split_parts(value, split[name])[0].nbytes if name in split else value.nbytes
    return total


def _nbytes(value) -> int:
    return int(np.asarray(value).nbytes)


def _c_array(value: np.ndarray) -> str:
    flat = np.asarray(value).reshape(-1)
    if flat.dtype == np.float32:
        if not np.all(np.isfinite(flat)):
            raise UnsupportedOpError("codegen: a float parameter or constant is not finite")
        items = [c_float(v) for v in flat]
    else:
        items = [str(int(v)) for v in flat]
    lines = [", ".join(items[i:i + 16]) for i in range(0, len(items), 16)]
    return "{\n    " + ",\n    ".join(lines) + "\n}" if lines else "{0}"


PROJECT_FILES = ("model.c", "model.h", "memory.json")  # generate()'s files; write_project adds the rest


def project_files(project: Project | None, target: str = "host") -> dict:
    """{relative name: bytes} of everything write_project writes (project=None: the names only,
    for checking a folder before anything is built)."""
    from tvm_tinytrain.errors import TinyTrainError

    from .host_build import CFLAGS, KERNEL_DIR

    if target not in TARGET_FLAGS:
        raise TinyTrainError(f"compile: unknown target {target!r}; known: {', '.join(TARGET_FLAGS)}")
    cc, flags = TARGET_FLAGS[target]
    texts = dict(project.files) if project is not None else dict.fromkeys(PROJECT_FILES, "")
    for src in sorted(KERNEL_DIR.glob("*.[ch]")):
        texts[f"kernels/{src.name}"] = src.read_text() if project is not None else ""
    texts["host_main.c"] = HOST_MAIN.read_text() if project is not None else ""
    texts["Makefile"] = _MAKEFILE.format(cc=cc, cflags=" ".join(CFLAGS), target_flags=flags, target=target)
    return {name: text.encode() for name, text in texts.items()}


def check_project_folder(out: Path, force: bool = False, target: str = "host", names=None,
                         what: str = "output folder"):
    """Refuse, before anything is built or written, a folder write_project may not write into:
    a file, unwritable, non-empty without `force`, or holding (under a name it writes) a folder
    or a file it did not write. Never touches other files."""
    from tvm_tinytrain.errors import TinyTrainError
    from tvm_tinytrain.outputs import LOCK_NAME, check_out_folder, check_owned

    out = Path(out)
    check_out_folder(out, what=what)
    names = list(names if names is not None else project_files(None, target))
    present = sorted(p.name for p in out.iterdir() if p.name != LOCK_NAME) if out.is_dir() else []
    if present and not force:
        raise TinyTrainError(f"compile: output folder {out} is not empty ({', '.join(present[:5])}); choose a "
                             f"new folder or pass --force to overwrite the generated files (other files in it "
                             f"are never touched)")
    if out.is_dir():
        check_owned(out, names, what=f"output folder {out}")


def write_project(project: Project, out: Path, force: bool = False, target: str = "host"):
    """Write the generated files, the kernel library and a Makefile into `out`.

    The folder is checked whole before the first byte is written (check_project_folder): a
    non-empty one is refused unless `force`, and even then only files this function wrote
    earlier (listed with their contents in the folder's manifest) are replaced; nothing else
    in the folder is touched."""
    from tvm_tinytrain.outputs import output_lock, remove_stale_temps, write_owned

    out = Path(out)
    files = project_files(project, target)
    check_project_folder(out, force, target, names=files)
    with output_lock(out, what="output folder"):
        check_project_folder(out, force, target, names=files)  # as it is now that we hold it
        remove_stale_temps(out, files)
        write_owned(out, files, what=f"output folder {out}")


# Compiler flags per target; the firmware build around the library (startup, linker script,
# QEMU) belongs to the device targets.
TARGET_FLAGS = {
    "host": ("gcc", ""),
    "cortex-m7": ("arm-none-eabi-gcc", "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-d16 -mfloat-abi=hard"),
    "cortex-m7-sp": ("arm-none-eabi-gcc", "-mcpu=cortex-m7 -mthumb -mfpu=fpv5-sp-d16 -mfloat-abi=hard"),  # the F746
    "cortex-m4": ("arm-none-eabi-gcc", "-mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard"),
    "cortex-m55": ("arm-none-eabi-gcc", "-mcpu=cortex-m55 -mthumb -mfloat-abi=hard"),
}

_MAKEFILE = """# Generated by tvm-tinytrain for target {target}.
#   make            host: the request runner (host_main.c); Cortex-M: libmodel.a (model + kernels)
CC = {cc}
CFLAGS = {cflags} {target_flags} -Ikernels -I.
SOURCES = model.c $(wildcard kernels/*.c)

ifeq ($(CC),gcc)
host_runner: $(SOURCES) host_main.c
\t$(CC) $(CFLAGS) $^ -o $@ -lm
else
libmodel.a: $(SOURCES:.c=.o)
\tarm-none-eabi-ar rcs $@ $^
%.o: %.c
\t$(CC) $(CFLAGS) -c $< -o $@
endif

.PHONY: clean
clean:
\trm -f host_runner libmodel.a *.o kernels/*.o
"""

_MODEL_H = """/* Generated by tvm-tinytrain for {model} with scheme {scheme}. Do not edit. */
#ifndef TT_MODEL_H
#define TT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define TT_INPUT_BYTES {input_bytes}
#define TT_NUM_CLASSES {n_classes}
#define TT_ARENA_BYTES {arena}
#define TT_LOGITS_TYPE {logits_type}
/* 0: the loss is the cross-entropy on a class label; else the MSE on a float32 target of this many values */
#define TT_TARGET_FLOATS {target_floats}

typedef struct {{
    const char *name;   /* "<layer>.weight" / "<layer>.bias" */
    void *data;         /* int8 weights, int32 biases, or float32 (fp32 classifier) */
    uint32_t bytes;
}} tt_param;

{input_api}
/* One SGD step on one sample ({train_doc}, the sample (c, h, w) int8 in the caller's memory); returns the loss. */
float tt_train_step(const int8_t *input, {train_target});
/* {logits_doc} */
void tt_predict(const int8_t *input, {logits_type} *logits);
void tt_set_learning_rates(float lr_weight, float lr_bias);
/* 0, or the line of model.c whose kernel rejected its arguments (a codegen bug). */
int32_t tt_error(void);
/* The parameters training writes, to read back or save. */
const tt_param *tt_params(int32_t *count);

#endif
"""

_INPUT_WHOLE_H = """/* The sample: {why}. */
#define TT_INPUT_ROWS 0
/* Where to receive the next sample: its slot in the arena, so on a board it needs no buffer of its own
 * (it is dead, and its bytes reused, once the first layers have read it).  tt_train_step and tt_predict
 * take any pointer; given this one tt_train_step copies nothing (tt_predict moves it if its own plan put
 * the sample elsewhere). */
int8_t *tt_input_buffer(void);"""

_INPUT_ROWS_H = """/* The sample arrives in rows as the first layers consume them, so it never sits in SRAM whole
 * ({why}). */
#define TT_INPUT_ROWS 1
#define TT_INPUT_CHANNELS {c}
#define TT_INPUT_HEIGHT {h}
#define TT_INPUT_WIDTH {w}
/* The application's source of the sample's rows (a camera's DMA, a serial line): writes rows first_row ..
 * first_row + n_rows - 1 to dst, each row all channels pixel by pixel: n_rows x TT_INPUT_WIDTH x
 * TT_INPUT_CHANNELS int8 (HWC).  Called during the step, in row order, each row once. */
typedef void (*tt_read_rows)(void *ctx, int8_t *dst, int32_t first_row, int32_t n_rows);
/* tt_train_step and tt_predict on a sample read through read_rows(ctx, ...). */
float tt_train_step_rows(tt_read_rows read_rows, void *ctx, {train_target});
void tt_predict_rows(tt_read_rows read_rows, void *ctx, {logits_type} *logits);"""

_STEPS_WHOLE = """int8_t *tt_input_buffer(void)
{{
    return {input};
}}

float tt_train_step(const int8_t *input, {train_target})
{{
{train}
    tt_step++;
    return *{loss};
}}

void tt_predict(const int8_t *input, {logits_type} *logits)
{{
{predict}
    memcpy(logits, {logits}, {logits_bytes});
}}"""

_STEPS_ROWS = """static float tt_train_from(const tt_row_source *rows, {train_target})
{{
{train}
    tt_step++;
    return *{loss};
}}

static void tt_predict_from(const tt_row_source *rows, {logits_type} *logits)
{{
{predict}
    memcpy(logits, {logits}, {logits_bytes});
}}

float tt_train_step_rows(tt_read_rows read_rows, void *ctx, {train_target})
{{
    const tt_row_source rows = {{read_rows, ctx}};
    return tt_train_from(&rows, {train_arg});
}}

void tt_predict_rows(tt_read_rows read_rows, void *ctx, {logits_type} *logits)
{{
    const tt_row_source rows = {{read_rows, ctx}};
    tt_predict_from(&rows, logits);
}}

/* A whole sample in the caller's memory: the same steps, its rows read from it. */
float tt_train_step(const int8_t *input, {train_target})
{{
    tt_chw_image image = {{input, {{{chw}}}}};
    const tt_row_source rows = {{tt_rows_from_chw, &image}};
    return tt_train_from(&rows, {train_arg});
}}

void tt_predict(const int8_t *input, {logits_type} *logits)
{{
    tt_chw_image image = {{input, {{{chw}}}}};
    const tt_row_source rows = {{tt_rows_from_chw, &image}};
    tt_predict_from(&rows, logits);
}}"""

_MODEL_C = """/* Generated by tvm-tinytrain. Straight-line kernel calls over one static arena. */
#include <string.h>

#include "model.h"
#include "tt_kernels.h"

/* ---- constants (flash) ---- */
{consts}

/* ---- parameters: const = frozen (flash), non-const = trained (SRAM) ---- */
{params}

/* A kernel that rejects its arguments records the generated line; tt_error() reports it. */
static int32_t tt_error_line = 0;
#define TT_CALL(call) do {{ if ((call) != TT_OK && tt_error_line == 0) tt_error_line = __LINE__; }} while (0)

static uint8_t tt_arena[{arena}] __attribute__((aligned(8)));
static float tt_lr_weight = {lr_weight};
static float tt_lr_bias = {lr_bias};
static uint32_t tt_step = 0;

static const tt_param tt_param_table[] = {{
{table}
}};

void tt_set_learning_rates(float lr_weight, float lr_bias)
{{
    tt_lr_weight = lr_weight;
    tt_lr_bias = lr_bias;
}}

int32_t tt_error(void)
{{
    return tt_error_line;
}}

const tt_param *tt_params(int32_t *count)
{{
    *count = {n_params};
    return tt_param_table;
}}

{steps}
"""
