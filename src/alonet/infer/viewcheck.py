"""View checks: is each photograph the view it is labelled as?

Two mistakes make a confident, wrong SALT: the same photograph given for two
views, and photographs given under the wrong view (top and left swapped moves
weight 0.40 onto a side view's percentage).

**Duplicates** (an error). Each photograph gets a 64-bit perceptual hash
(:func:`perceptual_hash`: the signs of the lowest 8x8 frequencies of a 32x32
grey copy's DCT against their median). Two views whose hashes differ in at most
``max_duplicate_distance`` bits show the same picture, also after re-encoding,
resizing or a slight exposure change; the visit is refused with
:class:`alonet.errors.DuplicateViewError`. Different views of one head differ in
about half of the bits.

**Label/content mismatch** (a ``view_mismatch`` flag naming the likely view;
it withholds the SALT like a retake, see ``alonet.infer.policy``).
The evidence comes from what a real photograph shows, not from how phantoms are
drawn: the scalp networks themselves. Each photograph is shown to the midline
network (top/back) and to the temporal network (side views) both as it is and
mirrored; :func:`view_evidence` records how *sure* each network is (mean of
``|2p - 1|`` over the picture) and the shape of the scalp region each one finds
(``alonet.data.maskshape.analyse_shape``: a side view's scalp is an arch cut
from below by the ear; the face side's leg of the arch is the shorter).

* A side view makes the temporal network surer than the midline network and
  gives a notched (ear) region; a top or back view the reverse.
* Which way a side view looks comes from the arch's legs, taken only when the
  photograph and its mirror image agree. A left/right swap leaves the SALT
  unchanged (both weigh 0.18), so it is a ``side_mismatch`` flag that asks for a
  look without withholding the score.
* Top and back are both midline views and are not told apart (the networks
  see no difference between them reliably); a top/back swap is not flagged.

The thresholds in :class:`ViewCheckConfig` favour precision (a flag should
mean a real mistake); the README's Reliability section gives the precision and
recall measured on phantom visits with deliberately swapped views
(``scripts/dev/measure_reliability.py``). The certainty margins depend on both
scalp networks, so a model set may carry its own in the midline network's JSON
(``metadata.view_check``, read by :func:`view_check_config_for`); without them
the defaults, calibrated for the bundled model, apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import cv2
import numpy as np

from alonet.data.maskshape import analyse_shape
from alonet.errors import DuplicateViewError, ModelError
from alonet.infer.gate import GATE_CODES
from alonet.infer.postprocess import clean_scalp
from alonet.infer.quality import needs_retake
from alonet.infer.viewmaps import mirror
from alonet.model.io import read_model_info, resolve_model_set
from alonet.model.preprocess import prepare_input, to_working_size
from alonet.views import VIEWS

#: Flag code of a photograph that looks like another kind of view than its label
#: (a side view given as top or back, or the reverse); it withholds the SALT.
MISMATCH_CODE = "view_mismatch"
#: Flag code of a side view that seems to look the other way (left given as right).
#: Left and right weigh the same in SALT, so it asks for a look and withholds nothing.
SIDE_CODE = "side_mismatch"


@dataclass(frozen=True)
class ViewCheckConfig:
    """Thresholds of the view checks (see the module doc)."""

    #: Hashes this close (bits of 64) are the same photograph.
    max_duplicate_distance: int = 8
    #: Temporal minus midline certainty above which a photograph looks like a side view ...
    #: Calibrated for the bundled model's two scalp networks (scripts/dev/measure_reliability.py,
    #: precision first): 0.005 since 2026-12-06, whose temporal network, fine-tuned with real
    #: side views, gave some correctly labelled top and back views a margin above -0.01; -0.01 for the
    #: 2026-12-05 default (its real-back midline network is surer of itself on every view), 0.0
    #: for the 2026-12-03/04 networks (the candidates keep theirs in their JSON, see
    #: view_check_config_for), 0.02 for the U-Net of 2026-11-26. The ear notch below does most
    #: of the separating.
    side_margin: float = 0.005
    #: ... and below which (negated) it looks like a top or back view (0.01 before 2026-12-05).
    midline_margin: float = 0.03
    #: A side view's scalp region has an ear notch at least this deep (fraction of its height).
    min_side_notch: float = 0.15
    #: A top/back view's temporal-network region has a notch no deeper than this.
    max_midline_notch: float = 0.12


def view_check_config_for(models) -> ViewCheckConfig:
    """The view-check thresholds of a model set: its midline network's own, or the defaults.

    ``models`` is what :class:`alonet.infer.Pipeline` takes (None: no files). A midline network's
    JSON may hold ``metadata.view_check``, e.g. ``{"side_margin": 0.0,
    "midline_margin": 0.01}``: the margins measured for that network with
    ``scripts/dev/measure_reliability.py``. In-memory networks and networks
    without it (a fresh training or adaptation) get the defaults.
    """
    if isinstance(models, Mapping):
        value = models.get("scalp-midline")
        if not isinstance(value, (str, Path)):
            return ViewCheckConfig()
        json_path = Path(value).with_suffix(".json")
    elif isinstance(models, (str, Path)):
        json_path = resolve_model_set(models, tasks=("scalp-midline",))["scalp-midline"]
    else:  # no model files (a pipeline built round a ready backend)
        return ViewCheckConfig()
    settings = read_model_info(json_path).get("metadata", {}).get("view_check", {})
    known = {f.name for f in fields(ViewCheckConfig)}
    unknown = sorted(set(settings) - known) if isinstance(settings, dict) else ["(not a dict)"]
    if unknown:
        raise ModelError(f"{json_path}: unknown view_check setting(s) {', '.join(map(str, unknown))}",
                         fix=f"use only {', '.join(sorted(known))} in metadata.view_check")
    try:
        return ViewCheckConfig(**{k: type(getattr(ViewCheckConfig, k))(v) for k, v in settings.items()})
    except (TypeError, ValueError):
        raise ModelError(f"{json_path}: metadata.view_check holds a value that is not a number",
                         fix="give numbers, e.g. {\"side_margin\": 0.0}") from None


def fit_margins(evidence: Sequence[tuple[str, ViewEvidence]], base: ViewCheckConfig = ViewCheckConfig(),
                step: float = 0.005, limit: float = 0.05) -> ViewCheckConfig:
    """Certainty margins that flag none of these correctly labelled photographs (precision first).

    ``evidence``: ``(true view, ViewEvidence)`` pairs. ``side_margin`` becomes the
    smallest multiple of ``step`` at or above every top/back photograph's margin
    that passes the ear-notch test of a side view, plus one ``step``;
    ``midline_margin`` likewise for the side photographs' negated margins that
    pass a midline view's notch test. Where no photograph constrains a margin,
    ``base``'s stays. Both are clipped to ``[-limit, limit]`` (``midline_margin``
    to ``[0, limit]``).
    """
    def above(values: list[float], keep: float) -> float:
        if not values:
            return keep
        return math.ceil(round(max(values) / step, 6)) * step + step

    midline = [e.margin for view, e in evidence
               if view in ("top", "back") and e.temporal_notch >= base.min_side_notch]
    side = [-e.margin for view, e in evidence
            if view in ("left", "right") and e.temporal_notch <= base.max_midline_notch]
    side_margin = min(limit, max(-limit, above(midline, base.side_margin)))
    midline_margin = min(limit, max(0.0, above(side, base.midline_margin)))
    return replace(base, side_margin=round(side_margin, 4), midline_margin=round(midline_margin, 4))


def calibrate_view_checks(pipeline, patients: int = 50, seed: int = 5000, size: int = 320,
                          progress: bool = False) -> tuple[ViewCheckConfig, int]:
    """Fit a pipeline's view-check margins on procedural phantom visits (correct labels).

    Renders ``patients`` phantom patients (one visit, four views each, seeds
    ``seed``, ``seed + 1``, ...), takes the scalp networks' evidence and returns
    ``(fit_margins(...), photographs used)``. Used by ``alonet adapt`` when it
    fine-tunes the midline network, whose certainty the margins depend on.
    """
    from tqdm import tqdm

    from alonet.phantom import render_patient

    evidence: list[tuple[str, ViewEvidence]] = []
    for number in tqdm(range(patients), desc="view-check margins", unit="patient", disable=not progress):
        visit = render_patient(seed + number, visits=1, size=size)[0]
        photos = [visit.views[v].image for v in VIEWS]
        evidence += list(zip(VIEWS, view_evidence(photos, pipeline)))
    return fit_margins(evidence, pipeline.view_check_config), len(evidence)


@dataclass(frozen=True)
class ViewEvidence:
    """What the scalp networks say about one photograph (see the module doc)."""

    midline_certainty: float
    temporal_certainty: float
    temporal_notch: float
    facing: str | None  # "left" / "right" when the photograph and its mirror agree, else None

    @property
    def margin(self) -> float:
        """Temporal minus midline certainty: > 0 looks like a side view."""
        return self.temporal_certainty - self.midline_certainty


def certainty(prob: np.ndarray) -> float:
    """How sure a network is of a probability map: mean of ``|2p - 1|`` (0 unsure .. 1 sure)."""
    return float(np.mean(np.abs(2.0 * prob - 1.0)))


def grey_thumbnail(image: np.ndarray) -> np.ndarray:
    """The 32x32 grey copy (float32) that the hash and the flatness test read."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def perceptual_hash(image: np.ndarray, thumbnail: np.ndarray | None = None) -> int:
    """64-bit DCT hash of an RGB photograph (see the module doc); ``thumbnail``: its
    :func:`grey_thumbnail`, when already made."""
    small = grey_thumbnail(image) if thumbnail is None else thumbnail
    low = cv2.dct(small)[:8, :8].ravel()
    bits = low[1:] > np.median(low[1:])  # the DC term only says how bright the picture is
    return int(sum(1 << i for i, b in enumerate(bits) if b))


