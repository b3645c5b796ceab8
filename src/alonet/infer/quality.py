"""Image-quality checks: should this photograph be retaken?

Every check returns *flags*: dicts ``{"code": ..., "message": ...}`` that are
JSON-ready and shown in reports. Flags whose code is in :data:`RETAKE_CODES`
mean "retake the photograph"; ``check`` means "look at the overlay".

The photograph is analysed as a grey (luminance, Rec. 601 weights) copy whose
longer side is shrunk to ``analysis_size`` pixels, so the thresholds mean the
same at any camera resolution. Smaller photographs are analysed as they are:
blowing them up would blur them, and sharp 320-px phantom photographs then
measured as low as 1.7 and were flagged ``blurred`` (15 of 200); at their own
size they measure >= 4.1:

* **too dark** -- the 95th percentile of luminance is below ``dark_p95``: even
  the brightest parts of the picture are dim.
* **too bright** -- more than ``max_clipped_fraction`` of the scalp (of the whole
  picture when no scalp is known) is clipped white (luminance >= ``clipped_level``),
  or even the 5th percentile of the whole picture is above ``bright_p5``
  (washed out).
* **blurred** -- the variance of the Laplacian of the analysis copy is below
  ``min_sharpness``. A sharp photograph has crisp edges (hair, ears, the
  scalp outline) and a large variance; defocus or motion blur removes them.
  The default 3.0 was set on phantom photographs: sharp renders, even of a
  completely bald head before a plain backdrop, measured >= 4.4, the same
  renders blurred with a Gaussian of sigma 2.5 px (at 512 px) <= 2.3.
* **scalp not found** / **scalp too small** -- the scalp mask is empty or covers
  less than ``min_scalp_fraction`` of the picture: wrong view, subject too far
  away, or not a scalp photograph.
* **dark bald skin** (``dark_skin``, not a retake; predicted masks only) -- the skin the
  model marks as hair loss (at least ``min_marked_share`` of the scalp) looks dark: its
  median CIE lightness L* is below ``dark_skin_lstar`` (0 black .. 100 white). The
  model under-calls such skin, which is dark skin or dim, warm or shaded light: on real
  bald tops (Norwood 6-7 heads, ``scripts/dev/norwood_check.py``) the views whose marked
  skin had L* under 50 were read 63.8 % on average (11 views), those at 55 and above
  86.4 % (24); phantom views under 50 (mostly Fitzpatrick V-VI skin) were read 4 points
  low on the test split and 8 on a dark-skin set. The flag asks a person to look at the
  overlay and correct it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from alonet.data.photo import as_rgb_photo
from alonet.data.resize import fit_size
from alonet.errors import InvalidValueError

#: Flag codes that mean the photograph should be retaken (with the gate's refusals).
RETAKE_CODES = frozenset({"too_dark", "too_bright", "blurred", "scalp_not_found", "scalp_too_small",
                          "too_small", "bad_aspect", "no_content", "noise", "not_a_head"})

#: Flag code for a view whose segmentation a person should check.
CHECK_CODE = "check"

#: Flag code for a view whose marked bald skin looks dark, which the model under-calls.
DARK_SKIN_CODE = "dark_skin"

#: Flag codes that ask a person to look at a view's overlay; they never withhold a SALT.
REVIEW_CODES = frozenset({CHECK_CODE, DARK_SKIN_CODE})


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the quality checks (see module doc); luminance is 0..255."""

    analysis_size: int = 512
    dark_p95: float = 60.0
    clipped_level: float = 250.0
    max_clipped_fraction: float = 0.35
    bright_p5: float = 200.0
    min_sharpness: float = 3.0
    min_scalp_fraction: float = 0.03
    dark_skin_lstar: float = 50.0
    min_marked_share: float = 0.05

    def __post_init__(self) -> None:
        if self.analysis_size < 32:
            raise InvalidValueError(f"analysis_size must be >= 32; got {self.analysis_size}")
        if not 0 <= self.min_scalp_fraction < 1:
            raise InvalidValueError(f"min_scalp_fraction must be in [0, 1); got {self.min_scalp_fraction}")
        if not 0 < self.max_clipped_fraction <= 1:
            raise InvalidValueError(f"max_clipped_fraction must be in (0, 1]; got {self.max_clipped_fraction}")
        if not 0 < self.min_marked_share <= 1:
            raise InvalidValueError(f"min_marked_share must be in (0, 1]; got {self.min_marked_share}")


