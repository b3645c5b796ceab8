"""The head around the scalp region: skull and hair mass, face/forehead, ears,
neck, shoulders and collar, glasses.

In real clinical photographs the annotated scalp region is a smooth region
*inside* the outline of the head: the hair mass reaches beyond it on every
side, the frontal hairline bounds it towards the face, and ears and nape lie
below it. :func:`layout_head` places every part relative to the scalp mask so
that this relation holds, which forces a network to find the boundary from
hairline cues rather than from the outline of the head.

All coordinates are canvas pixels in the canonical orientation of a view:
``top`` has the face towards the image bottom, ``back`` the neck at the bottom,
``left`` (and the mirrored ``right``) the face towards the image left with the
ear in the notch under the scalp arch. Proportions of the side view follow
the ear (an adult ear is about 6 cm long): eye corner, nose, chin and neck are
placed in ear lengths from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from alonet.phantom.render.look import Look
from alonet.phantom.render.raster import ellipse_poly, fill_soft, smooth_noise, wide_blur


#: Share of back and side views whose hair continues below the scalp region
#: down the nape (the rest end near its lower edge).
NAPE_HAIR_SHARE = 0.85

#: Skull size (the head's outline, before hair volume) over the scalp box.
SKULL_MARGIN = (1.07, 1.16)

#: Share of top views shot from in front and above: the forehead runs from the
#: frontal hairline (the scalp region's lower edge) down to eyebrows, eyes and
#: nose at the frame's lower edge, as in many real top views. 0 (the default)
#: makes no random draw, so default phantoms do not change;
#: ``scripts/dev/render_front_top.py`` raises it for an experiment.
FRONT_TOP_SHARE = 0.0


@dataclass(frozen=True)
class Ellipse:
    """A rotated ellipse (centre, semi-axes, angle in degrees)."""

    cx: float
    cy: float
    ax: float
    ay: float
    angle: float = 0.0

    def polygon(self, n: int = 48) -> np.ndarray:
        """Float outline (n, 2)."""
        return ellipse_poly(self.cx, self.cy, max(self.ax, 0.5), max(self.ay, 0.5), self.angle, n)

    def fill(self, mask: np.ndarray, value: int = 1) -> None:
        """Fill on an integer mask."""
        cv2.fillPoly(mask, [np.round(self.polygon() * 16).astype(np.int32)], value, cv2.LINE_8, 4)


@dataclass
class HeadLayout:
    """Where each part of the head lies on the canvas (canonical orientation).

    ``hair_region`` is where terminal hair grows (the scalp plus the hair mass
    beyond it); ``face_mask``/``ear_mask`` are skin that never bears hair;
    ``skull`` is the dome used for shading and the outline of the hair mass.
    """

    view: str
    shape: tuple[int, int]  # canvas (height, width)
    cx: float  # scalp bounding-box centre and size (px)
    cy: float
    width: float
    height: float
    skull: Ellipse
    face_dome: Ellipse | None  # shading dome of the visible face
    face_poly: np.ndarray | None  # float polygon of face/forehead skin
    ears: list[Ellipse]
    neck: np.ndarray | None  # float polygon
    body: list[np.ndarray] | None  # float polygons (shoulders and clothes), filled as a union
    collar: np.ndarray | None  # float polyline along the neckline
    scalp: np.ndarray  # bool (h, w): the annotated scalp region on the canvas
    hair_region: np.ndarray  # bool (h, w)
    face_mask: np.ndarray  # bool (h, w)
    ear_mask: np.ndarray  # bool (h, w)
    skull_mask: np.ndarray  # bool (h, w)
    whorl: tuple[float, float]  # crown whorl position (px)
    ear_size: float  # ear semi-length (px), the side view's unit
    extras: dict = field(default_factory=dict)

    @property
    def size(self) -> float:
        """Geometric mean of the scalp box sides: the head's length scale (px)."""
        return float(np.sqrt(max(self.width, 2.0) * max(self.height, 2.0)))


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return None
    return float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1)


