"""Clinic props: metal hair clips and bobby pins that hold hair aside to expose
the patches. Their specular highlights are small bright spots on the hair, a
hard negative that a naive model reads as tiny bald patches."""

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
    for x, y in pts:
        length = layout.size * rng.uniform(0.12, 0.3)
        width = max(1.5 * detail, length * rng.uniform(0.06, 0.14))
        a = rng.uniform(0, np.pi)
        d = np.array([np.cos(a), np.sin(a)])
        nrm = np.array([-d[1], d[0]])
        col = _metal_colour(rng)
        c = np.array([x, y])
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
