"""Turning a photograph into RGB: ``read_photo`` and ``as_rgb_photo``.

Every later stage reads images through this module and ``alonet.data.annotation``, so that
a photograph means the same array in training, evaluation, inference and the web application.

Photographs (``read_photo``) become (H, W, 3) uint8 sRGB arrays:
- formats: JPEG (also camera MPO), PNG, TIFF, BMP, WebP, GIF, PPM;
- the EXIF orientation is applied (the array looks like the photo on screen);
  an unreadable EXIF block is ignored rather than fatal;
- an embedded ICC profile (CMYK press profiles, Adobe RGB, Display P3, ...) is
  converted to sRGB with LittleCMS; without a profile CMYK uses Pillow's
  conversion, which reads Adobe (inverted) CMYK JPEGs correctly;
- grayscale and palette images become gray / palette colours in RGB;
- transparency (RGBA, LA, palette transparency) is composited on **white**;
- 16-bit images are scaled to 8 bits by ``round(v * 255 / 65535)``.

``as_rgb_photo`` is the one check that an array already is such a photograph.
What a source may be, the errors, the pixel cap and truncated files: see
``alonet.data.imagefile``, which opens the file.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

from alonet.data.imagefile import DEFAULT_MAX_PIXELS, ImageSource, _SIXTEEN_BIT, _label, _load, _opened
from alonet.errors import InvalidValueError, UnsupportedImageModeError

#: File extensions treated as photographs when scanning folders.
PHOTO_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def _to_srgb(image: Image.Image) -> Image.Image:
    """Convert RGB/CMYK with an embedded ICC profile to sRGB; plain conversion otherwise."""
    icc = image.info.get("icc_profile")
    if icc:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:  # None only with inPlace=True
                return converted
        except Exception:  # a broken or exotic profile: fall back to Pillow's conversion
            pass
    return image.convert("RGB")


def _composite_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _scale_16bit(array: np.ndarray, label: str) -> np.ndarray:
    if array.size and (array.min() < 0 or array.max() > 65535):
        raise UnsupportedImageModeError(
            f"{label}: integer image values outside 0..65535", fix="export it as 8- or 16-bit RGB"
        )
    return np.round(array.astype(np.float32) * (255.0 / 65535.0)).astype(np.uint8)


def _photo_to_rgb(image: Image.Image, label: str, color_manage: bool) -> np.ndarray:
    mode = image.mode
    if mode in ("RGB", "CMYK"):
        rgb = _to_srgb(image) if color_manage else image.convert("RGB")
    elif mode in ("L", "1"):
        rgb = image.convert("RGB")
    elif mode == "P":
        rgb = _composite_on_white(image) if "transparency" in image.info else image.convert("RGB")
    elif mode in ("RGBA", "RGBa", "LA", "La", "PA"):
        rgb = _composite_on_white(image)
    elif mode in _SIXTEEN_BIT:
        gray = _scale_16bit(np.asarray(image), label)
        return np.repeat(gray[:, :, None], 3, axis=2)
    elif mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise UnsupportedImageModeError(
                f"{label}: floating-point image with values outside 0..1", fix="export it as 8-bit RGB"
            )
        gray = np.round(values * 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    else:
        try:
            rgb = image.convert("RGB")
        except (ValueError, OSError):
            raise UnsupportedImageModeError(
                f"{label}: colour mode {mode} is not supported", fix="export it as 8-bit RGB JPEG or PNG"
            ) from None
    return np.array(rgb, dtype=np.uint8)


def read_photo(
    source: ImageSource,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    *,
    name: str | None = None,
    color_manage: bool = True,
) -> np.ndarray:
    """Read a photograph as an (H, W, 3) uint8 sRGB array (see the module doc).

    ``max_pixels=None`` removes AloNet's cap (Pillow's own bomb guard stays);
    ``color_manage=False`` skips the ICC conversion.
    """
    label = _label(source, name)
    with _opened(source, max_pixels, label) as image:
        _load(image, label)
        try:
            oriented = ImageOps.exif_transpose(image) or image
        except Exception:  # malformed EXIF: keep the stored orientation
            oriented = image
        return _photo_to_rgb(oriented, label, color_manage)


def as_rgb_photo(image, what: str = "the photograph", *, batch: bool = False) -> np.ndarray:
    """``image`` as an (H, W, 3) uint8 RGB array (``np.asarray``, not copied), as
    ``read_photo`` returns it; anything else raises ``InvalidValueError``.

    ``what`` names the array in the message. ``batch`` also accepts a stack of
    photographs, (N, H, W, 3). Like ``alonet.scoring.masks.as_bool_mask`` for masks:
    every stage that takes a photograph as an array checks it here.
    """
    array = np.asarray(image)
    shape = array.shape[1:] if batch and array.ndim == 4 else array.shape
    if len(shape) != 3 or shape[2] != 3 or array.dtype != np.uint8 or 0 in shape:
        expected = "a (height, width, 3) uint8 array" + (" or a stack of them" if batch else "")
        raise InvalidValueError(f"{what}: expected an RGB photograph as {expected}; got {array.dtype} {array.shape}",
                                fix="convert the image to 8-bit RGB (alonet.data.photo.read_photo reads files so)")
    return array
