"""Image preprocessing matching the paper's int8 backbones.

Backbones take 128x128 RGB: resize shorter side to 146, center-crop 128 (torchvision
Resize+CenterCrop arithmetic), then `x_q = round(pixel - 127.5)`; the fp32 path sees the
same real values, `(pixel - 127.5) / 127.5` (scale 1/127.5, zero point 0).

Every decoded image first goes through `to_8bit`: PIL's own `convert` clips 16-bit pixels
at 255 (a 16-bit grayscale PNG became almost all white), so wide modes are scaled here
by their real range, and modes with no fixed range are refused.
"""
import numpy as np
from PIL import Image

from ..errors import ShapeError, TinyTrainError

_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
_AS_RGB = ("P", "PA", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr")


def to_8bit(img: Image.Image, where="image") -> Image.Image:
    """`img` as 8-bit "L" or "RGB": alpha dropped, palettes applied, 16-bit scaled by 255/65535.

    Mode "I" (32-bit integer, how older Pillow decodes a 16-bit PNG) is read as 16-bit if its
    values fit 0..65535; "F" and colour spaces PIL cannot turn into RGB exactly are refused.
    """
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode in ("LA", "La"):
        return img.getchannel(0)
    if mode in _AS_RGB:
        return img.convert("RGBA").convert("RGB") if mode in ("P", "PA") else img.convert("RGB")
    if mode in _SIXTEEN_BIT or mode == "I":
        wide = np.asarray(img).astype(np.int64)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise TinyTrainError(f"{where}: 32-bit integer pixels range {wide.min()}..{wide.max()}, outside the "
                                 f"16-bit 0..65535 this reads; save it as an 8- or 16-bit PNG")
        return Image.fromarray(((wide * 255 + 32767) // 65535).astype(np.uint8))
    raise TinyTrainError(f"{where}: pixel mode {mode!r} has no fixed 8-bit meaning (float or {mode} colour); "
                         f"save it as an 8- or 16-bit RGB or grayscale PNG or JPEG")


def _rgb(img) -> Image.Image:
    return to_8bit(Image.fromarray(img) if isinstance(img, np.ndarray) else img).convert("RGB")


def _hw(size) -> tuple[int, int]:
    return (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))


def center_crop_resize(img, size=128, resize=146) -> np.ndarray:
    """Resize (bilinear, aspect kept) to cover `resize`, center crop `size`; uint8 (H, W, 3).

    `size` and `resize` are an int (square) or (H, W): the image's side that is shorter relative
    to the target becomes the target's `resize` side (for a square target: the shorter side)."""
    img = _rgb(img)
    (size_h, size_w), (resize_h, resize_w) = _hw(size), _hw(resize)
    w, h = img.size
    if w * resize_h <= h * resize_w:
        new_w, new_h = resize_w, int(resize_w * h / w)
    else:
        new_w, new_h = int(resize_h * w / h), resize_h
    img = img.resize((new_w, new_h), Image.BILINEAR)
    top, left = int(round((new_h - size_h) / 2.0)), int(round((new_w - size_w) / 2.0))
    return np.asarray(img.crop((left, top, left + size_w, top + size_h)), dtype=np.uint8)


def resize_to(img, size) -> np.ndarray:
    """Plain bilinear resize to `size` (int: square, or (H, W); CIFAR 32x32 into a 128 model); uint8 (H, W, 3)."""
    h, w = _hw(size)
    return np.asarray(_rgb(img).resize((w, h), Image.BILINEAR), dtype=np.uint8)


def _check_hwc(pixels, who):
    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim not in (3, 4) or pixels.shape[-1] != 3:
        raise ShapeError(f"{who}: expected uint8 pixels shaped (H, W, 3) or (N, H, W, 3), got "
                         f"{pixels.dtype} {pixels.shape}; use center_crop_resize/resize_to first")
    return pixels


def _to_chw(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, -3))


def to_int8_input(pixels) -> np.ndarray:
    """int8 (3, H, W) (or (N, 3, H, W)): clip(round(p - 127.5)), numpy round = half to even."""
    p = _check_hwc(pixels, "to_int8_input")
    return _to_chw(np.clip(np.round(p.astype(np.float32) - 127.5), -128, 127).astype(np.int8))


def to_float_input(pixels) -> np.ndarray:
    """float32 (3, H, W) (or (N, 3, H, W)): (p - 127.5) / 127.5."""
    p = _check_hwc(pixels, "to_float_input")
    return _to_chw((p.astype(np.float32) - 127.5) / np.float32(127.5))
