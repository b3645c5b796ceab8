"""Post-processing: probability maps -> clean scalp and hair-loss masks.

Each step is a small pure function on numpy arrays and can be switched off in
:class:`PostprocessConfig`. :func:`postprocess` runs them in this order:

1. **threshold** both probability maps (``scalp_threshold``, ``hairloss_threshold``,
   default 0.5: a pixel belongs to the region when its probability is >= the
   threshold);
2. **largest scalp region** (``largest_component``): keep only the largest
   8-connected region of the scalp mask; a photograph shows one scalp;
3. **fill holes** (``fill_holes``): background enclosed by the scalp becomes scalp
   (a bald patch can fool the scalp network, but it is still scalp);
4. **smooth the scalp edge** (``smooth_edges``): blur the mask with a Gaussian of
   ``smooth_sigma`` x the image's shorter side and re-threshold at 0.5, which
   removes one-pixel jags and thin spurs without moving a straight edge;
5. **restrict hair loss to the scalp** (``restrict_to_scalp``);
6. **remove specks** (``remove_specks``): hair-loss regions smaller than
   ``min_speck_fraction`` of the scalp area (at least ``min_speck_pixels``) are
   dropped; they are noise, not alopecia patches.

The steps that take a mask read it with ``alonet.scoring.masks.as_bool_mask`` (the
pipeline passes bool masks; a 0/1 or 0/255 array works too, a probability map is refused).

:func:`confidence` measures how decided the network was on the scalp: the share
of scalp pixels whose scalp *and* hair-loss probabilities both lie at least
``confidence_margin`` away from their thresholds (with the defaults: below 0.25
or above 0.75). A view whose confidence is below ``min_confidence`` is flagged
``check``: a person should look at its overlay.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alonet.errors import InvalidValueError
from alonet.scoring.masks import as_bool_mask


@dataclass(frozen=True)
class PostprocessConfig:
    """Switches and parameters of the post-processing steps (see module doc)."""

    scalp_threshold: float = 0.5
    hairloss_threshold: float = 0.5
    largest_component: bool = True
    fill_holes: bool = True
    smooth_edges: bool = True
    #: Gaussian sigma of the edge smoothing, as a fraction of the shorter image side.
    smooth_sigma: float = 0.006
    restrict_to_scalp: bool = True
    remove_specks: bool = True
    #: Hair-loss regions smaller than this fraction of the scalp area are removed.
    min_speck_fraction: float = 0.001
    #: Hair-loss regions smaller than this many pixels are always removed.
    min_speck_pixels: int = 1
    #: A probability at least this far from its threshold counts as a confident pixel.
    confidence_margin: float = 0.25
    #: Views whose confidence is below this are flagged "check".
    min_confidence: float = 0.85

    def __post_init__(self) -> None:
        for name in ("scalp_threshold", "hairloss_threshold"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise InvalidValueError(f"{name} must be between 0 and 1 (exclusive); got {value}")
        checks = [
            (self.smooth_sigma >= 0, "smooth_sigma must be >= 0"),
            (0 <= self.min_speck_fraction < 1, "min_speck_fraction must be in [0, 1)"),
            (self.min_speck_pixels >= 0, "min_speck_pixels must be >= 0"),
            (0 <= self.confidence_margin < 0.5, "confidence_margin must be in [0, 0.5)"),
            (0 <= self.min_confidence <= 1, "min_confidence must be in [0, 1]"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidValueError(f"invalid post-processing setting: {message}")


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Keep the largest 8-connected region of ``mask`` (ties: the first in scan order).

    An empty mask stays empty.
    """
    mask = as_bool_mask(mask, "the mask")
    count, labels, stats, _ = cv2.connectedComponentsWithStats(
        mask.astype(np.uint8), connectivity=8
    )
    if count <= 2:  # background only, or a single region
        return mask.copy()
    areas = stats[1:, cv2.CC_STAT_AREA]
    return labels == (1 + int(np.argmax(areas)))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions that do not touch the image border.

    The background is labelled with 4-connectivity (the dual of the 8-connected
    foreground), so a hole is any background pocket the region encloses.
    """
    mask = as_bool_mask(mask, "the mask")
    background = (~mask).astype(np.uint8)
    count, labels = cv2.connectedComponents(background, connectivity=4)
    if count <= 1:
        return mask.copy()
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.isin(labels, border[border > 0])
    return ~outside


def smooth_edges(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth the outline of ``mask``: Gaussian blur (``sigma`` pixels), re-threshold at 0.5.

    ``sigma <= 0`` returns the mask unchanged. Regions thinner than about
    ``2 * sigma`` shrink or disappear; straight edges stay where they are.
    """
    mask = as_bool_mask(mask, "the mask")
    if sigma <= 0 or not mask.any():
        return mask.copy()
    blurred = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigmaX=float(sigma),
                               borderType=cv2.BORDER_REPLICATE)
    return blurred >= 0.5


