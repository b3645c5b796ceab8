"""Reading photographs and annotations in every supported form, typed errors for
every kind of bad file, and resizing / saving helpers. All files are tiny and
generated on the fly (plus one real annotation from the shared set)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
from PIL import Image, ImageFile

from alonet.data.annotation import check_same_size, read_annotation
from alonet.data.encode import save_mask_png, save_photo_jpeg
from alonet.data.imagefile import image_info
from alonet.data.photo import as_rgb_photo, read_photo
from alonet.data.resize import area_resize_mask, resize_photo
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


def _two_colour(width=40, height=20):
    """Left half red, right half blue."""
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    array[:, width // 2 :] = (0, 0, 255)
    return array


def _save(image: Image.Image, path: Path, **kwargs) -> Path:
    image.save(path, **kwargs)
    return path


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height (1-bit), with a tiny body."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


# --------------------------------------------------------------------------- photographs


def test_truncated_images_are_never_loaded_silently():
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize("fmt,suffix", [("PNG", ".png"), ("TIFF", ".tif"), ("BMP", ".bmp"), ("WEBP", ".webp")])
def test_lossless_formats_read_exactly(tmp_path, fmt, suffix):
    array = _two_colour()
    extra = {"lossless": True} if fmt == "WEBP" else {}
    path = _save(Image.fromarray(array), tmp_path / f"p{suffix}", format=fmt, **extra)
    out = read_photo(path)
    assert out.dtype == np.uint8 and out.shape == (20, 40, 3)
    np.testing.assert_array_equal(out, array)


def test_jpeg_from_path_bytes_and_file_object(tmp_path):
    path = _save(Image.fromarray(_two_colour()), tmp_path / "p.jpg", quality=95)
    from_path = read_photo(path)
    assert abs(int(from_path[10, 5, 0]) - 255) < 8 and from_path[10, 5, 2] < 8
    np.testing.assert_array_equal(read_photo(path.read_bytes()), from_path)
    with open(path, "rb") as handle:
        np.testing.assert_array_equal(read_photo(handle), from_path)


def test_exif_orientation_is_applied(tmp_path):
    image = Image.fromarray(_two_colour(40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    path = _save(image, tmp_path / "rot.jpg", exif=exif, quality=95)
    out = read_photo(path)
    assert out.shape == (40, 20, 3)
    assert out[5, 10, 0] > 240 and out[5, 10, 2] < 15  # stored left (red) is now on top
    assert out[35, 10, 2] > 240 and out[35, 10, 0] < 15
    assert image_info(path).oriented_size == (20, 40)


def test_cmyk_jpeg_and_tiff_convert_to_correct_rgb(tmp_path):
    cmyk = np.zeros((16, 16, 4), np.uint8)
    cmyk[:8, :, 0] = 255  # top: pure cyan
    cmyk[8:, :, 3] = 128  # bottom: 50 % black
    image = Image.fromarray(cmyk, mode="CMYK")
    # Pillow writes Adobe-style (inverted) CMYK JPEGs, as Photoshop does.
    jpeg = _save(image, tmp_path / "cmyk.jpg", quality=100)
    with Image.open(jpeg) as check:
        assert check.mode == "CMYK" and "adobe" in check.info
    for path in (jpeg, _save(image, tmp_path / "cmyk.tif")):
        out = read_photo(path).astype(int)
        assert out.shape == (16, 16, 3)
        assert out[2, 2, 0] < 10 and out[2, 2, 1] > 245 and out[2, 2, 2] > 245  # cyan
        assert np.all(np.abs(out[12, 12] - 127) < 6)  # mid gray


def test_grayscale_palette_and_alpha(tmp_path):
    gray = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (4, 1))
    out = read_photo(_save(Image.fromarray(gray), tmp_path / "g.png"))
    assert out.shape == (4, 16, 3)
    np.testing.assert_array_equal(out[..., 1], gray)

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top opaque red, bottom fully transparent
    out = read_photo(_save(Image.fromarray(rgba), tmp_path / "a.png"))
    np.testing.assert_array_equal(out[0, 0], (255, 0, 0))
    np.testing.assert_array_equal(out[3, 3], (255, 255, 255))  # composited on white

    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 0, 200, 0, 10, 10, 10])
    palette.putpixel((0, 0), 2)
    path = _save(palette, tmp_path / "pal.gif", transparency=2)
    out = read_photo(path)
    np.testing.assert_array_equal(out[1, 1], (0, 200, 0))
    np.testing.assert_array_equal(out[0, 0], (255, 255, 255))


def test_sixteen_bit_images_are_scaled(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    for name, array in (("le.png", values), ("be.tif", values.astype(">u2"))):
        out = read_photo(_save(Image.fromarray(array), tmp_path / name))
        np.testing.assert_array_equal(out[0, :, 0], [0, 1, 128, 255])
    # 16-bit RGB PNG (Pillow keeps the high byte: within 1 of exact scaling)
    import cv2

    rgb16 = np.zeros((2, 2, 3), np.uint16)
    rgb16[..., 0] = 60000  # red channel (cv2 writes BGR, so reverse)
    ok, buffer = cv2.imencode(".png", rgb16[..., ::-1])
    assert ok
    out = read_photo(buffer.tobytes())
    assert abs(int(out[0, 0, 0]) - round(60000 * 255 / 65535)) <= 1 and out[0, 0, 1] == 0


def test_float_image_outside_range_is_unsupported(tmp_path):
    path = _save(Image.fromarray(np.full((3, 3), 5.0, np.float32)), tmp_path / "f.tif")
    with pytest.raises(UnsupportedImageModeError, match="f.tif"):
        read_photo(path)


# --------------------------------------------------------------------------- bad files


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photograph")
    with pytest.raises(NotAnImageError) as info:
        read_photo(path)
    message = str(info.value)
    assert "notes.jpg" in message and "JPEG or PNG" in message and "\n" not in message


def test_zero_byte_file_and_missing_and_folder(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyImageError, match="empty.jpg"):
        read_photo(empty)
    with pytest.raises(EmptyImageError):
        read_annotation(b"")
    with pytest.raises(ImageReadError, match="not found"):
        read_photo(tmp_path / "nothing.jpg")
    with pytest.raises(NotAnImageError, match="folder"):
        read_photo(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_or_device_is_named_as_such_not_as_missing(tmp_path):
    pipe = tmp_path / "photo.jpg"
    os.mkfifo(pipe)
    for path in (pipe, Path(os.devnull)):  # both used to be "file not found"
        with pytest.raises(NotAnImageError, match="is not a regular file"):
            read_photo(path)
        with pytest.raises(NotAnImageError, match="is not a regular file"):
            read_annotation(path)


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_truncated_files(tmp_path, fmt, suffix):
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    whole = _save(Image.fromarray(noise), tmp_path / f"whole{suffix}", format=fmt)
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(TruncatedImageError) as info:
        read_photo(cut)
    assert f"cut{suffix}" in str(info.value) and "re-copy" in str(info.value)


def _png_rows(width: int, height: int, rows: int, depth: int = 8, colour: int = 0) -> bytes:
    """A PNG of width x height whose image data is one whole zlib stream holding only ``rows`` rows."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + b"\xff" * ((width * depth * {0: 1, 2: 3}[colour] + 7) // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    body = zlib.compress(row * rows)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize("depth,colour", [(1, 0), (8, 0), (8, 2), (16, 0)])
