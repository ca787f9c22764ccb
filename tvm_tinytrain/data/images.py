"""Image preprocessing matching the paper's int8 backbones.

Backbones take 128x128 RGB: resize shorter side to 146, center-crop 128 (torchvision
Resize+CenterCrop arithmetic), then `x_q = round(pixel - 127.5)`; the fp32 path sees the
same real values, `(pixel - 127.5) / 127.5` (scale 1/127.5, zero point 0).
"""
import numpy as np
from PIL import Image

from ..errors import ShapeError


def _rgb(img) -> Image.Image:
    return (Image.fromarray(img) if isinstance(img, np.ndarray) else img).convert("RGB")


def center_crop_resize(img, size: int = 128, resize: int = 146) -> np.ndarray:
    """Shorter side -> `resize` (bilinear), center crop `size`; uint8 (size, size, 3)."""
    img = _rgb(img)
    w, h = img.size
    if w <= h:
        new_w, new_h = resize, int(resize * h / w)
    else:
        new_w, new_h = int(resize * w / h), resize
    img = img.resize((new_w, new_h), Image.BILINEAR)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def resize_to(img, size: int) -> np.ndarray:
    """Plain bilinear resize to size x size (CIFAR 32x32 into a 128 model); uint8 (size, size, 3)."""
    return np.asarray(_rgb(img).resize((size, size), Image.BILINEAR), dtype=np.uint8)


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
