"""What a scalp region's outline says about the view it was seen from (pure mask geometry).

**Temporal or midline.** Side views show an arch: the scalp region is cut
from below by the ear. Rule: the region is *temporal* when its outline has a
notch opening downwards -- a convexity defect whose hull chord lies in the
lower 45 % of the region's bounding box -- deeper than 8 % of the box height
(:data:`NOTCH_THRESHOLD`); otherwise it is *midline* (a rounded square).

**Which way a side view looks.** The sideburn in front of the ear is short;
behind the ear the scalp reaches down towards the nape, and the region's
posterior border (where the back view takes over) lies close behind the ear.
So the leg of the arch on the *face* side ends higher. Rule: split the region
at the notch's deepest point; the face is on the side whose lowest pixel is
higher.

Used on annotations (``alonet.phantom.realmasks`` infers the views of the
shared real masks, where its doc gives the figures) and on predicted regions
(``alonet.infer.viewcheck``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from alonet.data.resize import fit_size

#: A scalp region is temporal when its lower notch is deeper than this
#: fraction of the region's height.
NOTCH_THRESHOLD = 0.08

#: Long side at which shapes are analysed (fixed, so the answer does not
#: depend on the output size).
ANALYSIS_SIDE = 256


@dataclass(frozen=True)
class ShapeInfo:
    """What the scalp region's outline says about its view.

    ``kind``: ``temporal`` or ``midline``; ``facing``: for temporal regions the
    side the face is on (``left`` = canonical, ``right`` = to be mirrored),
    else None. ``notch_depth`` (fraction of the box height), ``solidity``
    (area / convex-hull area) and ``leg_difference`` (lowest pixel of the
    left leg minus that of the right leg, fraction of the height; > 0 means the
    left leg reaches lower, so the face is on the right) are the measured
    features.
    """

    kind: str
    facing: str | None
    notch_depth: float
    solidity: float
    leg_difference: float

    @property
    def mirrored(self) -> bool:
        """True when the mask must be flipped to reach canonical orientation."""
        return self.facing == "right"


def reduce_mask(mask: np.ndarray, long_side: int) -> np.ndarray:
    """Shrink a bool mask so its long side is ``long_side`` (area average,
    threshold at one half); masks already that small are returned as they are.

    Fast on camera-sized masks: Pillow's integer box reduction first (to at
    most twice the target), then an exact box resize. That two-stage rule only
    approximates :func:`alonet.data.resize.area_resize_mask` (about 0.1 % of
    pixels differ, on the edge) and is kept on purpose: phantoms drawn from real
    annotations, the bundled models' training and test data, are rendered from
    it and stay byte-identical, and it is 15-20 % faster when writing them
    (measured 2026-12-07); the view-kind and facing decisions are the same either
    way on all 2,716 shared annotation masks.
    """
    h, w = mask.shape
    if max(h, w) <= long_side:
        return mask.astype(bool, copy=False)
    size = fit_size(w, h, long_side)
    image = Image.fromarray(np.asarray(mask, bool).view(np.uint8) * np.uint8(255))
    factor = max(h, w) // (2 * long_side)
    if factor > 1:
        image = image.reduce(factor)
    return np.asarray(image.resize(size, Image.Resampling.BOX)) >= 128


def analyse_shape(scalp: np.ndarray) -> ShapeInfo:
    """Infer view kind and facing from a scalp mask (any size; see the module doc)."""
    m = reduce_mask(np.asarray(scalp, bool), ANALYSIS_SIDE).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return ShapeInfo("midline", None, 0.0, 1.0, 0.0)
    c = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(c)
    hull_area = cv2.contourArea(cv2.convexHull(c))
    solidity = float(area / hull_area) if hull_area > 0 else 1.0
    x, y, w, h = cv2.boundingRect(c)
    best_depth, best_x = 0.0, None
    if len(c) >= 4:
        hull_idx = cv2.convexHull(c, returnPoints=False)
        try:
            defects = cv2.convexityDefects(c, hull_idx)
        except cv2.error:  # self-intersecting outlines (rare, tiny regions)
            defects = None
        if defects is not None:
            for s, e, f, d in defects.reshape(-1, 4):
                chord_y = (c[s, 0, 1] + c[e, 0, 1]) / 2.0
                if chord_y > y + 0.55 * h and c[f, 0, 1] < chord_y and d / 256.0 > best_depth:
                    best_depth, best_x = d / 256.0, int(c[f, 0, 0])
    depth = best_depth / max(h, 1)
    if depth < NOTCH_THRESHOLD or best_x is None:
        return ShapeInfo("midline", None, float(depth), solidity, 0.0)
    ys, xs = np.nonzero(m)
    left = ys[xs < best_x].max() if np.any(xs < best_x) else y
    right = ys[xs > best_x].max() if np.any(xs > best_x) else y
    diff = float(left - right) / max(h, 1)
    return ShapeInfo("temporal", "right" if diff > 0 else "left", float(depth), solidity, diff)
