"""protocol.py's input of a streamed program (memory.json "input": rows): the sample's rows in order, each
row all channels pixel by pixel, an MSE target before them; a memory.json whose "chw" does not describe the
input is one TinyTrainError naming the fix."""
import numpy as np
import pytest

from tvm_tinytrain.codegen.protocol import PREDICT, TRAIN, encode_request
from tvm_tinytrain.errors import TinyTrainError

ROWS = {"input_shape": [2, 3, 4], "num_classes": 2, "input": {"rows": True, "chw": [2, 3, 4]}}


def test_rows_in_order_each_row_all_channels_pixel_by_pixel():
    x = np.arange(24, dtype=np.int8).reshape(2, 3, 4)
    body = encode_request(PREDICT, 0, x, ROWS, "test")[8:]
    assert list(body[:8]) == [0, 12, 1, 13, 2, 14, 3, 15]  # row 0: pixel 0's two channels, pixel 1's, ...
    assert body == x.transpose(1, 2, 0).tobytes()
    whole = dict(ROWS, input={"rows": False, "chw": None})
    assert encode_request(PREDICT, 0, x, whole, "test")[8:] == x.tobytes()


def test_mse_target_comes_before_the_rows():
    x, target = np.zeros((2, 3, 4), np.int8), np.array([0.5, -1.0], np.float32)
    body = encode_request(TRAIN, target, x, dict(ROWS, loss="mse"), "test")[8:]
    assert body[:8] == target.tobytes() and len(body) == 8 + 24


@pytest.mark.parametrize("chw", [[4, 3, 2, 1], [2, 3, 5], "2x3x4", None])
def test_a_chw_not_of_the_input_is_refused(chw):
    with pytest.raises(TinyTrainError, match="regenerate the project"):
        encode_request(PREDICT, 0, np.zeros(24, np.int8), dict(ROWS, input={"rows": True, "chw": chw}), "test")
