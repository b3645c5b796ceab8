"""Phantom patients in memory: plans (which geometry each view of each visit
uses), geometry for a visit, and rendering.

A *plan* (:class:`PatientPlan`) is cheap and fixes everything that is not
pixels: the patient's name and split, the visit dates, and for each view of
each visit either procedural geometry or a real annotation (file name and
whether to mirror it). Rendering a plan gives :class:`PhantomVisit` objects
with the photographs and their exact masks.

Randomness: every random draw comes from a generator built by :func:`rng_for`
from the run's seed and a key naming what it is for (patient, view, visit,
purpose), so any view can be rendered alone, in any order, in any worker,
and come out the same.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from alonet.errors import InvalidValueError
from alonet.phantom.geometry import ViewGeometry, frame_shape, procedural_scalp, view_kind
from alonet.phantom.patterns import (
    PatientPattern,
    PatternState,
    evolve,
    hard_negatives,
    rasterize,
    sample_patient_pattern,
    sample_state,
    scalp_points,
    visit_growth,
)
from alonet.phantom.realmasks import RealMaskSet, RealRecord, split_of
from alonet.phantom.render import render_view, sample_look, visit_look
from alonet.phantom.render.look import STYLES, Look
from alonet.scoring.salt import salt_score, view_loss_percent
from alonet.views import VIEWS

#: Long side of the reference raster on which patterns are sampled and evolved
#: (so a patient's patches are the same whatever size is rendered).
REFERENCE_SIDE = 256

#: ``--size random``: share of photographs drawn between 320 and 640 px; the
#: rest are log-uniform between 640 and ``RANDOM_MAX_SIDE`` (about 6.8 MP at 3:4).
RANDOM_SMALL_SHARE = 0.55
RANDOM_MAX_SIDE = 3000

_PURPOSES = MappingProxyType({"look": 1, "pattern": 2, "scalp": 3, "state": 4, "render": 5, "date": 6, "size": 7,
                              "negatives": 8})


def rng_for(seed: int, *key: int | str) -> np.random.Generator:
    """A generator for ``key`` under ``seed``: independent of every other key,
    and of the order in which keys are used. Strings in the key are hashed."""
    parts: list[int] = []
    for k in key:
        if isinstance(k, str):
            if k in _PURPOSES:
                parts.append(_PURPOSES[k])
            else:
                parts.append(int.from_bytes(hashlib.sha256(k.encode()).digest()[:4], "big"))
        else:
            parts.append(int(k))
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(parts)))


# --------------------------------------------------------------------------- plans

#: A real patient's photographs per visit date: (record, view kind, mirrored).
_PhotosByDate = dict[str, list[tuple[RealRecord, str, bool]]]


@dataclass(frozen=True)
class ViewSource:
    """Where a view's geometry comes from: ``file`` None = procedural, else a
    real annotation file, ``mirror`` = flip it into canonical orientation."""

    file: str | None = None
    mirror: bool = False


@dataclass(frozen=True)
class VisitPlan:
    visit: int  # 1-based
    date: str  # ISO date
    views: dict[str, ViewSource]


@dataclass(frozen=True)
class PatientPlan:
    """Everything about a phantom patient except pixels. ``key`` is the
    integer that names the patient in every random key."""

    name: str
    key: int
    split: str
    visits: tuple[VisitPlan, ...]
    real_patient: str | None = None


def procedural_plan(index: int, visits: int, seed: int) -> PatientPlan:
    """A procedural patient: ``visits`` visits 4–17 weeks apart."""
    name = f"P{index + 1:04d}"
    rng = rng_for(seed, index, "date")
    day = _dt.date(2022, 1, 3) + _dt.timedelta(days=int(rng.integers(0, 730)))
    plans = []
    for v in range(visits):
        if v:
            day += _dt.timedelta(days=int(rng.integers(28, 120)))
        plans.append(VisitPlan(v + 1, day.isoformat(), {view: ViewSource() for view in VIEWS}))
    return PatientPlan(name, index, split_of(name), tuple(plans))


def _nearest(records_by_date: _PhotosByDate, date: str, kind: str,
             exclude: AbstractSet[str | None]) -> tuple[RealRecord, bool] | None:
    """The record of ``kind`` from the visit nearest in time to ``date``."""
    target = _dt.date.fromisoformat(date)
    best = None
    for d, items in records_by_date.items():
        for rec, k, mirror in items:
            if k != kind or rec.file in exclude:
                continue
            gap = abs((_dt.date.fromisoformat(d) - target).days)
            if best is None or (gap, d, rec.photo_index) < best[0]:
                best = ((gap, d, rec.photo_index), rec, mirror)
    return None if best is None else (best[1], best[2])


def real_patient_key(patient: str) -> int:
    """The random key of a real patient: from its id, so a real patient looks
    the same whichever other patients are written with it."""
    return (1 << 31) | (int.from_bytes(hashlib.sha256(f"real:{patient}".encode()).digest()[:4], "big") >> 1)


def _photos_by_date(records: list[RealRecord], masks: RealMaskSet) -> _PhotosByDate:
    """A patient's photographs per visit date in photo order, each with its
    view kind (midline/temporal) and whether it is mirrored (looks right)."""
    by_date: _PhotosByDate = {}
    for rec in sorted(records, key=lambda r: (r.visit_date, r.photo_index, r.file)):
        info = masks.shape(rec.file)
        by_date.setdefault(rec.visit_date, []).append((rec, info.kind, info.mirrored))
    return by_date


def _round_views(mids: list[tuple[RealRecord, bool]], sides: list[tuple[RealRecord, bool]],
                 j: int) -> dict[str, ViewSource]:
    """The views that round ``j`` of a visit's photographs fills: two midline
    photographs become top and back; a side photograph goes to the side it
    looks towards, or to the other one when a photograph of the pair took it."""
    views: dict[str, ViewSource] = {}
    for view, (rec, mirror) in zip(("top", "back"), mids[2 * j: 2 * j + 2]):
        views[view] = ViewSource(rec.file, mirror)
    for rec, mirror in sides[2 * j: 2 * j + 2]:
        own = "right" if mirror else "left"
        other = "left" if own == "right" else "right"
        views[own if own not in views else other] = ViewSource(rec.file, mirror)
    return views


def _borrowed(by_date: _PhotosByDate, date: str, kind: str,
              used: AbstractSet[str | None]) -> tuple[RealRecord, bool] | None:
    """A photograph of ``kind`` for a view the visit on ``date`` lacks: from the
    nearest other visit, else an unused one of this visit, else any."""
    near = _nearest({d: v for d, v in by_date.items() if d != date}, date, kind, used)
    if near is None:
        near = _nearest(by_date, date, kind, used)
    if near is None:
        near = _nearest(by_date, date, kind, set())
    return near


def _with_missing_views(views: dict[str, ViewSource], by_date: _PhotosByDate,
                        date: str) -> dict[str, ViewSource]:
    """``views`` completed to all of :data:`VIEWS` (in that order) with borrowed
    photographs, procedural where the patient has none of the kind."""
    views = dict(views)
    used = {v.file for v in views.values()}
    for view in VIEWS:
        if view in views:
            continue
        near = _borrowed(by_date, date, view_kind(view), used)
        if near is None:
            views[view] = ViewSource()
        else:
            rec, mirror = near
            views[view] = ViewSource(rec.file, mirror)
            used.add(rec.file)
    return {v: views[v] for v in VIEWS}


def _real_visits(by_date: _PhotosByDate) -> Iterator[tuple[str, dict[str, ViewSource]]]:
    """(date, views) of each phantom visit, in date order: one per two midline
    or two side photographs of a real visit."""
    for date in sorted(by_date):
        items = by_date[date]
        mids = [(r, m) for r, k, m in items if k == "midline"]
        sides = [(r, m) for r, k, m in items if k == "temporal"]
        rounds = max(1, -(-len(mids) // 2), -(-len(sides) // 2))
        for j in range(rounds):
            yield date, _with_missing_views(_round_views(mids, sides, j), by_date, date)


def real_plan(index: int, patient: str, records: list[RealRecord], masks: RealMaskSet,
              max_visits: int | None = None) -> PatientPlan:
    """A phantom patient built from one real patient's annotations.

    Each real visit (date) gives one phantom visit per two midline or two
    side photographs: midline photographs in photo order become top, back,
    top, ...; side photographs go to the side they look towards (a
    right-looking one stays a right view, so it reaches the disk in its own
    orientation), and when both of a pair look the same way the second takes
    the other side. A view the visit lacks is taken from the nearest visit of
    the same patient that has one (one real patient never lends masks to
    another), failing that from another photograph of this visit (one mask
    then serves two views), else it is procedural. ``index`` is the patient's place in the
    run (used in its name only through the real id).
    """
    plans: list[VisitPlan] = []
    for date, views in _real_visits(_photos_by_date(records, masks)):
        plans.append(VisitPlan(len(plans) + 1, date, views))
        if max_visits is not None and len(plans) >= max_visits:
            break
    return PatientPlan(f"R{patient}", real_patient_key(patient), split_of(patient), tuple(plans), patient)


def real_patient_order(masks: RealMaskSet, split: str, seed: int) -> list[str]:
    """Real patient ids of ``split`` in the order a run with ``seed`` uses them
    (a hash of seed and id, so it is stable and cheap)."""
    return sorted(masks.patients(split), key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())


def real_plans(masks: RealMaskSet, split: str, seed: int, patients: int | None = None,
               max_visits: int | None = None) -> list[PatientPlan]:
    """Plans for the first ``patients`` real patients of ``split`` in the
    seed's order (all when None)."""
    groups = masks.patients(split)
    order = real_patient_order(masks, split, seed)
    if patients is not None:
        order = order[:patients]
    return [real_plan(i, p, groups[p], masks, max_visits) for i, p in enumerate(order)]