def hash_distance(a: int, b: int) -> int:
    """Number of differing bits."""
    return int(bin(a ^ b).count("1"))


def is_flat(image: np.ndarray, thumbnail: np.ndarray | None = None) -> bool:
    """True for a picture with (almost) nothing in it: its 32x32 grey copy varies by under
    one grey level, so its hash is noise and says nothing about which picture it is."""
    small = grey_thumbnail(image) if thumbnail is None else thumbnail
    return float(small.std()) < 1.0


def find_duplicates(photos: Mapping[str, np.ndarray],
                    config: ViewCheckConfig = ViewCheckConfig()) -> list[tuple[str, str, int]]:
    """Pairs ``(view, view, distance)`` of photographs that show the same picture.

    Flat pictures (:func:`is_flat`) are left out: two blank frames are not "the same photograph".
    """
    thumbnails = {view: grey_thumbnail(photo) for view, photo in photos.items()}  # one per photograph
    hashes = {view: perceptual_hash(photos[view], small) for view, small in thumbnails.items()
              if not is_flat(photos[view], small)}
    names = list(hashes)
    pairs = []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            distance = hash_distance(hashes[a], hashes[b])
            if distance <= config.max_duplicate_distance:
                pairs.append((a, b, distance))
    return pairs


@dataclass(frozen=True, eq=False)
class KnownPasses:
    """What the pipeline already computed for a photograph: the photograph at the
    working size (in its own orientation), network inputs ``{(size, mirrored):
    uint8 image}`` and scalp-network outputs ``{(task, mirrored): probability
    map}`` (e.g. the midline network on a top view)."""

    working: np.ndarray | None = None
    outputs: Mapping[tuple[str, bool], np.ndarray] = field(default_factory=dict)
    inputs: Mapping[tuple[int, bool], np.ndarray] = field(default_factory=dict)


