"""The request and answer files a generated program is driven through, on the host
(`host_main.c`) and on a device (`targets/firmware/device_main.c`).

requests: records of [int32 kind][int32 label][int8 input], kind TRAIN or PREDICT.
answers:  per request the float32 loss or the logits (int8, or float32 with an fp32
          classifier), each followed by its uint64 instruction count on a device; then every
          trained parameter (memory.json order, raw bytes); then int32 trailer values
          (tt_error(), and on a device the stack high-water mark).
"""
from __future__ import annotations

import struct

import numpy as np

from tvm_tinytrain.errors import TinyTrainError

TRAIN, PREDICT = 0, 1


def encode_requests(requests, memory: dict, who: str) -> bytes:
    n_input = int(np.prod(memory["input_shape"]))
    blob = bytearray()
    for kind, label, x in requests:
        x = np.asarray(x, np.int8).reshape(-1)
        if x.size != n_input:
            raise TinyTrainError(f"{who}: input has {x.size} values, the model takes {n_input}")
        blob += struct.pack("<ii", kind, int(label)) + x.tobytes()
    return bytes(blob)


def parse_answers(data: bytes, requests, memory: dict, who: str, with_counts: bool, trailer: int):
    """(answers, instruction counts or [], trained params, trailer int32 values)."""
    answers, counts, params, pos = [], [], {}, 0
    logits = np.dtype(np.float32 if memory.get("fp32_classifier") else np.int8)
    try:
        for kind, _, _ in requests:
            if kind == TRAIN:
                answers.append(struct.unpack_from("<f", data, pos)[0])
                pos += 4
            else:
                answers.append(np.frombuffer(data, logits, memory["num_classes"], pos).copy())
                pos += memory["num_classes"] * logits.itemsize
            if with_counts:
                counts.append(struct.unpack_from("<Q", data, pos)[0])
                pos += 8
        for p in memory["trained_params"]:
            value = np.frombuffer(data, p["dtype"], int(np.prod(p["shape"])), pos).reshape(p["shape"]).copy()
            params[p["name"]] = value
            pos += value.nbytes
        values = struct.unpack_from(f"<{trailer}i", data, pos)
    except (ValueError, struct.error):
        raise TinyTrainError(f"{who}: answers.bin is truncated ({len(data)} bytes)") from None
    if pos + 4 * trailer != len(data):
        raise TinyTrainError(f"{who}: answers.bin has {len(data)} bytes, expected {pos + 4 * trailer}")
    return answers, counts, params, values
