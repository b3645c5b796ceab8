"""Removing metadata from a JPEG file without touching its pixels.

A JPEG file is a chain of marker segments. The picture is in the tables (DQT,
DHT, DAC, DRI), the frame header (SOFn) and the scans (SOS and the entropy-coded
data after it); metadata rides in application segments (APP0-APP15) and comments
(COM), and cameras append more after the end of the picture (a second MPO frame,
a depth map). :func:`strip_jpeg_metadata` copies the picture's segments byte for
byte and keeps, of the rest, only what changes how the pixels are read:

* the APP2 ``ICC_PROFILE`` segments (the colour space: ``alonet.data.photo``
  converts it to sRGB), with the profile's creation date, device maker and model
  and profile ID blanked and anything after the profile's stated size cut off (also when
  the profile is split over several segments); the profile's own text tags (description,
  copyright) are kept as the camera or editor wrote them;
* the first 12 bytes of an APP14 ``Adobe`` segment (how the colour channels are
  coded), nothing after them.

Everything else goes: EXIF (GPS, device, dates, owner, thumbnails; the orientation
too, so a photograph stored sideways with an orientation tag no longer decodes
upright and is not kept this way), XMP, comments, other APPn segments, DNL, and
whatever follows the end of the picture. The entropy-coded data are never decoded
or re-encoded; :func:`decodes_to` checks that the result decodes to the pixels
that were scored.
"""

from __future__ import annotations

import numpy as np

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
APP0, APP2, APP14, APP15, COM, DNL = 0xE0, 0xE2, 0xEE, 0xEF, 0xFE, 0xDC
#: Markers without a length field (RSTn, SOI, EOI, TEM).
STANDALONE = frozenset({*range(0xD0, 0xD8), SOI, EOI, 0x01})


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


#: Byte ranges of an ICC profile header that say when and on which device it was made, and
#: its ID (an MD5 over the header, void once the date changes): blanked, no colour depends on them.
ICC_BLANKED = ((24, 36), (48, 56), (84, 100))
ICC_MARK = b"ICC_PROFILE\x00"
ADOBE_LENGTH = 12  # "Adobe", version, flags0, flags1, colour transform


def _icc_segment(body: bytes, left: list[int]) -> bytes:
    """An APP2 ICC_PROFILE segment's body with the profile header's date, device and ID blanked
    (in the first chunk, which holds the header) and the profile cut at its stated size: a
    profile split over several chunks, in order, is cut in the chunk where that size ends.
    ``left`` ([bytes of the profile still to come], or [] before the first chunk) carries the
    count from chunk to chunk."""
    head, data = body[:len(ICC_MARK) + 2], bytearray(body[len(ICC_MARK) + 2:])
    sequence = head[-2]
    if sequence == 1 and len(data) >= 128:
        for start, end in ICC_BLANKED:
            data[start:end] = bytes(end - start)
        left[:] = [int.from_bytes(data[:4], "big")]
    if left:  # chunks after the first, in order: whatever follows the profile's end goes
        del data[left[0]:]
        left[0] -= len(data)
    return head + bytes(data)


def _app_kept(marker: int, body: bytes, icc_left: list[int]) -> bytes | None:
    """What is kept of an APPn segment's body (None: the segment is dropped)."""
    # (an empty chunk is kept: one cut at the profile's end by an earlier strip still counts)
    if marker == APP2 and body.startswith(ICC_MARK) and len(body) >= len(ICC_MARK) + 2:
        return _icc_segment(body, icc_left)
    if marker == APP14 and body.startswith(b"Adobe") and len(body) >= ADOBE_LENGTH:
        return body[:ADOBE_LENGTH]
    return None


def _segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def strip_jpeg_metadata(data: bytes) -> bytes:
    """The JPEG ``data`` without its metadata (see the module doc); raises NotAJpeg when the
    bytes are not a JPEG file whose segments can be walked."""
    out = [b"\xff\xd8"]
    icc_left: list[int] = []
    for marker, start, end in _segments(data):
        if APP0 <= marker <= APP15:
            kept = _app_kept(marker, data[start + 4:end], icc_left)
            if kept is not None:
                out.append(_segment(marker, kept))
        elif marker not in (COM, DNL):
            out.append(data[start:end])
    return b"".join(out)


def decodes_to(data: bytes, image: np.ndarray) -> bool:
    """True when ``data`` decodes (through ``alonet.data.photo.read_photo``, as uploads are
    read) to exactly ``image``: the check before a stripped upload is stored in place of a
    JPEG encoded from ``image``."""
    from alonet.data import photo
    from alonet.errors import AloNetError

    try:
        again = photo.read_photo(data, max_pixels=None, name="photograph")
    except AloNetError:
        return False
    return again.shape == image.shape and bool(np.array_equal(again, image))


def stripped_or_none(data: bytes) -> bytes | None:
    """:func:`strip_jpeg_metadata` of ``data``, or None when it is not a JPEG file it can walk."""
    try:
        return strip_jpeg_metadata(data)
    except NotAJpeg:
        return None
