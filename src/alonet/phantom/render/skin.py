"""Skin: Fitzpatrick skin tones with a paler, pinker scalp, the dome shading
of the skull with specular highlights, and what grows in a bald patch (fine
vellus hairs, regrowth stubble, white regrowth hairs, black dots and short
exclamation-mark hairs at the margins)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alonet.phantom.render.hair import draw_polylines, sample_points
from alonet.phantom.render.head import Ellipse, HeadLayout
from alonet.phantom.render.look import Look
from alonet.phantom.render.raster import Coarse, fill_soft, smooth_noise, wide_blur


def dome_normals(e: Ellipse, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Surface normals (nx, ny, nz) of a half-ellipsoid over ellipse ``e`` at
    points (xx, yy), and the elliptic radius² there (1 on the rim)."""
    a = np.deg2rad(e.angle)
    ca, sa = np.float32(np.cos(a)), np.float32(np.sin(a))
    dx, dy = xx - np.float32(e.cx), yy - np.float32(e.cy)
    u = (dx * ca + dy * sa) / np.float32(max(e.ax, 1.0))
    v = (-dx * sa + dy * ca) / np.float32(max(e.ay, 1.0))
    r2 = u * u + v * v
    nz = np.sqrt(np.clip(1.0 - r2, 0.02, 1.0))
    nx = u * ca - v * sa
    ny = u * sa + v * ca
    norm = np.sqrt(nx * nx + ny * ny + nz * nz)
    return nx / norm, ny / norm, nz / norm, r2


