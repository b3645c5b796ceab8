"""Reading photographs and annotations, resizing them, encoding and saving images.

Every later stage reads images through this module, so that a photograph means
the same array in training, evaluation, inference and the web application.

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

Annotations (``read_annotation``) become (H, W) bool masks, True = inside.
Rule, whatever the mode: a pixel's *value* is its gray level, or the brightest
channel of its (palette) colour. If the image has only two levels (0 and one
other value: 0/1, 0/255, 0/65535, the black/white palette GIFs of the AloNet
annotations whose index 0 is black and index 1 white) every non-zero value is
inside; otherwise (anti-aliased edges, JPEG noise) a value of at least half the
range (128 of 255) is inside. Transparent pixels (alpha < 128, or a palette's
transparency index such as index 2 of the AloNet GIFs) are outside. EXIF
orientation is *not* applied to annotations. Multi-frame files use frame one.
Refused: label maps (see ``label_map_levels``) and, with ``refuse_pictures=True``
(``alonet convert``, ``alonet salt``), pictures whose pixels are mostly shades between
their darkest and brightest level (a photograph, a smooth grey image; see ``grey_share``).

Everything accepts a path, raw bytes, or a binary file object (web uploads);
``name=`` sets the name used in error messages. Every failure raises a subclass
of ``alonet.errors.ImageReadError`` whose one-line message names the file and
says how to fix it. Sizes are checked against ``max_pixels`` from the header,
before any pixel is decoded (decompression-bomb guard). Truncated files are an
error: this module never sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageFile, ImageOps, PngImagePlugin, UnidentifiedImageError

from alonet.system.atomic import atomic_write_bytes
from alonet.errors import (
    EmptyAnnotationError,
    EmptyImageError,
    ImageReadError,
    ImageTooLargeError,
    InvalidValueError,
    NotAnImageError,
    SizeMismatchError,
    TruncatedImageError,
    UnsupportedImageModeError,
)

#: Default pixel cap: 80 megapixels (larger than any clinical camera photograph).
DEFAULT_MAX_PIXELS = 80_000_000

#: File extensions treated as photographs / annotations when scanning folders.
PHOTO_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
MASK_EXTENSIONS: tuple[str, ...] = (".gif", ".png", ".bmp", ".tif", ".tiff")

#: Pillow format names this module opens (anything else is "not an image").
READ_FORMATS: tuple[str, ...] = ("JPEG", "MPO", "PNG", "TIFF", "BMP", "DIB", "WEBP", "GIF", "PPM")

ImageSource = Union[str, Path, bytes, bytearray, memoryview, BinaryIO]
Size = Union[int, tuple[int, int]]

_SUPPORTED = "JPEG, PNG, TIFF, BMP, WebP or GIF"
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_EXIF_ORIENTATION = 0x0112

#: Serialises the rare reads that must lift Pillow's own pixel guard (see _pillow_guard).
_PILLOW_GUARD_LOCK = threading.RLock()


@contextlib.contextmanager
def _pillow_guard(max_pixels: int | None) -> Iterator[None]:
    """Let Pillow accept images up to ``max_pixels`` while one image is read.

    Pillow refuses anything above ``2 * Image.MAX_IMAGE_PIXELS`` (about 179
    megapixels) on its own, so a ``max_pixels`` above that could never be
    reached. AloNet checks the size from the header itself, so Pillow's guard is
    raised to ``max_pixels`` for the duration of the read (under a lock, and
    restored afterwards) whenever the caller asked for more.

    The "no need to raise it" comparison is made inside the lock: outside it,
    a thread could see another thread's temporarily raised value, skip the
    lock, and then read with the lower value once that thread restores it.
    Inside the lock the value seen is the one every holder restores, so a read
    it is enough for may run without the lock.
    """
    if max_pixels is None:
        yield
        return
    with _PILLOW_GUARD_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        if saved is not None and 2 * saved < max_pixels:
            Image.MAX_IMAGE_PIXELS = max(int(max_pixels), saved)
            try:
                yield  # the lock is held for the whole read
            finally:
                Image.MAX_IMAGE_PIXELS = saved
            return
    yield


# --------------------------------------------------------------------------- opening


def _label(source: ImageSource, name: str | None) -> str:
    if name:
        return str(name)
    if isinstance(source, (str, Path)):
        return str(source)
    file_name = getattr(source, "name", None)
    if isinstance(file_name, str):
        return file_name
    return "<uploaded image>"


@contextlib.contextmanager
def _opened(source: ImageSource, max_pixels: int | None, label: str) -> Iterator[ImageFile.ImageFile]:
    """Open ``source`` (header only), check it, yield the Pillow image, close it."""
    if max_pixels is not None and max_pixels < 1:
        raise InvalidValueError(f"the pixel limit must be a positive number; got {max_pixels}",
                                 fix="give --max-pixels a number above 0")
    with _pillow_guard(max_pixels), _opened_unguarded(source, max_pixels, label) as image:
        yield image


@contextlib.contextmanager
def _opened_unguarded(source: ImageSource, max_pixels: int | None, label: str) -> Iterator[ImageFile.ImageFile]:
    fix_file = "re-export or re-copy the file"
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise NotAnImageError(f"{label} is a folder, not an image", fix="give the path of an image file")
        if not path.is_file():
            if path.exists():  # a pipe, socket or device: reading one may never end
                raise NotAnImageError(f"{label} is not a regular file (a pipe or device)",
                                      fix="give the path of an image file")
            raise ImageReadError(f"{label}: file not found", fix="check the path")
        if path.stat().st_size == 0:
            raise EmptyImageError(f"{label}: file is empty (0 bytes)", fix=fix_file)
        stream: BinaryIO | Path = path
    elif isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise EmptyImageError(f"{label}: no image data (0 bytes)", fix="upload the image file again")
        stream = io.BytesIO(bytes(source))
    elif hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise NotAnImageError(f"{label}: file object is not opened in binary mode", fix="open it with 'rb'")
        if len(data) == 0:
            raise EmptyImageError(f"{label}: no image data (0 bytes)", fix="upload the image file again")
        stream = io.BytesIO(bytes(data))
    else:
        raise NotAnImageError(
            f"{label}: cannot read an image from a {type(source).__name__}",
            fix="pass a path, bytes or a binary file object",
        )

    try:
        with warnings.catch_warnings():
            # Our own cap decides; Pillow's warning would only add noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.init()  # register every plugin (idempotent) so READ_FORMATS are all known
            image = Image.open(stream, formats=[f for f in READ_FORMATS if f in Image.OPEN])
    except UnidentifiedImageError:
        raise NotAnImageError(f"{label}: not an image AloNet can read; it reads {_SUPPORTED}", fix="export it as JPEG or PNG") from None
    except Image.DecompressionBombError as exc:
        # Pillow's own guard fires while reading the header (only without a larger max_pixels);
        # its wording stays out, the pixel count it found is kept.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        size = (f"{int(found.group(1))} pixels ({int(found.group(1)) / 1e6:.0f} megapixels)" if found
                else f"more than {limit / 1e6:.0f} megapixels")
        raise ImageTooLargeError(
            f"{label}: image has {size}, too many to decode safely",
            fix="downscale it, or accept it with --max-pixels N (N pixels) if the file is trusted",
        ) from None
    except (PermissionError, FileNotFoundError, IsADirectoryError) as exc:
        raise ImageReadError(f"{label}: cannot open the file ({exc.strerror or exc})", fix="check the path and its permissions") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # the header itself is cut short or broken
        raise TruncatedImageError(
            f"{label}: image data is truncated or corrupt ({' '.join(str(exc).split()) or type(exc).__name__})",
            fix=fix_file,
        ) from None

    with image:
        width, height = image.size
        if width == 0 or height == 0:
            raise EmptyImageError(f"{label}: image has zero width or height", fix=fix_file)
        check_pixels(width, height, max_pixels, label)
        yield image


def pixel_count(n: int) -> str:
    """A pixel count for messages: megapixels with one decimal, or pixels below 0.1 MP."""
    return f"{n / 1e6:.1f} megapixels" if n >= 100_000 else f"{n} pixels"


def check_pixels(width: int, height: int, max_pixels: int | None, label: str) -> None:
    """Raise ImageTooLargeError when a ``width`` x ``height`` picture is over ``max_pixels`` (None: no cap)."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"{label}: image is {width}x{height} = {pixel_count(width * height)}, "
            f"more than the limit of {pixel_count(max_pixels)}",
            fix="downscale it, or raise max_pixels (--max-pixels) if the file is trusted",
        )


