"""Skin: Fitzpatrick skin tones with a paler, pinker scalp, the dome shading
of the skull with specular highlights, and what grows in a bald patch (fine
vellus hairs, regrowth stubble, white regrowth hairs, black dots and short
exclamation-mark hairs at the margins)."""

from __future__ import annotations

import cv2
import numpy as np

from alonet.phantom.render.background import smooth_noise
from alonet.phantom.render.hair import draw_polylines, sample_points
from alonet.phantom.render.head import Ellipse, HeadLayout
from alonet.phantom.render.look import Look


def dome_normals(e: Ellipse, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Surface normals (nx, ny, nz) of a half-ellipsoid over ellipse ``e`` and
    its inside (0..1 soft radius r²). Outside the ellipse the normal lies flat
    towards the rim."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = np.deg2rad(e.angle)
    dx, dy = xx - e.cx, yy - e.cy
    u = (dx * np.cos(a) + dy * np.sin(a)) / max(e.ax, 1.0)
    v = (-dx * np.sin(a) + dy * np.cos(a)) / max(e.ay, 1.0)
    r2 = u * u + v * v
    nz = np.sqrt(np.clip(1.0 - r2, 0.02, 1.0))
    # rotate (u, v) back into image axes
    nx = u * np.cos(a) - v * np.sin(a)
    ny = u * np.sin(a) + v * np.cos(a)
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    return nx / norm, ny / norm, nz / norm, r2


def lighting(layout: HeadLayout, look: Look, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse shading factor (h, w) and specular term (h, w) of the head.

    The skull and the face are half-ellipsoids lit by the look's main light
    plus ambient light; everything else gets a flat factor of about 1.
    """
    lx, ly, lz = look.light_dir
    hvec = np.array([lx, ly, lz + 1.0])
    hvec /= np.linalg.norm(hvec)
    amb = look.light_ambient
    nx, ny, nz, r2 = dome_normals(layout.skull, layout.shape)
    ndl = np.clip(nx * lx + ny * ly + nz * lz, 0.0, 1.0)
    inside = np.clip((1.25 - r2) / 0.3, 0.0, 1.0)
    diffuse = amb + (1 - amb) * ndl
    shade = 1.0 + inside * (diffuse / (amb + (1 - amb) * lz) - 1.0)  # ~1 at the apex
    ndh = np.clip(nx * hvec[0] + ny * hvec[1] + nz * hvec[2], 0.0, 1.0)
    power = rng.uniform(12, 60)
    spec = (ndh**power) * inside
    if layout.face is not None:
        fx, fy, fz, fr2 = dome_normals(layout.face, layout.shape)
        fin = layout.face_mask & ~layout.hair_region
        fd = amb + (1 - amb) * np.clip(fx * lx + fy * ly + fz * lz, 0, 1)
        fshade = fd / (amb + (1 - amb) * lz)
        shade = np.where(fin, fshade, shade)
    return shade.astype(np.float32), spec.astype(np.float32)


def paint_head_skin(albedo: np.ndarray, layout: HeadLayout, look: Look, rng: np.random.Generator, detail: float) -> None:
    """Fill skull, face and neck with skin (in place on a float32 canvas)."""
    h, w = layout.shape
    skin = np.asarray(look.skin_rgb, np.float32)
    scalp = np.asarray(look.scalp_rgb, np.float32)
    m = np.zeros((h, w), np.uint8)
    if layout.neck is not None:
        cv2.fillPoly(m, [layout.neck], 1)
        albedo[m > 0] = skin * 0.93
    m[:] = 0
    layout.skull.fill(m)
    if layout.face is not None:
        layout.face.fill(m, 2)
    # mottled redness and slight tone variation
    blot = smooth_noise((h, w), int(max(6, layout.size / 12)), rng)[..., None]
    region = m > 0
    tone = np.where((m == 2)[..., None], skin, scalp)
    tone = tone * (1.0 + 0.035 * blot * np.array([1.0, 0.7, 0.7], np.float32))
    albedo[region] = tone[region]


def paint_ears(albedo: np.ndarray, layout: HeadLayout, look: Look) -> None:
    """Ears: outer ear in skin tone, a darker concha and a lighter helix rim."""
    skin = np.asarray(look.skin_rgb, np.float32)
    for i, e in enumerate(layout.ears):
        col = tuple(float(c) for c in np.clip(skin * np.array([1.0, 0.93, 0.92]), 0, 1))
        cv2.fillPoly(albedo, [e.polygon()], col, cv2.LINE_AA)
        towards_face = -1.0 if layout.view == "left" else (1.0 if e.cx < layout.cx else -1.0)
        inner = Ellipse(e.cx + towards_face * 0.15 * e.ax, e.cy + 0.1 * e.ay, 0.5 * e.ax, 0.55 * e.ay, e.angle)
        dark = tuple(float(c) for c in skin * 0.72)
        cv2.fillPoly(albedo, [inner.polygon()], dark, cv2.LINE_AA)
        rim = Ellipse(e.cx, e.cy, 0.85 * e.ax, 0.88 * e.ay, e.angle).polygon()
        light = tuple(float(c) for c in np.clip(skin * 1.08, 0, 1))
        cv2.polylines(albedo, [rim[: len(rim) // 2 + 2]], False, light, max(1, int(e.ax * 0.12)), cv2.LINE_AA)


def bald_details(
    canvas: np.ndarray, bald: np.ndarray, layout: HeadLayout, look: Look, rng: np.random.Generator, detail: float
) -> None:
    """Draw what grows in bald skin on a uint8 canvas (in place): vellus hairs
    everywhere, regrowth stubble and white regrowth in some zones, black dots,
    and short exclamation-mark hairs along patch margins."""
    area = float(np.count_nonzero(bald))
    if area < 4:
        return
    hair = np.asarray(look.hair_rgb, np.float32) * 255
    skin = np.asarray(look.scalp_rgb, np.float32) * 255
    ang_scale = 1.0

    def segments(pts: np.ndarray, length: np.ndarray) -> np.ndarray:
        a = rng.uniform(0, 2 * np.pi, len(pts)) * ang_scale
        d = np.stack([np.cos(a), np.sin(a)], -1) * length[:, None]
        return np.stack([pts, pts + d], 1).astype(np.float32)

    # vellus: fine, pale, low-contrast hairs (blend for low opacity)
    n = int(area * rng.uniform(0.01, 0.08) / detail)
    if n:
        pts = sample_points(bald, n, rng)
        over = canvas.copy()
        col = tuple(np.clip(skin * 1.12 + 12, 0, 255))
        draw_polylines(over, segments(pts, rng.uniform(1.5, 4.0, len(pts)) * detail), col, 1)
        cv2.addWeighted(over, 0.45, canvas, 0.55, 0, dst=canvas)
    zones = smooth_noise(bald.shape, int(max(4, layout.size / 25)), rng)
    if rng.random() < 0.45:  # dark regrowth stubble in some zones
        z = bald & (zones > rng.uniform(-0.5, 0.8))
        n = int(np.count_nonzero(z) * rng.uniform(0.02, 0.2) / detail)
        pts = sample_points(z, n, rng)
        draw_polylines(canvas, segments(pts, rng.uniform(0.7, 2.2, len(pts)) * detail),
                       tuple(np.clip(hair * 1.1 + 10, 0, 255)), 1)
    if rng.random() < 0.3:  # white regrowth hairs
        z = bald & (zones < rng.uniform(-0.8, 0.4))
        n = int(np.count_nonzero(z) * rng.uniform(0.01, 0.08) / detail)
        pts = sample_points(z, n, rng)
        draw_polylines(canvas, segments(pts, rng.uniform(1.5, 5.0, len(pts)) * detail), (235, 232, 225), 1)
    if rng.random() < 0.4:  # black dots
        n = int(area * rng.uniform(0.002, 0.015) / detail)
        pts = sample_points(bald, n, rng)
        draw_polylines(canvas, segments(pts, np.full(len(pts), 0.5 * detail, np.float32)),
                       tuple(hair * 0.8), max(1, int(round(detail))))
    if rng.random() < 0.5:  # exclamation-mark hairs near the margin
        dist = cv2.distanceTransform(bald.astype(np.uint8), cv2.DIST_L2, 3)
        margin = bald & (dist < 3.0 * detail)
        n = int(np.count_nonzero(margin) * rng.uniform(0.02, 0.1))
        pts = sample_points(margin, n, rng)
        draw_polylines(canvas, segments(pts, rng.uniform(1.0, 3.0, len(pts)) * detail),
                       tuple(hair * 0.9), max(1, int(round(detail))))