# --------------------------------------------------------------------------- geometry


def visit_size(size: int | str, seed: int, patient: int, visit: int) -> int:
    """Long side of a visit's photographs: ``size`` itself, or for ``"random"``
    a draw between 320 px and several megapixels (same for the four views)."""
    if size != "random":
        return int(size)
    rng = rng_for(seed, patient, visit, "size")
    if rng.random() < RANDOM_SMALL_SHARE:
        return int(rng.integers(320, 641))
    return int(round(np.exp(rng.uniform(np.log(640), np.log(RANDOM_MAX_SIDE)))))


def procedural_frame(seed: int, patient: int, view: str, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """The canonical scalp of a procedural patient's view at long side ``size``.

    The same patient and view give the same region at every size. ``left``
    and ``right`` get different regions (two sides of one head), both in the
    canonical left-looking orientation; the renderer mirrors the right one."""
    rng = rng_for(seed, patient, view, "scalp")
    shape = frame_shape(size, rng)
    return procedural_scalp(view, shape, rng), shape


def procedural_states(seed: int, patient: int, visits: int, pattern: str | None = None
                      ) -> tuple[PatientPattern, dict[str, list[PatternState]]]:
    """The pattern and, per view, the state at each visit (on the reference raster)."""
    who = sample_patient_pattern(rng_for(seed, patient, "pattern"), pattern)
    states: dict[str, list[PatternState]] = {}
    for view in VIEWS:
        ref, _ = procedural_frame(seed, patient, view, REFERENCE_SIDE)
        state = sample_state(who, view, ref, rng_for(seed, patient, view, "state", 0))
        seq = [state]
        for v in range(1, visits):
            rng = rng_for(seed, patient, view, "state", v)
            state = evolve(state, visit_growth(who.trend, rng), ref, rng)
            seq.append(state)
        states[view] = seq
    return who, states


def real_geometry(masks: RealMaskSet, source: ViewSource, view: str, size: int,
                  seed: int, patient: int, visit: int) -> ViewGeometry:
    """A real annotation pair as canonical geometry at long side ``size``, with
    some hard-negative thinning drawn on it."""
    if source.file is None:
        raise ValueError("real_geometry needs a real view (a ViewSource with its annotation file); "
                         "a procedural view's geometry comes from procedural_frame")
    scalp, loss = masks.load(source.file, size)
    if source.mirror:
        scalp, loss = np.ascontiguousarray(scalp[:, ::-1]), np.ascontiguousarray(loss[:, ::-1])
    rng = rng_for(seed, patient, visit, view, "negatives")
    thin = hard_negatives(rng, scalp_points(scalp))
    _, thinning = rasterize(PatternState("real", thin=thin), scalp)
    return ViewGeometry(view, scalp, loss, thinning, "real", str(source.file), source.mirror)


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class PhantomView:
    """One rendered photograph with its ground truth (view orientation, as
    it would be written to disk)."""

    view: str
    image: np.ndarray  # (h, w, 3) uint8 RGB
    scalp: np.ndarray  # (h, w) bool
    hairloss: np.ndarray  # (h, w) bool
    loss_pct: float
    source: str
    pattern: str


@dataclass(frozen=True)
class PhantomVisit:
    """The four views of one visit and the visit's true SALT."""

    patient: str
    visit: int
    date: str
    split: str
    salt: float
    views: dict[str, PhantomView]
    style: str = "train"  # look style: "train" or "heldout"
    look: Look | None = None  # the visit's appearance (skin, hair, light), for analyses by look


def render_visits(plan: PatientPlan, seed: int, size: int | str = 320, masks: RealMaskSet | None = None,
                  camera=None, pattern: str | None = None, style: str = "train"):
    """Render every visit of ``plan``; yields :class:`PhantomVisit` in visit order.

    ``camera`` is passed to the renderer (``CameraConfig``); ``pattern`` forces
    a procedural pattern (tests, demos); ``style`` is the look style
    (``"train"``, or ``"heldout"`` for appearance training never sees, see
    :func:`alonet.phantom.render.sample_look`). Geometry does not depend on it.
    """
    first_look = sample_look(rng_for(seed, plan.key, "look"), style)
    states: dict[str, list[PatternState]] = {}  # per view, the state at each visit; only when a view has no file
    if any(src.file is None for vp in plan.visits for src in vp.views.values()):
        _, states = procedural_states(seed, plan.key, len(plan.visits), pattern)
    for vi, vp in enumerate(plan.visits):
        # same patient, another day: other clothes, haircut, light set-up, clips
        look = first_look if vi == 0 else visit_look(first_look, rng_for(seed, plan.key, vp.visit, "look"))
        side = visit_size(size, seed, plan.key, vp.visit)
        views: dict[str, PhantomView] = {}
        for view in VIEWS:
            src = vp.views[view]
            if src.file is None:
                scalp, _ = procedural_frame(seed, plan.key, view, side)
                state = states[view][vi]
                loss, thinning = rasterize(state, scalp)
                geo = ViewGeometry(view, scalp, loss, thinning, state.pattern, "procedural")
            else:
                if masks is None:
                    raise ValueError("a plan with real annotations needs the RealMaskSet")
                geo = real_geometry(masks, src, view, side, seed, plan.key, vp.visit)
            out = render_view(geo.scalp, geo.hairloss, view, look, rng_for(seed, plan.key, vp.visit, view, "render"),
                              out_size=None, thinning=geo.thinning, camera=camera)
            pct = view_loss_percent(out.hairloss, out.scalp, view=view)
            views[view] = PhantomView(view, out.image, out.scalp, out.hairloss, pct, geo.source, geo.pattern)
        salt = salt_score({v: views[v].loss_pct for v in VIEWS})
        yield PhantomVisit(plan.name, vp.visit, vp.date, plan.split, salt, views, look.style, look)


def render_patient(seed: int = 0, visits: int = 1, masks_dir: str | Path | RealMaskSet | None = None,
                   size: int | str = 320, *, patient: int = 0, split: str = "all", camera=None,
                   pattern: str | None = None, style: str = "train") -> list[PhantomVisit]:
    """Render one phantom patient in memory (nothing is written).

    Without ``masks_dir`` the patient is procedural patient number ``patient``
    (``pattern`` may force one of :data:`alonet.phantom.patterns.PATTERNS`);
    with it (a folder, or an open :class:`RealMaskSet` whose cache is then
    reused), ``patient`` picks the real patient of ``split`` in the seed's
    order, and ``visits`` caps how many of its visits are rendered. The result
    is identical to what ``alonet phantom`` writes for the same seed (before
    JPEG and PNG encoding). Views are weighted by :data:`alonet.views.VIEW_WEIGHTS`.
    ``style="heldout"`` renders the same patient with appearance families
    training never sees (a style-held-out test set).
    """
    if visits < 1:
        raise ValueError("visits must be at least 1")
    _check_style(style)
    if masks_dir is None:
        plan = procedural_plan(patient, visits, seed)
        return list(render_visits(plan, seed, size, None, camera, pattern, style))
    masks = masks_dir if isinstance(masks_dir, RealMaskSet) else RealMaskSet(masks_dir)
    order = real_patient_order(masks, split, seed)
    if not 0 <= patient < len(order):
        raise InvalidValueError(f"the {split} split of {masks.root} has {len(order)} patients, no number {patient}",
                                fix="choose a patient index below that, or another split")
    pid = order[patient]
    plan = real_plan(patient, pid, masks.patients(split)[pid], masks, visits)
    return list(render_visits(plan, seed, size, masks, camera, style=style))


def _check_style(style: str) -> None:
    if style not in STYLES:
        raise InvalidValueError(f"unknown phantom style {style!r}", fix=f"use one of: {', '.join(STYLES)}")


__all__ = [
    "PatientPlan", "PhantomView", "PhantomVisit", "ViewSource", "VisitPlan",
    "procedural_plan", "real_patient_order", "real_plan", "real_plans", "render_patient", "render_visits",
    "rng_for",
]