#: Samples per pixel of each PNG colour type (grey, RGB, palette, grey + alpha, RGBA).
_PNG_SAMPLES = MappingProxyType({0: 1, 2: 3, 3: 1, 4: 2, 6: 4})


def _png_rows_missing(data: bytes) -> bool:
    """True when a non-interlaced PNG's image data (its IDAT chunks) is a whole zlib stream that
    inflates to fewer bytes than its rows need. Pillow reports a file cut short, but decodes
    such a stream without a word, leaving the missing rows black."""
    need, got, pos = None, 0, 8
    inflate = zlib.decompressobj()
    try:
        while pos + 8 <= len(data):
            length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
            body = data[pos + 8:pos + 8 + length]
            if kind == b"IHDR" and len(body) == 13:
                if body[12]:  # interlaced: seven passes of other sizes; not checked
                    return False
                width, height = int.from_bytes(body[:4], "big"), int.from_bytes(body[4:8], "big")
                samples = _PNG_SAMPLES.get(body[9], 1)
                need = height * (1 + (width * body[8] * samples + 7) // 8)
            elif kind == b"IDAT" and need is not None:
                pending = body
                while pending and got < need:
                    got += len(inflate.decompress(pending, 1 << 20))
                    pending = inflate.unconsumed_tail
                if got >= need or inflate.eof:
                    break
            elif kind == b"IEND":
                break
            pos += 12 + length
    except zlib.error:  # corrupt data: Pillow's decoder says so
        return False
    return need is not None and got < need and inflate.eof  # no end: a cut file, which Pillow reports


def _load(image: ImageFile.ImageFile, label: str) -> None:
    """Decode the pixels (first frame), turning decoder failures into typed errors."""
    if image.format == "PNG" and image.fp is not None:
        start = image.fp.tell()
        image.fp.seek(0)
        data = image.fp.read()
        image.fp.seek(start)
        if _png_rows_missing(data):
            raise TruncatedImageError(f"{label}: image data is truncated or corrupt (its PNG image data ends "
                                      "before the last row)", fix="re-export or re-copy the file")
    try:
        image.seek(0)
        image.load()
    except MemoryError:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{label}: image (or one of its frames) has too many pixels to decode safely",
                                 fix="downscale it, or raise --max-pixels if the file is trusted") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, EOFError...
        raise TruncatedImageError(
            f"{label}: image data is truncated or corrupt ({' '.join(str(exc).split()) or type(exc).__name__})",
            fix="re-export or re-copy the file",
        ) from None


