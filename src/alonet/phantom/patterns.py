"""Alopecia-areata patterns on a scalp region, and how they change between visits.

A pattern is kept as a small, resolution-free *state* (:class:`PatternState`):
round or oval patches (:class:`Blob`) in coordinates relative to the scalp
region's bounding box, islands of remaining hair inside a bald scalp, the width
of an ophiasis band along the lower margin, and fields of thinned hair. The
state is rasterised onto any scalp mask by :func:`rasterize`, so the same
state gives the same picture at 320 px and at 3000 px, and the ground truth of
a visit is exactly that raster.

Patterns (patient level, :data:`PATTERNS`): ``none``, ``single`` (one round
patch), ``multiple`` (several patches), ``confluent`` (clustered patches that
merge into irregular areas), ``ophiasis`` (a band along the occipital and
temporal margin), ``diffuse`` (broad thinning with irregular loss where it is
worst), ``near_total`` (bald scalp with islands of hair) and ``total``.
The weights lean towards heavy loss: the shared annotations average 17.6 %
loss (median 6 %), but trials enrol patients with SALT ≥ 50, and real-mask
phantoms already carry the clinic's own distribution.

Longitudinal change (:func:`evolve`) follows a patient-level *trend*:
``progressing`` (patches grow, new ones appear next to old ones and merge,
islands shrink), ``regrowing`` (patches shrink and vanish, leaving a ring of
regrowing short hair, islands of hair appear and spread), ``stable`` or
``fluctuating`` (each visit draws its own direction).

Thinning (``thinning`` maps) is never hair loss: it is the hard negative
"sparse hair with scalp glimpsed through it" that the renderer draws with
fewer strands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import cv2
import numpy as np

from alonet.phantom.geometry import fill_polygon, view_kind
from alonet.phantom.sampling import weighted_choice

#: Patient-level patterns and their sampling weights.
PATTERNS: Mapping[str, float] = MappingProxyType({
    "none": 0.05,
    "single": 0.1,
    "multiple": 0.15,
    "confluent": 0.17,
    "ophiasis": 0.12,
    "diffuse": 0.12,
    "near_total": 0.17,
    "total": 0.12,
})

#: Patient-level longitudinal trends and their sampling weights.
TRENDS: Mapping[str, float] = MappingProxyType({"progressing": 0.3, "regrowing": 0.35, "stable": 0.15,
                                                "fluctuating": 0.2})

#: Mean log growth of patch radii per visit for each trend.
_GROWTH: Mapping[str, float] = MappingProxyType({"progressing": 0.28, "regrowing": -0.4, "stable": 0.0})

#: Patches smaller than this (radius, in scalp half-sizes) have regrown.
_MIN_RADIUS = 0.04


@dataclass(frozen=True)
class Blob:
    """A patch-like region. ``u, v``: centre in scalp-box coordinates (-1..1,
    the box's centre is 0, its edges ±1); ``r``: radius in units of the box's
    half-size (geometric mean of half width and half height); ``aspect`` and
    ``angle`` make it oval; ``amps``/``phases`` bend its edge (harmonics 2..5);
    ``strength`` (0..1) is used by thinning fields."""

    u: float
    v: float
    r: float
    aspect: float = 1.0
    angle: float = 0.0
    amps: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    phases: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
    strength: float = 1.0


@dataclass(frozen=True)
class PatternState:
    """The hair state of one view at one visit (see the module docstring)."""

    pattern: str
    loss: tuple[Blob, ...] = ()
    islands: tuple[Blob, ...] = ()
    base: bool = False  # the whole scalp is bald except the islands
    band: float = 0.0  # ophiasis band width, fraction of the scalp box height
    diffuse: float = 0.0  # 0..1: how much of the thinning field has become loss
    thin: tuple[Blob, ...] = ()  # persistent thinning that stays hair (hard negatives)
    field: tuple[Blob, ...] = ()  # the diffuse-thinning field (loss where it is worst)
    regrowth: tuple[Blob, ...] = ()  # rings of short regrowing hair (this visit only)
    seed: int = 0  # drives the band's and the diffuse field's irregular edges


@dataclass(frozen=True)
class PatientPattern:
    """What a phantom patient has: a pattern, a trend and the view where a
    single patch lives."""

    pattern: str
    trend: str
    main_view: str


def sample_patient_pattern(rng: np.random.Generator, pattern: str | None = None) -> PatientPattern:
    """Draw a patient's pattern (or use ``pattern``), trend and main view."""
    name = pattern if pattern is not None else weighted_choice(rng, list(PATTERNS), list(PATTERNS.values()))
    if name not in PATTERNS:
        raise ValueError(f"unknown pattern {name!r}; expected one of {', '.join(PATTERNS)}")
    trend = weighted_choice(rng, list(TRENDS), list(TRENDS.values()))
    main_view = str(rng.choice(["top", "top", "back", "left", "right"]))
    return PatientPattern(name, trend, main_view)


# --------------------------------------------------------------------------- sampling


def _random_blob(rng: np.random.Generator, u: float, v: float, r: float, irregular: float = 0.12) -> Blob:
    return Blob(
        u=float(u), v=float(v), r=float(r),
        aspect=float(np.exp(rng.normal(0.0, 0.18))),
        angle=float(rng.uniform(0, np.pi)),
        amps=tuple(float(a) for a in rng.normal(0.0, irregular, 4) / np.arange(1, 5)),
        phases=tuple(float(p) for p in rng.uniform(0, 2 * np.pi, 4)),
    )


def _point_in(scalp_uv: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """A random (u, v) among the scalp's pixels (``scalp_uv`` is (N, 2))."""
    if len(scalp_uv) == 0:
        return 0.0, 0.0
    u, v = scalp_uv[int(rng.integers(len(scalp_uv)))]
    return float(u), float(v)


def scalp_points(scalp: np.ndarray, stride: int | None = None) -> np.ndarray:
    """Scalp pixels in scalp-box coordinates (N, 2), subsampled on a grid."""
    box = _box(scalp)
    if box is None:
        return np.zeros((0, 2))
    cx, cy, hw, hh = box
    step = stride or max(1, int(max(scalp.shape) // 96))
    ys, xs = np.nonzero(scalp[::step, ::step])
    return np.stack([(xs * step - cx) / hw, (ys * step - cy) / hh], axis=1)


def _satellites(rng: np.random.Generator, around: Blob, n: int) -> list[Blob]:
    """Small patches at the edge of ``around`` (fragmented margins, future merges)."""
    out = []
    for _ in range(n):
        a = rng.uniform(0, 2 * np.pi)
        d = around.r * rng.uniform(0.8, 1.4)
        out.append(_random_blob(rng, around.u + d * np.cos(a), around.v + d * np.sin(a), around.r * rng.uniform(0.15, 0.4)))
    return out


def hard_negatives(rng: np.random.Generator, pts: np.ndarray, p: float = 0.35) -> tuple[Blob, ...]:
    """Sometimes a patch or two of thinned (not lost) hair."""
    if rng.random() >= p:
        return ()
    out = []
    for _ in range(int(rng.integers(1, 3))):
        b = _random_blob(rng, *_point_in(pts, rng), rng.uniform(0.2, 0.6), irregular=0.2)
        out.append(replace(b, strength=float(rng.uniform(0.3, 0.8))))
    return tuple(out)


@dataclass(frozen=True)
class _Spot:
    """Where a first visit's state is drawn: the view (as given), whether it is
    the patient's main view, whether it is a side view, and the scalp's points."""

    view: str
    main: bool
    temporal: bool
    pts: np.ndarray


def _single_patch(spot: _Spot, rng: np.random.Generator) -> dict:
    """One round patch on the main view; a small one on a quarter of the others."""
    if spot.main or rng.random() < 0.25:
        r = rng.uniform(0.15, 0.5) if spot.main else rng.uniform(0.08, 0.2)
        return {"loss": (_random_blob(rng, *_point_in(spot.pts, rng), r, irregular=0.08),)}
    return {}


def _multiple_patches(spot: _Spot, rng: np.random.Generator) -> dict:
    """Several patches, some with satellites at their edge."""
    loss: list[Blob] = []
    for _ in range(int(rng.poisson(2.5)) + (1 if rng.random() < 0.7 else 0)):
        b = _random_blob(rng, *_point_in(spot.pts, rng), rng.uniform(0.08, 0.32))
        loss.append(b)
        if rng.random() < 0.3:
            loss.extend(_satellites(rng, b, int(rng.integers(1, 4))))
    return {"loss": tuple(loss)}


def _confluent_patches(spot: _Spot, rng: np.random.Generator) -> dict:
    """One to three clusters of overlapping patches that merge."""
    loss: list[Blob] = []
    for _ in range(int(rng.integers(1, 4))):
        cu, cv = _point_in(spot.pts, rng)
        spread = rng.uniform(0.2, 0.5)
        for _ in range(int(rng.integers(3, 8))):
            loss.append(_random_blob(rng, cu + rng.normal(0, spread), cv + rng.normal(0, spread),
                                     rng.uniform(0.15, 0.42), irregular=0.18))
    return {"loss": tuple(loss)}


def _ophiasis_band(spot: _Spot, rng: np.random.Generator) -> dict:
    """A band along the lower margin (none on the top view) and a few patches."""
    loss: list[Blob] = []
    if spot.view == "top":
        for _ in range(int(rng.poisson(0.8))):
            loss.append(_random_blob(rng, *_point_in(spot.pts, rng), rng.uniform(0.08, 0.25)))
        return {"loss": tuple(loss)}
    band = float(rng.uniform(0.1, 0.3) if spot.temporal else rng.uniform(0.12, 0.35))
    for _ in range(int(rng.poisson(0.7))):
        loss.append(_random_blob(rng, *_point_in(spot.pts, rng), rng.uniform(0.08, 0.25)))
    return {"loss": tuple(loss), "band": band}


def _diffuse_field(spot: _Spot, rng: np.random.Generator) -> dict:
    """A field of broad thinning, part of it lost where it is worst."""
    field_blobs: list[Blob] = []
    for _ in range(int(rng.integers(1, 4))):
        b = _random_blob(rng, *_point_in(spot.pts, rng), rng.uniform(0.5, 1.2), irregular=0.2)
        field_blobs.append(replace(b, strength=float(rng.uniform(0.7, 1.0))))
    return {"field": tuple(field_blobs), "diffuse": float(rng.uniform(0.25, 0.75))}


def _near_total_islands(spot: _Spot, rng: np.random.Generator) -> dict:
    """Bald scalp with one to five islands of hair."""
    islands = [_random_blob(rng, *_point_in(spot.pts, rng), rng.uniform(0.08, 0.35), irregular=0.2)
               for _ in range(int(rng.integers(1, 6)))]
    return {"base": True, "islands": tuple(islands)}


def _all_bald(spot: _Spot, rng: np.random.Generator) -> dict:
    """The whole scalp bald (no draws)."""
    return {"base": True}


#: How each pattern's first visit is drawn (fields of :class:`PatternState`); ``none`` has nothing.
_FIRST_VISIT: Mapping[str, Callable[[_Spot, np.random.Generator], dict]] = MappingProxyType({
    "single": _single_patch,
    "multiple": _multiple_patches,
    "confluent": _confluent_patches,
    "ophiasis": _ophiasis_band,
    "diffuse": _diffuse_field,
    "near_total": _near_total_islands,
    "total": _all_bald,
})


def sample_state(
    patient: PatientPattern, view: str, scalp: np.ndarray, rng: np.random.Generator
) -> PatternState:
    """The first visit's state of ``view`` for a patient with ``patient.pattern``,
    placed on the canonical ``scalp`` mask."""
    pts = scalp_points(scalp)
    spot = _Spot(view, view == patient.main_view, view_kind(view) == "temporal", pts)
    seed = int(rng.integers(0, 2**31 - 1))
    thin = hard_negatives(rng, pts)
    draw = _FIRST_VISIT.get(patient.pattern)
    fields = draw(spot, rng) if draw is not None else {}
    return PatternState(pattern=patient.pattern, thin=thin, seed=seed, **fields)


# --------------------------------------------------------------------------- evolution


def visit_growth(trend: str, rng: np.random.Generator) -> float:
    """Mean log growth of patches from one visit to the next for ``trend``."""
    if trend == "fluctuating":
        return float(rng.normal(0.0, 0.35))
    return float(_GROWTH[trend] + rng.normal(0.0, 0.06))


def evolve(state: PatternState, growth: float, scalp: np.ndarray, rng: np.random.Generator) -> PatternState:
    """The state at the next visit, given the visit's mean log ``growth`` of
    patches (positive: worse, negative: regrowth)."""
    pts = scalp_points(scalp)
    loss: list[Blob] = []
    regrowth: list[Blob] = []
    for b in state.loss:
        g = growth + rng.normal(0.0, 0.12)
        r = b.r * float(np.exp(g))
        moved = replace(b, u=b.u + rng.normal(0, 0.02), v=b.v + rng.normal(0, 0.02))
        if g < 0:  # where the patch was, short hair is coming back
            regrowth.append(replace(b, strength=float(rng.uniform(0.5, 0.85))))
        if r >= _MIN_RADIUS:
            loss.append(replace(moved, r=r))
    if growth > 0:
        for _ in range(int(rng.poisson(0.5 + 2.0 * growth))):
            if loss and rng.random() < 0.5:  # next to an existing patch: they will merge
                loss.extend(_satellites(rng, loss[int(rng.integers(len(loss)))], 1))
            else:
                loss.append(_random_blob(rng, *_point_in(pts, rng), rng.uniform(0.05, 0.16)))
    islands: list[Blob] = []
    for b in state.islands:
        r = b.r * float(np.exp(-growth + rng.normal(0.0, 0.12)))
        if r >= _MIN_RADIUS:
            islands.append(replace(b, r=r))
    if state.base and growth < 0:
        for _ in range(int(rng.poisson(0.6 - 2.0 * growth))):
            islands.append(_random_blob(rng, *_point_in(pts, rng), rng.uniform(0.05, 0.18), irregular=0.2))
    band = state.band * float(np.exp(growth + rng.normal(0.0, 0.08)))
    if band < 0.03:
        band = 0.0
    diffuse = float(np.clip(state.diffuse + 0.6 * growth, 0.0, 0.95)) if state.diffuse > 0 else 0.0
    return replace(state, loss=tuple(loss), islands=tuple(islands), band=band, diffuse=diffuse,
                   regrowth=tuple(regrowth))


# --------------------------------------------------------------------------- rasterising


def _box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Centre and half-sizes (cx, cy, hw, hh) of a mask's bounding box."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    return (x0 + x1) / 2.0, (y0 + y1) / 2.0, max((x1 - x0) / 2.0, 1.0), max((y1 - y0) / 2.0, 1.0)


def blob_polygon(b: Blob, box: tuple[float, float, float, float], n: int = 72) -> np.ndarray:
    """The outline of ``b`` in pixel coordinates (n, 2)."""
    cx, cy, hw, hh = box
    unit = float(np.sqrt(hw * hh))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.arange(2, 2 + len(b.amps))[:, None]
    rho = 1.0 + (np.asarray(b.amps)[:, None] * np.cos(k * t[None] + np.asarray(b.phases)[:, None])).sum(axis=0)
    rho = np.maximum(rho, 0.2) * b.r * unit
    x = rho * np.cos(t) * np.sqrt(b.aspect)
    y = rho * np.sin(t) / np.sqrt(b.aspect)
    ca, sa = np.cos(b.angle), np.sin(b.angle)
    return np.stack([cx + b.u * hw + ca * x - sa * y, cy + b.v * hh + sa * x + ca * y], axis=1)


def _union(blobs: tuple[Blob, ...], box, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    for b in blobs:
        out |= fill_polygon(blob_polygon(b, box), shape)
    return out


def _soft_field(blobs: tuple[Blob, ...], box, shape: tuple[int, int]) -> np.ndarray:
    """Max over blobs of strength × a soft-edged fill (float32 0..1)."""
    out = np.zeros(shape, np.float32)
    sigma = 0.08 * float(np.sqrt(box[2] * box[3]))
    for b in blobs:
        m: np.ndarray = fill_polygon(blob_polygon(b, box), shape).astype(np.float32)
        if sigma > 0.3:
            m = cv2.GaussianBlur(m, (0, 0), sigma)
        np.maximum(out, b.strength * m, out=out)
    return out


def _coarse_noise(shape: tuple[int, int], seed: int, cells: int) -> np.ndarray:
    """Smooth noise in about -1..1, the same picture at any resolution for a seed."""
    h, w = shape
    grid = np.random.default_rng(seed).standard_normal((cells + 1, cells + 1)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC) / 1.2


def lower_margin_distance(scalp: np.ndarray) -> np.ndarray:
    """Distance (px) of each pixel to the scalp region's lower margin: the
    border pixels with no scalp below them (the nape or temporal hairline and
    the edge round the ear), and, in the lower half, the side borders."""
    m = scalp
    below_out = np.ones_like(m)
    below_out[:-1] = ~m[1:]
    side_out = np.zeros_like(m)
    side_out[:, 1:] |= ~m[:, :-1]
    side_out[:, :-1] |= ~m[:, 1:]
    side_out[:, 0] = True
    side_out[:, -1] = True
    box = _box(m)
    lower_half = np.zeros_like(m)
    if box is not None:
        lower_half[int(box[1]):] = True
    edge = m & (below_out | (side_out & lower_half))
    if not edge.any():
        return np.full(m.shape, np.inf, np.float32)
    return cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, 5)


def rasterize(state: PatternState, scalp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The state on ``scalp``: ``(hairloss, thinning)``; hairloss is a bool mask
    inside the scalp, thinning a float32 0..1 map (hard negative, not loss)."""
    shape = scalp.shape
    box = _box(scalp)
    if box is None:
        return np.zeros(shape, bool), np.zeros(shape, np.float32)
    loss = _union(state.loss, box, shape)
    if state.base:
        loss |= ~_union(state.islands, box, shape)
    if state.band > 0:
        dist = lower_margin_distance(scalp)
        wiggle = 1.0 + 0.35 * _coarse_noise(shape, state.seed, 6)
        loss |= dist < state.band * 2.0 * box[3] * wiggle
    thinning = np.maximum(_soft_field(state.thin, box, shape), _soft_field(state.regrowth, box, shape))
    if state.field:
        field = _soft_field(state.field, box, shape)
        if state.diffuse > 0:
            worst = field * (0.6 + 0.4 * _coarse_noise(shape, state.seed + 1, 10))
            loss |= worst > (1.0 - state.diffuse)
        np.maximum(thinning, field, out=thinning)
    return loss & scalp, np.clip(thinning, 0.0, 1.0).astype(np.float32)
