"""Procedural scalp regions: where, on a clinical photograph, the scalp that
counts for SALT lies.

Every region is made in the *canonical* orientation of its view (see
DEVELOPERS.md, "Phantoms"): ``top`` with the forehead towards the image
bottom, ``back`` with the nape at the bottom, and the temporal views in
left-view orientation (face towards the image left, the ear in a notch at the
lower edge). A right view uses left-view geometry; the renderer mirrors the
finished photograph.

The shapes and their place in the frame follow the shared AloNet annotations
(measured on all 2,716 scalp masks):

- the region sits well inside the frame, its bounding box spanning about
  55–75 % of the frame width and 50–70 % of its height, centred a little
  above the middle; the frame is mostly portrait (width/height ≈ 0.77–0.98);
- top and back views are rounded squares (solidity ≥ 0.96), the back view
  taller and narrower towards the nape than the top view;
- side views are arches: a dome over the ear, a slanted frontal hairline
  that steps down to a short sideburn leg on the face side, the ear notch,
  and a longer, narrow leg behind the ear that reaches down towards the nape;
  the posterior border is a nearly straight line.

Because the region is small against the frame, the renderer has room for the
skull and hair mass, face, ears and neck *around* it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alonet.views import normalize_view

#: Subpixel bits used when filling polygons (smooth, exactly binary edges).
_SHIFT = 4


@dataclass(frozen=True)
class ViewGeometry:
    """Everything the renderer needs to know about one view, in canonical orientation.

    ``scalp`` and ``hairloss`` are (H, W) bool masks on the camera frame;
    ``thinning`` is an (H, W) float32 0..1 map of thinned hair that is *not*
    loss (a hard negative; see ``render_view``). ``pattern`` names the
    alopecia pattern (or ``"real"``), ``source`` is ``"procedural"`` or the
    real annotation's file name. ``mirrored`` tells whether a real mask was
    flipped to reach the canonical orientation.
    """

    view: str
    scalp: np.ndarray
    hairloss: np.ndarray
    thinning: np.ndarray
    pattern: str = "none"
    source: str = "procedural"
    mirrored: bool = False

    @property
    def shape(self) -> tuple[int, int]:
        return self.scalp.shape


def view_kind(view: str) -> str:
    """``"temporal"`` for left/right, ``"midline"`` for top/back."""
    return "temporal" if normalize_view(view) in ("left", "right") else "midline"


# --------------------------------------------------------------------------- frame


def frame_shape(size: int, rng: np.random.Generator) -> tuple[int, int]:
    """(height, width) of a camera frame with long side ``size``.

    Mostly portrait crops (width/height 0.75–0.98, as in the shared annotations),
    sometimes square or landscape 4:3.
    """
    u = rng.random()
    if u < 0.85:
        aspect = rng.uniform(0.75, 0.98)
    elif u < 0.93:
        aspect = 1.0
    else:
        aspect = 4.0 / 3.0
    if aspect <= 1.0:
        return int(size), max(16, int(round(size * aspect)))
    return max(16, int(round(size / aspect))), int(size)


# --------------------------------------------------------------------------- outlines


def _smooth_closed(points: np.ndarray, n: int = 240, passes: int = 3) -> np.ndarray:
    """A smooth closed curve through the spirit of ``points``: resample the
    polygon finely, then average neighbours (circular box filter) a few times.
    Corners round off; the overall shape stays."""
    pts = np.asarray(points, np.float64)
    seg = np.linalg.norm(np.diff(np.vstack([pts, pts[:1]]), axis=0), axis=1)
    t = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.linspace(0.0, t[-1], n, endpoint=False)
    closed = np.vstack([pts, pts[:1]])
    curve = np.stack([np.interp(s, t, closed[:, 0]), np.interp(s, t, closed[:, 1])], axis=1)
    k = max(3, n // 40) | 1
    kernel = np.ones(k) / k
    for _ in range(passes):
        pad = np.vstack([curve[-(k // 2):], curve, curve[: k // 2]])
        curve = np.stack([np.convolve(pad[:, i], kernel, mode="valid") for i in range(2)], axis=1)
    return curve


def _wobble(curve: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Low-frequency radial wobble (harmonics 2..5) about the curve's centre."""
    c = curve.mean(axis=0)
    d = curve - c
    theta = np.arctan2(d[:, 1], d[:, 0])
    k = np.arange(2, 6)[:, None]
    amp = rng.normal(0.0, amount, (4, 1)) / k * 2.0
    phase = rng.uniform(0, 2 * np.pi, (4, 1))
    scale = 1.0 + (amp * np.cos(k * theta[None] + phase)).sum(axis=0)
    return c + d * scale[:, None]