@dataclass(frozen=True)
class ImageInfo:
    """What an image header says, read without decoding pixels."""

    width: int
    height: int
    format: str
    mode: str
    orientation: int = 1

    @property
    def oriented_size(self) -> tuple[int, int]:
        """(width, height) after applying the EXIF orientation."""
        if self.orientation in (5, 6, 7, 8):
            return self.height, self.width
        return self.width, self.height


def image_info(source: ImageSource, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, name: str | None = None) -> ImageInfo:
    """Header facts of an image (size, format, mode, EXIF orientation); no decode.

    Raises the same typed errors as the readers for files that are missing,
    empty, not images, or larger than ``max_pixels``.
    """
    label = _label(source, name)
    with _opened(source, max_pixels, label) as image:
        orientation = 1
        with contextlib.suppress(Exception):
            orientation = int(image.getexif().get(_EXIF_ORIENTATION, 1) or 1)
        if _size_already_oriented(image):  # turning the header's size again gave the stored one
            orientation = 1
        return ImageInfo(image.width, image.height, image.format or "", image.mode, orientation)


def _size_already_oriented(image: Image.Image) -> bool:
    """True when Pillow reports a TIFF's size with its orientation tag already applied (Pillow 13
    does: a 400x300 TIFF tagged 6 opens as 300x400), unlike a JPEG's, which opens as stored."""
    tags = getattr(image, "tag_v2", None)
    if tags is None:
        return False
    stored = (tags.get(256), tags.get(257))  # ImageWidth, ImageLength
    return None not in stored and stored != image.size


