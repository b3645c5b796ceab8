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
ear in the notch under the scalp arch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from alonet.phantom.render.look import Look


@dataclass(frozen=True)
class Ellipse:
    """An axis-aligned-then-rotated ellipse (centre, semi-axes, angle in degrees)."""

    cx: float
    cy: float
    ax: float
    ay: float
    angle: float = 0.0

    def polygon(self, step: int = 6) -> np.ndarray:
        """Outline as an int32 polygon (N, 2)."""
        return cv2.ellipse2Poly(
            (int(round(self.cx)), int(round(self.cy))),
            (max(1, int(round(self.ax))), max(1, int(round(self.ay)))),
            int(round(self.angle)), 0, 360, step,
        )

    def fill(self, mask: np.ndarray, value: int = 1) -> None:
        cv2.fillPoly(mask, [self.polygon()], value)


@dataclass
class HeadLayout:
    """Where each part of the head lies on the canvas (canonical orientation).

    ``scalp`` is the annotated scalp region on the canvas; ``hair_region`` the
    area where terminal hair grows (the scalp plus the hair mass beyond it);
    ``face``, ``neck``, ``ears`` and ``body`` are skin or clothing areas that
    are never hair-bearing. ``skull`` is the dome used for shading.
    """

    view: str
    shape: tuple[int, int]  # canvas (height, width)
    cx: float  # scalp bounding-box centre
    cy: float
    width: float  # scalp bounding-box size (px)
    height: float
    skull: Ellipse
    face: Ellipse | None
    ears: list[Ellipse]
    neck: np.ndarray | None  # polygon
    body: np.ndarray | None  # polygon (shoulders and clothes)
    collar: np.ndarray | None  # polyline along the neckline
    hair_region: np.ndarray  # bool (h, w)
    face_mask: np.ndarray  # bool (h, w): face/forehead skin
    ear_mask: np.ndarray  # bool (h, w)
    whorl: tuple[float, float]  # crown whorl position (px)
    extras: dict = field(default_factory=dict)

    @property
    def size(self) -> float:
        return float(np.sqrt(max(self.width, 2.0) * max(self.height, 2.0)))


