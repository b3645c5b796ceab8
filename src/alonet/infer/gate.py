"""The photograph gate: is this picture usable at all, before any network runs?

A network always answers, even for a 1x1 pixel, a strip of 4000x20 or random
noise, and its answer looks like a measurement. The gate refuses such pictures
before the networks see them; a refused view gets no masks and no percentage,
and its visit gets no SALT (see ``alonet.infer.policy``). Each check returns a
flag ``{"code", "message"}`` whose code is in :data:`GATE_CODES` (all of them
mean "retake"):

* ``too_small`` -- the shorter side has fewer pixels than the networks look
  at: ``min_side`` when set, else the smallest input size of the model set
  (the bundled scalp networks look at 160 px, the hair-loss network at 256 px).
  A smaller picture is only blown up into a blur, and the networks answer
  anyway: a 1x1 top view came out as 100 % hair loss.
* ``bad_aspect`` -- the long side is more than ``max_aspect`` times the short
  side. Camera frames are 1:1 to 16:9 (1.78); 3:1 leaves room for crops but
  refuses strips and banners.
* ``no_content`` -- the picture is (nearly) flat: the standard deviation of
  its luminance is below ``min_contrast`` (of 255). All-black, all-white or
  one-colour pictures land here.
* ``noise`` -- neighbouring pixels are unrelated: the correlation between
  each pixel and its right and lower neighbours (on the analysis copy) is below
  ``min_neighbour_correlation``. Every photograph of an object has strongly
  correlated neighbours (phantoms measured >= 0.87, see the README's
  Reliability section); random noise has about 0.
* ``not_a_head`` -- less than ``min_head_colour_fraction`` of the picture has
  a colour that skin or hair can have (reddish-orange-yellow hues, or colours
  of low saturation: black, brown, grey, white and blond). A scalp photograph
  is mostly skin and hair; a picture that is, say, all green or all blue is not
  one.

The analysis runs on a copy whose longer side is ``analysis_size`` pixels, so
the thresholds mean the same at any camera resolution. The gate is cheap (a
few milliseconds) and pure: :func:`gate_photo` takes an RGB array and returns
flags.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alonet.data.photo import as_rgb_photo
from alonet.data.resize import fit_size
from alonet.errors import InvalidValueError
from alonet.infer.quality import above, below, flag

#: Flag codes the gate raises; every one means "retake" (they are part of
#: ``alonet.infer.quality.RETAKE_CODES``), and the view is not measured.
GATE_CODES = frozenset({"too_small", "bad_aspect", "no_content", "noise", "not_a_head"})


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the photograph gate (see the module doc)."""

    #: Shortest accepted side in pixels; None: the smallest network input of the model set.
    min_side: int | None = None
    max_aspect: float = 3.0
    analysis_size: int = 256
    min_contrast: float = 4.0
    min_neighbour_correlation: float = 0.5
    min_head_colour_fraction: float = 0.15

    def __post_init__(self) -> None:
        if self.min_side is not None and self.min_side < 1:
            raise InvalidValueError(f"min_side must be at least 1; got {self.min_side}")
        if self.max_aspect < 1:
            raise InvalidValueError(f"max_aspect must be at least 1; got {self.max_aspect}")
        if self.analysis_size < 32:
            raise InvalidValueError(f"analysis_size must be at least 32; got {self.analysis_size}")
        if not 0 <= self.min_head_colour_fraction < 1:
            raise InvalidValueError("min_head_colour_fraction must be in [0, 1); got "
                                    f"{self.min_head_colour_fraction}")