def lighting(layout: HeadLayout, look: Look, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse shading factor (h, w) and specular term (h, w) of the head.

    Skull and face are half-ellipsoids lit by the look's main light plus
    ambient light (factor about 1 where the surface faces the light head-on);
    the neck is a cylinder; a faint mottled tone rides on top. Computed on a
    coarse grid and upsampled: shading is smooth.
    """
    g = Coarse(layout.shape, max(1.0, layout.size / 48.0))
    lx, ly, lz = look.light_dir
    hv = np.array([lx, ly, lz + 1.0])
    hv /= np.linalg.norm(hv)
    amb = look.light_ambient
    # exposure: set for a surface facing the camera, but never for less light
    # than a lamp 45° off the axis gives (a side lamp leaves the near side dark)
    norm = amb + (1 - amb) * max(lz, 0.7)

    def shade_of(e: Ellipse, soft: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nx, ny, nz, r2 = dome_normals(e, g.xx, g.yy)
        ndl = np.clip(nx * lx + ny * ly + nz * lz, 0.0, 1.0)
        inside = np.clip((1.0 + soft - r2) / (2 * soft), 0.0, 1.0)
        sh = 1.0 + inside * ((amb + (1 - amb) * ndl) / norm - 1.0)
        ndh = np.clip(nx * hv[0] + ny * hv[1] + nz * hv[2], 0.0, 1.0)
        return sh, ndh, inside

    shade, ndh, inside = shade_of(layout.skull, 0.15)
    if layout.view == "top":  # the front of the head (forehead) curves away from the camera
        k = layout.skull
        shade = shade * (1.0 - 0.35 * np.clip((g.yy - (k.cy + 0.35 * k.ay)) / (0.65 * k.ay), 0.0, 1.0))
    spec = (ndh ** rng.uniform(18, 90)) * inside
    tone = 1.0 + 0.04 * smooth_noise((g.gh, g.gw), int(max(4, g.gw / 3)), rng)
    shade_full = g.up(shade * tone)
    spec_full = g.up(spec)
    # face and neck have their own shapes; blend their shading in softly
    soft = max(1.0, 0.03 * layout.size)
    if layout.face_dome is not None:
        fsh, fndh, fin = shade_of(layout.face_dome, 0.3)
        skin = (layout.face_mask & ~layout.hair_region).astype(np.float32)
        a = wide_blur(skin, soft)
        shade_full += (g.up(fsh * tone) - shade_full) * a
        spec_full += (g.up(0.35 * fndh**20 * fin) - spec_full) * a
    if layout.neck is not None:
        xs = layout.neck[:, 0]
        ncx, nw = (xs.min() + xs.max()) / 2, max(2.0, (xs.max() - xs.min()) / 2)
        prof = np.sqrt(np.clip(1.0 - ((g.xx - ncx) / (0.8 * nw)) ** 2, 0.05, 1.0))
        neck_mask = np.zeros(layout.shape, np.uint8)
        cv2.fillPoly(neck_mask, [np.round(layout.neck).astype(np.int32)], 1)
        sel = ((neck_mask > 0) & ~layout.skull_mask & ~layout.face_mask).astype(np.float32)
        a = wide_blur(sel, soft)
        shade_full += (g.up((0.6 + 0.4 * prof) * tone) - shade_full) * a
    return shade_full, np.maximum(spec_full, 0.0)


def paint_head_skin(img: np.ndarray, layout: HeadLayout, look: Look, detail: float) -> None:
    """Fill the skull with scalp skin (paler and pinker than the face), in place."""
    fill_soft(img, [layout.skull.polygon()], np.asarray(look.scalp_rgb, np.float32), 0.6 * detail)


def paint_ears(img: np.ndarray, layout: HeadLayout, look: Look, detail: float) -> None:
    """Ears: outer ear in skin tone, a darker concha and a lighter helix rim."""
    skin = np.asarray(look.skin_rgb, np.float32)
    for e in layout.ears:
        # the ear stands off the head: a soft shadow behind its rim first
        shadow = Ellipse(e.cx + 0.12 * e.ax, e.cy + 0.05 * e.ay, 1.15 * e.ax, 1.08 * e.ay, e.angle)
        fill_soft(img, [shadow.polygon(32)], np.zeros(3, np.float32), 0.25 * e.ax + detail, 0.35)
        fill_soft(img, [e.polygon(32)], np.clip(skin * np.array([1.0, 0.92, 0.9]), 0, 1), 0.5 * detail)
        towards_face = -1.0 if layout.view == "left" else (1.0 if e.cx < layout.cx else -1.0)
        a = np.deg2rad(e.angle)
        ox, oy = towards_face * 0.18 * e.ax, 0.12 * e.ay
        inner = Ellipse(e.cx + ox * np.cos(a) - oy * np.sin(a), e.cy + ox * np.sin(a) + oy * np.cos(a),
                        0.5 * e.ax, 0.5 * e.ay, e.angle)
        fill_soft(img, [inner.polygon(24)], skin * 0.62, 0.12 * e.ax + 0.5 * detail)
        rim = Ellipse(e.cx, e.cy, 0.8 * e.ax, 0.85 * e.ay, e.angle).polygon(32)
        half = rim[np.r_[20:32, 0:5]] if towards_face < 0 else rim[4:17]
        cv2.polylines(img, [np.round(half * 16).astype(np.int32)], False,
                      tuple(float(c) for c in np.clip(skin * 1.1, 0, 1)), max(1, int(e.ax * 0.15)), cv2.LINE_8, 4)


@dataclass(frozen=True)
class _BaldSkin:
    """Bald scalp skin being drawn on: the uint8 ``canvas`` (changed in place),
    the ``mask`` of bald skin, the head ``size`` in px and the generator."""

    canvas: np.ndarray
    mask: np.ndarray
    size: float
    rng: np.random.Generator

    @property
    def frac(self) -> float:
        """Bald area relative to the head size squared (counts scale with it)."""
        return float(np.count_nonzero(self.mask)) / self.size**2

    def segments(self, pts: np.ndarray, lo: float, hi: float) -> np.ndarray:
        """Short hairs from ``pts`` in random directions, ``lo``..``hi`` of the head size long."""
        a = self.rng.uniform(0, 2 * np.pi, len(pts))
        length = self.rng.uniform(lo, hi, len(pts)) * self.size
        d = np.stack([np.cos(a), np.sin(a)], -1) * length[:, None]
        return np.stack([pts, pts + d], 1).astype(np.float32)

    def faint(self, lines: np.ndarray, colour: tuple, opacity: float) -> None:
        """Draw one-pixel ``lines`` at ``opacity`` over the canvas."""
        if len(lines) == 0:
            return
        over = self.canvas.copy()
        draw_polylines(over, lines, colour, 1)
        cv2.addWeighted(over, opacity, self.canvas, 1.0 - opacity, 0, dst=self.canvas)


def _vellus(b: _BaldSkin, skin: np.ndarray) -> None:
    """Fine, pale, low-contrast hairs; in some patches a visible white down
    that catches the flash (still loss)."""
    rng = b.rng
    pts = sample_points(b.mask, int(b.frac * rng.uniform(150, 900)), rng)
    b.faint(b.segments(pts, 0.006, 0.016), tuple(np.clip(skin * 1.1 + 15, 0, 255)), rng.uniform(0.15, 0.35))
    if rng.random() < 0.3:
        pts = sample_points(b.mask, int(b.frac * rng.uniform(800, 2500)), rng)
        b.faint(b.segments(pts, 0.008, 0.025), (238, 236, 230), rng.uniform(0.35, 0.65))


#: Whether bald skin may show dark regrowth stubble (in 35 % of heads, over zones that can
#: cover most of it). Over a whole head of loss it looks like a shaved head, which is hair;
#: ``scripts/dev/render_diffuse.py --no-dark-regrowth`` turns it off for total-loss sets.
DARK_REGROWTH = True


def _regrowth(b: _BaldSkin, hair: np.ndarray) -> None:
    """Dark regrowth stubble, or white (unpigmented) regrowth hairs, in some
    zones of the bald skin; or neither."""
    rng, size = b.rng, b.size
    zones = smooth_noise(b.mask.shape, int(rng.uniform(4, 10)), rng)
    r = rng.random()
    if r < 0.35:  # dark regrowth stubble
        if not DARK_REGROWTH:
            return
        z = b.mask & (zones > rng.uniform(-0.6, 0.9))
        n = int(np.count_nonzero(z) / size**2 * rng.uniform(400, 3000))
        b.faint(b.segments(sample_points(z, n, rng), 0.003, 0.009), tuple(np.clip(hair * 1.1 + 8, 0, 255)),
                rng.uniform(0.5, 0.9))
    elif r < 0.55:  # white regrowth hairs
        z = b.mask & (zones > rng.uniform(-0.6, 0.6))
        n = int(np.count_nonzero(z) / size**2 * rng.uniform(300, 2000))
        b.faint(b.segments(sample_points(z, n, rng), 0.006, 0.02), (236, 233, 226), rng.uniform(0.5, 0.9))


def _black_dots(b: _BaldSkin, hair: np.ndarray) -> None:
    """Sometimes black dots: hairs broken off at the skin surface."""
    if b.rng.random() < 0.35:
        pts = sample_points(b.mask, int(b.frac * b.rng.uniform(80, 500)), b.rng)
        dots = np.stack([pts, pts + 0.3], 1).astype(np.float32)
        draw_polylines(b.canvas, dots, tuple(hair * 0.8), max(1, int(round(0.004 * b.size))))


def _moles(b: _BaldSkin, skin: np.ndarray) -> None:
    """A few moles or freckles (about four per head-size square of bald skin)."""
    rng = b.rng
    n_moles = int(rng.poisson(b.frac * 4.0))
    if n_moles:
        pts = sample_points(b.mask, n_moles, rng)
        for (x, y), r in zip(pts, rng.uniform(0.003, 0.008, n_moles) * b.size):
            col = tuple(float(c) for c in skin * rng.uniform(0.45, 0.75) * np.array([1.0, 0.85, 0.8]))
            cv2.circle(b.canvas, (int(x * 16), int(y * 16)), max(8, int(r * 16)), col, -1, cv2.LINE_AA, 4)


def _exclamation_marks(b: _BaldSkin, grow: np.ndarray, hair: np.ndarray) -> None:
    """On half the heads, short exclamation-mark hairs along the margins of
    bald skin next to hair (``grow``)."""
    rng, size = b.rng, b.size
    if rng.random() < 0.5:
        near = cv2.distanceTransform((~grow).astype(np.uint8), cv2.DIST_L2, 3) < 0.015 * size
        margin = b.mask & near
        n = int(np.count_nonzero(margin) / (0.015 * size) * rng.uniform(0.05, 0.4))
        b.faint(b.segments(sample_points(margin, n, rng), 0.005, 0.014), tuple(hair * 0.9), rng.uniform(0.6, 0.95))


def bald_details(
    canvas: np.ndarray,
    bald: np.ndarray,
    grow: np.ndarray,
    layout: HeadLayout,
    look: Look,
    rng: np.random.Generator,
    detail: float,
) -> None:
    """Draw what grows in bald scalp skin on a uint8 canvas (in place): fine
    pale vellus hairs, dark regrowth stubble or white regrowth hairs in some
    zones, black dots, and short exclamation-mark hairs along the margins
    next to hair (``grow``). Counts are per scalp area, so the look does not
    change with the resolution."""
    if float(np.count_nonzero(bald)) < 4:
        return
    hair = np.asarray(look.hair_rgb, np.float32) * 255
    skin = np.asarray(look.scalp_rgb, np.float32) * 255
    b = _BaldSkin(canvas, bald, layout.size, rng)
    _vellus(b, skin)
    _regrowth(b, hair)
    _black_dots(b, hair)
    _moles(b, skin)
    _exclamation_marks(b, grow, hair)