# --------------------------------------------------------------------------- photographs


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
                                fix="convert the image to 8-bit RGB (alonet.data.imageio.read_photo reads files so)")
    return array


# --------------------------------------------------------------------------- annotations


#: A mask with at most this many levels (0 included) whose middle levels cover a large share
#: of its marked pixels is a label map, not an anti-aliased mask (see :func:`label_map_levels`).
LABEL_MAP_MAX_LEVELS = 8
LABEL_MAP_MIN_SHARE = 0.10
#: ... and has at least this many marked pixels (a few pixels say nothing about regions).
LABEL_MAP_MIN_MARKED = 1000


#: Masks whose values all lie in 0..this (8 and 16 bits) have their levels counted in a table
#: (fast); others are sorted.
_COUNTED_LEVELS = 65535


def label_map_levels(value: np.ndarray, half: float) -> list[int] | None:
    """The levels of an integer mask that looks like a label map (0 background, 1 scalp,
    2 hair loss, as nnU-Net and similar tools write), else None.

    A label map has a few levels, each a whole region; an anti-aliased or JPEG-saved
    mask has its in-between levels only in thin bands along edges. So: more than two
    levels, and either every level below half the range (the half-range rule would
    find nothing inside), or at most :data:`LABEL_MAP_MAX_LEVELS` levels of which the
    ones between 0 and the top hold at least :data:`LABEL_MAP_MIN_SHARE` of at least
    :data:`LABEL_MAP_MIN_MARKED` marked pixels.
    """
    if not np.issubdtype(value.dtype, np.integer) or value.size == 0:
        return None
    flat = value.ravel()
    kind = np.iinfo(value.dtype)
    if (kind.min >= 0 and kind.max <= _COUNTED_LEVELS) or (flat.min() >= 0 and flat.max() <= _COUNTED_LEVELS):
        counts = np.bincount(flat.astype(np.int64, copy=False))
        levels = np.flatnonzero(counts)
        counts = counts[levels]
    else:  # 32-bit values: a table of counts up to the largest would take up to 16 GB
        levels, counts = np.unique(flat, return_counts=True)
    if len(levels) <= 2:
        return None
    marked = counts[levels != 0].sum()
    middle = counts[1:-1].sum()
    few_regions = (len(levels) <= LABEL_MAP_MAX_LEVELS and marked >= LABEL_MAP_MIN_MARKED
                   and middle >= LABEL_MAP_MIN_SHARE * marked and _mostly_interior(value, levels[0], levels[-1]))
    if levels[-1] < half or few_regions:
        return [int(v) for v in levels]
    return None


def _mostly_interior(value: np.ndarray, low: int, top: int) -> bool:
    """True when most in-between pixels (neither ``low`` nor ``top``) lie inside a region of
    their own level (all four neighbours the same value), as a label map's do; an anti-aliased
    or downsampled mask has them in edge bands, next to other levels."""
    if value.ndim != 2 or min(value.shape) < 3:
        return True
    centre = value[1:-1, 1:-1]
    middle = (centre != low) & (centre != top)
    if not middle.any():
        return False
    same = ((centre == value[:-2, 1:-1]) & (centre == value[2:, 1:-1])
            & (centre == value[1:-1, :-2]) & (centre == value[1:-1, 2:]))
    return int((same & middle).sum()) >= 0.5 * int(middle.sum())


