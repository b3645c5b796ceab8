"""Reading annotations and binarising them: ``read_annotation`` and its rule.

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

``check_same_size`` checks that an annotation has its photograph's size. What a
source may be, the errors, the pixel cap and truncated files: see
``alonet.data.imagefile``, which opens the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from alonet.data.imagefile import DEFAULT_MAX_PIXELS, ImageSource, _SIXTEEN_BIT, _label, _load, _opened
from alonet.errors import EmptyAnnotationError, SizeMismatchError, UnsupportedImageModeError

#: File extensions treated as annotations when scanning folders.
MASK_EXTENSIONS: tuple[str, ...] = (".gif", ".png", ".bmp", ".tif", ".tiff")

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
