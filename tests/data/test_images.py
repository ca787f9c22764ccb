"""Preprocessing: shapes and the backbones' int8 input convention."""
import numpy as np
import pytest
from PIL import Image

from tvm_tinytrain.data.images import center_crop_resize, resize_to, to_float_input, to_int8_input
from tvm_tinytrain.errors import TinyTrainError


def test_int8_rounding_half_to_even():
    px = np.array([0, 1, 128, 255], dtype=np.uint8).reshape(1, 4, 1).repeat(3, axis=2)
    q = to_int8_input(px)
    assert q.dtype == np.int8 and q.shape == (3, 1, 4)
    assert q[0, 0].tolist() == [-128, -126, 0, 127]


def test_float_matches_int8_scale():
    px = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    f = to_float_input(px)
    assert f.dtype == np.float32 and f.shape == (3, 5, 7)
    assert np.abs(f - to_int8_input(px) / 127.5).max() <= 0.5 / 127.5 + 1e-6
    assert to_float_input(px[None]).shape == (1, 3, 5, 7)


def test_center_crop_resize_shapes():
    wide = Image.new("RGB", (300, 200), (10, 20, 30))
    out = center_crop_resize(wide)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    assert (out == [10, 20, 30]).all()
    gray = Image.new("L", (224, 224), 7)
    assert center_crop_resize(gray, size=64, resize=80).shape == (64, 64, 3)


def test_center_crop_takes_middle():
    a = np.zeros((146, 200, 3), dtype=np.uint8)
    a[:, 36:164] = 255  # the middle 128 columns of the (already 146-high) image
    assert (center_crop_resize(Image.fromarray(a)) == 255).all()


def test_resize_to():
    small = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for img in (small, Image.fromarray(small)):
        out = resize_to(img, 128)
        assert out.shape == (128, 128, 3) and out.dtype == np.uint8


def test_bad_input_is_explained():
    with pytest.raises(TinyTrainError, match="uint8"):
        to_int8_input(np.zeros((3, 8, 8), dtype=np.uint8))
    with pytest.raises(TinyTrainError, match="uint8"):
        to_float_input(np.zeros((8, 8, 3), dtype=np.float32))