#: A mask's pixels are its two levels but for thin edge bands (anti-aliasing, JPEG noise). Measured
#: (2026-12-07): real masks downsampled to 32-320 px hold at most 17 % in-between pixels (see
#: ``grey_share``), blurred ones (Gaussian sigma 8 px at 640 px) 14 %; phantom photographs, in
#: colour or grey, at least 33 %. More than this share refuses the picture where that is asked for.
GREY_SHARE_MAX = 0.25


def grey_share(value: np.ndarray, half: float) -> float:
    """The share of pixels more than 1/16 of the range (16 of 255) away from both the darkest
    and the brightest level of ``value``, which is a mask's value picture whose range is
    ``2 * half``: near 0 for a black-and-white mask, a few % for anti-aliased or
    downsampled edges, most of a photograph."""
    if value.size == 0:
        return 0.0
    low, top = value.min(), value.max()
    margin = half / 8
    grey = (value > low + margin) & (value < top - margin)
    return float(np.count_nonzero(grey)) / value.size


def _binarise(value: np.ndarray, half: float, opaque: np.ndarray | None, label: str = "mask",
              *, refuse_pictures: bool = False) -> np.ndarray:
    """Apply the two-level / half-range rule of the module doc (label maps refused, and with
    ``refuse_pictures`` photographs and smooth grey images too)."""
    # transparent pixels say nothing: they count as background (0), and the picture stays 2-D for
    # the region test
    shown = value if opaque is None else np.where(opaque, value, 0).astype(value.dtype)
    levels = label_map_levels(shown, half)
    if levels is not None:
        listed = ", ".join(str(v) for v in levels[:LABEL_MAP_MAX_LEVELS])
        raise UnsupportedImageModeError(
            f"{label}: holds {len(levels)} levels ({listed}), like a label map, not a black-and-white mask",
            fix="save one 0/255 mask per region, e.g. scalp = label > 0 and hair loss = label == 2",
        )
    top = value.max() if value.size else 0
    if top <= 0:
        inside = np.zeros(value.shape, dtype=bool)
    else:
        inside = value != 0
        if np.any(inside & (value != top)):  # more than two levels
            share = grey_share(shown, half) if refuse_pictures else 0.0
            if share > GREY_SHARE_MAX:
                raise UnsupportedImageModeError(
                    f"{label}: {share:.0%} of its pixels are shades between black and white, "
                    "like a photograph or a blurred picture, not a black-and-white mask",
                    fix="give the annotation drawn on the photograph, saved as a black-and-white PNG or GIF; "
                    "threshold a soft mask first, e.g. value >= 128",
                )
            inside = value >= half
    if opaque is not None:
        inside &= opaque
    return inside


