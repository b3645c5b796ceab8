"""Hair: thousands of strands grown along smooth flow fields.

The flow field follows how scalp hair lies: it grows radially out of the crown
whorl (spiralling near it), is combed along the hairstyle further away (side
or centre parting, swept back, combed forward), runs down the back of the head
to the nape, and down and back over the sides, bending round the ear. Strands
are integrated for all roots at once (a few explicit Euler steps, vectorised
with numpy) and drawn with one anti-aliased ``cv2.polylines`` call per colour
group.

Under the strands a soft *base layer* of hair colour stands for the hair that
individual strands cannot resolve at photo scale; its opacity follows the
density, so thin hair lets the scalp show through (a hard negative that is not
hair loss). Dense hair at photo scale is mostly a fine-grained *directional
texture* (noise smeared along the flow, :func:`flow_texture`) rather than
separate strands (``Look.hair_texture``), lit by anisotropic sheen bands
across the flow (:func:`sheen_band`), broken into glints along it.
Short-cropped hair (``Look.cropped``) is a stipple of millimetre-long hairs
with the skin showing between them, evenly over the head: not loss.
Scattered terminal hairs left in bald skin (``Look.remnant_hairs``) are drawn
last, over the skin: skin dominates there and it stays loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alonet.phantom.render.head import HeadLayout
from alonet.phantom.render.look import Look
from alonet.phantom.render.raster import Coarse, smooth_noise, wide_blur

#: Shaved stubble (``Look.shaved``) is drawn as this grey-blue mixed half and half with
#: the hair colour: hairs cut at the skin show as a shadow, not in their own colour.
SHADOW_RGB = (0.30, 0.33, 0.38)

#: Colour of white strands in grey hair (and of the grey share of the base layer).
GREY_STRAND_RGB = (0.88, 0.87, 0.84)


@dataclass(frozen=True)
class FlowField:
    """Unit direction vectors on a coarse grid of ``step``-px cells over the
    canvas, and a density factor on the same grid (0 on a parting line and
    lower at the crown whorl, where the scalp shows)."""

    dirs: np.ndarray  # (gh, gw, 2) float32
    step: float
    density: np.ndarray  # (gh, gw) float32

    def density_map(self, shape: tuple[int, int]) -> np.ndarray:
        """The density factor at every canvas pixel (bilinear between cell centres)."""
        h, w = shape
        k = 1.0 / self.step
        m = np.array([[k, 0, 0.5 * k - 0.5], [0, k, 0.5 * k - 0.5]], np.float32)  # canvas px -> grid index
        return cv2.warpAffine(self.density, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    def upsample(self, grid: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """A grid-shaped float32 array (gh, gw[, c]) at every canvas pixel (bilinear)."""
        h, w = shape
        k = 1.0 / self.step
        m = np.array([[k, 0, 0.5 * k - 0.5], [0, k, 0.5 * k - 0.5]], np.float32)
        return cv2.warpAffine(np.ascontiguousarray(grid, np.float32), m, (w, h),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)

    def sample(self, pts: np.ndarray) -> np.ndarray:
        """Directions at points (N, 2) (nearest grid cell)."""
        gh, gw = self.dirs.shape[:2]
        ix = np.clip((pts[:, 0] / self.step).astype(np.int32), 0, gw - 1)
        iy = np.clip((pts[:, 1] / self.step).astype(np.int32), 0, gh - 1)
        return self.dirs[iy, ix]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class _FlowGrid:
    """The flow field's coarse grid: canvas points ``X``, ``Y`` of the cell
    centres and the same points relative to the head (``u``, ``v``: -1..1
    across it), the whorl's ``v`` (``vw``), half the head's width in pixels,
    the distance from the whorl (``r``) and the unit direction away from it
    (``rad``)."""

    step: float
    X: np.ndarray
    Y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    vw: float
    half_width: float
    r: np.ndarray
    rad: np.ndarray  # (gh, gw, 2)

    @property
    def shape(self) -> tuple[int, int]:
        height, width = self.u.shape
        return height, width


def _flow_grid(layout: HeadLayout) -> _FlowGrid:
    """Cells of about a fortieth of the head size over the whole canvas."""
    h, w = layout.shape
    step = max(2.0, layout.size / 40.0)
    gw, gh = int(np.ceil(w / step)) + 1, int(np.ceil(h / step)) + 1
    gx = (np.arange(gw, dtype=np.float32) + 0.5) * step
    gy = (np.arange(gh, dtype=np.float32) + 0.5) * step
    X, Y = np.meshgrid(gx, gy)
    hw, hh = layout.width / 2.0, layout.height / 2.0
    u = (X - layout.cx) / hw
    v = (Y - layout.cy) / hh
    uw = (layout.whorl[0] - layout.cx) / hw
    vw = (layout.whorl[1] - layout.cy) / hh
    dx, dy = u - uw, v - vw
    r = np.sqrt(dx**2 + dy**2) + 1e-3
    rad = np.stack([dx / r, dy / r], -1)
    return _FlowGrid(step, X, Y, u, v, vw, hw, r, rad)


def _whorl_spiral(grid: _FlowGrid, turn_at_whorl: float) -> np.ndarray:
    """Radial directions turned by up to ``turn_at_whorl`` radians near the whorl."""
    turn = turn_at_whorl * np.exp(-grid.r / 0.35)
    c, s = np.cos(turn), np.sin(turn)
    rad = grid.rad
    return np.stack([rad[..., 0] * c - rad[..., 1] * s, rad[..., 0] * s + rad[..., 1] * c], -1)


def _parting_line(grid: _FlowGrid, look: Look) -> tuple[np.ndarray, float]:
    """Where the hairstyle's parting shows skin (0..1) on a top view, and the
    parting's position across the head."""
    p = look.part_offset if look.hair_style == "side_part" else 0.3 * look.part_offset
    part_w = max(0.012, 1.2 / grid.half_width) * (1.0 + 1.5 * (1.0 - look.hair_density))
    on_line = np.exp(-(((grid.u - p) / part_w) ** 2)) * _sigmoid((grid.v - grid.vw - 0.05) / 0.05)
    on_line *= grid.v < 1.02
    return on_line, p


