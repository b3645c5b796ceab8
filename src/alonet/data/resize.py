"""Resizing photographs and masks.

``fit_size`` is the one "shrink to a longest side" (aspect ratio kept, never enlarged);
``resize_photo`` resizes a photograph with anti-aliasing and ``area_resize_mask`` a mask
by area, exactly binary. Both take a ``Size``: an int (square) or (width, height), the
aspect ratio not kept, and align pixel areas the same way, so masks stay on their photograph.
"""

from __future__ import annotations

from typing import Union

import numpy as np
from PIL import Image

Size = Union[int, tuple[int, int]]


def fit_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) shrunk so the longer side is at most ``max_side`` (aspect ratio kept,
    at least 1 pixel each); never enlarged. Every "shrink to a longest side" uses this one."""
    scale = max_side / max(width, height)
    if scale >= 1.0:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))


def _target_size(size: Size) -> tuple[int, int]:
    """(width, height) from an int (square) or a (width, height) pair."""
    if isinstance(size, (int, np.integer)):
        width = height = int(size)
    else:
        width, height = (int(v) for v in size)
    if width <= 0 or height <= 0:
        raise ValueError(f"size must be positive, got {size!r}")
    return width, height


def resize_photo(image: np.ndarray, size: Size) -> np.ndarray:
    """Resize an (H, W, 3) uint8 photograph to ``size`` with anti-aliasing.

    ``size`` is an int (square) or (width, height); the aspect ratio is not kept
    (the study squeezes every photograph to 320x320; masks are squeezed alike, so
    area ratios such as the hair-loss percentage are unchanged). Uses Pillow's
    Lanczos filter, which widens its support when shrinking (anti-aliasing).
    """
    width, height = _target_size(size)
    array = np.asarray(image)
    if array.shape[:2] == (height, width):
        return np.array(array, dtype=np.uint8)
    resized = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8)).resize(
        (width, height), Image.Resampling.LANCZOS, reducing_gap=3.0
    )
    return np.asarray(resized, dtype=np.uint8).copy()


def area_resize_mask(mask: np.ndarray, size: Size) -> np.ndarray:
    """Resize an (H, W) mask to ``size`` by area: bool and exactly binary.

    ``size`` is an int (square) or (width, height). Rule (Pillow's box filter on
    0/1, then ``>= 0.5``): each source pixel counts, whole, for the output pixel
    its centre falls in, and an output pixel is inside when at least half of the
    source pixels it counts are inside. Shrinking by a whole factor, that is at
    least half of the area it covers; otherwise a source pixel cut by the border
    of two output pixels counts for one of them only (``0 1 0 0 0`` shrunk to 3
    pixels gives ``1 0 0``, though the inside pixel is 40 % of the first one's
    area), which moves an outline by less than one source pixel. Enlarging, each
    output pixel takes the source pixel its centre falls in. Any non-zero value
    counts as inside. Pixel areas are aligned the same way as ``resize_photo``
    aligns them, so masks stay on their photograph. A mask already of that size
    comes back as a bool copy.
    """
    width, height = _target_size(size)
    array = np.asarray(mask)
    binary = array if array.dtype == bool else array != 0
    if binary.shape == (height, width):
        return binary.copy()
    area = Image.fromarray(binary.astype(np.float32)).resize((width, height), Image.Resampling.BOX)
    return np.asarray(area) >= 0.5
