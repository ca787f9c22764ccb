"""Preprocessing: shapes and the backbones' int8 input convention."""
import numpy as np
import pytest
from PIL import Image

from tvm_tinytrain.data.images import center_crop_resize, resize_to, to_8bit, to_float_input, to_int8_input
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


# -- every PIL mode to 8 bits ---------------------------------------------------------------------------
def test_16_bit_gray_is_scaled_by_its_range_not_clipped(tmp_path):
    """PIL's convert clips 16-bit pixels at 255: a 16-bit PNG became all white. Each 16-bit value v
    must become round(v * 255 / 65535), whatever the byte order of the mode."""
    wide = np.array([[0, 128, 257, 32767], [32896, 60000, 65534, 65535]], np.uint16)
    want = np.round(wide.astype(np.float64) * 255 / 65535).astype(np.uint8)
    Image.fromarray(wide).save(tmp_path / "g16.png")
    png = Image.open(tmp_path / "g16.png")
    big_endian = Image.frombytes("I;16B", (4, 2), wide.astype(">u2").tobytes())
    for img in (png, big_endian, Image.fromarray(wide.astype(np.int32))):
        out = to_8bit(img)
        assert out.mode == "L" and np.array_equal(np.asarray(out), want), img.mode
    assert (resize_to(wide, 4)[..., 0] == np.asarray(to_8bit(png).resize((4, 4), Image.BILINEAR))).all()


def test_modes_without_an_8_bit_meaning_are_refused():
    with pytest.raises(TinyTrainError, match=r"x\.tif: 32-bit integer pixels range -5\.\.70000"):
        to_8bit(Image.fromarray(np.array([[-5, 70000]], np.int32)), "x.tif")
    with pytest.raises(TinyTrainError, match="pixel mode 'F'"):
        to_8bit(Image.new("F", (2, 2), 0.5), "y.tif")
    with pytest.raises(TinyTrainError, match="pixel mode 'LAB'"):
        to_8bit(Image.new("LAB", (2, 2)))


def test_palette_alpha_cmyk_and_1_bit():
    pal = Image.new("P", (2, 1))
    pal.putpalette([200, 10, 20, 0, 90, 250] + [0] * 762)
    pal.putdata([0, 1])
    assert np.asarray(to_8bit(pal)).tolist() == [[[200, 10, 20], [0, 90, 250]]]
    pa = Image.merge("PA", (pal, Image.new("L", (2, 1), 0)))
    assert np.asarray(to_8bit(pa)).tolist() == [[[200, 10, 20], [0, 90, 250]]]  # alpha dropped, not blended
    la = Image.merge("LA", (Image.new("L", (2, 2), 77), Image.new("L", (2, 2), 0)))
    assert to_8bit(la).mode == "L" and (np.asarray(to_8bit(la)) == 77).all()
    rgba = Image.new("RGBA", (2, 2), (1, 2, 3, 0))
    assert to_8bit(rgba).mode == "RGB" and (np.asarray(to_8bit(rgba)) == [1, 2, 3]).all()
    cmyk = Image.new("CMYK", (1, 1), (0, 255, 255, 0))  # pure red in ink
    assert np.asarray(to_8bit(cmyk)).tolist() == [[[255, 0, 0]]]
    bits = Image.fromarray(np.array([[True, False]]))
    assert bits.mode == "1" and np.asarray(to_8bit(bits)).tolist() == [[255, 0]]
    rgb = Image.new("RGB", (1, 1))
    assert to_8bit(rgb) is rgb