def _palette_luts(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Per palette index: brightest channel of its colour and its alpha."""
    value = np.arange(256, dtype=np.uint8)  # no palette: the index itself
    palette = image.getpalette("RGB")
    if palette:
        colours = np.zeros((256, 3), dtype=np.uint8)
        entries = np.asarray(palette[: 256 * 3], dtype=np.uint8).reshape(-1, 3)
        colours[: len(entries)] = entries
        value = colours.max(axis=1)
    alpha = np.full(256, 255, dtype=np.uint8)
    transparency = image.info.get("transparency")
    if isinstance(transparency, int) and 0 <= transparency < 256:
        alpha[transparency] = 0
    elif isinstance(transparency, (bytes, bytearray)):
        table = np.frombuffer(bytes(transparency[:256]), dtype=np.uint8)
        alpha[: len(table)] = table
    return value, alpha


def _mask_from_image(image: Image.Image, label: str, refuse_pictures: bool = False) -> np.ndarray:
    mode = image.mode
    rule = {"refuse_pictures": refuse_pictures}  # passed to every _binarise
    if mode == "1":
        return np.array(image, dtype=bool)
    if mode == "P":
        value_lut, alpha_lut = _palette_luts(image)
        index = np.asarray(image)
        opaque = None if alpha_lut.min() >= 128 else alpha_lut[index] >= 128
        return _binarise(value_lut[index], 128, opaque, label, **rule)
    if mode == "L":
        return _binarise(np.asarray(image), 128, None, label, **rule)
    if mode in ("LA", "La"):
        array = np.asarray(image)
        return _binarise(array[..., 0], 128, array[..., 1] >= 128, label, **rule)
    if mode in _SIXTEEN_BIT:
        array = np.asarray(image)
        if array.size and array.min() < 0:
            raise UnsupportedImageModeError(f"{label}: negative mask values", fix="export the mask as 0/255 PNG")
        return _binarise(array, 32768, None, label, **rule)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 1:
            raise UnsupportedImageModeError(
                f"{label}: floating-point mask with values outside 0..1", fix="export the mask as 0/255 PNG"
            )
        return _binarise(array, 0.5, None, label, **rule)
    if mode in ("RGBA", "RGBa", "PA"):
        array = np.asarray(image.convert("RGBA"))
        return _binarise(array[..., :3].max(axis=2), 128, array[..., 3] >= 128, label, **rule)
    try:
        array = np.asarray(image.convert("RGB"))
    except (ValueError, OSError):
        raise UnsupportedImageModeError(
            f"{label}: colour mode {mode} is not supported for annotations",
            fix="export the mask as black-and-white PNG or GIF",
        ) from None
    return _binarise(array.max(axis=2), 128, None, label, **rule)


def read_annotation(
    source: ImageSource,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    require_nonempty: bool = False,
    *,
    name: str | None = None,
    refuse_pictures: bool = False,
) -> np.ndarray:
    """Read an annotation as an (H, W) bool mask, True = inside (see the module doc).

    With ``require_nonempty=True`` a mask without any inside pixel raises
    EmptyAnnotationError. With ``refuse_pictures=True`` a picture more than
    :data:`GREY_SHARE_MAX` of whose pixels are shades between its darkest and brightest
    level (a photograph, a smooth grey image) raises UnsupportedImageModeError; masks
    with anti-aliased or JPEG-noisy edges are read.
    """
    label = _label(source, name)
    with _opened(source, max_pixels, label) as image:
        _load(image, label)
        mask = _mask_from_image(image, label, refuse_pictures)
    if require_nonempty and not mask.any():
        raise EmptyAnnotationError(
            f"{label}: annotation is empty (no pixel is marked)",
            path=label,
            fix="draw the region, or leave the pair out",
        )
    return np.ascontiguousarray(mask)


def check_same_size(
    photo_shape: tuple[int, ...],
    mask_shape: tuple[int, ...],
    photo_path: str | Path | None = None,
    mask_path: str | Path | None = None,
) -> None:
    """Raise SizeMismatchError unless photo and mask have the same height and width.

    Shapes are numpy shapes ((H, W) or (H, W, C)); the photograph's must be the
    one after EXIF rotation (what ``read_photo`` returns).
    """
    ph, pw = int(photo_shape[0]), int(photo_shape[1])
    mh, mw = int(mask_shape[0]), int(mask_shape[1])
    if (ph, pw) != (mh, mw):
        mask_name = mask_path if mask_path is not None else "the annotation"
        photo_name = photo_path if photo_path is not None else "its photograph"
        raise SizeMismatchError(
            f"annotation {mask_name} is {mw}x{mh} pixels but photograph {photo_name} is {pw}x{ph}",
            path=mask_path,
            fix="draw the annotation on the full-size photograph (as displayed, after EXIF rotation) "
            "or re-export it at the photograph's size",
        )


# --------------------------------------------------------------------------- resizing


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


# --------------------------------------------------------------------------- encoding and saving

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
