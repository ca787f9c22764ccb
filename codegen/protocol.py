"""The request/answer byte stream a generated program is driven through, on the host
(`host_main.c`, pipes or files) and on a device (`targets/firmware/device_main.c`, semihosting
FIFOs/files or a UART). One format everywhere, so one `Session` (session.py) drives them all.

requests: records of [int32 kind][int32 arg][payload]
    TRAIN    arg = label, payload = int8 input       answer: float32 loss
             (MSE loss, memory.json "loss": "mse": arg = 0, payload = int8 input then the float32
              target, num_classes values; Python callers give the target as the arg)
             A streamed program (memory.json "input": "rows", input_stream.py) takes its input as rows
             in order, each row all channels pixel by pixel (h, w, c), as its stem reads them; an
             MSE target then comes first, since the step starts before the last row arrives.
    PREDICT  arg = 0,     payload = int8 input       answer: the logits (int8, or float32 with an
                                                              fp32 classifier)
    SET_LR   arg = 0,     payload = float32 lr_weight, float32 lr_bias (tt_set_learning_rates)
                                                     answer: nothing
    PARAMS   arg = 0,     no payload                 answer: every trained parameter, memory.json
                                                              "trained_params" order, raw bytes
    END      arg = 0,     no payload                 the end of the requests, like end of file
                                                     (a serial line has no end of file)
answers:  on a device every answer (SET_LR's empty one too) is followed by the uint64 count of
          instructions the request took; the host sends no counts. At the end of the requests
          (END or end of file), the program sends every trained parameter once more, then int32
          trailer values: tt_error(), and on a device the stack high-water mark in bytes.
"""
from __future__ import annotations

import struct

import numpy as np

from tvm_tinytrain.errors import TinyTrainError

TRAIN, PREDICT, SET_LR, PARAMS, END = 0, 1, 2, 3, 4
KIND_NAMES = {TRAIN: "train", PREDICT: "predict", SET_LR: "set_lr", PARAMS: "params", END: "end"}
COUNT = struct.Struct("<Q")


def input_bytes(memory: dict) -> int:
    return int(np.prod(memory["input_shape"]))


def encode_request(kind: int, arg: int, payload, memory: dict, who: str) -> bytes:
    """One record: payload is the int8 input (TRAIN/PREDICT), (lr_weight, lr_bias) (SET_LR), None (PARAMS);
    a TRAIN's arg is the label, or with the MSE loss the float32 target (sent after the input)."""
    if kind in (TRAIN, PREDICT):
        x = np.asarray(payload, np.int8).reshape(-1)
        if x.size != input_bytes(memory):
            raise TinyTrainError(f"{who}: input has {x.size} values, the model takes {input_bytes(memory)} "
                                 f"(shape {tuple(memory['input_shape'])})")
        rows = (memory.get("input") or {}).get("rows")
        body = _rows_bytes(x, memory["input"].get("chw"), who) if rows else x.tobytes()
        if kind == TRAIN and memory.get("loss") == "mse":
            target = _target_bytes(arg, memory, who)
            body, arg = (target + body if rows else body + target), 0
    elif kind == SET_LR:
        lr_weight, lr_bias = payload
        body = struct.pack("<ff", lr_weight, lr_bias)
    elif kind in (PARAMS, END):
        body = b""
    else:
        raise TinyTrainError(f"{who}: unknown request kind {kind!r}; use TRAIN, PREDICT, SET_LR, PARAMS or END")
    return struct.pack("<ii", kind, int(arg)) + body


def _rows_bytes(x: np.ndarray, chw, who: str) -> bytes:
    """A (c, h, w) sample as its rows in order, each row all channels pixel by pixel: (h, w, c)."""
    if not (isinstance(chw, list) and len(chw) == 3 and all(isinstance(n, int) and n > 0 for n in chw)
            and int(np.prod(chw)) == x.size):
        raise TinyTrainError(f"{who}: memory.json's input \"chw\" is {chw!r}, not the (c, h, w) of the model's "
                             f"{x.size} input values; regenerate the project (tvm-tinytrain compile)")
    return x.reshape(chw).transpose(1, 2, 0).tobytes()


def _target_bytes(target, memory: dict, who: str) -> bytes:
    t = np.asarray(target, np.float32).reshape(-1)
    if t.size != memory["num_classes"] or not np.isfinite(t).all():
        raise TinyTrainError(f"{who}: the MSE target must be {memory['num_classes']} finite float32 values (the "
                             f"model's output size), got {t.size} values")
    return t.tobytes()


def encode_requests(requests, memory: dict, who: str) -> bytes:
    """(kind, arg, payload) tuples -> the whole request stream (for a file)."""
    return b"".join(encode_request(kind, arg, payload, memory, who) for kind, arg, payload in requests)


def _logits_dtype(memory: dict) -> np.dtype:
    return np.dtype(np.float32 if memory.get("fp32_classifier") else np.int8)


def params_bytes(memory: dict) -> int:
    return sum(int(np.prod(p["shape"])) * np.dtype(p["dtype"]).itemsize for p in memory["trained_params"])


def answer_bytes(kind: int, memory: dict) -> int:
    """Size of the answer to one request (without its instruction count)."""
    return {TRAIN: 4, PREDICT: memory["num_classes"] * _logits_dtype(memory).itemsize, SET_LR: 0,
            PARAMS: params_bytes(memory)}[kind]


def decode_params(data: bytes, memory: dict) -> dict:
    params, pos = {}, 0
    for p in memory["trained_params"]:
        value = np.frombuffer(data, p["dtype"], int(np.prod(p["shape"])), pos).reshape(p["shape"]).copy()
        params[p["name"]] = value
        pos += value.nbytes
    return params


def decode_answer(kind: int, data: bytes, memory: dict):
    """loss (float), logits (ndarray), None (SET_LR) or {name: ndarray} (PARAMS)."""
    if kind == TRAIN:
        return struct.unpack("<f", data)[0]
    if kind == PREDICT:
        return np.frombuffer(data, _logits_dtype(memory)).copy()
    if kind == PARAMS:
        return decode_params(data, memory)
    return None