def test_a_png_whose_image_data_ends_before_its_last_row_is_truncated(tmp_path, depth, colour):
    """Pillow decodes such a file without a word, the missing rows black: a mask lost its lower
    part (and its scalp and hair loss there) with nothing said."""
    short = tmp_path / "short.png"
    short.write_bytes(_png_rows(60, 50, 20, depth, colour))
    for read in (read_photo, read_annotation):
        for source in (short, short.read_bytes()):
            with pytest.raises(TruncatedImageError, match="ends before the last row"):
                read(source)
    whole = tmp_path / "whole.png"
    whole.write_bytes(_png_rows(60, 50, 50, depth, colour))
    assert read_annotation(whole).all() and read_photo(whole).shape == (50, 60, 3)


def test_huge_image_is_refused_from_its_header(tmp_path):
    path = _png_header_only(tmp_path / "huge.png", 20000, 20000)
    assert path.stat().st_size < 200
    # Pillow's own bomb guard fires first at this size; it is turned into our error.
    with pytest.raises(ImageTooLargeError, match=r"huge.png.*400000000 pixels"):
        read_annotation(path)
    with pytest.raises(ImageTooLargeError):
        read_photo(path, max_pixels=None)
    # Below Pillow's guard, AloNet's own cap is checked from the header, before decoding.
    medium = _png_header_only(tmp_path / "medium.png", 10000, 9000)
    with pytest.raises(ImageTooLargeError, match=r"medium.png: image is 10000x9000 = 90.0 megapixels"):
        read_photo(medium)
    with pytest.raises(ImageTooLargeError, match="more than the limit of 1000 pixels"):
        read_annotation(medium, max_pixels=1000)
    info = image_info(medium, max_pixels=None)
    assert (info.width, info.height, info.format) == (10000, 9000, "PNG")