def flag(code: str, message: str) -> dict:
    """A flag as stored in results and reports."""
    return {"code": code, "message": message}


def below(value: float, decimals: int = 0) -> str:
    """``value`` rounded down to ``decimals``, for a message saying it is below a limit: rounded
    to nearest, a sharpness of 2.96 under a limit of 3 read "3.0 < 3"."""
    scale = 10 ** decimals  # rounded to 9 places first: 2.2 * 10 is 21.999999999999996, not 22
    return f"{math.floor(round(value * scale, 9)) / scale:.{decimals}f}"


def above(value: float, decimals: int = 0) -> str:
    """``value`` rounded up to ``decimals``, for a message saying it is above a limit."""
    scale = 10 ** decimals
    return f"{math.ceil(round(value * scale, 9)) / scale:.{decimals}f}"


def needs_retake(flags: list[dict]) -> bool:
    """True if any flag asks for a retake."""
    return any(f["code"] in RETAKE_CODES for f in flags)


def _check_image(image: np.ndarray) -> np.ndarray:
    return as_rgb_photo(image)


def analysis_luminance(image: np.ndarray, size: int = 512) -> np.ndarray:
    """Luminance (float32, 0..255) of ``image`` with its longer side shrunk to at most ``size``."""
    image = _check_image(image)
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    if max(h, w) > size:  # never enlarged: interpolation would blur a small photograph
        grey = cv2.resize(grey, fit_size(w, h, size), interpolation=cv2.INTER_AREA)
    return grey.astype(np.float32)


def sharpness(image: np.ndarray, size: int = 512) -> float:
    """Variance of the Laplacian of the analysis copy (higher = sharper)."""
    return float(cv2.Laplacian(analysis_luminance(image, size), cv2.CV_32F, ksize=1).var())


def exposure_stats(image: np.ndarray, scalp: np.ndarray | None = None,
                   config: QualityConfig = QualityConfig()) -> dict[str, float]:
    """Luminance percentiles of the picture and the clipped share of the scalp.

    Returns ``{"p5", "p95", "clipped_fraction"}``; the clipped share is taken over
    the scalp when ``scalp`` (a mask of the photograph's size) is non-empty.
    """
    lum = analysis_luminance(image, config.analysis_size)
    region = lum
    if scalp is not None and np.any(scalp):
        small = cv2.resize(np.asarray(scalp).astype(np.uint8), (lum.shape[1], lum.shape[0]),
                           interpolation=cv2.INTER_NEAREST).astype(bool)
        if small.any():
            region = lum[small]
    p5, p95 = np.percentile(lum, [5, 95])
    clipped = float(np.mean(region >= config.clipped_level))
    return {"p5": float(p5), "p95": float(p95), "clipped_fraction": clipped}


def check_photo(image: np.ndarray, scalp: np.ndarray | None = None,
                config: QualityConfig = QualityConfig()) -> list[dict]:
    """Exposure and blur flags for a photograph (``scalp``: optional mask, same size)."""
    flags: list[dict] = []
    stats = exposure_stats(image, scalp, config)
    if stats["p95"] < config.dark_p95:
        flags.append(flag("too_dark", f"photograph too dark (95th percentile of brightness "
                                      f"{below(stats['p95'])} < {config.dark_p95:g} of 255); add light"))
    if stats["clipped_fraction"] > config.max_clipped_fraction:
        flags.append(flag("too_bright", f"{above(100 * stats['clipped_fraction'])}% of the scalp is "
                                        "overexposed white; reduce flash or exposure"))
    elif stats["p5"] > config.bright_p5:
        flags.append(flag("too_bright", f"photograph washed out (5th percentile of brightness "
                                        f"{above(stats['p5'])} > {config.bright_p5:g} of 255); reduce exposure"))
    value = sharpness(image, config.analysis_size)
    if value < config.min_sharpness:
        flags.append(flag("blurred", f"photograph is blurred (sharpness {below(value, 1)} < "
                                     f"{config.min_sharpness:g}); hold still and focus on the scalp"))
    return flags


