"""Clinic props: metal hair clips and bobby pins that hold hair aside to expose
the patches, and the clinician's (often gloved) fingers doing the same. The
clips' specular highlights are small bright spots on the hair, a hard
negative that a naive model reads as tiny bald patches; fingers are smooth,
skin- or glove-coloured shapes over the hair."""

from __future__ import annotations

import cv2
import numpy as np

from alonet.phantom.render.hair import sample_points
from alonet.phantom.render.head import HeadLayout


def _metal_colour(rng: np.random.Generator) -> np.ndarray:
    kind = rng.integers(4)
    if kind == 0:  # dark bobby pin
        return np.array([40, 38, 40], np.float32) * rng.uniform(0.8, 1.3)
    if kind == 1:  # silver
        return np.array([170, 172, 178], np.float32) * rng.uniform(0.8, 1.1)
    if kind == 2:  # gold
        return np.array([190, 160, 90], np.float32) * rng.uniform(0.8, 1.1)
    return np.array([95, 95, 100], np.float32) * rng.uniform(0.8, 1.2)  # gunmetal


def draw_clips(
    canvas: np.ndarray, layout: HeadLayout, where: np.ndarray, count: int, rng: np.random.Generator, detail: float
) -> None:
    """Draw ``count`` metal clips or pins on hair (``where``), in place on a uint8 canvas."""
    if count <= 0:
        return
    pts = sample_points(where, count, rng)
    clips = []
    for x, y in pts:
        length = layout.size * rng.uniform(0.12, 0.3)
        width = max(1.5 * detail, length * rng.uniform(0.06, 0.14))
        a = rng.uniform(0, np.pi)
        clips.append((np.array([x, y]), length, width, np.array([np.cos(a), np.sin(a)])))
    _clip_shadows(canvas, clips, rng, detail)
    for c, length, width, d in clips:
        nrm = np.array([-d[1], d[0]])
        col = _metal_colour(rng)
        if rng.random() < 0.5:  # bobby pin: two thin prongs, one wavy
            t = np.linspace(-0.5, 0.5, 12)[:, None] * length
            wave = np.sin(np.linspace(0, 4 * np.pi, 12))[:, None] * width * 0.25
            p1 = c + t * d + nrm * width * 0.35
            p2 = c + t * d - nrm * (width * 0.35 + wave)
            th = max(1, int(round(width * 0.3)))
            for p in (p1, p2):
                cv2.polylines(canvas, [np.round(p * 16).astype(np.int32)], False, tuple(float(v) for v in col),
                              th, cv2.LINE_AA, 4)
            hl = c + t[3:7] * d + nrm * width * 0.35
        else:  # flat clip (alligator / snap clip)
            poly = np.array([c - d * length / 2 - nrm * width / 2, c + d * length / 2 - nrm * width / 3,
                             c + d * length / 2 + nrm * width / 3, c - d * length / 2 + nrm * width / 2])
            cv2.fillConvexPoly(canvas, np.round(poly * 16).astype(np.int32), tuple(float(v) for v in col * 0.8),
                               cv2.LINE_AA, 4)
            edge = tuple(float(v) for v in np.clip(col * 0.5, 0, 255))
            cv2.polylines(canvas, [np.round(poly * 16).astype(np.int32)], True, edge, 1, cv2.LINE_AA, 4)
            s0, s1 = rng.uniform(-0.45, 0.0), rng.uniform(0.05, 0.45)
            hl = np.array([c + d * length * s0, c + d * length * s1]) + nrm * width * rng.uniform(-0.2, 0.2)
        # the specular highlight: a bright streak (and a glint)
        bright = tuple(float(v) for v in np.clip(col * 0.3 + 200, 0, 255))
        cv2.polylines(canvas, [np.round(hl * 16).astype(np.int32)], False, bright,
                      max(1, int(round(width * rng.uniform(0.15, 0.35)))), cv2.LINE_AA, 4)
        g = hl[len(hl) // 2]
        cv2.circle(canvas, (int(round(g[0] * 16)), int(round(g[1] * 16))),
                   int(round(max(1.0, width * 0.3) * 16)), (252, 252, 250), -1, cv2.LINE_AA, 4)


def _clip_shadows(canvas: np.ndarray, clips: list, rng: np.random.Generator, detail: float) -> None:
    """Soft shadows the clips cast on the hair under the flash (offset, blurred
    darkening), in place; a hard negative that looks like a dark gap."""
    if not clips:
        return
    h, w = canvas.shape[:2]
    shadow = np.zeros((h, w), np.uint8)
    for c, length, width, d in clips:
        off = rng.normal(0, 1, 2) * width * 0.6 + np.array([0.0, 0.4]) * width
        nrm = np.array([-d[1], d[0]])
        poly = np.array([c - d * length / 2 - nrm * width * 0.7, c + d * length / 2 - nrm * width * 0.6,
                         c + d * length / 2 + nrm * width * 0.6, c - d * length / 2 + nrm * width * 0.7]) + off
        cv2.fillConvexPoly(shadow, np.round(poly * 16).astype(np.int32), 255, cv2.LINE_AA, 4)
    ys, xs = np.nonzero(shadow)
    if ys.size == 0:
        return
    pad = int(3 * max(1.0, 0.8 * detail)) + 4
    y0, y1, x0, x1 = max(0, ys.min() - pad), min(h, ys.max() + pad + 1), max(0, xs.min() - pad), min(w, xs.max() + pad + 1)
    soft = cv2.GaussianBlur(shadow[y0:y1, x0:x1].astype(np.float32) * np.float32(1 / 255), (0, 0),
                            max(0.8, 0.8 * detail))
    roi = canvas[y0:y1, x0:x1].astype(np.float32)
    roi *= (1.0 - rng.uniform(0.35, 0.65) * soft)[..., None]
    canvas[y0:y1, x0:x1] = np.clip(roi, 0, 255).astype(np.uint8)


def draw_fingers(canvas: np.ndarray, layout: HeadLayout, where: np.ndarray, look_rgb, rng: np.random.Generator,
                 detail: float) -> None:
    """The clinician's fingers holding hair aside at the edge of the head, in
    place on a uint8 canvas: two to four slightly fanned, shaded capsules with
    a soft shadow, their tips on hair just outside the scalp region and the
    hand running out of the frame away from the head. Kept off the scalp
    region, whose masks do not change under props."""
    pts = sample_points(where, 1, rng)
    if len(pts) == 0:
        return
    tip0 = pts[0]
    out = tip0 - np.array([layout.cx, layout.cy])
    a0 = np.arctan2(out[1], out[0]) + rng.normal(0, 0.25)  # from the tips away from the head
    width = layout.size * rng.uniform(0.06, 0.085)
    col = np.asarray(look_rgb, np.float32) * 255
    n = int(rng.integers(2, 5))
    base_len = layout.size * rng.uniform(0.25, 0.4)
    side = np.array([-np.sin(a0), np.cos(a0)])
    strokes = []
    shadow = canvas.copy()
    for i in range(n):
        a = a0 + (i - (n - 1) / 2) * rng.uniform(0.05, 0.15)
        d = np.array([np.cos(a), np.sin(a)])
        tip = tip0 + side * (i - (n - 1) / 2) * width * 1.1 + d * (abs(i - (n - 1) / 2) * 0.5 * width)
        knuckle = tip + d * base_len * rng.uniform(0.85, 1.1)
        strokes.append((tip, knuckle, d))
        off = np.array([0.25, 0.35]) * width
        p = np.round(np.array([tip + off, knuckle + off]) * 16).astype(np.int32)
        cv2.polylines(shadow, [p], False, (0, 0, 0), int(width), cv2.LINE_AA, 4)
    cv2.addWeighted(shadow, 0.25, canvas, 0.75, 0, dst=canvas)
    # the back of the hand: from the knuckles out of the frame
    kn = np.array([s[1] for s in strokes])
    order = np.argsort(kn @ side)
    first, last = kn[order[0]] - side * 0.55 * width, kn[order[-1]] + side * 0.55 * width
    d0 = np.array([np.cos(a0), np.sin(a0)])
    far = 3.0 * layout.size
    hand = np.array([first, last, last + d0 * far + side * 0.2 * far, first + d0 * far - side * 0.2 * far])
    cv2.fillConvexPoly(canvas, np.round(hand * 16).astype(np.int32), tuple(float(c) for c in col * 0.82),
                       cv2.LINE_AA, 4)
    for tip, knuckle, d in strokes:
        nrm = np.array([-d[1], d[0]])
        mid = tip + (knuckle - tip) * 0.35
        for shade, k in ((0.62, 1.0), (0.85, 0.78), (1.0, 0.5), (1.1, 0.2)):
            o = nrm * width * 0.15 * (1 - k)
            for p0, p1, t in ((mid, knuckle, 1.0), (tip + d * 0.2 * width, mid, 0.82)):
                p = np.round(np.array([p0 + o, p1 + o]) * 16).astype(np.int32)
                cv2.polylines(canvas, [p], False, tuple(float(c) for c in np.clip(col * shade, 0, 255)),
                              max(1, int(width * k * t)), cv2.LINE_AA, 4)