def view_evidence(photos: list[np.ndarray], pipeline,
                  known: list[KnownPasses | None] | None = None) -> list[ViewEvidence]:
    """Evidence for each photograph from the pipeline's scalp networks (batched).

    ``known`` (aligned with ``photos``) holds what the pipeline already has, so
    that only the missing passes run (same inputs, same outputs).
    """
    if not photos:
        return []
    configs = pipeline.backend.configs
    post = pipeline.config.postprocess
    passes = [k or KnownPasses() for k in (known or [None] * len(photos))]
    working = [k.working for k in passes]
    inputs = [dict(k.inputs) for k in passes]  # grows as the batches below make inputs

    def at_working_size(i: int) -> np.ndarray:
        photo = working[i]
        if photo is None:
            photo = working[i] = to_working_size(photos[i])  # the pipeline's own input route
        return photo

    def batch(task: str, mirrored: bool) -> list[np.ndarray]:
        size = configs[task].input_size
        out = [passes[i].outputs.get((task, mirrored)) for i in range(len(photos))]
        todo = [i for i, prob in enumerate(out) if prob is None]
        made: dict[int, np.ndarray] = {}
        if todo:
            items = []
            for i in todo:
                image = inputs[i].get((size, mirrored))
                if image is None:
                    photo = at_working_size(i)
                    image = inputs[i][size, mirrored] = prepare_input(mirror(photo) if mirrored else photo, size)
                items.append(image)
            made = dict(zip(todo, pipeline.backend.predict(task, np.stack(items))))
        return [made[i] if prob is None else prob for i, prob in enumerate(out)]

    midline = batch("scalp-midline", False)
    as_is = batch("scalp-temporal", False)
    mirrored_view = batch("scalp-temporal", True)
    out = []
    for m, a, b in zip(midline, as_is, mirrored_view):
        shape_a = analyse_shape(clean_scalp(a, post))
        shape_b = analyse_shape(clean_scalp(b, post))
        facing = None
        if shape_a.facing is not None and shape_b.facing is not None and shape_a.facing != shape_b.facing:
            facing = shape_a.facing  # canonical "left" = the face looks to the image's left
        out.append(ViewEvidence(
            midline_certainty=certainty(m),
            temporal_certainty=max(certainty(a), certainty(b)),
            temporal_notch=max(shape_a.notch_depth, shape_b.notch_depth),
            facing=facing,
        ))
    return out


