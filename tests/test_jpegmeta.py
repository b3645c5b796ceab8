"""Metadata removed from JPEG uploads without touching their pixels (``alonet.data.jpegmeta``).

Before: the web store kept each photograph as a JPEG re-encoded from its pixels (quality 95)
to drop EXIF, so a stored or downloaded photograph differed from the upload by a few grey
levels and scoring it again could move a view by about 2 points.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from alonet.data.jpegmeta import NotAJpeg, decodes_to, strip_jpeg_metadata, stripped_or_none
from alonet.data.photo import read_photo

SECRETS = (b"PhoneMaker", b"PhoneModel X", b"2024:01:02", b"AA-017 Jane Doe", b"xmp-secret", b"trailing-frame")


def photo(seed: int = 0, size=(96, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (size[1] // 8, size[0] // 8, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(base).resize(size, Image.BICUBIC))
    return np.clip(image.astype(int) + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)


def exif(orientation: int | None = None) -> Image.Exif:
    tags = Image.Exif()
    tags[0x010F] = "PhoneMaker"
    tags[0x0110] = "PhoneModel X"
    tags[0x0132] = "2024:01:02 03:04:05"
    tags[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 18.0)}
    if orientation is not None:
        tags[0x0112] = orientation
    return tags


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def camera_jpeg(image: np.ndarray, orientation: int | None = None, **save) -> bytes:
    """A JPEG as a phone might write it: EXIF (device, date, GPS), XMP, a comment, and a second
    frame after the end of the picture."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90, exif=exif(orientation), comment=b"AA-017 Jane Doe",
                                **save)
    data = buf.getvalue()
    xmp = segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>xmp-secret</x:xmpmeta>")
    app3 = segment(0xE3, b"maker notes 2024:01:02")
    return data[:2] + xmp + app3 + data[2:] + b"trailing-frame" + data


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"restart_marker_blocks": 3},
                                     {"subsampling": 0}, {"optimize": True}], ids=str)
def test_the_pixels_stay_and_the_metadata_goes(options):
    image = photo(1)
    data = camera_jpeg(image, **options)
    stripped = strip_jpeg_metadata(data)
    assert np.array_equal(read_photo(stripped), read_photo(data))
    for secret in SECRETS:
        assert secret in data and secret not in stripped, secret
    with Image.open(io.BytesIO(stripped)) as img:
        assert not img.getexif() and "comment" not in img.info and img.format == "JPEG"
    assert stripped.endswith(b"\xff\xd9") and len(stripped) < len(data) / 2


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_a_turned_photograph_loses_its_orientation_and_so_is_not_kept(orientation):
    """Kept with its orientation tag, a sideways photograph would travel in store exports with
    raw pixels that do not line up with its upright masks; it is encoded again instead."""
    data = camera_jpeg(photo(2), orientation=orientation)
    stripped = strip_jpeg_metadata(data)
    with Image.open(io.BytesIO(stripped)) as img:
        assert not img.getexif()
    assert not decodes_to(stripped, read_photo(data))
    upright = camera_jpeg(photo(2), orientation=1)
    assert decodes_to(strip_jpeg_metadata(upright), read_photo(upright))


def icc_with_secrets() -> bytes:
    """The sRGB profile with a creation date, device maker and model, and text after its end."""
    profile = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    profile[24:36] = (2024).to_bytes(2, "big") + bytes([0, 1, 0, 2, 0, 3, 0, 4, 0, 5])
    profile[48:56] = b"APPLiPh9"
    return bytes(profile) + b"AA-017 Jane Doe"


def test_the_colour_profile_stays_without_date_device_or_trailing_bytes():
    image = photo(3)
    buf = io.BytesIO()
    Image.fromarray(image).convert("CMYK").save(buf, format="JPEG", quality=90, icc_profile=icc_with_secrets(),
                                                 exif=exif())
    data = buf.getvalue()
    adobe = data.index(b"Adobe")
    data = data[:adobe - 2] + (2 + 12 + 4).to_bytes(2, "big") + data[adobe:adobe + 12] + b"JD17" + data[adobe + 12:]
    stripped = strip_jpeg_metadata(data)
    assert b"ICC_PROFILE\x00" in stripped and b"Adobe" in stripped
    for secret in (b"PhoneMaker", b"APPLiPh9", b"Jane Doe", b"JD17", (2024).to_bytes(2, "big") + b"\x00\x01"):
        assert secret in data and secret not in stripped, secret
    with Image.open(io.BytesIO(stripped)) as img:
        kept = img.info["icc_profile"]
    assert len(kept) == int.from_bytes(kept[:4], "big") and kept[36:40] == b"acsp"
    assert np.array_equal(read_photo(stripped), read_photo(data))
    assert decodes_to(stripped, read_photo(data))


@pytest.mark.parametrize("cut", ["inside the last chunk", "at a chunk boundary"])
def test_a_profile_split_over_two_segments_is_cut_at_its_size_too(cut):
    """A privacy audit (thirty-fourth session): only a profile in one segment was cut at its
    stated size; split over two, text after its end in the last segment stayed."""
    profile = icc_with_secrets()
    size = int.from_bytes(profile[:4], "big")
    clean, secret = profile[:size], profile[size:]
    buf = io.BytesIO()
    Image.fromarray(photo(4)).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    half = len(clean) // 2 if cut == "inside the last chunk" else len(clean)  # then the second is all text
    chunks = [(1, clean[:half]), (2, clean[half:] + secret)]
    segments = b"".join(segment(0xE2, b"ICC_PROFILE\x00" + bytes([n, 2]) + part) for n, part in chunks)
    stripped = strip_jpeg_metadata(data[:2] + segments + data[2:])
    assert secret == b"AA-017 Jane Doe" and secret not in stripped
    with Image.open(io.BytesIO(stripped)) as img:
        kept = img.info["icc_profile"]
    assert len(kept) == size and kept[36:40] == b"acsp" and kept[100:] == clean[100:]
    # stripped again (a stored photograph re-stored), the profile stays whole
    assert strip_jpeg_metadata(stripped) == stripped


def test_fill_bytes_before_a_marker_are_read():
    image = photo(4)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    data = buf.getvalue()
    padded = data[:2] + b"\xff\xff\xff" + data[2:]  # fill bytes before the first segment's marker
    assert np.array_equal(read_photo(strip_jpeg_metadata(padded)), read_photo(data))


@pytest.mark.parametrize("bad", [b"", b"GIF89a....", b"\xff\xd8\xff\xe1\x00\x50Exif", b"\xff\xd8junk"], ids=repr)
def test_what_is_not_a_walkable_jpeg_is_said_so(bad):
    with pytest.raises(NotAJpeg):
        strip_jpeg_metadata(bad)
    assert stripped_or_none(bad) is None


def test_a_truncated_jpeg_is_not_walkable():
    data = camera_jpeg(photo(5))
    end = data.index(b"\xff\xd9")
    assert stripped_or_none(data[: end - 200]) is None


def test_a_png_is_not_a_jpeg_and_other_pixels_do_not_decode_the_same():
    image = photo(6)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    assert stripped_or_none(buf.getvalue()) is None
    stripped = strip_jpeg_metadata(camera_jpeg(image))
    assert decodes_to(stripped, read_photo(stripped))
    assert not decodes_to(stripped, image[::-1])
    assert not decodes_to(b"not an image", image)
