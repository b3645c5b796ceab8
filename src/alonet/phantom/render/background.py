"""Backdrops behind the patient: plain studio cloth or paper (blue, grey, white,
green), painted walls, gradients, with uneven lighting and vignetting."""

from __future__ import annotations

import cv2
import numpy as np

from alonet.phantom.render.look import Look
from alonet.phantom.render.raster import Coarse, smooth_noise, wide_blur


def render_background(shape: tuple[int, int], look: Look, rng: np.random.Generator) -> np.ndarray:
    """Float32 RGB backdrop (h, w, 3) in 0..1.

    Colour ramp, hot spot, vignette and cloth folds are smooth, so they are
    computed on a coarse grid and upsampled."""
    h, w = shape
    g = Coarse(shape, max(h, w) / 40.0)
    xx = g.xx / max(w, 1) * 2 - 1
    yy = g.yy / max(h, 1) * 2 - 1
    c1 = np.asarray(look.background_rgb, np.float32)
    c2 = np.asarray(look.background_rgb2, np.float32)
    a = rng.uniform(0, 2 * np.pi)
    ramp = np.clip((np.cos(a) * xx + np.sin(a) * yy) * 0.5 + 0.5, 0, 1)
    if look.background == "gradient":
        t = np.clip(ramp * rng.uniform(0.8, 1.4), 0, 1)
    else:
        t = ramp * rng.uniform(0.0, 0.35)
    sx, sy = rng.uniform(-0.6, 0.6, 2)
    spot = np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / rng.uniform(0.5, 2.0))
    vign = 1.0 - rng.uniform(0.0, 0.35) * np.clip(xx**2 + yy**2, 0, 2) / 2
    folds = smooth_noise((g.gh, g.gw), int(rng.integers(3, 8)), rng)
    light = (1.0 + rng.uniform(0.0, 0.25) * (spot - 0.5)) * vign * (1.0 + folds * rng.uniform(0.01, 0.05))
    coarse = (c1 * (1 - t[..., None]) + c2 * t[..., None]) * light[..., None]
    img = cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    if look.background == "wall":
        # paint texture and, sometimes, a door frame or a corner edge
        grain = cv2.resize(rng.standard_normal(((h + 1) // 2, (w + 1) // 2)).astype(np.float32), (w, h))
        img *= (1.0 + 0.015 * grain)[..., None]
        for _ in range(int(rng.integers(0, 3))):  # out-of-focus furniture, a door, a cabinet
            x0, y0 = rng.uniform(-0.3, 0.9) * w, rng.uniform(-0.3, 0.9) * h
            x1, y1 = x0 + rng.uniform(0.15, 0.6) * w, y0 + rng.uniform(0.2, 0.9) * h
            tone = np.clip(c1 * rng.uniform(0.5, 1.2, 3), 0, 1) if rng.random() < 0.7 else rng.uniform(0.1, 0.9, 3)
            box = np.zeros((h, w), np.float32)
            cv2.rectangle(box, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, -1)
            box = wide_blur(box, max(1.0, 0.01 * max(h, w)))
            img += (tone.astype(np.float32) - img) * box[..., None]
        if rng.random() < 0.5:
            x = int(rng.uniform(0.02, 0.25) * w) if rng.random() < 0.5 else int(rng.uniform(0.75, 0.98) * w)
            shade = rng.uniform(0.75, 0.95) if rng.random() < 0.5 else rng.uniform(1.03, 1.1)
            if x < w / 2:
                img[:, :x] *= shade
            else:
                img[:, x:] *= shade
            cv2.line(img, (x, 0), (x, h), tuple(float(v) for v in c1 * 0.7), max(1, w // 300))
    return np.clip(img, 0, 1)
