"""Encoding images to bytes (``alonet.data.encode.encode_jpeg`` / ``encode_png``): every caller
writes the bytes it wrote before the encoders were shared, i.e. Pillow with that caller's
quality, chroma subsampling, Huffman optimisation and PNG text.

``pillow_jpeg`` / ``pillow_png`` / ``pillow_mask_png`` are those references; the caller-level
checks live beside each caller's other tests (phantom writer, report folder and HTML,
``alonet predict``, the web page) and import them from here.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from alonet.data.encode import (
    EMBEDDED_JPEG_QUALITY,
    NO_CHROMA_SUBSAMPLING,
    OVERLAY_JPEG_QUALITY,
    PHOTO_JPEG_QUALITY,
    encode_jpeg,
    encode_mask_png,
    encode_png,
    save_mask_png,
    save_photo_jpeg,
)


def pillow_jpeg(image: np.ndarray, quality: int, **options) -> bytes:
    """JPEG bytes straight from Pillow (``options``: subsampling, optimize)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="JPEG", quality=quality, **options)
    return buffer.getvalue()


def pillow_png(array: np.ndarray, text: dict[str, str] | None = None, **options) -> bytes:
    """PNG bytes straight from Pillow (``text``: tEXt chunks)."""
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", pnginfo=info, **options)
    return buffer.getvalue()


def pillow_mask_png(mask: np.ndarray) -> bytes:
    """A mask as 0/255 PNG bytes straight from Pillow."""
    return pillow_png(np.where(mask, 255, 0).astype(np.uint8))


def _photo() -> np.ndarray:
    rng = np.random.default_rng(1)
    return cv2.GaussianBlur(rng.integers(0, 256, (73, 91, 3), dtype=np.uint8), (0, 0), 3)


def _mask() -> np.ndarray:
    mask = np.zeros((73, 91), bool)
    cv2.ellipse(mask.view(np.uint8), (45, 36), (30, 20), 20, 0, 360, 1, -1)
    return mask


def test_each_callers_settings_are_named_and_unchanged():
    from alonet.phantom.writer import JPEG_QUALITY
    from alonet.web.reports import STORED_JPEG_QUALITY

    # photographs saved or shown, overlay files, pictures inside an HTML report,
    # photographs the web store re-encodes, phantom photographs
    assert (PHOTO_JPEG_QUALITY, OVERLAY_JPEG_QUALITY, EMBEDDED_JPEG_QUALITY) == (92, 90, 88)
    assert (STORED_JPEG_QUALITY, JPEG_QUALITY, NO_CHROMA_SUBSAMPLING) == (95, 95, 0)


@pytest.mark.parametrize("quality", [PHOTO_JPEG_QUALITY, OVERLAY_JPEG_QUALITY, EMBEDDED_JPEG_QUALITY, 95])
def test_encode_jpeg_is_pillow_with_the_given_settings(quality):
    photo = _photo()
    plain = encode_jpeg(photo, quality)
    assert plain == pillow_jpeg(photo, quality)
    full_chroma = encode_jpeg(photo, quality, subsampling=NO_CHROMA_SUBSAMPLING, optimize=True)
    assert full_chroma == pillow_jpeg(photo, quality, subsampling=0, optimize=True)  # the web's settings
    assert full_chroma != plain
    with Image.open(io.BytesIO(plain)) as image:
        assert image.format == "JPEG" and image.size == (91, 73) and not image.getexif()


def test_encode_png_is_pillow_with_text_only_when_asked():
    grey = _photo()[..., 0]
    assert encode_png(grey) == pillow_png(grey)
    assert encode_png(grey) == pillow_png(grey, optimize=False, compress_level=6)  # the web's former call
    assert encode_png(_photo()) == pillow_png(_photo())
    marked = encode_png(grey, text={"alonet": "probability"})
    assert marked == pillow_png(grey, text={"alonet": "probability"})
    with Image.open(io.BytesIO(marked)) as image:
        assert image.info["alonet"] == "probability"
    with Image.open(io.BytesIO(encode_png(grey))) as image:
        assert "alonet" not in image.info


def test_mask_png_is_0_and_255_whatever_the_mask_dtype():
    mask = _mask()
    expected = pillow_mask_png(mask)
    for given in (mask, mask.astype(np.uint8), mask.astype(np.uint8) * 255, mask.astype(np.float32)):
        assert encode_mask_png(given) == expected
    with pytest.raises(ValueError, match="2-D"):
        encode_mask_png(np.zeros((2, 3, 1), bool))


def test_save_helpers_write_what_pillow_wrote_to_the_path(tmp_path):
    mask, photo = _mask(), _photo()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(tmp_path / "old.png", format="PNG")
    assert save_mask_png(tmp_path / "m.png", mask).read_bytes() == (tmp_path / "old.png").read_bytes()
    for quality in (PHOTO_JPEG_QUALITY, 95):
        Image.fromarray(photo).save(tmp_path / "old.jpg", format="JPEG", quality=quality)
        saved = save_photo_jpeg(tmp_path / "p.jpg", photo, quality=quality)
        assert saved.read_bytes() == (tmp_path / "old.jpg").read_bytes()
    assert save_photo_jpeg(tmp_path / "d.jpg", photo).read_bytes() == pillow_jpeg(photo, PHOTO_JPEG_QUALITY)


def test_the_web_store_re_encodes_photographs_at_full_chroma():
    from alonet.web.reports import stored_photo_jpeg

    photo = _photo()
    state = SimpleNamespace(photo=photo, upload_jpeg=None, upload_checked=True)
    assert stored_photo_jpeg(state) == pillow_jpeg(photo, 95, subsampling=0, optimize=True)