def midline_outline(view: str, rng: np.random.Generator) -> np.ndarray:
    """Outline (N, 2) of a top or back scalp region in a unit box (x, y in
    about -1..1, y down): a rounded square (superellipse) whose sides bow a
    little; the back view is taller and narrows towards the nape."""
    view = normalize_view(view)
    n = 240
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    p = rng.uniform(2.6, 4.5)  # squareness
    c, s = np.cos(theta), np.sin(theta)
    x = np.sign(c) * np.abs(c) ** (2.0 / p)
    y = np.sign(s) * np.abs(s) ** (2.0 / p)
    if view == "back":
        aspect = rng.uniform(1.02, 1.25)  # height / width
        taper = rng.uniform(0.05, 0.22)  # narrower at the nape (y = +1)
        flare = rng.uniform(0.0, 0.08)
    else:
        aspect = rng.uniform(0.9, 1.12)
        taper = rng.uniform(-0.06, 0.1)
        flare = rng.uniform(0.0, 0.05)
    x = x * (1.0 - taper * (y + 1.0) / 2.0 + flare * (1.0 - y**2))
    y = y * aspect
    curve = _wobble(np.stack([x, y], axis=1), rng, 0.035)
    if view == "top" and rng.random() < 0.5:
        # frontal hairline (bottom edge): a gentle widow's peak or temple recessions
        bottom = curve[:, 1] > 0.6 * aspect
        bump = rng.uniform(-0.08, 0.1) * np.exp(-((curve[:, 0] / 0.35) ** 2))
        curve[bottom, 1] += bump[bottom]
    return curve


def temporal_outline(rng: np.random.Generator, grid: int = 200) -> np.ndarray:
    """Outline (N, 2) of a left-view scalp region in a unit box (x 0..1 from
    face to back, y 0..1 from top to bottom): a dome, the frontal hairline
    slanting down and back to a short sideburn leg, the ear notch (an arch
    nearer the back border), and a longer, narrower leg behind the ear beside
    a nearly straight posterior border.

    Built as a polygon minus an elliptical notch (and sometimes a temple
    recession), rasterised on a ``grid``-pixel square, blurred and traced
    again so that every corner is rounded like a drawn annotation.
    """
    j = rng.uniform
    notch_x = j(0.52, 0.7)
    notch_w = j(0.26, 0.4)
    apex_y = j(0.4, 0.6)
    front_leg = j(0.66, 0.86)
    back_leg = min(1.0, front_leg + j(0.08, 0.24))
    fx, fy = j(0.0, 0.1), j(0.18, 0.34)
    by = j(0.2, 0.36)
    leg_w = j(0.06, 0.16)
    dome = [(x, 0.5 * fy * (1 - np.sin(np.pi * (x - fx) / (1 - fx))) + j(-0.015, 0.015))
            for x in np.linspace(fx + 0.08, 0.92, 6)]
    poly = np.array([
        (fx, fy),
        *dome,
        (1.0, by),
        (j(0.95, 1.0), back_leg - j(0.08, 0.18)),
        (notch_x + notch_w / 2 + j(0.03, 0.1), back_leg),
        (notch_x, back_leg + 0.1),
        (notch_x - notch_w / 2 - j(0.0, 0.03), front_leg),
        (notch_x - notch_w / 2 - leg_w, front_leg - j(0.03, 0.1)),
        (j(0.1, 0.2), j(0.5, 0.62)),
    ])
    g = grid
    canvas = np.zeros((g, g), np.uint8)
    pts = np.round((poly * 0.8 + 0.1) * g * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [pts], 255, lineType=cv2.LINE_8, shift=_SHIFT)
    bottom = max(front_leg, back_leg) + 0.06
    centre = (int(round((notch_x * 0.8 + 0.1) * g)), int(round((bottom * 0.8 + 0.1) * g)))
    axes = (max(1, int(round(notch_w / 2 * 0.8 * g))), max(1, int(round((bottom - apex_y) * 0.8 * g))))
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, 0, -1)
    if j(0, 1) < 0.6:  # temple recession of the frontal hairline
        r = j(0.03, 0.06)
        c = (int(round(((fx + 0.04) * 0.8 + 0.1) * g)), int(round((j(0.4, 0.55) * 0.8 + 0.1) * g)))
        cv2.circle(canvas, c, max(1, int(round(r * 0.8 * g))), 0, -1)
    soft = cv2.GaussianBlur(canvas.astype(np.float32), (0, 0), 0.02 * g)
    region = (soft >= 127.5).astype(np.uint8)
    contours, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    outline = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    outline = _smooth_closed((outline / g - 0.1) / 0.8, n=320, passes=2)
    return _wobble(outline - 0.5, rng, 0.012) + 0.5