def _bbox(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return None
    return float(xs[0]), float(ys[0]), float(xs[-1] + 1), float(ys[-1] + 1)


def _find_notch(scalp: np.ndarray, box: tuple[float, float, float, float]) -> tuple[float, float, float] | None:
    """Centre and size of the ear notch of a temporal scalp region: the largest
    gap between the region and its convex hull in the lower half of the box."""
    pts = cv2.findNonZero(scalp.astype(np.uint8))
    if pts is None or len(pts) < 10:
        return None
    hull = np.zeros(scalp.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(pts), 1)
    gap = (hull > 0) & ~scalp
    x0, y0, x1, y1 = box
    gap[: int(y0 + 0.35 * (y1 - y0))] = False
    n, lab, stats, cents = cv2.connectedComponentsWithStats(gap.astype(np.uint8), connectivity=4)
    if n <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = stats[best, cv2.CC_STAT_AREA]
    if area < 0.01 * (x1 - x0) * (y1 - y0):
        return None
    return float(cents[best][0]), float(cents[best][1]), float(np.sqrt(area))


def layout_head(scalp: np.ndarray, view: str, look: Look, rng: np.random.Generator) -> HeadLayout:
    """Place skull, hair mass, face, ears, neck and body around ``scalp``.

    ``scalp`` is the canvas-sized bool scalp mask in canonical orientation;
    ``view`` is ``top``, ``back`` or ``left`` (right views are rendered as
    left). An empty mask gets a head in the middle of the canvas.
    """
    h, w = scalp.shape
    box = _bbox(scalp)
    if box is None:
        box = (0.3 * w, 0.25 * h, 0.7 * w, 0.75 * h)
    x0, y0, x1, y1 = box
    W, H = max(x1 - x0, 4.0), max(y1 - y0, 4.0)
    cx, cy = (x0 + x1) / 2.0, (y0 + y1) / 2.0
    vol = look.hair_volume * rng.uniform(0.85, 1.15)
    ears: list[Ellipse] = []
    face = neck = body = collar = None
    extras: dict = {}

    if view == "top":
        skull = Ellipse(cx + rng.normal(0, 0.02) * W, cy - 0.04 * H,
                        0.5 * W * (1.08 + vol), 0.5 * H * (1.04 + vol * 0.8), rng.normal(0, 2))
        face = Ellipse(cx + rng.normal(0, 0.02) * W, y1 + rng.uniform(0.12, 0.22) * H,
                       W * rng.uniform(0.36, 0.44), H * rng.uniform(0.28, 0.36))
        for side in (-1, 1):
            ex = cx + side * (0.5 * W + rng.uniform(0.0, 0.06) * W)
            ears.append(Ellipse(ex, y1 - rng.uniform(0.0, 0.12) * H, 0.06 * W, 0.13 * H, side * 8))
        body = Ellipse(cx, y1 + 0.05 * H, W * rng.uniform(1.05, 1.35), H * rng.uniform(0.45, 0.7)).polygon()
        whorl = (cx + (look.whorl_offset[0] + rng.normal(0, 0.02)) * W,
                 y0 + (0.22 + look.whorl_offset[1]) * H)
    elif view == "back":
        skull = Ellipse(cx + rng.normal(0, 0.02) * W, cy - 0.06 * H,
                        0.5 * W * (1.08 + vol), 0.5 * H * (1.06 + vol * 0.8), rng.normal(0, 2))
        nw = W * rng.uniform(0.26, 0.34)
        top_y = y1 - 0.25 * H
        neck = np.array([[cx - nw, top_y], [cx + nw, top_y], [cx + nw * 1.08, y1 + 0.5 * H],
                         [cx + nw * 1.5, h + 5], [cx - nw * 1.5, h + 5], [cx - nw * 1.08, y1 + 0.5 * H]],
                        np.int32)
        for side in (-1, 1):
            ex = cx + side * (0.5 * W + rng.uniform(0.02, 0.08) * W)
            ears.append(Ellipse(ex, y1 - rng.uniform(0.18, 0.3) * H, 0.07 * W, 0.16 * H, side * 10))
        shoulder_y = y1 + rng.uniform(0.35, 0.6) * H
        body = np.array([[cx - 2 * W, h + 5], [cx - 1.3 * W, shoulder_y + 0.25 * H],
                         [cx - 0.8 * W, shoulder_y], [cx - nw * 1.3, shoulder_y - 0.05 * H],
                         [cx + nw * 1.3, shoulder_y - 0.05 * H], [cx + 0.8 * W, shoulder_y],
                         [cx + 1.3 * W, shoulder_y + 0.25 * H], [cx + 2 * W, h + 5]], np.int32)
        collar = np.array([[cx - nw * 1.4, shoulder_y - 0.04 * H], [cx, shoulder_y + 0.03 * H],
                           [cx + nw * 1.4, shoulder_y - 0.04 * H]], np.int32)
        whorl = (cx + (look.whorl_offset[0] + rng.normal(0, 0.02)) * W, y0 - 0.05 * H)
    else:  # left (temporal): face to the image left, ear in the notch
        notch = _find_notch(scalp, box)
        if notch is None:
            ecx, ecy, esz = x0 + 0.45 * W, y1 - 0.1 * H, 0.25 * np.sqrt(W * H)
        else:
            ecx, ecy, esz = notch
        # semi-axes: an adult ear is about a quarter of the scalp arch's height
        ear_h = float(np.clip(esz * rng.uniform(0.45, 0.6), 0.1 * H, 0.17 * H))
        ear = Ellipse(ecx + rng.normal(0, 0.03) * W, ecy + 0.45 * ear_h, 0.6 * ear_h * rng.uniform(0.85, 1.0),
                      ear_h, rng.uniform(-25, 5))
        ears.append(ear)
        skull = Ellipse(cx + 0.06 * W, cy - 0.05 * H,
                        0.5 * W * (1.06 + vol), 0.5 * H * (1.06 + vol * 0.8), rng.normal(0, 3))
        # face: forehead, temple and cheek in front of the front hairline
        face = Ellipse(x0 - rng.uniform(0.05, 0.2) * W, cy + rng.uniform(0.15, 0.3) * H,
                       W * rng.uniform(0.32, 0.42), H * rng.uniform(0.5, 0.65), rng.uniform(-10, 10))
        extras["brow"] = (x0 - 0.2 * W, ear.cy - 0.35 * ear_h)
        nw = W * rng.uniform(0.22, 0.3)
        nx = ear.cx + 0.45 * W
        neck = np.array([[nx - nw, ear.cy], [nx + nw, y1 - 0.25 * H], [nx + nw * 1.1, h + 5],
                         [nx - nw * 1.4, h + 5]], np.int32)
        shoulder_y = max(y1, ear.cy + ear_h) + rng.uniform(0.3, 0.5) * H
        body = np.array([[nx - 1.6 * W, h + 5], [nx - 1.1 * W, shoulder_y + 0.2 * H],
                         [nx - 0.3 * W, shoulder_y], [nx + 0.6 * W, shoulder_y + 0.05 * H],
                         [nx + 1.3 * W, shoulder_y + 0.3 * H], [nx + 1.6 * W, h + 5]], np.int32)
        collar = np.array([[nx - 0.9 * nw, shoulder_y + 0.02 * H], [nx + nw * 1.2, shoulder_y + 0.06 * H]],
                          np.int32)
        whorl = (x1 - (0.15 - look.whorl_offset[0]) * W, y0 - 0.05 * H)

    face_mask = np.zeros((h, w), np.uint8)
    if face is not None:
        face.fill(face_mask)
    ear_mask = np.zeros((h, w), np.uint8)
    for e in ears:
        e.fill(ear_mask)
    skull_mask = np.zeros((h, w), np.uint8)
    skull.fill(skull_mask)
    hair = (skull_mask > 0) & (face_mask == 0)
    if neck is not None:
        neck_mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(neck_mask, [neck], 1)
        # the nape hairline: hair stops a little below the scalp region's lower edge
        below = _below_edge(scalp, rng.uniform(0.0, 0.04) * H)
        hair &= ~((neck_mask > 0) & below)
    hair |= scalp
    if view != "top":
        hair &= ear_mask == 0
    return HeadLayout(
        view=view, shape=(h, w), cx=cx, cy=cy, width=W, height=H, skull=skull, face=face,
        ears=ears, neck=neck, body=body, collar=collar, hair_region=hair,
        face_mask=face_mask > 0, ear_mask=ear_mask > 0, whorl=whorl, extras=extras,
    )


def _below_edge(scalp: np.ndarray, slack: float) -> np.ndarray:
    """Pixels below the lowest scalp pixel of their column (plus ``slack``);
    columns without scalp count as below everywhere."""
    h, w = scalp.shape
    any_col = scalp.any(axis=0)
    last = h - 1 - np.argmax(scalp[::-1], axis=0)
    last = np.where(any_col, last + slack, -1)
    return np.arange(h)[:, None] > last[None, :]


def paint_body(albedo: np.ndarray, layout: HeadLayout, look: Look, rng: np.random.Generator) -> None:
    """Shoulders and clothes with soft folds, and a collar along the neckline
    (in place on a float32 canvas)."""
    if layout.body is None:
        return
    h, w = layout.shape
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [layout.body], 1)
    cloth = np.asarray(look.clothing_rgb, np.float32)
    folds = cv2.resize(rng.standard_normal((6, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    shade = (1.0 + 0.08 * folds)[..., None]
    sel = m > 0
    albedo[sel] = np.clip(cloth * shade, 0, 1)[sel]
    if layout.collar is not None and look.collar_kind != "none":
        th = max(2, int(layout.size * (0.05 if look.collar_kind == "shirt" else 0.025)))
        col = cloth * (1.25 if look.collar_kind == "gown" else 0.7)
        if look.collar_kind == "shirt":
            col = np.clip(cloth * 1.15 + 0.05, 0, 1)
        cv2.polylines(albedo, [layout.collar], False, tuple(float(c) for c in np.clip(col, 0, 1)), th, cv2.LINE_AA)


def draw_face_features(albedo: np.ndarray, layout: HeadLayout, look: Look) -> None:
    """Eyebrows (and the outer eye corner in side views) on the face, drawn in
    place on the float32 canvas; they sit where the face is visible."""
    if layout.face is None:
        return
    brow = np.clip(np.asarray(look.hair_rgb, np.float32) * 1.1 + 0.04, 0, 1)
    f = layout.face
    th = max(1, int(layout.size * 0.03))
    if layout.view == "left" and "brow" in layout.extras:
        bx, by = layout.extras["brow"]
        pts = np.array([[bx - 0.5 * f.ax, by + 0.02 * f.ay], [bx - 0.1 * f.ax, by - 0.04 * f.ay],
                        [bx + 0.25 * f.ax, by + 0.02 * f.ay]], np.int32)
        cv2.polylines(albedo, [pts], False, tuple(float(c) for c in brow), th, cv2.LINE_AA)
        eye = Ellipse(bx - 0.3 * f.ax, by + 0.22 * f.ay, 0.18 * f.ax, 0.05 * f.ay, 8)
        cv2.fillPoly(albedo, [eye.polygon()], tuple(float(c) for c in np.asarray(look.skin_rgb) * 0.45))
    elif layout.view == "top":
        by = f.cy + 0.6 * f.ay
        for side in (-1, 1):
            pts = np.array([[f.cx + side * 0.12 * f.ax, by], [f.cx + side * 0.45 * f.ax, by - 0.06 * f.ay],
                            [f.cx + side * 0.75 * f.ax, by + 0.05 * f.ay]], np.int32)
            cv2.polylines(albedo, [pts], False, tuple(float(c) for c in brow), th, cv2.LINE_AA)


def draw_glasses(canvas: np.ndarray, layout: HeadLayout, look: Look, detail: float) -> None:
    """Spectacle frame and arms towards the ears, in place on a uint8 canvas."""
    if not look.glasses:
        return
    col = tuple(float(c) * 255 for c in look.glasses_rgb)
    th = max(1, int(round(1.8 * detail)))
    for e in layout.ears:
        top = np.array([e.cx, e.cy - 0.8 * e.ay])
        if layout.view == "left" and layout.face is not None:
            front = np.array([layout.face.cx - 0.3 * layout.face.ax, top[1] + 0.15 * e.ay])
        elif layout.view == "top" and layout.face is not None:
            front = np.array([layout.face.cx + np.sign(e.cx - layout.cx) * 0.7 * layout.face.ax,
                              layout.face.cy + 0.75 * layout.face.ay])
        else:  # back: only the arms behind the ears show
            front = top + np.array([np.sign(e.cx - layout.cx) * 0.6 * e.ax, -0.1 * e.ay])
        pts = np.array([front, top + np.array([0.0, 0.1 * e.ay])])
        cv2.polylines(canvas, [np.round(pts * 16).astype(np.int32)], False, col, th, cv2.LINE_AA, 4)
    if layout.view == "top" and layout.face is not None:
        f = layout.face
        for side in (-1, 1):
            lens = Ellipse(f.cx + side * 0.42 * f.ax, f.cy + 0.82 * f.ay, 0.36 * f.ax, 0.12 * f.ay)
            cv2.polylines(canvas, [lens.polygon()], True, col, th, cv2.LINE_AA)