def test_check_same_size():
    check_same_size((20, 30, 3), (20, 30))
    with pytest.raises(SizeMismatchError) as info:
        check_same_size((20, 30, 3), (30, 20), "a.jpg", "a.gif")
    assert "a.gif is 20x30" in str(info.value) and "a.jpg is 30x20" in str(info.value)


# --------------------------------------------------------------------------- annotations


def _gif_like_shared(path: Path, index: np.ndarray) -> Path:
    """Palette GIF exactly like the shared annotations: 0 black, 1 white, 2 transparent white."""
    image = Image.fromarray(index.astype(np.uint8), mode="P")
    image.putpalette([0, 0, 0, 255, 255, 255, 255, 255, 255])
    return _save(image, path, transparency=2)


def test_palette_gif_like_the_shared_annotations(tmp_path):
    index = np.zeros((6, 8), np.uint8)
    index[1:4, 2:6] = 1
    index[5, 7] = 2  # transparent: outside
    path = _gif_like_shared(tmp_path / "m.gif", index)
    with Image.open(path) as check:
        assert check.mode == "P" and check.info["transparency"] == 2
    mask = read_annotation(path)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, index == 1)


def test_inverted_palette_is_decided_by_colour(tmp_path):
    image = Image.fromarray(np.array([[0, 1], [1, 1]], np.uint8), mode="P")
    image.putpalette([255, 255, 255, 0, 0, 0])  # index 0 white, index 1 black
    mask = read_annotation(_save(image, tmp_path / "inv.png"))
    np.testing.assert_array_equal(mask, [[True, False], [False, False]])


@pytest.mark.shared
def test_real_shared_annotation(shared_annotations):
    smallest = min((shared_annotations / "mask").glob("*.gif"), key=lambda p: p.stat().st_size)
    with Image.open(smallest) as raw:
        expected = np.array(raw) == 1
    mask = read_annotation(smallest, require_nonempty=True)
    np.testing.assert_array_equal(mask, expected)
    assert 0 < mask.mean() < 1


@pytest.mark.parametrize(
    "name,array",
    [
        ("l255.png", np.array([[0, 255], [255, 0]], np.uint8)),
        ("l01.png", np.array([[0, 1], [1, 0]], np.uint8)),
        ("l01.bmp", np.array([[0, 1], [1, 0]], np.uint8)),
        ("aa.png", np.array([[0, 200], [130, 100]], np.uint8)),  # anti-aliased: >= 128 inside
        ("s16.png", np.array([[0, 65535], [65535, 0]], np.uint16)),
        ("s16_01.tif", np.array([[0, 1], [1, 0]], np.uint16)),
        ("rgb.png", np.array([[[0, 0, 0], [255, 255, 255]], [[255, 255, 255], [0, 0, 0]]], np.uint8)),
    ],
)
def test_black_and_white_annotation_forms(tmp_path, name, array):
    mask = read_annotation(_save(Image.fromarray(array), tmp_path / name))
    np.testing.assert_array_equal(mask, [[False, True], [True, False]])


def test_one_bit_and_transparent_annotations(tmp_path):
    one_bit = Image.fromarray(np.array([[0, 255], [255, 0]], np.uint8)).convert("1")
    np.testing.assert_array_equal(read_annotation(_save(one_bit, tmp_path / "b.png")), [[0, 1], [1, 0]])
    rgba = np.full((2, 2, 4), 255, np.uint8)
    rgba[0, 0, 3] = 0  # white but transparent: outside
    rgba[1, 1, :3] = 0  # black: outside
    np.testing.assert_array_equal(read_annotation(_save(Image.fromarray(rgba), tmp_path / "a.png")), [[0, 1], [1, 0]])


def test_empty_annotation_where_required(tmp_path):
    path = _save(Image.fromarray(np.zeros((4, 4), np.uint8)), tmp_path / "blank.png")
    assert not read_annotation(path).any()
    with pytest.raises(EmptyAnnotationError, match="blank.png"):
        read_annotation(path, require_nonempty=True)