def likely_view(label: str, evidence: ViewEvidence, config: ViewCheckConfig = ViewCheckConfig()) -> str | None:
    """The view a photograph labelled ``label`` more likely shows, or None when it fits.

    Returns ``"left"``/``"right"``, ``"left or right"`` (a side view, direction
    unclear) or ``"top or back"``.
    """
    side_like = evidence.margin > config.side_margin and evidence.temporal_notch >= config.min_side_notch
    midline_like = evidence.margin < -config.midline_margin and evidence.temporal_notch <= config.max_midline_notch
    if label in ("top", "back"):
        if side_like:
            return evidence.facing or "left or right"
        return None
    if midline_like:
        return "top or back"
    if side_like and evidence.facing is not None and evidence.facing != label:
        return evidence.facing
    return None


def mismatch_flag(label: str, likely: str) -> dict:
    """The flag for a photograph labelled ``label`` that looks like ``likely``."""
    if label in ("left", "right") and likely in ("left", "right"):
        return {"code": SIDE_CODE,
                "message": f"the photograph given as {label} seems to look the other way (a {likely} view); "
                           "check the label (left and right weigh the same, so the SALT is still given)"}
    return {"code": MISMATCH_CODE,
            "message": f"the photograph given as {label} looks like a {likely} view; check the labels "
                       "(swapped views give a wrong SALT)"}


def check_views(results: Mapping, pipeline, config: ViewCheckConfig = ViewCheckConfig(),
                known: Mapping[str, KnownPasses | None] | None = None) -> dict:
    """Run both checks on a visit's ``{view: ViewResult}``; return them with mismatch flags.

    Raises DuplicateViewError when two views show the same photograph. Views the
    gate refused (no scalp measured) are left out of the mismatch check.
    ``known``: per view, scalp-network outputs the pipeline already computed
    (see :func:`view_evidence`).
    """
    # Photographs the gate refused (too small, no content, ...) already carry their own flag.
    comparable = {v: r.image for v, r in results.items()
                  if not any(isinstance(f, dict) and f.get("code") in GATE_CODES for f in r.flags)}
    duplicates = find_duplicates(comparable, config)
    if duplicates:
        a, b, distance = duplicates[0]
        names = {v: results[v].source for v in (a, b)}
        shown = "" if not all(names.values()) else f" ({names[a]} and {names[b]})"
        raise DuplicateViewError(
            f"the {a} and {b} photographs are the same picture{shown}; each view needs its own photograph",
            fix="give the photograph of each view under its own label")
    checkable = [v for v in VIEWS if v in results and results[v].loss_pct is not None]
    known = known or {}
    evidence = view_evidence([results[v].image for v in checkable], pipeline,
                             [known.get(v) for v in checkable])
    out = dict(results)
    for view, found in zip(checkable, evidence):
        likely = likely_view(view, found, config)
        if likely is not None:
            flags = [*results[view].flags, mismatch_flag(view, likely)]
            out[view] = replace(results[view], flags=flags, retake=needs_retake(flags))
    return out