def remove_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected regions with fewer than ``min_area`` pixels."""
    mask = as_bool_mask(mask, "the mask")
    if min_area <= 1 or not mask.any():
        return mask.copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, dtype=bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[labels]


def speck_area(scalp_pixels: int, config: PostprocessConfig) -> int:
    """Smallest hair-loss region (pixels) kept for a scalp of ``scalp_pixels`` pixels."""
    return max(int(config.min_speck_pixels), int(np.ceil(config.min_speck_fraction * scalp_pixels)))


def clean_scalp(scalp_prob: np.ndarray, config: PostprocessConfig = PostprocessConfig()) -> np.ndarray:
    """Steps 1-4 on the scalp probability map -> scalp mask (bool)."""
    prob = np.asarray(scalp_prob, dtype=np.float32)
    mask = prob >= config.scalp_threshold
    if config.largest_component:
        mask = largest_component(mask)
    if config.fill_holes:
        mask = fill_holes(mask)
    if config.smooth_edges:
        mask = smooth_edges(mask, config.smooth_sigma * min(mask.shape))
        if config.largest_component:  # smoothing can cut a thin bridge in two
            mask = largest_component(mask)
    return mask


def clean_hairloss(hairloss_prob: np.ndarray, scalp: np.ndarray,
                   config: PostprocessConfig = PostprocessConfig()) -> np.ndarray:
    """Steps 1, 5 and 6 on the hair-loss probability map, given the clean scalp mask."""
    prob = np.asarray(hairloss_prob, dtype=np.float32)
    scalp = as_bool_mask(scalp, "the scalp mask")
    if prob.shape != scalp.shape:
        raise InvalidValueError(f"hair-loss map {prob.shape} and scalp mask {scalp.shape} differ in size")
    mask = prob >= config.hairloss_threshold
    if config.restrict_to_scalp:
        mask &= scalp
    if config.remove_specks:
        mask = remove_specks(mask, speck_area(int(np.count_nonzero(scalp)), config))
    return mask


def postprocess(scalp_prob: np.ndarray, hairloss_prob: np.ndarray,
                config: PostprocessConfig = PostprocessConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Both probability maps (same size) -> ``(scalp_mask, hairloss_mask)`` (bool)."""
    scalp = clean_scalp(scalp_prob, config)
    return scalp, clean_hairloss(hairloss_prob, scalp, config)


def confidence(scalp_prob: np.ndarray, hairloss_prob: np.ndarray, scalp: np.ndarray,
               config: PostprocessConfig = PostprocessConfig()) -> float:
    """Share (0..1) of scalp pixels where both maps are at least ``confidence_margin``
    away from their thresholds. An empty scalp has confidence 0."""
    scalp = as_bool_mask(scalp, "the scalp mask")
    pixels = int(np.count_nonzero(scalp))
    if pixels == 0:
        return 0.0
    margin = config.confidence_margin
    sure = (np.abs(np.asarray(scalp_prob, np.float32) - config.scalp_threshold) >= margin) & (
        np.abs(np.asarray(hairloss_prob, np.float32) - config.hairloss_threshold) >= margin
    )
    return int(np.count_nonzero(sure & scalp)) / pixels