# --------------------------------------------------------------------------- resize and save


def test_resize_mask_is_binary_aligned_and_area_true():
    mask = np.zeros((100, 100), bool)
    mask[20:60, 30:70] = True
    small = area_resize_mask(mask, 50)
    assert small.dtype == bool and small.shape == (50, 50)
    expected = np.zeros((50, 50), bool)
    expected[10:30, 15:35] = True
    np.testing.assert_array_equal(small, expected)
    wide = area_resize_mask(mask.astype(np.uint8) * 255, (40, 10))  # (width, height)
    assert wide.shape == (10, 40)
    big = area_resize_mask(mask, 300)
    assert big.dtype == bool and abs(big.mean() - mask.mean()) < 0.01
    # A photo edge and a mask edge stay together after resizing.
    photo = np.where(mask[..., None], 255, 0).astype(np.uint8).repeat(3, axis=2)
    np.testing.assert_array_equal(resize_photo(photo, 50)[..., 0] >= 128, small)


def test_resize_mask_threshold_is_half_the_area():
    mask = np.array([[1, 1, 1, 0], [0, 0, 0, 0]], bool)  # left block 2/4 inside, right block 1/4
    np.testing.assert_array_equal(area_resize_mask(mask, (2, 1)), [[True, False]])


def test_resize_photo_antialiases():
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes average to mid gray
    small = resize_photo(stripes, (16, 8))
    assert small.shape == (8, 16, 3) and small.dtype == np.uint8
    assert np.all(np.abs(small[:, 2:-2].astype(int) - 128) <= 3)  # Lanczos rings slightly at the borders
    assert np.all(np.abs(small.astype(int) - 128) < 16)


def test_save_helpers_round_trip(tmp_path):
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:6] = True
    path = save_mask_png(tmp_path / "sub" / "m.png", mask)
    with Image.open(path) as saved:
        assert saved.mode == "L" and set(np.unique(np.array(saved))) == {0, 255}
    np.testing.assert_array_equal(read_annotation(path), mask)
    photo = save_photo_jpeg(tmp_path / "p.jpg", _two_colour(), quality=95)
    error = np.abs(read_photo(photo).astype(int) - _two_colour())
    assert error.mean() < 4 and error[:, :16].max() < 8  # chroma subsampling blurs only the edge
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["m.png", "p.jpg", "sub"]


def test_icc_profiles_are_applied_or_safely_ignored(tmp_path):
    from PIL import ImageCms

    array = _two_colour()
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    with_profile = _save(Image.fromarray(array), tmp_path / "srgb.png", icc_profile=srgb)
    assert np.abs(read_photo(with_profile).astype(int) - array).max() <= 2  # sRGB -> sRGB: unchanged
    broken = _save(Image.fromarray(array), tmp_path / "broken.png", icc_profile=b"not a profile")
    np.testing.assert_array_equal(read_photo(broken), array)  # unusable profile: plain conversion
    np.testing.assert_array_equal(read_photo(with_profile, color_manage=False), array)


def test_pillow_guard_compares_inside_the_lock(monkeypatch):
    """A read that needs Pillow's guard lifted must not trust a value another read lifted
    for a while: it would read with the low value once that read restored it."""
    import threading

    from alonet.data import imagefile

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow alone accepts up to 2000 pixels
    a_inside, a_may_leave, a_left = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def big_read():  # lifts the guard to 100 000 and holds it until told
        with imagefile._pillow_guard(100_000):
            a_inside.set()
            a_may_leave.wait(10)
        a_left.set()

    def medium_read():  # needs 5 000: more than Pillow's own 2000, less than A's lifted value
        with imagefile._pillow_guard(5_000):
            a_left.wait(10)  # old code: got here at once, then A restored 1000 under it
            seen.append(Image.MAX_IMAGE_PIXELS)

    a = threading.Thread(target=big_read)
    a.start()
    assert a_inside.wait(10)
    c = threading.Thread(target=medium_read)
    c.start()
    c.join(0.2)  # C waits for the lock (or, with the race, already sits inside the guard)
    a_may_leave.set()
    a.join(10)
    c.join(10)
    assert seen and 2 * seen[0] >= 5_000
    assert Image.MAX_IMAGE_PIXELS == 1000