# --------------------------------------------------------------------------- placing


def fill_polygon(poly: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Rasterise a float polygon (N, 2) into an (H, W) bool mask (subpixel exact)."""
    mask = np.zeros(shape, np.uint8)
    pts = np.round(np.asarray(poly, np.float64) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(mask, [pts], 1, lineType=cv2.LINE_8, shift=_SHIFT)
    return mask.astype(bool)


def place_outline(curve: np.ndarray, shape: tuple[int, int], rng: np.random.Generator, kind: str) -> np.ndarray:
    """Scale, rotate slightly and position a unit outline in a frame of ``shape``
    (height, width) the way the scalp sits in real clinical frames. Returns
    pixel coordinates (N, 2)."""
    h, w = shape
    lo = curve.min(axis=0)
    hi = curve.max(axis=0)
    unit = (curve - (lo + hi) / 2.0) / np.maximum(hi - lo, 1e-6)  # box -0.5..0.5
    if kind == "temporal":
        bw, bh = rng.uniform(0.56, 0.76), rng.uniform(0.5, 0.7)
        cy = rng.uniform(0.38, 0.47)
    else:
        bw, bh = rng.uniform(0.55, 0.73), rng.uniform(0.52, 0.7)
        cy = rng.uniform(0.42, 0.5)
    # keep the measured aspect of the outline roughly: scale by one factor per
    # axis, but not beyond what the frame allows
    box_w = bw * w
    box_h = bh * h
    if kind == "midline":
        natural = (hi - lo)[1] / max((hi - lo)[0], 1e-6)  # height/width of the outline
        box_h = np.clip(box_w * natural, 0.5 * h, 0.72 * h)
        box_w = np.clip(box_h / natural, 0.5 * w, 0.76 * w)
    angle = np.deg2rad(rng.normal(0.0, 4.0))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    pts = (unit * [box_w, box_h]) @ rot.T
    cx = rng.uniform(0.46, 0.54) * w
    return pts + [cx, cy * h]


def procedural_scalp(view: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A canonical scalp region for ``view`` on a frame of ``shape`` (height, width).

    ``right`` gets left-view (canonical) geometry, exactly as ``left`` does
    for the same generator state.
    """
    kind = view_kind(view)
    if kind == "temporal":
        curve = temporal_outline(rng)
    else:
        curve = midline_outline(view, rng)
    return fill_polygon(place_outline(curve, shape, rng, kind), shape)
