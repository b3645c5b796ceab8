"""Backdrops behind the patient: plain studio cloth or paper (blue, grey, white,
green), painted walls, gradients, with uneven lighting and vignetting."""

from __future__ import annotations

import cv2
import numpy as np

from alonet.phantom.render.look import Look


def smooth_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency noise in about -1..1: a ``cells``-wide random grid,
    upsampled with bicubic interpolation to ``shape``."""
    h, w = shape
    gh = max(2, int(round(cells * h / max(h, w))) + 1)
    gw = max(2, int(round(cells * w / max(h, w))) + 1)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def render_background(shape: tuple[int, int], look: Look, rng: np.random.Generator) -> np.ndarray:
    """Float32 RGB backdrop (h, w, 3) in 0..1."""
    h, w = shape
    c1 = np.asarray(look.background_rgb, np.float32)
    c2 = np.asarray(look.background_rgb2, np.float32)
    yy = np.linspace(-1.0, 1.0, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1.0, 1.0, w, dtype=np.float32)[None, :]
    a = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(a) * xx + np.sin(a) * yy) * 0.5 + 0.5  # 0..1 across the frame
    if look.background == "gradient":
        t = np.clip(ramp * rng.uniform(0.8, 1.4), 0, 1)[..., None]
    else:
        t = (np.clip(ramp, 0, 1) * rng.uniform(0.0, 0.35))[..., None]
    img = c1 * (1 - t) + c2 * t
    # uneven light: a soft hot spot and a vignette
    sx, sy = rng.uniform(-0.6, 0.6, 2)
    spot = np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / rng.uniform(0.5, 2.0))
    vign = 1.0 - rng.uniform(0.0, 0.35) * np.clip(xx**2 + yy**2, 0, 2) / 2
    light = (1.0 + rng.uniform(0.0, 0.25) * (spot - 0.5)) * vign
    # cloth folds or wall unevenness
    folds = smooth_noise(shape, int(rng.integers(3, 8)), rng)
    light = light * (1.0 + folds * rng.uniform(0.01, 0.05))
    img = img * light[..., None]
    if look.background == "wall":
        # paint texture and, sometimes, a door frame or a corner edge
        grain = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.8)
        img = img * (1.0 + 0.02 * grain[..., None])
        if rng.random() < 0.5:
            x = int(rng.uniform(0.02, 0.25) * w) if rng.random() < 0.5 else int(rng.uniform(0.75, 0.98) * w)
            shade = rng.uniform(0.75, 0.95) if rng.random() < 0.5 else rng.uniform(1.03, 1.1)
            if x < w / 2:
                img[:, :x] *= shade
            else:
                img[:, x:] *= shade
            cv2.line(img, (x, 0), (x, h), tuple(float(v) for v in c1 * 0.7), max(1, w // 300))
    return np.clip(img, 0, 1).astype(np.float32)
