"""Opening image files: the one way every reader gets at an image's header and pixels.

Everything accepts a path, raw bytes, or a binary file object (web uploads);
``name=`` sets the name used in error messages. Every failure raises a subclass
of ``alonet.errors.ImageReadError`` whose one-line message names the file and
says how to fix it. Sizes are checked against ``max_pixels`` from the header,
before any pixel is decoded (decompression-bomb guard). Truncated files are an
error: this module never sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``.

The formats opened are ``READ_FORMATS`` (JPEG, also camera MPO, PNG, TIFF, BMP, WebP,
GIF, PPM); anything else is "not an image". ``image_info`` reads a header's facts
(size, format, mode, EXIF orientation) without decoding a pixel. Photographs
(``alonet.data.photo``) and annotations (``alonet.data.annotation``) are opened and
decoded through this module's ``_label``, ``_opened`` and ``_load``.
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

from PIL import Image, ImageFile, UnidentifiedImageError

from alonet.errors import (
    EmptyImageError,
    ImageReadError,
    ImageTooLargeError,
    InvalidValueError,
    NotAnImageError,
    TruncatedImageError,
)

#: Default pixel cap: 80 megapixels (larger than any clinical camera photograph).
DEFAULT_MAX_PIXELS = 80_000_000

#: Pillow format names this module opens (anything else is "not an image").
READ_FORMATS: tuple[str, ...] = ("JPEG", "MPO", "PNG", "TIFF", "BMP", "DIB", "WEBP", "GIF", "PPM")

ImageSource = Union[str, Path, bytes, bytearray, memoryview, BinaryIO]

_SUPPORTED = "JPEG, PNG, TIFF, BMP, WebP or GIF"
#: Pillow's integer grey modes (the 16-bit ones and ``I``, 32-bit), which photo.py and annotation.py
#: read on a 0..65535 scale.
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
