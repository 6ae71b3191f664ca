"""Procedural test images and the LFM2-VL smart-resize geometry (numpy only).

test_image() is the contract's formula (tests/data/goldens, C side identical):
    v(x, y, c) = (x*(c+1)*7 + y*(3-c)*5 + ((x/8) ^ (y/8))*23 + S*41 + (x*y)/64) % 256
smart_resize() and is_too_large() follow spec §4.2/§4.3 (HF: Python round,
ties to even, double precision).
"""

import math

import numpy as np


def test_image(width, height, seed):
    """RGB8 image, numpy uint8 array of shape (height, width, 3)."""
    x = np.arange(width, dtype=np.int64)[None, :, None]
    y = np.arange(height, dtype=np.int64)[:, None, None]
    c = np.arange(3, dtype=np.int64)[None, None, :]
    v = (x * (c + 1) * 7 + y * (3 - c) * 5 + ((x // 8) ^ (y // 8)) * 23
         + seed * 41 + (x * y) // 64) % 256
    return v.astype(np.uint8)


def _round_by(n, f):
    return round(n / f) * f   # Python round: ties to even, as HF


def is_too_large(height, width, max_tokens=256, patch=16, factor=2,
                 tolerance=2.0):
    """Spec §4.2: would HF tile this image?"""
    a = patch * factor
    h0 = max(patch, _round_by(height, a))
    w0 = max(patch, _round_by(width, a))
    return h0 * w0 > max_tokens * patch * patch * factor * factor * tolerance


def smart_resize(height, width, min_tokens=64, max_tokens=256, patch=16,
                 factor=2):
    """Spec §4.3. Returns (crop_width, crop_height)."""
    a = patch * factor
    min_px = min_tokens * patch * patch * factor * factor
    max_px = max_tokens * patch * patch * factor * factor
    h = max(a, _round_by(height, a))
    w = max(a, _round_by(width, a))
    if h * w > max_px:
        beta = math.sqrt(height * width / max_px)
        h = max(a, math.floor(height / beta / a) * a)
        w = max(a, math.floor(width / beta / a) * a)
    elif h * w < min_px:
        beta = math.sqrt(min_px / (height * width))
        h = math.ceil(height * beta / a) * a
        w = math.ceil(width * beta / a) * a
    return w, h


if __name__ == "__main__":
    # Worked examples of spec §4.11 (single-image rows).
    for (w, h), exp in [((512, 288), (512, 288)), ((640, 480), (576, 416)),
                        ((256, 384), (256, 384)), ((400, 300), (384, 288)),
                        ((384, 680), (384, 672))]:
        got = smart_resize(h, w)
        assert got == exp, ((w, h), got, exp)
        assert not is_too_large(h, w)
    assert is_too_large(720, 1280) and is_too_large(3000, 1000)
    img = test_image(16, 9, 1)
    # v(0,0,c) = 41 for every channel; v(1,0,0) = 7 + 41
    assert list(img[0, 0]) == [41, 41, 41] and img[0, 1, 0] == 48
    print("images: ok")
