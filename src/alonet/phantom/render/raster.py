"""Small raster helpers shared by the renderer: smooth fields computed on a
coarse grid and upsampled (lighting, tone and noise vary slowly, so this is
as good as full resolution and many times faster), and anti-aliased filling
of shapes on float canvases (OpenCV anti-aliases only 8-bit images)."""

from __future__ import annotations

import cv2
import numpy as np


class Coarse:
    """A coarse grid over a canvas: ``xx``/``yy`` hold the canvas-pixel
    coordinates of the grid points; :meth:`up` resizes a coarse field to the
    canvas."""

    def __init__(self, shape: tuple[int, int], step: float):
        h, w = shape
        self.shape = shape
        self.gw = max(2, int(np.ceil(w / step)) + 1)
        self.gh = max(2, int(np.ceil(h / step)) + 1)
        # grid points chosen so that cv2.resize maps them onto canvas pixels
        sx, sy = w / self.gw, h / self.gh
        xs = (np.arange(self.gw, dtype=np.float32) + 0.5) * sx - 0.5
        ys = (np.arange(self.gh, dtype=np.float32) + 0.5) * sy - 0.5
        self.xx, self.yy = np.meshgrid(xs, ys)

    def up(self, field: np.ndarray) -> np.ndarray:
        h, w = self.shape
        return cv2.resize(np.ascontiguousarray(field, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def smooth_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency noise (std about 1): a random grid about ``cells`` wide
    on the long side, upsampled bicubically to ``shape``."""
    h, w = shape
    gh = max(2, int(round(cells * h / max(h, w))) + 1)
    gw = max(2, int(round(cells * w / max(h, w))) + 1)
    grid: np.ndarray = rng.standard_normal((gh, gw)).astype(np.float32)
    if gh * 8 < h and gw * 8 < w:  # smooth (bicubic) at 1/4 size, then cheap linear
        grid = cv2.resize(grid, (max(2, w // 4), max(2, h // 4)), interpolation=cv2.INTER_CUBIC)
        return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def wide_blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of a float32 map; wide blurs (sigma > 3 px) run at a
    reduced size and are upsampled, which is far cheaper and looks the same
    for the smooth transitions they make."""
    if sigma <= 3.0:
        return cv2.GaussianBlur(a, (0, 0), sigma)
    k = int(min(8, sigma // 1.5))
    h, w = a.shape[:2]
    small = cv2.resize(a, (max(2, w // k), max(2, h // k)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / k)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def poly_alpha(
    shape: tuple[int, int], polys: list[np.ndarray], blur: float = 0.0
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Anti-aliased coverage (float32 0..1) of filled polygons (float px),
    restricted to their bounding box (grown by the blur); returns the alpha
    patch and its (x0, y0, x1, y1) on the canvas, or None when off-canvas."""
    h, w = shape
    allp = np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in polys], 0)
    pad = int(np.ceil(3 * blur)) + 2
    x0 = max(0, int(np.floor(allp[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(allp[:, 1].min())) - pad)
    x1 = min(w, int(np.ceil(allp[:, 0].max())) + pad + 1)
    y1 = min(h, int(np.ceil(allp[:, 1].max())) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for p in polys:  # one call per polygon: their union (one call would XOR overlaps)
        pts = np.round((np.asarray(p, np.float64).reshape(-1, 2) - (x0, y0)) * 16).astype(np.int32)
        cv2.fillPoly(m, [pts], 255, cv2.LINE_AA, 4)
    a: np.ndarray = m.astype(np.float32) * np.float32(1 / 255)
    if blur > 0.3:
        a = cv2.GaussianBlur(a, (0, 0), blur)
    return a, (x0, y0, x1, y1)


def fill_soft(
    img: np.ndarray, polys: list[np.ndarray], colour, blur: float = 0.0, opacity: float = 1.0
) -> np.ndarray | None:
    """Fill polygons on a float32 RGB canvas with anti-aliased (optionally
    blurred) edges, in place. ``colour`` is an RGB triple or a float32 image
    of the canvas size. Returns the full-canvas alpha used (or None)."""
    res = poly_alpha(img.shape[:2], polys, blur)
    if res is None:
        return None
    a, (x0, y0, x1, y1) = res
    a = a * np.float32(opacity)
    roi = img[y0:y1, x0:x1]
    if isinstance(colour, np.ndarray) and colour.ndim == 3:
        col = colour[y0:y1, x0:x1]
    else:
        col = np.asarray(colour, np.float32)
    roi += (col - roi) * a[..., None]
    full = np.zeros(img.shape[:2], np.float32)
    full[y0:y1, x0:x1] = a
    return full


def ellipse_poly(cx: float, cy: float, ax: float, ay: float, angle_deg: float = 0.0, n: int = 48) -> np.ndarray:
    """Float polygon (n, 2) of an ellipse (sub-pixel exact, unlike cv2.ellipse2Poly)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    a = np.deg2rad(angle_deg)
    x, y = ax * np.cos(t), ay * np.sin(t)
    return np.stack([cx + x * np.cos(a) - y * np.sin(a), cy + x * np.sin(a) + y * np.cos(a)], -1)
