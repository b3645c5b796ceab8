"""Checking uploads and encoding images for the browser and the store.

Rules (each broken rule is an :class:`UploadRejected` with HTTP status 400 or
413 and a one-line reason the page shows):

* the request body is capped by Flask's ``MAX_CONTENT_LENGTH`` (413);
* every uploaded file is held in memory (never spooled to a temporary file on
  disk) by :class:`InMemoryRequest`, whose buffers stop at the per-file cap (413);
* photographs are accepted only in the fields ``top``, ``back``, ``left``,
  ``right``; any other file field is refused (400);
* the content is checked by decoding it with ``alonet.data.photo.read_photo``,
  never by the file name or the MIME header: not an image, truncated, empty
  (400) or more pixels than the cap (413) are refused;
* before any photograph is decoded, every header is read: a photograph over the
  per-photograph cap, or photographs over the per-request cap together (413), are
  refused without decoding a pixel (a small, highly compressed file can decode to
  hundreds of megabytes); a corrected mask must have the page's size from its header;
* upload file names are never used for anything but being ignored.

Images leave the server without metadata (EXIF GPS, device, dates; XMP; comments):
masks and pictures for the page are encoded from their pixels
(``alonet.data.encode.encode_jpeg``, ``encode_mask_png``); a stored photograph is
the uploaded JPEG with its metadata segments removed (``alonet.data.jpegmeta``,
pixels untouched), or, for other formats and photographs turned by an EXIF
orientation, encoded upright from its pixels.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from flask import Request, current_app
from werkzeug.exceptions import RequestEntityTooLarge

from alonet.data import annotation, encode, imagefile, photo, resize
from alonet.data.jpegmeta import stripped_or_none
from alonet.errors import AloNetError, ImageTooLargeError
from alonet.views import VIEWS

#: Non-file form fields that may accompany photographs.
ALLOWED_FORM_FIELDS = frozenset({"csrf_token", "provisional"})


class UploadRejected(AloNetError):
    """An upload the server refuses (HTTP 400 unless ``status`` says otherwise)."""

    status = 400


class UploadTooLarge(UploadRejected):
    """An upload over a size or pixel cap (HTTP 413)."""

    status = 413


def _mib(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MiB"


def _kib(n: int) -> str:
    return _mib(n) if n >= 1024 * 1024 else f"{n / 1024:.3g} KiB"


class CappedBuffer(io.BytesIO):
    """An in-memory file that refuses to grow beyond ``limit`` bytes (HTTP 413)."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = int(limit)

    def write(self, data) -> int:
        if self.tell() + len(data) > self.limit:
            raise RequestEntityTooLarge(f"a file is larger than the {_mib(self.limit)} limit per file")
        return super().write(data)


class InMemoryRequest(Request):
    """Flask request whose uploaded files stay in capped memory buffers.

    Werkzeug's default spools uploads over 500 KB to a temporary file; a
    clinical photograph must not touch the disk unless ``--store`` is given.
    """

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        return CappedBuffer(current_app.config["ALONET_MAX_FILE_BYTES"])


def too_large_message(exc: RequestEntityTooLarge, max_request_bytes: int, content_length: int | None,
                      max_form_memory: int | None, max_form_parts: int | None) -> str:
    """The one-line reason for a 413 raised by werkzeug or :class:`CappedBuffer`.

    Werkzeug raises the same bare 413 for a body over ``MAX_CONTENT_LENGTH``, a text
    field over ``MAX_FORM_MEMORY_SIZE`` and a form of more than ``MAX_FORM_PARTS``
    parts; a body known to be within the request limit was refused for one of the
    other two.
    """
    default = RequestEntityTooLarge.description
    if exc.description and exc.description != default:
        return f"upload refused: {exc.description} (make the photograph smaller)"
    if content_length is not None and content_length <= max_request_bytes:
        field = f"a text field is larger than {_kib(max_form_memory)}" if max_form_memory else "a text field is too large"
        parts = f"the form has more than {max_form_parts} parts" if max_form_parts else "the form has too many parts"
        return f"upload refused: {field} or {parts} (send only the page's own fields)"
    return f"upload refused: the request is larger than the {_mib(max_request_bytes)} limit (send fewer or smaller photographs)"


def decode_photo(data: bytes, view: str, max_pixels: int) -> np.ndarray:
    """Decode one uploaded photograph (H, W, 3 uint8 RGB) or raise UploadRejected."""
    if not data:
        raise UploadRejected(f"the {view} photograph is an empty file (0 bytes); choose the photograph again")
    try:
        return photo.read_photo(data, max_pixels=max_pixels, name=f"{view} photograph")
    except ImageTooLargeError as exc:
        raise UploadTooLarge(str(exc)) from None
    except AloNetError as exc:
        raise UploadRejected(str(exc)) from None


def photo_pixels(data: bytes, view: str, max_pixels: int) -> int:
    """Pixels of an uploaded photograph from its header alone (no pixel decoded), or UploadRejected."""
    if not data:
        raise UploadRejected(f"the {view} photograph is an empty file (0 bytes); choose the photograph again")
    try:
        info = imagefile.image_info(data, max_pixels=max_pixels, name=f"{view} photograph")
    except ImageTooLargeError as exc:
        raise UploadTooLarge(str(exc)) from None
    except AloNetError as exc:
        raise UploadRejected(str(exc)) from None
    return info.width * info.height