def _top_style(grid: _FlowGrid, look: Look, dens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top view: radial behind the whorl, combed along the hairstyle in front
    of it (a parted style thins ``dens`` along its parting). Returns the
    directions and the density."""
    u, v, one, style = grid.u, grid.v, np.ones_like(grid.u), look.hair_style
    if style in ("side_part", "centre_part"):
        on_line, p = _parting_line(grid, look)
        front = np.stack([np.tanh((u - p) / 0.06) * 0.85, one * 0.5], -1)
        dens = dens * (1.0 - 0.95 * on_line)
    elif style == "back":
        front = np.stack([0.35 * u, -one], -1)
    elif style == "forward":
        front = np.stack([0.35 * u, one], -1)
    else:
        front = grid.rad
    t = _sigmoid((v - grid.vw) / 0.15)[..., None]
    return grid.rad * (1 - t) + front * t, dens


def _side_style(grid: _FlowGrid, layout: HeadLayout, style: str) -> np.ndarray:
    """Side view: down and back (how far back depends on the hairstyle),
    parting round each ear."""
    one = np.ones_like(grid.u)
    lean = {"side_part": (0.45, 1.0), "back": (1.0, 0.45), "forward": (-0.5, 1.0)}.get(style, (0.15, 1.0))
    styled = np.stack([lean[0] * one, lean[1] * one], -1)
    for ear in layout.ears:
        ex, ey = (grid.X - ear.cx) / (2 * ear.ax), (grid.Y - ear.cy) / (1.4 * ear.ay)
        d2 = ex**2 + ey**2
        styled = styled + np.stack([ex, ey], -1) * (1.5 * np.exp(-d2))[..., None]
    return styled


def _combed_partings(grid: _FlowGrid, d: np.ndarray, dens: np.ndarray,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Up to two extra partings, lines where the hair was combed apart for the
    photograph: skin shows along them (a hard negative that is not hair loss)
    and the hair is pushed away to both sides. Returns directions and density."""
    u, v, one = grid.u, grid.v, np.ones_like(grid.u)
    for _ in range(int(rng.choice(3, p=[0.65, 0.25, 0.1]))):
        u0, v0 = rng.uniform(-0.6, 0.6, 2)
        ang = rng.uniform(0, np.pi)
        du, dv = np.cos(ang), np.sin(ang)
        sd = (u - u0) * -dv + (v - v0) * du  # signed distance across the line
        along = (u - u0) * du + (v - v0) * dv
        reach = _sigmoid((rng.uniform(0.3, 0.9) - np.abs(along)) / 0.05)
        width = max(0.012, 1.0 / grid.half_width) * rng.uniform(1.0, 2.5)
        dens = dens * (1.0 - 0.92 * np.exp(-((sd / width) ** 2)) * reach)
        push = (np.sign(sd) * np.exp(-np.abs(sd) / 0.15) * reach)[..., None]
        d = d + 1.5 * push * np.stack([-dv * one, du * one], -1)
    return d, dens


def flow_field(layout: HeadLayout, look: Look, rng: np.random.Generator) -> FlowField:
    """Direction of the hair over the canvas for this head, view and hairstyle."""
    grid = _flow_grid(layout)
    dens = 1.0 - 0.5 * np.exp(-((grid.r / 0.09) ** 2))  # scalp shows at the whorl
    if layout.view == "top":
        styled, dens = _top_style(grid, look, dens)
    elif layout.view == "back":
        styled = np.stack([0.4 * grid.u * np.clip(1.0 - grid.v, 0.2, 2.0), np.ones_like(grid.u)], -1)
    else:
        styled = _side_style(grid, layout, look.hair_style)
    wgt = np.exp(-((grid.r / 0.4) ** 2))[..., None]
    d = wgt * _whorl_spiral(grid, look.whorl_turn) + (1 - wgt) * styled
    d, dens = _combed_partings(grid, d, dens, rng)
    messy = 0.9 if look.hair_style == "messy" else 0.25
    d = d + messy * np.stack([smooth_noise(grid.shape, 6, rng), smooth_noise(grid.shape, 6, rng)], -1)
    d = d / (np.linalg.norm(d, axis=-1, keepdims=True) + 1e-6)
    return FlowField(d.astype(np.float32), grid.step, dens.astype(np.float32))


def flow_texture(field: FlowField, shape: tuple[int, int], streak: float, rng: np.random.Generator,
                 detail: float, coarse: float = 0.8) -> np.ndarray:
    """Fine directional hair texture (h, w) float32, zero mean, unit std.

    Pixel noise (grain about one hair clump wide) plus ``coarse`` times noise
    three times coarser (locks), smeared over about ``streak`` px along the
    flow (a short line-integral convolution with straight steps)."""
    if detail > 2.0:  # big canvases: make it at about twice the 320-px scale, then enlarge
        k = 2.0 / detail
        small_shape = (max(2, int(round(shape[0] * k))), max(2, int(round(shape[1] * k))))
        scaled = FlowField(field.dirs, field.step * k, field.density)
        tex = flow_texture(scaled, small_shape, streak * k, rng, 2.0, coarse)
        return cv2.resize(tex, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    h, w = shape
    noise: np.ndarray = rng.standard_normal((h, w), dtype=np.float32)
    if detail > 1.5:
        noise = cv2.GaussianBlur(noise, (0, 0), 0.35 * detail)
    if coarse > 0:
        small = rng.standard_normal((max(2, h // 3), max(2, w // 3)), dtype=np.float32)
        noise += np.float32(coarse) * cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    dirs = field.upsample(field.dirs, shape)
    xs = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)
    ys = np.arange(h, dtype=np.float32)[:, None].repeat(w, 1)
    # a box filter along the flow by doubling: average with copies shifted by
    # ±1, ±2, ±4 ... px, so the taps are one pixel apart (no repeated copies)
    acc = noise
    off = 0.5 * max(1.0, 0.5 * detail)
    while off < 0.5 * streak:
        dx, dy = dirs[..., 0] * np.float32(off), dirs[..., 1] * np.float32(off)
        acc = (cv2.remap(acc, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
               + cv2.remap(acc, xs - dx, ys - dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT))
        off *= 2.0
    acc = acc - acc.mean()
    acc /= np.float32(acc.std() + 1e-6)
    return acc


def sheen_band(field: FlowField, layout: HeadLayout, look: Look, shape: tuple[int, int],
               rng: np.random.Generator) -> np.ndarray:
    """Anisotropic highlight of the hair (h, w) float32 0..1: bright where a
    hair's tangent on the head dome is perpendicular to the half vector
    between light and camera (a band across the flow, as studio light makes
    on real hair). Computed on the flow grid and upsampled."""
    gh, gw = field.dirs.shape[:2]
    gx = (np.arange(gw, dtype=np.float32) + 0.5) * field.step
    gy = (np.arange(gh, dtype=np.float32) + 0.5) * field.step
    X, Y = np.meshgrid(gx, gy)
    e = layout.skull
    a = np.deg2rad(e.angle)
    ca, sa = np.cos(a), np.sin(a)
    u = ((X - e.cx) * ca + (Y - e.cy) * sa) / max(e.ax, 1.0)
    v = (-(X - e.cx) * sa + (Y - e.cy) * ca) / max(e.ay, 1.0)
    nz = np.sqrt(np.clip(1.0 - u * u - v * v, 0.04, 1.0))
    nx, ny = u * ca - v * sa, u * sa + v * ca
    tx, ty = field.dirs[..., 0], field.dirs[..., 1]
    tz = -(nx * tx + ny * ty) / nz  # the tangent lies on the dome
    tn = np.sqrt(tx * tx + ty * ty + tz * tz) + 1e-6
    lx, ly, lz = look.light_dir
    hv = np.array([lx, ly, lz + 1.0])
    hv /= np.linalg.norm(hv)
    th = (tx * hv[0] + ty * hv[1] + tz * hv[2]) / tn
    band = np.power(np.clip(1.0 - th * th, 0.0, 1.0), rng.uniform(12.0, 60.0))
    # the band is where hair faces the light: fades on the dome's rim
    band *= np.clip(nz * 1.4, 0.0, 1.0)
    return np.clip(field.upsample(band.astype(np.float32), shape), 0.0, 1.0)


def sample_points(mask: np.ndarray, n: int, rng: np.random.Generator, weight: np.ndarray | None = None) -> np.ndarray:
    """``n`` random points (float px, (n, 2) x/y) inside ``mask``, optionally
    thinned by a 0..1 ``weight`` map (rejection). Empty mask: no points."""
    idx = np.flatnonzero(mask)
    if idx.size == 0 or n <= 0:
        return np.zeros((0, 2), np.float32)
    pick = idx[rng.integers(0, idx.size, n)]
    if weight is not None:
        keep = rng.random(n) < weight.ravel()[pick]
        pick = pick[keep]
    w = mask.shape[1]
    pts = np.stack([pick % w, pick // w], -1).astype(np.float32)
    return pts + rng.random(pts.shape, dtype=np.float32)


def grow_strands(
    roots: np.ndarray,
    field: FlowField,
    lengths: np.ndarray,
    n_steps: int,
    curl: float,
    gravity: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Integrate all strands at once: (N, n_steps + 1, 2) float32 polylines.

    Each step moves ``lengths / n_steps`` along the field, turned by a per-
    strand sinusoidal curl and pulled down by ``gravity`` (0 for top views,
    where the camera looks along gravity).
    """
    n: int = roots.shape[0]
    out = np.empty((n, n_steps + 1, 2), np.float32)
    out[:, 0] = roots
    p = roots.copy()
    seg = (lengths / n_steps).astype(np.float32)[:, None]
    phase = rng.uniform(0, 2 * np.pi, n).astype(np.float32)
    freq = rng.uniform(0.8, 1.6, n).astype(np.float32) * (1.0 + 2.0 * curl)
    amp = np.float32(curl * 1.3) * rng.uniform(0.6, 1.4, n).astype(np.float32)
    wobble = rng.normal(0, 0.12, n).astype(np.float32)  # each strand strays a little
    prev = field.sample(p)
    for k in range(n_steps):
        d = field.sample(p)
        d = 0.6 * d + 0.4 * prev  # a strand cannot turn sharply
        ang = wobble + amp * np.sin(phase + freq * k)
        c, s = np.cos(ang), np.sin(ang)
        d = np.stack([d[:, 0] * c - d[:, 1] * s, d[:, 0] * s + d[:, 1] * c], -1)
        if gravity:
            d[:, 1] += gravity * (k + 1) / n_steps
        d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-6
        p = p + d * seg
        out[:, k + 1] = p
        prev = d
    return out


def draw_polylines(img: np.ndarray, lines: np.ndarray, colour: tuple[float, float, float], thickness: int) -> None:
    """Draw (N, K, 2) float polylines anti-aliased on a uint8 image, sub-pixel exact."""
    if lines.shape[0] == 0:
        return
    pts = np.round(lines * 16.0).astype(np.int32)
    cv2.polylines(img, list(pts), False, tuple(float(c) for c in colour), thickness, cv2.LINE_AA, 4)


@dataclass(frozen=True)
class HairRender:
    """What hair rendering leaves for later stages."""

    canvas: np.ndarray  # uint8 (h, w, 3) RGB with hair drawn
    cover: np.ndarray  # float32 (h, w) 0..1 opacity of the hair over the skin
    gloss: np.ndarray  # float32 (h, w) 0..1 streaky strand highlights (modulates sheen)
    band: np.ndarray  # float32 (h, w) 0..1 anisotropic sheen band of the light on the hair


def silhouette(layout: HeadLayout, look: Look, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Soft outer limit (0..1) of the hair mass, and the part of it that is
    long hair hanging below the skull (back and side views).

    The limit is the skull dome with a ragged edge, a little larger for long
    hair; long hair also hangs below the skull over ears, nape and neck.
    """
    g = Coarse(layout.shape, max(1.0, layout.size / 40.0))
    e = layout.skull
    a = np.deg2rad(e.angle)
    dx, dy = g.xx - e.cx, g.yy - e.cy
    u = (dx * np.cos(a) + dy * np.sin(a)) / e.ax
    v = (-dx * np.sin(a) + dy * np.cos(a)) / e.ay
    r = np.sqrt(u * u + v * v)
    length = look.hair_length
    reach = 1.03 + (0.15 * length if layout.view == "top" else 0.1 * length)
    edge = reach + 0.05 * smooth_noise((g.gh, g.gw), 10, rng)
    sil = np.clip((edge - r) / 0.04, 0, 1)
    hang = np.zeros_like(sil)
    if layout.view != "top" and length > 0.12:
        drop = (length - 0.1) * layout.size * rng.uniform(0.8, 1.6)
        ragged = drop * (0.8 + 0.3 * smooth_noise((g.gh, g.gw), 12, rng))
        x_in = np.clip((0.97 - np.abs(u)) / 0.08, 0, 1)
        below = np.clip((e.cy + e.ay + ragged - g.yy) / (0.05 * layout.size), 0, 1) * (g.yy > e.cy)
        hang = np.clip(x_in * below - sil, 0, 1)
    return g.up(np.maximum(sil, hang)), g.up(hang)


def render_hair(
    albedo: np.ndarray,
    layout: HeadLayout,
    look: Look,
    bald: np.ndarray,
    density: np.ndarray,
    clip: np.ndarray,
    rng: np.random.Generator,
    detail: float,
) -> HairRender:
    """Draw the hair onto ``albedo`` (float32 RGB canvas, used up in place).

    ``bald`` marks skin without terminal hair (hair loss, and its continuation
    beyond the scalp region), ``density`` (0..1 map) thins the hair
    (diffuse thinning), ``clip`` (0..1 map) is where strands may show at all
    (not on the face; only a short overhang into bald patches). ``detail`` is
    the output scale relative to a 320-px image.
    """
    h, w = layout.shape
    field = flow_field(layout, look, rng)
    dens = density * field.density_map((h, w))
    grow = layout.hair_region & ~bald
    # ---- base layer: hair the strands do not resolve; opacity from density
    texture = float(look.hair_texture)
    base_alpha = _base_alpha(layout, look, dens, grow, rng, detail)
    base_col = _base_colour(look)
    fine = None
    if texture > 0.05 or look.cropped:
        fine = _fine_texture(field, layout, look, rng, detail)
        if look.cropped:  # each hair is a dark dot: opacity follows the stipple
            base_alpha = np.clip(base_alpha * (1.0 + 0.9 * fine), 0.0, 1.0).astype(np.float32)
    outline, hang = silhouette(layout, look, rng)
    if hang.any():  # long hair hanging over ears, nape and neck: a thin veil under the strands
        hang_alpha = wide_blur(hang * clip, 0.03 * layout.size) * (0.08 + 0.22 * look.hair_density)
        base_alpha = np.maximum(base_alpha, hang_alpha.astype(np.float32))
    base = _paint_base_layer(albedo, base_alpha, base_col, fine, look)
    # ---- strands
    lines = _strand_lines(layout, look, field, grow, dens, rng, detail)
    if lines.shape[0]:
        base, gloss_f = _draw_strands(base, lines, look, clip, outline, rng, detail)
    else:
        gloss_f = np.zeros((h, w), np.float32)
    if fine is not None:  # glints of the texture, elongated along the flow
        glint = np.clip(0.35 + 0.35 * fine, 0.0, 1.0) * base_alpha * np.float32(max(texture, 0.4))
        gloss_f = np.maximum(gloss_f, glint).astype(np.float32)
    cover = np.clip(np.maximum(base_alpha, 0.6 * gloss_f), 0, 1).astype(np.float32)
    if look.remnant_hairs > 0:
        draw_remnant_hairs(base, layout, look, bald, field, rng, detail)
    band = sheen_band(field, layout, look, (h, w), rng)
    return HairRender(base, cover, gloss_f, band)


def _base_alpha(layout: HeadLayout, look: Look, dens: np.ndarray, grow: np.ndarray, rng: np.random.Generator,
                detail: float) -> np.ndarray:
    """Opacity (h, w) float32 of the base layer: from the density, patchy where
    strands show, soft at the edge of where hair grows."""
    h, w = layout.shape
    texture = float(look.hair_texture)
    if look.shaved:  # stubble: a faint even shadow over the skin
        base_alpha = rng.uniform(0.18, 0.42) * dens
    elif look.cropped:  # a few mm of hair: the skin shows evenly between the hairs
        base_alpha = rng.uniform(0.4, 0.7) * dens
    else:  # dense textured hair hides the skin completely
        base_alpha = ((0.3 + 0.68 * look.hair_density) * (1 - texture) + (0.9 + 0.09 * look.hair_density) * texture) * dens
    tex = smooth_noise((h, w), int(max(8, layout.size / (5 * detail))), rng)
    base_alpha *= np.clip(1.0 - (1.0 - texture) * (0.08 - 0.1 * tex), 0, 1)  # patchy only where strands show
    soft = cv2.GaussianBlur(grow.astype(np.float32), (0, 0), max(0.7 * detail, 0.005 * layout.size))
    return (base_alpha * soft).astype(np.float32)


def _base_colour(look: Look) -> np.ndarray:
    """RGB of the base layer: textured hair is the hair itself (as bright as the
    strands on average); shaved stubble under the skin reads as a grey-blue
    shadow (:data:`SHADOW_RGB`), not as the hair colour."""
    hair_rgb = np.asarray(look.hair_rgb, np.float32)
    white = np.asarray(GREY_STRAND_RGB, np.float32)
    texture = float(look.hair_texture)
    base_col = hair_rgb * (0.75 + 0.2 * texture) * (1 - look.grey_fraction) + white * 0.7 * look.grey_fraction
    if look.shaved:
        base_col = (0.5 * base_col + 0.5 * np.asarray(SHADOW_RGB, np.float32)).astype(np.float32)
    return base_col


def _fine_texture(field: FlowField, layout: HeadLayout, look: Look, rng: np.random.Generator,
                  detail: float) -> np.ndarray:
    """Photo-scale hair texture: short streaks along the flow (a stipple for cropped hair)."""
    streak = (max(1.2 * detail, look.hair_length * layout.size * rng.uniform(0.5, 1.0)) if look.cropped
              else layout.size * rng.uniform(0.04, 0.09))
    return flow_texture(field, layout.shape, streak, rng, detail, 0.3 if look.cropped else 0.35)


def _paint_base_layer(albedo: np.ndarray, base_alpha: np.ndarray, base_col: np.ndarray, fine: np.ndarray | None,
                      look: Look) -> np.ndarray:
    """Blend the base layer into ``albedo`` (in place) with its texture: the hair
    colour times (1 + grain), plus glints on dark hair; the result as uint8."""
    albedo -= base_col  # in place: albedo + (base_col - albedo) * alpha
    albedo *= (1.0 - base_alpha)[..., None]
    albedo += base_col
    if fine is not None:
        texture = float(look.hair_texture)
        rows, cols = np.flatnonzero(base_alpha.max(axis=1) > 0.01), np.flatnonzero(base_alpha.max(axis=0) > 0.01)
        if rows.size:
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            amp = np.float32((0.3 if look.shaved else 0.8 if look.cropped else 0.35) * max(texture, 0.5))
            lift = np.float32(0.1 * max(0.0, 0.3 - float(np.mean(base_col))) / 0.3)
            a, f = base_alpha[box], fine[box]
            albedo[box] += (a * f * amp)[..., None] * base_col + (a * lift * np.maximum(f, 0.0))[..., None]
    return cv2.convertScaleAbs(albedo, alpha=255.0)


@dataclass(frozen=True)
class _StrandPlan:
    """How many strands grow and how: ``n`` in all (a share ``clumped`` of them
    in locks), ``mean_len`` px long in ``n_steps`` steps, pulled down by ``gravity``."""

    n: int
    mean_len: float
    n_steps: int
    gravity: float
    clumped: float


def _strand_plan(layout: HeadLayout, look: Look, grow: np.ndarray, detail: float) -> _StrandPlan:
    """Strand count and length for the hair-bearing area, within a drawing budget."""
    area = float(np.count_nonzero(grow))
    mean_len = max(3.0 * detail, look.hair_length * layout.size)
    budget = 130_000.0 * detail**2  # total strand length (px) we can afford
    n = int(min(area * 0.5 * look.hair_density, budget / mean_len, 400_000) * (1.0 - 0.75 * float(look.hair_texture)))
    n_steps = int(np.clip(mean_len / (3.0 * detail), 3, 14))
    gravity = 0.0 if layout.view == "top" else float(np.clip(look.hair_length * 2.5, 0.0, 1.5))
    # longer hair gathers into locks: strands of a lock follow one path and
    # draw together towards their tips
    clumped = float(np.clip((look.hair_length - 0.05) / 0.25, 0.0, 0.85))
    return _StrandPlan(n, mean_len, n_steps, gravity, clumped)


def _strand_lines(layout: HeadLayout, look: Look, field: FlowField, grow: np.ndarray, dens: np.ndarray,
                  rng: np.random.Generator, detail: float) -> np.ndarray:
    """(N, K, 2) float32 polylines of every strand: loose strands, then the
    members of locks whose roots lie where hair grows."""
    plan = _strand_plan(layout, look, grow, detail)
    roots = sample_points(grow, int(plan.n * (1 - plan.clumped)), rng, dens)
    lines = grow_strands(roots, field, plan.mean_len * rng.uniform(0.4, 1.2, len(roots)).astype(np.float32),
                         plan.n_steps, look.curl, plan.gravity, rng)
    per_lock = 10
    n_locks = int(plan.n * plan.clumped / per_lock)
    if n_locks:
        members = _lock_members(layout, look, field, grow, dens, plan, n_locks, per_lock, rng)
        h, w = layout.shape
        iy = np.clip(members[:, 0, 1].astype(int), 0, h - 1)
        ix = np.clip(members[:, 0, 0].astype(int), 0, w - 1)
        lines = np.concatenate([lines, members[grow[iy, ix]]], 0)
    return lines


def _lock_members(layout: HeadLayout, look: Look, field: FlowField, grow: np.ndarray, dens: np.ndarray,
                  plan: _StrandPlan, n_locks: int, per_lock: int, rng: np.random.Generator) -> np.ndarray:
    """Polylines of ``per_lock`` strands per lock: each follows its lock's lead
    strand, spread apart at the root and drawn together towards the tip."""
    centres = sample_points(grow, n_locks, rng, dens)
    lead = grow_strands(centres, field, plan.mean_len * rng.uniform(0.5, 1.2, len(centres)).astype(np.float32),
                        plan.n_steps, look.curl, plan.gravity, rng)
    who = np.repeat(np.arange(len(centres)), per_lock)
    spread = rng.normal(0, 0.012 * layout.size, (len(who), 2)).astype(np.float32)
    taper = (1.0 - rng.uniform(0.4, 0.9) * np.linspace(0, 1, plan.n_steps + 1, dtype=np.float32))
    return lead[who] + spread[:, None, :] * taper[None, :, None]


def _draw_strands(base: np.ndarray, lines: np.ndarray, look: Look, clip: np.ndarray, outline: np.ndarray,
                  rng: np.random.Generator, detail: float) -> tuple[np.ndarray, np.ndarray]:
    """The strands drawn over the uint8 ``base`` in four shades and three greys,
    kept inside the hair mass ``outline`` and ``clip``; returns the new canvas
    and the gloss (float32 0..1: where strands are lighter than the hair beneath)."""
    hair_rgb = np.asarray(look.hair_rgb, np.float32)
    white = np.asarray(GREY_STRAND_RGB, np.float32)
    texture = float(look.hair_texture)
    n = lines.shape[0]
    canvas = base.copy()
    thick = max(1, int(detail / 3.0))
    group = rng.integers(0, 4, n)
    grey_pick = rng.random(n) < look.grey_fraction
    dark_hair = float(np.mean(hair_rgb)) < 0.2
    shades = (0.6, 0.85, 1.05, 1.25)
    for i, f in enumerate(shades):
        # dark hair shows its texture through glints, light hair through shadows
        lift = (0.0, 0.01, 0.04, 0.1)[i] if dark_hair else 0.0
        col = np.clip(hair_rgb * f + lift, 0, 1) * 255
        draw_polylines(canvas, lines[(group == i) & ~grey_pick], tuple(col), thick)
    greys = lines[grey_pick]
    third = len(greys) // 3
    # a few stray grey hairs in dark hair are fine and half-hidden; grey
    # and white heads show their white strands fully
    mix = float(np.clip(look.grey_fraction * 4.0, 0.45, 1.0))
    for i, f in enumerate((0.95, 0.8, 0.62)):
        col = white * f * mix + hair_rgb * (1 - mix)
        draw_polylines(canvas, greys[i * third : (i + 1) * third if i < 2 else None], tuple(col * 255), thick)
    gloss = cv2.subtract(cv2.cvtColor(canvas, cv2.COLOR_RGB2GRAY), cv2.cvtColor(base, cv2.COLOR_RGB2GRAY))
    # strands show inside the hair mass outline, not on the face, and
    # only a little way into bald skin
    keep = (clip * outline * np.float32(rng.uniform(0.45, 0.75) * (1.0 - 0.5 * texture))).astype(np.float32)
    base = cv2.blendLinear(canvas, base, keep, 1.0 - keep)
    gloss_f = cv2.GaussianBlur(gloss, (0, 0), 0.9 * detail).astype(np.float32) * (keep * np.float32(1 / 25))
    return base, np.minimum(gloss_f, 1.0)


#: Most of bald skin that scattered remaining hairs may cover (skin dominates: still loss).
REMNANT_MAX_COVER = 0.3

#: Shortest remaining hair, as a share of the head's size. The default 0 lets them be as short
#: as the look's hair, so on a short-haired or cropped look a whole head of them reads as
#: cropped hair (not loss) while labelled loss; ``scripts/dev/render_diffuse.py --min-length``
#: raises it for total-loss sets whose label a person would agree with.
REMNANT_MIN_LENGTH = 0.0


def draw_remnant_hairs(canvas: np.ndarray, layout: HeadLayout, look: Look, bald: np.ndarray, field: FlowField,
                       rng: np.random.Generator, detail: float) -> None:
    """Scattered terminal hairs still growing in bald skin (diffuse alopecia
    areata: skin dominates, hairs everywhere), drawn on the uint8 canvas in
    place. Their length covers at most :data:`REMNANT_MAX_COVER` of the skin."""
    inside = bald & (layout.hair_region | layout.scalp)
    area = float(np.count_nonzero(inside))
    if area < 16 or rng.random() > 0.85:
        return
    shortest = max(3.0 * detail, REMNANT_MIN_LENGTH * layout.size)
    length = float(np.clip(look.hair_length * layout.size, shortest, max(0.12 * layout.size, shortest)))
    thick = max(1, int(detail / 3.0))
    cover = REMNANT_MAX_COVER * look.remnant_hairs * rng.uniform(0.4, 1.0)
    n = int(min(cover * area / (length * thick * 1.3), 60_000))
    roots = sample_points(inside, n, rng)
    if len(roots) == 0:
        return
    steps = int(np.clip(length / (3.0 * detail), 2, 8))
    gravity = 0.0 if layout.view == "top" else float(np.clip(look.hair_length * 2.0, 0.0, 1.0))
    lines = grow_strands(roots, field, length * rng.uniform(0.4, 1.1, len(roots)).astype(np.float32),
                         steps, look.curl, gravity, rng)
    hair_rgb = np.asarray(look.hair_rgb, np.float32)
    white = np.asarray((0.86, 0.85, 0.82), np.float32)
    greys = rng.random(len(lines)) < look.grey_fraction
    over = canvas.copy()
    for sel, rgb in ((~greys, hair_rgb), (greys, white)):
        group = rng.integers(0, 2, len(lines))
        for g, f in enumerate((0.8, 1.1)):
            draw_polylines(over, lines[sel & (group == g)], tuple(np.clip(rgb * f, 0, 1) * 255), thick)
    opacity = float(rng.uniform(0.7, 0.95))
    cv2.addWeighted(over, opacity, canvas, 1.0 - opacity, 0.0, dst=canvas)
