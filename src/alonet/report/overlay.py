"""Pictures for people: overlays of the masks on the photograph, de-identification.

An overlay draws the scalp outline as a solid line and fills hair loss with a
semi-transparent colour, so the photograph stays visible underneath. All
functions are pure: they take arrays and return new arrays (encoding them is
``alonet.data.encode.encode_jpeg`` / ``encode_png``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alonet.data.photo import as_rgb_photo
from alonet.data.resize import fit_size
from alonet.errors import InvalidValueError


@dataclass(frozen=True)
class OverlayStyle:
    """Colours (RGB) and sizes of an overlay."""

    outline_color: tuple[int, int, int] = (40, 230, 90)
    hairloss_color: tuple[int, int, int] = (255, 40, 200)
    hairloss_alpha: float = 0.45
    #: Outline thickness as a fraction of the longer image side (at least 1 pixel).
    outline_fraction: float = 0.004
    #: Also draw the outline of each hair-loss patch (in the hair-loss colour).
    hairloss_outline: bool = False


def _check(image: np.ndarray, *masks: np.ndarray | None) -> np.ndarray:
    image = as_rgb_photo(image, "the overlay's photograph")
    for mask in masks:
        if mask is not None and np.asarray(mask).shape != image.shape[:2]:
            raise InvalidValueError(
                f"mask size {np.asarray(mask).shape} differs from the photograph's {image.shape[:2]}")
    return image


def blur_outside_scalp(image: np.ndarray, scalp_mask: np.ndarray, strength: float = 0.04) -> np.ndarray:
    """Blur everything outside the scalp beyond recognition.

    The picture is shrunk so that its longer side is about ``1 / strength``
    pixels and blown up again (bilinear), which erases faces, tattoos and text
    while keeping the overall colours; the scalp pixels are left untouched.
    """
    image = _check(image, scalp_mask)
    height, width = image.shape[:2]
    side = max(2, int(round(1.0 / max(strength, 1e-3))))
    scale = side / max(height, width)
    small_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = cv2.resize(image, small_size, interpolation=cv2.INTER_AREA)
    blurred = cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(blurred, (0, 0), max(1.0, max(height, width) / side / 2))
    out = blurred.copy()
    scalp = np.asarray(scalp_mask, dtype=bool)
    out[scalp] = image[scalp]
    return out


#: The name this function had before 2026-12-08 (``deidentify`` is also every report function's
#: flag for it), kept for code that imports it.
deidentify = blur_outside_scalp


def render_overlay(image: np.ndarray, scalp_mask: np.ndarray, hairloss_mask: np.ndarray | None = None,
                   style: OverlayStyle = OverlayStyle(), *, deidentify_outside: bool = False) -> np.ndarray:
    """Return a copy of ``image`` with the scalp outline and the hair loss drawn on it.

    With ``deidentify_outside=True`` everything outside the scalp is blurred first.
    """
    image = _check(image, scalp_mask, hairloss_mask)
    scalp = np.asarray(scalp_mask, dtype=bool)
    out = blur_outside_scalp(image, scalp) if deidentify_outside else image.copy()
    if hairloss_mask is not None:
        loss = np.asarray(hairloss_mask, dtype=bool)
        colour = np.asarray(style.hairloss_color, dtype=np.float32)
        blended = out[loss].astype(np.float32) * (1 - style.hairloss_alpha) + colour * style.hairloss_alpha
        out[loss] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
        if style.hairloss_outline and loss.any():
            thickness = max(1, int(round(style.outline_fraction * max(image.shape[:2]))))
            contours, _ = cv2.findContours(loss.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, tuple(int(c) for c in style.hairloss_color), thickness,
                             lineType=cv2.LINE_AA)
    if scalp.any():
        thickness = max(1, int(round(style.outline_fraction * max(image.shape[:2]))))
        contours, _ = cv2.findContours(scalp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(c) for c in style.outline_color), thickness,
                         lineType=cv2.LINE_AA)
    return out


def probability_to_uint8(prob: np.ndarray) -> np.ndarray:
    """A 0..1 probability map as 8-bit (0..255, rounded)."""
    prob = np.asarray(prob, dtype=np.float32)
    return np.clip(np.round(prob * 255.0), 0, 255).astype(np.uint8)


def fit_within(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """Shrink ``image`` (anti-aliased) so its longer side is at most ``max_side``."""
    if max_side is None or max(image.shape[:2]) <= max_side:
        return image
    height, width = image.shape[:2]
    return cv2.resize(image, fit_size(width, height, max_side), interpolation=cv2.INTER_AREA)