def _analysis_copy(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= size:
        return image
    return cv2.resize(image, fit_size(w, h, size), interpolation=cv2.INTER_AREA)


def neighbour_correlation(grey: np.ndarray) -> float:
    """Mean Pearson correlation of each pixel with its right and lower neighbour.

    1 for smooth pictures, about 0 for white noise; a flat picture gives 1
    (it is caught by the contrast check instead).
    """
    grey = np.asarray(grey, np.float64)
    values = []
    for a, b in ((grey[:, :-1], grey[:, 1:]), (grey[:-1, :], grey[1:, :])):
        if a.size < 2:
            continue
        a = a.ravel() - a.mean()
        b = b.ravel() - b.mean()
        denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
        values.append(1.0 if denominator == 0 else float((a * b).sum()) / denominator)
    return float(np.mean(values)) if values else 1.0


def head_colour_fraction(image: np.ndarray) -> float:
    """Share of pixels whose colour skin or hair can have (see the module doc).

    Hue (OpenCV's 0..180 scale) within 0..35 (red-orange-yellow) or 165..180
    (pinkish red), or saturation below 0.3 (black, grey, white, pale blond).
    """
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    hue, sat = hsv[..., 0], hsv[..., 1]
    warm = (hue <= 35) | (hue >= 165)
    pale = sat < 77  # 0.3 of 255
    return float(np.mean(warm | pale))


def gate_measurements(image: np.ndarray, config: GateConfig = GateConfig()) -> dict[str, float]:
    """The numbers the gate decides on (for diagnostics and the README's table)."""
    h, w = image.shape[:2]
    small = _analysis_copy(image, config.analysis_size)
    grey = cv2.cvtColor(np.ascontiguousarray(small), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return {
        "short_side": float(min(h, w)),
        "aspect": float(max(h, w) / max(1, min(h, w))),
        "contrast": float(grey.std()),
        "neighbour_correlation": neighbour_correlation(grey),
        "head_colour_fraction": head_colour_fraction(small),
    }


#: Shortest side used when neither the config nor the caller names one (the bundled scalp input).
DEFAULT_MIN_SIDE = 160


def required_side(config: GateConfig = GateConfig(), model_side: int | None = None) -> int:
    """The fewest pixels a photograph's shorter side needs to pass the ``too_small`` check."""
    return config.min_side or model_side or DEFAULT_MIN_SIDE


def gate_photo(image: np.ndarray, config: GateConfig = GateConfig(), *, model_side: int | None = None) -> list[dict]:
    """Flags that make ``image`` (H, W, 3 uint8 RGB) unusable; empty when it may be scored.

    ``model_side``: the smallest input size of the networks that will see the
    picture (used when ``config.min_side`` is None).
    """
    image = as_rgb_photo(image)
    h, w = image.shape[:2]
    aspect = max(h, w) / min(h, w)
    if aspect > config.max_aspect:
        return [flag("bad_aspect", f"photograph is {w}x{h} pixels, {above(aspect, 1)} times longer than wide "
                                   f"(at most {config.max_aspect:g}); send the whole uncropped photograph")]
    min_side = required_side(config, model_side)
    if min(h, w) < min_side:
        return [flag("too_small", f"photograph is only {w}x{h} pixels; the networks need at "
                                  f"least {min_side} pixels on its shorter side (send the "
                                  "original camera file)")]
    stats = gate_measurements(image, config)
    if stats["contrast"] < config.min_contrast:
        return [flag("no_content", f"photograph is almost uniform (brightness varies by "
                                   f"{below(stats['contrast'], 1)} of 255); it shows no head: check the "
                                   "camera and take the photograph again")]
    if stats["neighbour_correlation"] < config.min_neighbour_correlation:
        return [flag("noise", f"photograph looks like random noise (neighbouring pixels correlate "
                              f"{below(stats['neighbour_correlation'], 2)} < {config.min_neighbour_correlation:g}); "
                              "it is not a camera picture of a head")]
    if stats["head_colour_fraction"] < config.min_head_colour_fraction:
        return [flag("not_a_head", f"only {below(100 * stats['head_colour_fraction'])}% of the photograph has "
                                   f"skin or hair colours (at least {100 * config.min_head_colour_fraction:g}% "
                                   "expected); is it a scalp photograph?")]
    return []
