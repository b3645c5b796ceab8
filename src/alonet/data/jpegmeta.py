"""Removing metadata from a JPEG file without touching its pixels.

A JPEG file is a chain of marker segments. The picture is in the tables (DQT,
DHT, DAC, DRI), the frame header (SOFn) and the scans (SOS and the entropy-coded
data after it); metadata rides in application segments (APP0-APP15) and comments
(COM), and cameras append more after the end of the picture (a second MPO frame,
a depth map). :func:`strip_jpeg_metadata` copies the picture's segments byte for
byte and keeps only what changes how the pixels are read:

* APP2 ``ICC_PROFILE`` segments (the colour space: ``alonet.data.imageio``
  converts it to sRGB);
* APP14 ``Adobe`` (how the colour channels are coded);
* the EXIF orientation, rewritten as an EXIF block holding that one tag (the
  photograph then still decodes upright); every other EXIF tag (GPS, device,
  dates, owner) is dropped with the rest of the block.

The entropy-coded data are never decoded or re-encoded, so the result decodes to
the same pixels as the upload; :func:`decodes_to` checks that by decoding it.
"""

from __future__ import annotations

import numpy as np

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
APP0, APP1, APP2, APP14, APP15, COM = 0xE0, 0xE1, 0xE2, 0xEE, 0xEF, 0xFE
#: Markers without a length field (RSTn, SOI, EOI, TEM).
STANDALONE = frozenset({*range(0xD0, 0xD8), SOI, EOI, 0x01})
ORIENTATION_TAG = 0x0112


class NotAJpeg(ValueError):
    """The bytes are not a JPEG file this module can walk (the caller keeps its fallback)."""


def _segments(data: bytes):
    """Yield ``(marker, start, end)`` for each segment after SOI, entropy-coded data included
    in its scan's segment, up to and including EOI. Raises NotAJpeg on a broken chain."""
    if data[:2] != b"\xff\xd8":
        raise NotAJpeg("no JPEG start-of-image marker")
    pos, n = 2, len(data)
    while True:
        if pos >= n or data[pos] != 0xFF:
            raise NotAJpeg(f"no marker at byte {pos}")
        while pos < n and data[pos] == 0xFF:  # fill bytes before a marker
            pos += 1
        if pos >= n:
            raise NotAJpeg("file ends inside a marker")
        marker, start = data[pos], pos - 1
        pos += 1
        if marker == EOI:
            yield marker, start, pos
            return
        if marker in STANDALONE:
            yield marker, start, pos
            continue
        if pos + 2 > n:
            raise NotAJpeg("file ends inside a segment length")
        end = pos + int.from_bytes(data[pos:pos + 2], "big")
        if end > n or end < pos + 2:
            raise NotAJpeg(f"segment at byte {start} runs past the end of the file")
        if marker == SOS:
            end = _scan_end(data, end)
        yield marker, start, end
        pos = end


def _scan_end(data: bytes, pos: int) -> int:
    """Index of the first marker after the entropy-coded data starting at ``pos`` (a 0xFF
    followed by a byte other than 0x00, 0xFF or a restart marker)."""
    n = len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            raise NotAJpeg("file ends inside the picture data (truncated)")
        following = data[pos + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos += 2
        elif following == 0xFF:
            pos += 1
        else:
            return pos


def _orientation(segment: bytes) -> int | None:
    """The orientation tag of an APP1 EXIF segment's body, None when absent or unreadable."""
    from PIL import Image

    if not segment.startswith(b"Exif\x00\x00"):
        return None
    try:
        exif = Image.Exif()
        exif.load(segment)
        value = exif.get(ORIENTATION_TAG)
    except Exception:  # a malformed block: imageio ignores it too
        return None
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else None


def _orientation_segment(orientation: int) -> bytes:
    """An APP1 segment holding an EXIF block with the orientation tag only."""
    from PIL import Image

    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    body = exif.tobytes()
    return bytes([0xFF, APP1]) + (len(body) + 2).to_bytes(2, "big") + body


def _kept_app(marker: int, body: bytes) -> bool:
    return (marker == APP2 and body.startswith(b"ICC_PROFILE\x00")) or (marker == APP14 and body.startswith(b"Adobe"))


def strip_jpeg_metadata(data: bytes) -> bytes:
    """The JPEG ``data`` without its metadata (see the module doc); raises NotAJpeg when the
    bytes are not a JPEG file whose segments can be walked."""
    out = [b"\xff\xd8"]
    orientation = None
    for marker, start, end in _segments(data):
        if APP0 <= marker <= APP15:
            body = data[start + 4:end]
            if marker == APP1 and orientation is None:
                orientation = _orientation(body)
            if _kept_app(marker, body):
                out.append(data[start:end])
            continue
        if marker == COM:
            continue
        out.append(data[start:end])
    if orientation not in (None, 1):
        out.insert(1, _orientation_segment(orientation))
    return b"".join(out)


def decodes_to(data: bytes, image: np.ndarray) -> bool:
    """True when ``data`` decodes (through ``alonet.data.imageio.read_photo``, as uploads are
    read) to exactly ``image``: the check before a stripped upload is stored in place of a
    JPEG encoded from ``image``."""
    from alonet.data import imageio
    from alonet.errors import AloNetError

    try:
        again = imageio.read_photo(data, max_pixels=None, name="photograph")
    except AloNetError:
        return False
    return again.shape == image.shape and bool(np.array_equal(again, image))


def stripped_or_none(data: bytes) -> bytes | None:
    """:func:`strip_jpeg_metadata` of ``data``, or None when it is not a JPEG file it can walk."""
    try:
        return strip_jpeg_metadata(data)
    except NotAJpeg:
        return None