def check_request_pixels(sizes: dict[str, int], max_request_pixels: int) -> None:
    """Raise UploadTooLarge when the photographs' pixels together exceed ``max_request_pixels``,
    naming the photograph that brings the request over it."""
    total = 0
    for view, pixels in sizes.items():
        total += pixels
        if total > max_request_pixels:
            raise UploadTooLarge(
                f"upload refused: with the {view} photograph ({imagefile.pixel_count(pixels)}) this request has "
                f"{imagefile.pixel_count(total)}, more than the {imagefile.pixel_count(max_request_pixels)} accepted "
                "per request; send smaller photographs (12 megapixels each is plenty) or fewer at a time")


def read_photo_uploads(files, form, max_pixels: int, max_request_pixels: int | None = None) -> dict[str, np.ndarray]:
    """The photographs of a request as ``{view: image}`` in view order (see :func:`read_photo_files`)."""
    return read_photo_files(files, form, max_pixels, max_request_pixels)[0]


def read_photo_files(files, form, max_pixels: int, max_request_pixels: int | None = None
                     ) -> tuple[dict[str, np.ndarray], dict[str, bytes | None]]:
    """The photographs of a request as ``{view: image}`` in view order, and ``{view: jpeg}``:
    each JPEG upload without its metadata (``alonet.data.jpegmeta``; None for other formats),
    which a save stores instead of re-encoding the pixels.

    ``files``/``form`` are the request's multidicts. A file input left empty by
    a browser (no file name, no bytes) counts as not given. Raises
    UploadRejected for unknown fields, repeated fields, undecodable images and
    when no photograph is given at all. Every header is checked first (``max_pixels``
    per photograph, ``max_request_pixels`` together) so nothing is decoded when
    one of them is too large.
    """
    unknown = sorted({k for k in files.keys() if k not in VIEWS})
    if unknown:
        raise UploadRejected(
            f"unexpected upload field {unknown[0]!r}; photographs go in the fields top, back, left, right"
        )
    text_views = sorted({k for k in form.keys() if k in VIEWS})
    if text_views:
        raise UploadRejected(f"the field {text_views[0]!r} must be a file upload, not text")
    other = sorted({k for k in form.keys() if k not in ALLOWED_FORM_FIELDS})
    if other:
        raise UploadRejected(f"unexpected form field {other[0][:40]!r}; besides the photographs only "
                             f"{', '.join(sorted(ALLOWED_FORM_FIELDS))} may be sent (thresholds are set when "
                             "the server starts: alonet serve --help)")
    uploads: dict[str, bytes] = {}
    for view in VIEWS:
        parts = files.getlist(view)
        if len(parts) > 1:
            raise UploadRejected(f"more than one file was sent for the {view} view; send one photograph per view")
        if not parts:
            continue
        part = parts[0]
        data = part.stream.read()
        if not data and not part.filename:
            continue  # an empty <input type=file>: the view was not given
        uploads[view] = data
    if not uploads:
        raise UploadRejected("no photograph was uploaded; add at least one of top, back, left, right")
    sizes = {view: photo_pixels(data, view, max_pixels) for view, data in uploads.items()}
    if max_request_pixels is not None:
        check_request_pixels(sizes, max_request_pixels)
    images = {view: decode_photo(data, view, max_pixels) for view, data in uploads.items()}
    return images, {view: stripped_or_none(data) for view, data in uploads.items()}


def read_mask_upload(data: bytes, what: str, shape: tuple[int, int], max_pixels: int) -> np.ndarray:
    """Decode a corrected mask (an image from the page's canvas) as (H, W) bool.

    Decoded by ``alonet.data.annotation.read_annotation`` (white = inside); it must
    have exactly ``shape`` (height, width), the size the page edits, which is checked
    from the header before any pixel is decoded. A photograph or smooth grey picture
    chosen by mistake in the "correct the masks from files" form is refused
    (``refuse_pictures``), as by ``alonet convert``: a reviewed correction becomes training
    data for ``alonet adapt``. Masks with anti-aliased edges are read.
    """
    if not data:
        raise UploadRejected(f"the corrected {what} mask is an empty file")
    name = f"corrected {what} mask"
    try:
        info = imagefile.image_info(data, max_pixels=max_pixels, name=name)  # the header only
        if (info.height, info.width) != tuple(shape):
            raise UploadRejected(
                f"the corrected {what} mask is {info.width}x{info.height} pixels, expected {shape[1]}x{shape[0]}"
            )
        return annotation.read_annotation(data, max_pixels=shape[0] * shape[1], name=name, refuse_pictures=True)
    except UploadRejected:
        raise
    except AloNetError as exc:
        raise UploadRejected(str(exc)) from None


# --------------------------------------------------------------------------- encoding


def png_data_url(mask: np.ndarray) -> str:
    """A mask as a ``data:image/png;base64,...`` URL (for the JSON API)."""
    return "data:image/png;base64," + base64.b64encode(encode.encode_mask_png(mask)).decode("ascii")


def edit_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) of the editing canvas: the photograph's size, scaled down so the
    longer side is at most ``max_side`` (aspect ratio kept, at least 1 pixel)."""
    width, height = resize.fit_size(width, height, max_side)
    return height, width