def test_as_rgb_photo_is_the_one_photograph_check(tmp_path):
    from alonet.infer.gate import gate_photo
    from alonet.model.preprocess import paint_outside_scalp
    from alonet.report.overlay import deidentify

    good = _two_colour()
    assert as_rgb_photo(good) is good
    assert as_rgb_photo(np.zeros((2, 4, 4, 3), np.uint8), batch=True).shape == (2, 4, 4, 3)
    bad = {"float": good.astype(np.float32), "grey": good[..., 0], "rgba": np.zeros((4, 4, 4), np.uint8),
           "empty": np.zeros((0, 4, 3), np.uint8), "batch": np.zeros((2, 4, 4, 3), np.uint8)}
    for array in bad.values():
        with pytest.raises(InvalidValueError, match=r"the top photograph: expected an RGB photograph .* "
                                                    r"\(convert the image to 8-bit RGB"):
            as_rgb_photo(array, "the top photograph")
    users = [lambda a: gate_photo(a), lambda a: deidentify(a, np.ones(a.shape[:2], bool)),
             lambda a: paint_outside_scalp(a, np.ones(a.shape[:-1], bool)),
             lambda a: save_photo_jpeg(tmp_path / "p.jpg", a)]
    for use in users:
        with pytest.raises(InvalidValueError, match="expected an RGB photograph"):
            use(good.astype(np.float32))


def test_a_tiff_orientation_tag_is_applied_once(tmp_path):
    """An audit (thirty-fourth session): Pillow 13 opens a TIFF tagged 6 at its turned size, and
    image_info turned that size again, so convert refused masks drawn on the photograph as shown."""
    from alonet.data.imagefile import image_info
    from alonet.data.photo import read_photo

    stored = np.zeros((300, 400, 3), np.uint8)  # 400 wide, 300 high
    stored[:, :200] = 200
    Image.fromarray(stored).save(tmp_path / "turned.tif", tiffinfo={274: 6})
    Image.fromarray(stored).save(tmp_path / "plain.tif")
    for name in ("turned.tif", "plain.tif"):
        height, width = read_photo(tmp_path / name).shape[:2]
        assert image_info(tmp_path / name).oriented_size == (width, height), name
    assert read_photo(tmp_path / "turned.tif").shape[:2] == (400, 300)


#: Every public name of ``alonet.data.imageio`` before it was split (thirty-fifth session), by the
#: module that now holds it. Code outside the repository imports these from imageio.
IMAGEIO_NAMES = MappingProxyType({
    "imagefile": ("DEFAULT_MAX_PIXELS", "READ_FORMATS", "ImageSource", "ImageInfo", "image_info",
                  "check_pixels", "pixel_count"),
    "photo": ("PHOTO_EXTENSIONS", "read_photo", "as_rgb_photo"),
    "annotation": ("MASK_EXTENSIONS", "LABEL_MAP_MAX_LEVELS", "LABEL_MAP_MIN_SHARE", "LABEL_MAP_MIN_MARKED",
                   "label_map_levels", "GREY_SHARE_MAX", "grey_share", "read_annotation", "check_same_size"),
    "resize": ("Size", "fit_size", "resize_photo", "area_resize_mask"),
    "encode": ("PHOTO_JPEG_QUALITY", "OVERLAY_JPEG_QUALITY", "EMBEDDED_JPEG_QUALITY", "NO_CHROMA_SUBSAMPLING",
               "encode_jpeg", "encode_png", "encode_mask_png", "save_mask_png", "save_photo_jpeg"),
})


def test_imageio_re_exports_the_split_modules_names_as_the_same_objects():
    """``alonet.data.imageio`` is a compatibility module: each of its former public names is the
    very object of the module that now holds it (a copy would not see a monkeypatch or a fix),
    and every public name those modules define is re-exported."""
    import ast
    import importlib
    import inspect

    from alonet.data import imageio

    assert sorted(imageio.__all__) == sorted(name for names in IMAGEIO_NAMES.values() for name in names)
    for module_name, names in IMAGEIO_NAMES.items():
        module = importlib.import_module(f"alonet.data.{module_name}")
        for name in names:
            assert getattr(imageio, name) is getattr(module, name), (module_name, name)
        defined = set()  # top-level names the module defines itself (not imports)
        for node in ast.parse(inspect.getsource(module)).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Assign):
                defined.update(target.id for target in node.targets if isinstance(target, ast.Name))
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined.add(node.target.id)
        assert {name for name in defined if not name.startswith("_")} == set(names), module_name
    star: dict = {}
    exec("from alonet.data.imageio import *", star)
    assert set(star) - {"__builtins__"} == set(imageio.__all__)
