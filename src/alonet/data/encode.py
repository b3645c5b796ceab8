"""Encoding images to bytes and saving them.

``encode_jpeg``, ``encode_png`` and ``encode_mask_png`` encode from the pixels alone (no
metadata but the PNG text chunks asked for); ``save_mask_png`` and ``save_photo_jpeg``
write those bytes atomically (``alonet.system.atomic``). The JPEG qualities AloNet uses
are named here.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from alonet.system.atomic import atomic_write_bytes
from alonet.data.photo import as_rgb_photo

#: JPEG quality of photographs AloNet saves or shows (``alonet demo``, the web page's pictures).
PHOTO_JPEG_QUALITY = 92
#: JPEG quality of overlay files (report folders, ``alonet predict``).
OVERLAY_JPEG_QUALITY = 90
#: JPEG quality of the pictures embedded in an HTML report (smaller files).
EMBEDDED_JPEG_QUALITY = 88
#: ``subsampling`` for :func:`encode_jpeg` that keeps full colour resolution (4:4:4).
NO_CHROMA_SUBSAMPLING = 0


def encode_jpeg(image: np.ndarray, quality: int, *, subsampling: int | None = None,
                optimize: bool = False) -> bytes:
    """A uint8 RGB (H, W, 3) or grey (H, W) array as JPEG bytes, encoded from its pixels
    (no metadata).

    ``subsampling``: Pillow's chroma subsampling (``NO_CHROMA_SUBSAMPLING`` = 4:4:4);
    None keeps Pillow's default for ``quality``. ``optimize``: optimised Huffman tables
    (smaller file, same pixels).
    """
    options: dict = {"quality": int(quality)}
    if subsampling is not None:
        options["subsampling"] = subsampling
    if optimize:
        options["optimize"] = True
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def encode_png(array: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """A uint8 grey (H, W) or RGB (H, W, 3) array as PNG bytes (Pillow's default
    compression); ``text``: tEXt chunks (key: value), else no metadata."""
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def encode_mask_png(mask: np.ndarray) -> bytes:
    """A 2-D mask as 8-bit PNG bytes: 0 = outside, 255 = inside (any non-zero value)."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"a mask must be 2-D, got shape {array.shape}")
    # uint8 throughout: np.where(..., 255, 0) made an int64 array of 8 bytes per pixel first
    # (about 400 MB for a 48 MP mask; a resource audit, thirty-fourth session)
    return encode_png((array != 0).view(np.uint8) * np.uint8(255))


def save_mask_png(path: str | Path, mask: np.ndarray) -> Path:
    """Save a mask as an 8-bit PNG (:func:`encode_mask_png`), atomically."""
    return atomic_write_bytes(path, encode_mask_png(mask))


def save_photo_jpeg(path: str | Path, image: np.ndarray, quality: int = PHOTO_JPEG_QUALITY) -> Path:
    """Save an (H, W, 3) uint8 RGB array as a JPEG (:func:`encode_jpeg`), atomically."""
    array = as_rgb_photo(image, f"photograph for {Path(path).name}")
    return atomic_write_bytes(path, encode_jpeg(array, quality))