def find_notch(scalp: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float] | None:
    """Centre (x, y) and size (sqrt of area) of the ear notch of a temporal
    scalp region: the largest gap between the region and its convex hull in
    the lower part of its box. None when there is no clear notch."""
    x0, y0, x1, y1 = box
    step = max(1, int(max(x1 - x0, y1 - y0) // 96))  # work on a small copy
    sub = scalp[int(y0) : int(y1) : step, int(x0) : int(x1) : step].astype(np.uint8)
    pts = cv2.findNonZero(sub)
    if pts is None or len(pts) < 10:
        return None
    hull = np.zeros(sub.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    gap = (hull > 0) & (sub == 0)
    gap[: int(0.35 * sub.shape[0])] = False
    n, _, stats, cents = cv2.connectedComponentsWithStats(gap.astype(np.uint8), connectivity=4)
    if n <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = stats[best, cv2.CC_STAT_AREA]
    if area < 0.01 * sub.size:
        return None
    return float(x0 + cents[best][0] * step), float(y0 + cents[best][1] * step), float(np.sqrt(area) * step)


def _forehead(scalp: np.ndarray, box: tuple[float, float, float, float], skull: Ellipse,
              rng: np.random.Generator) -> np.ndarray | None:
    """Float polygon of the forehead in a top view: the part of the head below
    the frontal hairline (the scalp region's lower edge), between the temples."""
    x0, y0, x1, y1 = box
    W = x1 - x0
    n = 24
    xs = np.linspace(x0 + 0.12 * W, x1 - 0.12 * W, n)
    cols = np.clip(np.round(xs).astype(int), 0, scalp.shape[1] - 1)
    sub = scalp[:, cols]
    has = sub.any(axis=0)
    if not has.any():
        return None
    last = scalp.shape[0] - 1 - np.argmax(sub[::-1], axis=0)
    edge = np.where(has, last + 0.5, y1).astype(np.float64)
    bottom = skull.cy + skull.ay * 1.05
    # the temples: the hairline bends down at both ends of the forehead
    bend = (np.linspace(-1, 1, n) ** 8) * rng.uniform(0.1, 0.25) * (bottom - y1 + 0.2 * (y1 - y0))
    top = np.stack([xs, edge + bend], -1)
    low = np.stack([xs[::-1], np.full(n, bottom + 0.1 * (y1 - y0))], -1)
    return np.concatenate([top, low], 0)


def _front_face(forehead: np.ndarray, box: tuple[float, float, float, float], h: int,
                rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """A top view shot from in front and above: the forehead polygon's hairline
    edge kept, the skin carried down past the frame's lower edge, and where
    brows, eyes and nose tip lie on it (``extras["front"]``)."""
    x0, y0, x1, y1 = box
    W, H = x1 - x0, y1 - y0
    n = len(forehead) // 2
    top = forehead[:n]
    hairline = float(np.median(top[:, 1]))
    # the brows: 0.35-0.7 of the scalp box's height below the hairline
    brow_y = hairline + rng.uniform(0.35, 0.7) * H
    spread = rng.uniform(1.0, 1.12)
    cheeks = np.array([[top[-1, 0] + 0.05 * W * spread, brow_y],
                       [top[-1, 0] + 0.02 * W, h + 0.3 * H], [top[0, 0] - 0.02 * W, h + 0.3 * H],
                       [top[0, 0] - 0.05 * W * spread, brow_y]])
    cx = float(top[:, 0].mean())
    front = {"brow_y": brow_y, "cx": cx, "half": 0.5 * (top[-1, 0] - top[0, 0]),
             "eye_gap": rng.uniform(0.1, 0.14) * W, "arch": rng.uniform(0.02, 0.06) * H,
             "thick": rng.uniform(0.025, 0.05) * H, "dark": rng.uniform(0.55, 0.9)}
    return np.concatenate([top, cheeks], 0), front


def _side_profile(ex: float, ey: float, e: float, hx: float, y0: float, rng: np.random.Generator) -> np.ndarray:
    """Float polygon of face skin in a left view: forehead, brow, nose, lips,
    chin, jaw and cheek, from the ear centre (ex, ey) in ear semi-lengths ``e``;
    ``hx`` is the front hairline, ``y0`` the top of the scalp."""
    j = lambda s: rng.normal(0, s)  # noqa: E731 - small individual variation
    nose = rng.uniform(0.5, 0.9)
    right = max(hx, ex) + 1.2 * e  # the polygon's back edge lies under the scalp/hair
    pts = [
        (right, max(y0 + 0.5 * e, ey - 2.8 * e)),
        (ex - 3.2 * e + j(0.2) * e, max(ey - 2.8 * e, y0 + 0.8 * e)),
        (ex - 3.7 * e + j(0.15) * e, ey - 1.8 * e),
        (ex - 3.9 * e, ey - 1.0 * e + j(0.1) * e),  # brow ridge
        (ex - 3.7 * e, ey - 0.6 * e),  # nasion
        (ex - (3.9 + nose) * e, ey + 0.6 * e),  # nose tip
        (ex - 3.8 * e, ey + 0.95 * e),
        (ex - 3.95 * e, ey + 1.4 * e),  # lips
        (ex - 3.8 * e, ey + 1.75 * e),
        (ex - 3.85 * e, ey + 2.2 * e),
        (ex - 3.55 * e + j(0.2) * e, ey + 2.9 * e),  # chin
        (ex - 2.6 * e, ey + 3.3 * e),
        (ex - 0.9 * e, ey + 2.4 * e),  # jaw angle
        (ex + 0.2 * e, ey + 1.0 * e),
        (ex + 0.3 * e, ey - 0.6 * e),
        (right, ey - 1.5 * e),
    ]
    return np.asarray(pts, np.float64)


def _beard_outlines(ex: float, ey: float, e: float) -> tuple[np.ndarray, np.ndarray]:
    """Float polygons (left view, from the ear centre in ear semi-lengths ``e``)
    of a sideburn in front of the ear and of a full beard: sideburn, cheek
    below the cheekbone, jaw, chin and upper lip. Both reach past the face
    outline; the painter keeps only what lies on face skin."""
    sideburn = np.array([(ex - 1.0 * e, ey - 1.8 * e), (ex - 0.15 * e, ey - 1.8 * e),
                         (ex - 0.3 * e, ey + 0.45 * e), (ex - 0.9 * e, ey + 0.55 * e)], np.float64)
    beard = np.array([(ex - 1.0 * e, ey - 1.8 * e), (ex - 0.15 * e, ey - 1.8 * e), (ex - 0.2 * e, ey + 0.4 * e),
                      (ex + 0.5 * e, ey + 1.2 * e), (ex - 0.6 * e, ey + 3.0 * e), (ex - 2.6 * e, ey + 3.9 * e),
                      (ex - 4.6 * e, ey + 3.9 * e), (ex - 4.6 * e, ey + 0.95 * e), (ex - 3.0 * e, ey + 0.85 * e),
                      (ex - 2.0 * e, ey + 0.95 * e), (ex - 0.95 * e, ey + 0.55 * e)], np.float64)
    return sideburn, beard


@dataclass(frozen=True)
class _ScalpFrame:
    """The scalp region's bounding box on the canvas (px) and the sizes of this
    head drawn from it: ``vol`` (hair volume), ``margin`` (skull over scalp
    box, :data:`SKULL_MARGIN`) and ``ear`` (an ear semi-length, the side
    view's unit before the ear notch refines it)."""

    x0: float
    y0: float
    x1: float
    y1: float
    W: float  # box sides, at least 4 px
    H: float
    cx: float  # box centre
    cy: float
    vol: float
    margin: float
    ear: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x0, self.y0, self.x1, self.y1


@dataclass(frozen=True)
class _HeadParts:
    """The parts one view places around the scalp (see :class:`HeadLayout`)."""

    skull: Ellipse
    ears: list[Ellipse]
    whorl: tuple[float, float]
    ear_size: float
    face_dome: Ellipse | None = None
    face_poly: np.ndarray | None = None
    neck: np.ndarray | None = None
    body: list[np.ndarray] | None = None
    collar: np.ndarray | None = None
    extras: dict = field(default_factory=dict)


def layout_head(
    scalp: np.ndarray, view: str, look: Look, rng: np.random.Generator, detail: float = 1.0, hair_left: float = 1.0
) -> HeadLayout:
    """Place skull, hair mass, face, ears, neck and body around ``scalp``.

    ``scalp`` is the canvas-sized bool scalp mask in canonical orientation;
    ``view`` is ``top``, ``back`` or ``left`` (right views are rendered as
    left). ``hair_left`` (0..1) is the share of the scalp that still has
    hair: a bald head has no hair volume, so its outline hugs the scalp
    region. An empty mask gets a head in the middle of the canvas.
    """
    h, w = scalp.shape
    frame = _scalp_frame(scalp, look, rng, hair_left)
    if view == "top":
        parts = _top_parts(scalp, frame, look, rng)
    elif view == "back":
        parts = _back_parts(scalp, frame, look, rng)
    else:  # left (temporal): face to the image left, ear in the notch
        parts = _left_parts(scalp, frame, look, rng)
    skull_mask = np.zeros((h, w), np.uint8)
    parts.skull.fill(skull_mask)
    face_mask = _face_mask(parts.face_poly, skull_mask, frame, detail, rng)
    ear_mask = np.zeros((h, w), np.uint8)
    for el in parts.ears:
        el.fill(ear_mask)
    if view == "top" and "front" not in parts.extras:  # the forehead is the front of the same head
        face_mask &= skull_mask
    hair = _hair_region(scalp, view, parts, skull_mask, face_mask, ear_mask, frame, rng)
    return HeadLayout(
        view=view, shape=(h, w), cx=frame.cx, cy=frame.cy, width=frame.W, height=frame.H, skull=parts.skull,
        face_dome=parts.face_dome, face_poly=parts.face_poly, ears=parts.ears, neck=parts.neck, body=parts.body,
        collar=parts.collar, scalp=scalp, hair_region=hair, face_mask=face_mask > 0, ear_mask=ear_mask > 0,
        skull_mask=skull_mask > 0, whorl=parts.whorl, ear_size=float(parts.ear_size), extras=parts.extras,
    )


def _scalp_frame(scalp: np.ndarray, look: Look, rng: np.random.Generator, hair_left: float) -> _ScalpFrame:
    """The scalp's box (the canvas middle when the mask is empty) and this
    head's hair volume, skull margin and ear size."""
    h, w = scalp.shape
    box = _bbox(scalp)
    if box is None:
        box = (0.3 * w, 0.25 * h, 0.7 * w, 0.75 * h)
    x0, y0, x1, y1 = box
    W, H = max(x1 - x0, 4.0), max(y1 - y0, 4.0)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    vol = look.hair_volume * rng.uniform(0.8, 1.2) * float(np.clip(hair_left, 0.0, 1.0)) ** 0.7
    # the head (skull) reaches beyond the scalp region even without hair: the
    # region is a rounded shape inside the head's outline
    margin = float(rng.uniform(*SKULL_MARGIN))
    e = 0.13 * H * rng.uniform(0.9, 1.1)
    return _ScalpFrame(x0, y0, x1, y1, W, H, cx, cy, vol, margin, e)


def _top_parts(scalp: np.ndarray, f: _ScalpFrame, look: Look, rng: np.random.Generator) -> _HeadParts:
    """One egg-shaped head seen from above: crown towards the image top,
    forehead below the frontal hairline (the scalp's lower edge), ears and
    shoulders either side."""
    h = scalp.shape[0]
    y0, y1, W, H, cx, cy = f.y0, f.y1, f.W, f.H, f.cx, f.cy
    extras: dict = {}
    front = FRONT_TOP_SHARE > 0 and rng.random() < FRONT_TOP_SHARE  # no draw with the default 0
    below = rng.uniform(0.18, 0.32)
    skull = Ellipse(cx + rng.normal(0, 0.02) * W, cy - 0.04 * H + 0.5 * below * H,
                    0.5 * W * (f.margin + f.vol), 0.5 * H * (f.margin - 0.02 + 0.8 * f.vol + below), rng.normal(0, 2))
    bottom = skull.cy + skull.ay
    face_poly = _forehead(scalp, f.box, skull, rng)
    if front and face_poly is not None:
        face_poly, extras["front"] = _front_face(face_poly, f.box, h, rng)
    ears: list[Ellipse] = []
    for side in (-1, 1):
        ex = cx + side * (skull.ax * rng.uniform(0.9, 1.0))
        ears.append(Ellipse(ex, bottom - rng.uniform(0.25, 0.4) * H, 0.06 * W, 0.13 * H, side * 12))
    # shoulders seen from above: two rounded masses either side of the head
    sy = y1 + rng.uniform(-0.05, 0.2) * H
    spread = W * rng.uniform(0.75, 1.0)
    body = [Ellipse(cx + side * spread, sy + rng.normal(0, 0.04) * H, W * rng.uniform(0.55, 0.75),
                    H * rng.uniform(0.35, 0.55), side * rng.uniform(5, 25)).polygon() for side in (-1, 1)]
    body = [body[0], Ellipse(cx, sy + 0.1 * H, spread, 0.4 * H).polygon(), body[1]]
    whorl = (cx + (look.whorl_offset[0] + rng.normal(0, 0.02)) * W, y0 + (0.2 + look.whorl_offset[1]) * H)
    return _HeadParts(skull, ears, whorl, f.ear, face_poly=face_poly, body=body, extras=extras)


def _back_parts(scalp: np.ndarray, f: _ScalpFrame, look: Look, rng: np.random.Generator) -> _HeadParts:
    """The back of the head: skull, neck below the scalp, the ears' backs
    either side, shoulders and a collar."""
    h = scalp.shape[0]
    y0, y1, W, H, cx, cy = f.y0, f.y1, f.W, f.H, f.cx, f.cy
    skull = Ellipse(cx + rng.normal(0, 0.02) * W, cy - 0.05 * H,
                    0.5 * W * (f.margin + 0.01 + f.vol), 0.5 * H * (f.margin + f.vol * 0.8), rng.normal(0, 2))
    nw = W * rng.uniform(0.27, 0.34)
    top_y = y1 - 0.3 * H
    neck = np.array([[cx - nw, top_y], [cx + nw, top_y], [cx + nw * 1.05, y1 + 0.45 * H],
                     [cx + nw * 1.6, h + 5], [cx - nw * 1.6, h + 5], [cx - nw * 1.05, y1 + 0.45 * H]])
    ears: list[Ellipse] = []
    for side in (-1, 1):
        ex = cx + side * (0.5 * W + rng.uniform(0.0, 0.07) * W)
        ears.append(Ellipse(ex, y1 - rng.uniform(0.15, 0.3) * H, 0.07 * W, 0.16 * H, side * 10))
    sy = y1 + rng.uniform(0.3, 0.6) * H
    body = [np.array([[cx - 2.2 * W, h + 5], [cx - 1.5 * W, sy + 0.35 * H], [cx - 0.9 * W, sy + 0.06 * H],
                      [cx - nw * 1.5, sy - 0.04 * H], [cx + nw * 1.5, sy - 0.04 * H],
                      [cx + 0.9 * W, sy + 0.06 * H], [cx + 1.5 * W, sy + 0.35 * H], [cx + 2.2 * W, h + 5]])]
    collar = np.array([[cx - nw * 1.55, sy - 0.04 * H], [cx - nw * 0.8, sy + 0.0 * H], [cx, sy + 0.02 * H],
                       [cx + nw * 0.8, sy + 0.0 * H], [cx + nw * 1.55, sy - 0.04 * H]])
    whorl = (cx + (look.whorl_offset[0] + rng.normal(0, 0.02)) * W, y0 - 0.02 * H)
    return _HeadParts(skull, ears, whorl, f.ear, neck=neck, body=body, collar=collar)


def _left_parts(scalp: np.ndarray, f: _ScalpFrame, look: Look, rng: np.random.Generator) -> _HeadParts:
    """A left (temporal) view: face to the image left, the ear in the scalp's
    notch; face, neck and body are placed in ear lengths from it."""
    h = scalp.shape[0]
    x0, y0, x1, y1, W, H, cx, cy = f.x0, f.y0, f.x1, f.y1, f.W, f.H, f.cx, f.cy
    e = f.ear
    notch = find_notch(scalp, f.box)
    if notch is None:
        ecx, ecy = x0 + 0.45 * W, y1 - 0.12 * H
    else:
        ecx, ecy, esz = notch
        e = float(np.clip(esz * rng.uniform(0.45, 0.6), 0.1 * H, 0.17 * H))
    ear = Ellipse(ecx + rng.normal(0, 0.03) * W, ecy + 0.35 * e, 0.58 * e * rng.uniform(0.85, 1.0), e,
                  rng.uniform(-22, 5))
    skull = Ellipse(cx + 0.07 * W, cy - 0.04 * H,
                    0.5 * W * (f.margin + f.vol), 0.5 * H * (f.margin + f.vol * 0.8), rng.normal(0, 3))
    # the front hairline: the scalp's leftmost column at the eye's height
    rows = scalp[int(np.clip(ear.cy - e, 0, h - 1))]
    hx = float(np.argmax(rows)) if rows.any() else x0
    face_poly = _side_profile(ear.cx, ear.cy, e, hx, y0, rng)
    face_dome = Ellipse(ear.cx - 2.0 * e, ear.cy + 0.3 * e, 2.6 * e, 3.3 * e)
    extras = _side_features(ear, e, rng)
    neck, body, collar = _side_neck_and_body(ear, e, x1, W, h, rng)
    whorl = (x1 - (0.2 - look.whorl_offset[0]) * W, y0 - 0.05 * H)
    return _HeadParts(skull, [ear], whorl, e, face_dome=face_dome, face_poly=face_poly, neck=neck, body=body,
                      collar=collar, extras=extras)


def _side_features(ear: Ellipse, e: float, rng: np.random.Generator) -> dict:
    """Where brow and eye of a side view lie and how they look (individual
    brow thickness, arch and darkness; eye size), and the outlines of a
    sideburn and a beard."""
    extras: dict = {}
    extras["brow"] = (ear.cx - 3.1 * e + rng.normal(0, 0.1) * e, ear.cy - 1.05 * e + rng.normal(0, 0.1) * e)
    extras["eye"] = (ear.cx - 2.9 * e + rng.normal(0, 0.1) * e, ear.cy - 0.55 * e + rng.normal(0, 0.08) * e)
    extras["brow_style"] = (rng.uniform(0.1, 0.22), rng.uniform(-0.1, 0.2), rng.uniform(0.35, 0.85))
    extras["eye_scale"] = rng.uniform(0.8, 1.2)
    extras["sideburn"], extras["beard"] = _beard_outlines(ear.cx, ear.cy, e)
    return extras


def _side_neck_and_body(ear: Ellipse, e: float, x1: float, W: float, h: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    """Float polygons of neck and shoulders and the collar polyline of a side
    view, from the ear in ear semi-lengths ``e`` (the nape stays inside the
    scalp box, which ends at ``x1`` and is ``W`` wide)."""
    nx = ear.cx + 0.9 * e
    nape = min(x1 - 0.08 * W, ear.cx + rng.uniform(2.2, 3.0) * e)
    neck = np.array([[ear.cx - 1.0 * e, ear.cy + 2.2 * e], [ear.cx + 0.2 * e, ear.cy + 0.6 * e],
                     [nape, ear.cy - 0.5 * e], [nape + 0.2 * e, ear.cy + 2.5 * e],
                     [nape + 0.6 * e, h + 5], [ear.cx - 3.0 * e, h + 5], [ear.cx - 2.6 * e, ear.cy + 3.2 * e]])
    sy = ear.cy + rng.uniform(4.5, 6.0) * e
    body = [np.array([[nx - 6 * e, h + 5], [nx - 5 * e, sy + 0.8 * e], [nx - 2.5 * e, sy],
                      [nx + 2.0 * e, sy + 0.2 * e], [nx + 4.5 * e, sy + 1.2 * e], [nx + 7 * e, h + 5]])]
    collar = np.array([[nx - 3.2 * e, sy + 0.1 * e], [nx - 0.8 * e, sy + 0.3 * e], [nx + 2.2 * e, sy + 0.2 * e]])
    return neck, body, collar


def _face_mask(face_poly: np.ndarray | None, skull_mask: np.ndarray, f: _ScalpFrame, detail: float,
               rng: np.random.Generator) -> np.ndarray:
    """uint8 mask of face skin: the polygon, with a ragged edge where it meets
    the hair on the skull (its outline against the backdrop stays clean)."""
    h, w = skull_mask.shape
    face_mask = np.zeros((h, w), np.uint8)
    if face_poly is not None:
        cv2.fillPoly(face_mask, [np.round(face_poly * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        fm: np.ndarray = cv2.GaussianBlur(face_mask.astype(np.float32), (0, 0), max(1.0, 1.5 * detail))
        fm += 0.18 * smooth_noise((h, w), int(max(8, 2.5 * max(f.W, f.H) / max(detail, 1.0) / 6)), rng)
        face_mask = np.where(skull_mask > 0, fm > 0.5, face_mask > 0).astype(np.uint8)
    return face_mask


def _hair_region(scalp: np.ndarray, view: str, parts: _HeadParts, skull_mask: np.ndarray, face_mask: np.ndarray,
                 ear_mask: np.ndarray, f: _ScalpFrame, rng: np.random.Generator) -> np.ndarray:
    """Where terminal hair grows: the skull less the face, the nape hair down
    the neck, the scalp itself; not on the ears (except from above)."""
    h, w = scalp.shape
    hair = (skull_mask > 0) & (face_mask == 0)
    if parts.neck is not None:
        neck_mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(neck_mask, [np.round(parts.neck).astype(np.int32)], 1)
        below = _below_edge(scalp, _nape_drop(w, f, rng))
        on_neck = neck_mask > 0
        if view != "top":
            nape = on_neck & ~below
            if view == "left":  # only behind the ear, not down the cheek
                ear = parts.ears[0]
                nape[:, : int(np.clip(ear.cx + 0.3 * ear.ax, 0, w))] = False
            hair |= nape
        hair &= ~(on_neck & below)
    hair |= scalp
    if view != "top":
        hair &= ear_mask == 0
    return hair


def _nape_drop(w: int, f: _ScalpFrame, rng: np.random.Generator) -> np.ndarray | float:
    """How far (px, per column) hair goes on below the scalp region: in most
    heads down the nape (behind the ear in side views) with a ragged edge,
    otherwise it ends near the region's lower edge."""
    if rng.random() < NAPE_HAIR_SHARE:
        ragged = smooth_noise((1, w), int(max(4, w / max(f.W, 1.0) * 5)), rng)[0]
        return (rng.uniform(0.06, 0.22) + 0.04 * ragged) * f.H
    return np.full(w, rng.uniform(-0.01, 0.04) * f.H)


def _below_edge(scalp: np.ndarray, slack: float | np.ndarray) -> np.ndarray:
    """Pixels below the lowest scalp pixel of their column (plus ``slack``, one
    number or one per column); columns without scalp count as below everywhere."""
    h, w = scalp.shape
    any_col = scalp.any(axis=0)
    last = h - 1 - np.argmax(scalp[::-1], axis=0)
    last = np.where(any_col, last + slack, -1)
    return np.arange(h)[:, None] > last[None, :]


def paint_body(img: np.ndarray, layout: HeadLayout, look: Look, rng: np.random.Generator, detail: float) -> None:
    """The neck, then shoulders and clothes (with soft folds) over its lower
    part, and a collar along the neckline (in place on a float32 canvas)."""
    h, w = layout.shape
    cloth = np.asarray(look.clothing_rgb, np.float32)
    soft = 0.6 * detail
    if layout.neck is not None:
        fill_soft(img, [layout.neck], np.asarray(look.skin_rgb, np.float32) * 0.97, soft)
    if layout.body is not None:  # fabric with soft folds (smooth: made at quarter size)
        small = (max(2, h // 4), max(2, w // 4))
        col = np.clip(cloth * (1.0 + 0.08 * smooth_noise(small, 7, rng))[..., None], 0, 1).astype(np.float32)
        if look.clothing_pattern != "plain":  # stripes or checks, a little askew
            period = max(2.0, layout.size * rng.uniform(0.03, 0.09) / 4.0)
            a = rng.uniform(-0.3, 0.3)
            yy, xx = np.mgrid[0 : small[0], 0 : small[1]].astype(np.float32)
            on = np.sin((yy * np.cos(a) + xx * np.sin(a)) * np.float32(2 * np.pi / period)) > 0
            if look.clothing_pattern == "check":
                on ^= np.sin((xx * np.cos(a) - yy * np.sin(a)) * np.float32(2 * np.pi / period)) > 0
            second = np.clip(rng.uniform(0.1, 0.9, 3) if rng.random() < 0.5 else cloth * rng.uniform(0.3, 0.6), 0, 1)
            col = np.where(on[..., None], col, (col * 0.3 + second * 0.7).astype(np.float32)).astype(np.float32)
        fill_soft(img, layout.body, cv2.resize(col, (w, h), interpolation=cv2.INTER_LINEAR), soft)
    if layout.collar is not None and look.collar_kind != "none":
        th = max(2, int(layout.size * (0.05 if look.collar_kind == "shirt" else 0.028)))
        col = np.clip(cloth * 1.15 + 0.05, 0, 1) if look.collar_kind == "shirt" else cloth * 0.65
        if look.collar_kind == "gown":
            col = np.clip(cloth * 1.3, 0, 1)
        band = np.round(layout.collar * 16).astype(np.int32)
        cv2.polylines(img, [band], False, tuple(float(c) for c in col), th, cv2.LINE_8, 4)


def paint_face(img: np.ndarray, layout: HeadLayout, look: Look, detail: float) -> None:
    """Face/forehead skin with eyebrows, the eye (side view) and the nose tip
    (top view), in place on the float32 canvas."""
    if layout.face_poly is None:
        return
    skin = np.asarray(look.skin_rgb, np.float32)
    ys, xs = np.nonzero(layout.face_mask[:: max(1, int(detail)), :: max(1, int(detail))])
    if ys.size:  # paint the (ragged, clipped) face mask with soft edges, within its box
        k = max(1, int(detail))
        m = int(0.1 * layout.size) + 2
        y0, y1 = max(0, ys.min() * k - m), min(layout.shape[0], ys.max() * k + m + k)
        x0, x1 = max(0, xs.min() * k - m), min(layout.shape[1], xs.max() * k + m + k)
        # Skin colour changes gently from scalp to face inside the skull (the
        # hairline itself is drawn by the hair); against the backdrop the
        # face keeps a crisp outline.
        face = layout.face_mask[y0:y1, x0:x1].astype(np.float32)
        soft = wide_blur(face, 0.03 * layout.size)
        crisp = cv2.GaussianBlur(face, (0, 0), 0.6 * detail)
        on_skull = layout.skull_mask[y0:y1, x0:x1]
        a = np.where(on_skull, soft, crisp)
        roi = img[y0:y1, x0:x1]
        roi += (skin - roi) * a[..., None]
    brow = tuple(float(c) for c in np.clip(np.asarray(look.hair_rgb, np.float32) * 1.2 + 0.05, 0, 1))
    e = layout.ear_size
    if layout.view == "left":
        bx, by = layout.extras["brow"]
        thick, arch, dark = layout.extras["brow_style"]
        pts = np.array([[bx - 0.9 * e, by + 0.1 * e], [bx - 0.3 * e, by - arch * e], [bx + 0.45 * e, by + 0.05 * e]])
        brow_img = img.copy()
        cv2.polylines(brow_img, [np.round(pts * 16).astype(np.int32)], False, brow, max(1, int(thick * e)),
                      cv2.LINE_AA, 4)
        cv2.addWeighted(brow_img, dark, img, 1.0 - dark, 0, dst=img)
        ex, ey = layout.extras["eye"]
        k = layout.extras["eye_scale"] * e
        eye = ellipse_poly(ex - 0.35 * e, ey, 0.36 * k, 0.12 * k, 6)
        fill_soft(img, [eye], np.array([0.85, 0.82, 0.8], np.float32) * skin.mean() ** 0.3, 0.3 * detail)
        iris = ellipse_poly(ex - 0.35 * e - 0.2 * k, ey, 0.12 * k, 0.11 * k)
        fill_soft(img, [iris], np.array([0.12, 0.08, 0.06], np.float32), 0.3 * detail)
        lid = ellipse_poly(ex - 0.35 * e, ey - 0.1 * k, 0.42 * k, 0.07 * k, 6)
        fill_soft(img, [lid], skin * 0.55, 0.5 * detail, 0.8)
    elif layout.view == "top" and "front" in layout.extras:
        _paint_front_features(img, layout.extras["front"], skin, brow, detail)


def _paint_front_features(img: np.ndarray, f: dict, skin: np.ndarray, brow: tuple, detail: float) -> None:
    """Brows, eyes and nose tip of a top view shot from in front (foreshortened:
    seen from above, the features are flattened vertically)."""
    cx, by, g, arch = f["cx"], f["brow_y"], f["eye_gap"], f["arch"]
    w = f["half"] * 0.42
    brow_img = img.copy()
    for side in (-1, 1):
        inner, outer = cx + side * 0.5 * g, cx + side * (0.5 * g + w)
        pts = np.array([[inner, by], [0.5 * (inner + outer), by - arch], [outer, by + 0.3 * arch]])
        cv2.polylines(brow_img, [np.round(pts * 16).astype(np.int32)], False, brow, max(1, int(f["thick"])),
                      cv2.LINE_AA, 4)
    cv2.addWeighted(brow_img, f["dark"], img, 1.0 - f["dark"], 0, dst=img)
    ey = by + 1.6 * f["thick"] + arch
    for side in (-1, 1):
        ex = cx + side * (0.5 * g + 0.5 * w)
        fill_soft(img, [ellipse_poly(ex, ey, 0.45 * w, 0.12 * w)], skin * 0.45, 0.5 * detail)
        fill_soft(img, [ellipse_poly(ex, ey + 0.02 * w, 0.2 * w, 0.08 * w)], np.array([0.1, 0.07, 0.05], np.float32),
                  0.3 * detail)
    ny = ey + 0.5 * w
    fill_soft(img, [ellipse_poly(cx, ny, 0.16 * w, 0.55 * w)], skin * 1.08, 1.5 * detail, 0.7)
    for side in (-1, 1):
        fill_soft(img, [ellipse_poly(cx + side * 0.1 * w, ny + 0.5 * w, 0.06 * w, 0.035 * w)], skin * 0.35,
                  0.5 * detail, 0.8)


def paint_beard(img: np.ndarray, layout: HeadLayout, look: Look, rng: np.random.Generator, detail: float) -> None:
    """Facial hair of a side view (``look.beard``) on the face skin, in place on
    the float32 canvas: stubble as fine dark grain, sideburns and full beards as
    short hairs along the jaw. It lies outside the scalp region, so it teaches
    the scalp network that hair-like texture on the cheek is not scalp."""
    if layout.view != "left" or look.beard == "none" or "beard" not in layout.extras:
        return
    # its own stream (spawning does not advance ``rng``): the rest of the
    # photograph is drawn exactly as without a beard
    rng = rng.spawn(1)[0]
    poly = layout.extras["sideburn" if look.beard == "sideburns" else "beard"]
    mask = np.zeros(layout.shape, np.uint8)
    cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    region = (mask > 0) & layout.face_mask & ~layout.hair_region
    ys, xs = np.nonzero(region)
    if ys.size == 0:
        return
    m = int(2 + 3 * detail)
    y0, y1 = max(0, ys.min() - m), min(layout.shape[0], ys.max() + m + 1)
    x0, x1 = max(0, xs.min() - m), min(layout.shape[1], xs.max() + m + 1)
    bh, bw = y1 - y0, x1 - x0
    # a soft, ragged edge and patchy growth
    soft = cv2.GaussianBlur(region[y0:y1, x0:x1].astype(np.float32), (0, 0), max(1.0, 2.0 * detail))
    soft += 0.2 * smooth_noise((bh, bw), 6, rng)
    alpha = np.clip((soft - 0.3) / 0.4, 0.0, 1.0)
    alpha *= np.clip(0.8 + 0.25 * smooth_noise((bh, bw), 5, rng), 0.3, 1.0)
    grain = rng.random((bh, bw), dtype=np.float32)
    if look.beard == "stubble":  # separate dark points: hair stumps
        cover = cv2.GaussianBlur((grain < 0.55 * look.beard_density).astype(np.float32), (0, 0), 0.45 * detail)
        cover = np.clip(cover * 2.0, 0.0, 0.9)
    else:  # short hairs pointing down and back along the jaw
        k = max(3, int(round(3.5 * detail)) | 1)
        line = np.zeros((k, k), np.float32)
        cv2.line(line, (k // 2 - k // 4, 0), (k // 2 + k // 4, k - 1), 1.0, 1)
        strands = cv2.filter2D((grain < 0.4).astype(np.float32), -1, line / line.sum())
        cover = np.clip(strands * 2.2 * look.beard_density + 0.25 * look.beard_density, 0.0, 0.97)
    hair = np.asarray(look.hair_rgb, np.float32)
    colour = hair * (1.0 - look.grey_fraction) + np.float32(0.82) * look.grey_fraction
    roi = img[y0:y1, x0:x1]
    roi += (colour - roi) * (alpha * cover)[..., None]


def draw_glasses(canvas: np.ndarray, layout: HeadLayout, look: Look, detail: float) -> None:
    """Spectacle frame and arms towards the ears, in place on a uint8 canvas."""
    if not look.glasses or layout.view == "top":  # from above, glasses hide under the head
        return
    col = tuple(float(c) * 255 for c in look.glasses_rgb)
    th = max(1, int(round(1.6 * detail)))
    e = layout.ear_size
    for el in layout.ears:
        top = np.array([el.cx, el.cy - 0.8 * el.ay])
        if layout.view == "left":
            ex, ey = layout.extras["eye"]
            front = np.array([ex - 0.2 * e, ey - 0.05 * e])
            rim = ellipse_poly(ex - 0.9 * e, ey + 0.1 * e, 0.5 * e, 0.55 * e, 0, 24)
            cv2.polylines(canvas, [np.round(rim * 16).astype(np.int32)], True, col, th, cv2.LINE_AA, 4)
        else:  # back: only the arms behind the ears show
            front = top + np.array([np.sign(el.cx - layout.cx) * 0.7 * el.ax, 0.2 * el.ay])
        pts = np.array([front, top + np.array([0.0, 0.1 * el.ay])])
        cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, col, th, cv2.LINE_AA, 4)