def check_scalp(scalp: np.ndarray, config: QualityConfig = QualityConfig()) -> list[dict]:
    """Flags for a missing or too small scalp region (``scalp``: bool mask)."""
    scalp = np.asarray(scalp)
    fraction = float(np.count_nonzero(scalp)) / max(1, scalp.size)
    if fraction == 0.0:
        return [flag("scalp_not_found", "no scalp found in the photograph; check the view "
                                        "and frame the scalp")]
    if fraction < config.min_scalp_fraction:
        return [flag("scalp_too_small", f"the scalp covers only {below(100 * fraction, 1)}% of the "
                                        f"photograph (< {100 * config.min_scalp_fraction:g}%); move closer")]
    return []


def _linear_levels() -> np.ndarray:
    """The 256 sRGB levels as linear light, 0..1."""
    c = np.arange(256) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def relative_luminance(pixels: np.ndarray) -> np.ndarray:
    """Relative luminance Y (0..1; sRGB, D65) of uint8 RGB pixels shaped (..., 3)."""
    linear = _linear_levels()[np.asarray(pixels, dtype=np.uint8)]
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def lstar(y: np.ndarray | float) -> np.ndarray:
    """CIE L* (0 black .. 100 white) of relative luminance ``y``."""
    y = np.asarray(y, dtype=np.float64)
    return np.where(y > (6 / 29) ** 3, 116.0 * np.cbrt(y) - 16.0, y * (29 / 3) ** 3)


def lightness(pixels: np.ndarray) -> np.ndarray:
    """CIE L* (0 black .. 100 white; sRGB, D65) of uint8 RGB pixels shaped (..., 3)."""
    return lstar(relative_luminance(pixels))


def marked_lightness(image: np.ndarray, mask: np.ndarray) -> float | None:
    """Median L* of ``image`` where ``mask`` is set, or None for an empty mask. A mask smaller
    than the photograph (a network-size mask) is read against the photograph shrunk to it
    (every k-th pixel down to about twice the mask's size, then averaged over areas: a camera
    photograph costs about as little as a small one)."""
    image = _check_image(image)
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    if image.shape[:2] != mask.shape:
        step = max(1, min(image.shape[0] // (2 * mask.shape[0]), image.shape[1] // (2 * mask.shape[1])))
        image = cv2.resize(image[::step, ::step], (mask.shape[1], mask.shape[0]), interpolation=cv2.INTER_AREA)
    # L* rises with luminance, so the median L* is the L* of the median luminance
    return float(lstar(np.median(relative_luminance(image[mask]))))


def check_bald_skin(image: np.ndarray, scalp: np.ndarray, hairloss: np.ndarray,
                    config: QualityConfig = QualityConfig()) -> list[dict]:
    """A ``dark_skin`` flag when the skin marked as hair loss looks dark (see the module doc).

    ``scalp`` and ``hairloss`` are bool masks of one size, in the photograph's orientation
    (the photograph may be larger). Nothing is judged when less than ``min_marked_share``
    of the scalp is marked.
    """
    scalp_pixels = int(np.count_nonzero(scalp))
    marked = int(np.count_nonzero(hairloss))
    if not scalp_pixels or marked < config.min_marked_share * scalp_pixels:
        return []
    value = marked_lightness(image, hairloss)
    if value is None or value >= config.dark_skin_lstar:
        return []
    return [flag(DARK_SKIN_CODE, f"the bald skin looks dark (lightness {below(value)} < {config.dark_skin_lstar:g} "
                             "of 100): the model under-calls hair loss on dark or dimly lit skin; "
                             "review the overlay")]
