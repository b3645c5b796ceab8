"""What the pipeline returns: one photograph's result and a visit's.

:class:`ViewResult` holds a photograph with its masks (kept at network size and
enlarged when read, ``alonet.infer.viewmaps``), its % of scalp with hair loss,
confidence and quality flags; :class:`VisitResult` the views of a visit with
their SALT. :func:`visit_from_views` combines view results into a visit (the
web app calls it again after a correction); :func:`refused_view` is the result
of a photograph the gate refused. Both shapes' ``to_dict`` is the JSON of
``report.json``, the web API and ``alonet batch``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alonet.errors import InvalidValueError
from alonet.infer.policy import decide
from alonet.infer.viewmaps import ViewMaps, full_size_map
from alonet.scoring.salt import SaltResult, aa_iga_level, salt_result, shown_salt
from alonet.views import VIEW_WEIGHTS, VIEWS, normalize_view


@dataclass(frozen=True, eq=False)
class ViewResult:
    """Everything the pipeline found in one photograph.

    ``image`` is the photograph the masks belong to (uint8 RGB, after EXIF
    orientation). ``scalp_prob`` and ``hairloss_prob`` (float32 0..1, the
    networks' raw confidence maps), ``scalp_mask`` and ``hairloss_mask`` (bool,
    after post-processing; hair loss lies inside the scalp) have the
    photograph's own size (H, W); they are kept at network size in ``maps``
    and enlarged the first time they are read (``alonet.infer.viewmaps``).
    ``loss_pct`` is ``100 * |hair loss| / |scalp|`` measured on the masks at
    network size, or None when no scalp was found. ``confidence`` (0..1) is the
    share of scalp pixels the networks were sure about (see ``alonet.infer.postprocess``).
    ``flags`` are ``{"code", "message"}`` dicts; ``retake`` is True when one of
    them asks for a new photograph. ``corrected`` is True for masks a person
    corrected (see ``Pipeline.result_from_masks``).
    """

    view: str
    image: np.ndarray
    maps: ViewMaps
    loss_pct: float | None
    confidence: float
    flags: list[dict] = field(default_factory=list)
    retake: bool = False
    source: str | None = None
    corrected: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the photograph."""
        return int(self.image.shape[1]), int(self.image.shape[0])

    scalp_prob = full_size_map("scalp_prob")
    hairloss_prob = full_size_map("hairloss_prob")
    scalp_mask = full_size_map("scalp_mask")
    hairloss_mask = full_size_map("hairloss_mask")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        return {
            "view": self.view,
            "source": self.source,
            "width": self.size[0],
            "height": self.size[1],
            "loss_pct": None if self.loss_pct is None else round(self.loss_pct, 2),
            "weight": VIEW_WEIGHTS[self.view],
            "confidence": round(self.confidence, 3),
            "scalp_pixels": int(np.count_nonzero(self.scalp_mask)),
            "hairloss_pixels": int(np.count_nonzero(self.hairloss_mask)),
            "flags": [dict(f) for f in self.flags],
            "retake": self.retake,
            "corrected": self.corrected,
            "present": True,
        }


@dataclass(frozen=True, eq=False)
class VisitResult:
    """The views of a visit and their SALT score.

    ``score`` is the ``alonet.scoring.salt.SaltResult`` of the views that could
    be scored. A view counts as missing when it was not given (listed in
    ``missing``) or when its photograph showed no scalp (``unscorable``). With
    all four views scored, ``score`` uses ``missing="error"`` and the visit is
    ``complete``; otherwise it uses ``missing="zero"``, so ``score.salt`` is the
    sum of the scored views' contributions, a lower bound of the SALT
    (``partial_salt`` in ``to_dict``); ``score`` is None when no view was scored.
    ``salt`` (0..100), ``grade`` ("S0".."S5") and ``band`` (AA-IGA) are None
    unless the visit is complete and no view needs a retake (``withheld`` lists
    those views, ``alonet.infer.policy``) or the SALT was asked for anyway
    (``provisional``). ``flags`` collects every view's flags with a ``view``
    key, plus visit-level flags (``view`` None).
    """

    views: dict[str, ViewResult]
    score: SaltResult | None
    missing: list[str] = field(default_factory=list)
    flags: list[dict] = field(default_factory=list)
    #: Views whose retake withheld the SALT (``alonet.infer.policy``); empty when it was given.
    withheld: list[str] = field(default_factory=list)
    #: True when the SALT was computed on request although a view needs a retake.
    provisional: bool = False
    #: How the numbers were made (``Pipeline.provenance()``: model, backend, precision,
    #: thresholds, view checks, bundled hair-loss network) when a Pipeline scored the visit;
    #: a report written without its own ``meta`` records it. Not part of ``to_dict()``.
    provenance: dict | None = field(default=None, compare=False, repr=False)

    @property
    def complete(self) -> bool:
        """All four views were given and scored (the SALT may still be withheld)."""
        return self.score is not None and not self.score.missing

    def _shown_score(self) -> SaltResult | None:
        """``score`` when its SALT is given (the visit is complete and nothing withheld it), else None."""
        return self.score if self.complete and not self.withheld else None

    @property
    def salt(self) -> float | None:
        shown = self._shown_score()
        return None if shown is None else shown.salt

    @property
    def grade(self) -> str | None:
        shown = self._shown_score()
        return None if shown is None else shown.grade

    @property
    def band(self) -> str | None:
        shown = self._shown_score()
        return None if shown is None else shown.band

    @property
    def withheld_reason(self) -> str | None:
        """The message of the ``withheld`` flag, when the SALT is withheld."""
        return next((f["message"] for f in self.flags if f.get("code") == "withheld"), None)

    @property
    def unscorable(self) -> list[str]:
        """Views given whose photograph showed no scalp."""
        return [v for v in VIEWS if v in self.views and self.views[v].loss_pct is None]

    @property
    def retake(self) -> bool:
        """True if any photograph should be retaken."""
        return any(v.retake for v in self.views.values())

    def percents(self) -> dict[str, float | None]:
        """Per-view % of scalp with hair loss (None for missing or unscorable views)."""
        return {v: (self.views[v].loss_pct if v in self.views else None) for v in VIEWS}

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a scored visit (no arrays), shared by ``report.json``,
        the web API and pages, and ``alonet batch`` (see the README)."""
        score, shown = self.score, self._shown_score()
        views = {}
        for v in VIEWS:
            if v in self.views:
                row = self.views[v].to_dict()
                counted = row["loss_pct"] is not None and not self.withheld
                row["contribution"] = round(score.contributions[v], 2) if score is not None and counted else None
                views[v] = row
        return {
            "salt": None if shown is None else round(shown.salt, 2),
            # the SALT as shown (one decimal, from the unrounded value): grade and band follow it
            "salt_shown": None if shown is None else shown_salt(shown.salt),
            "grade": None if shown is None else shown.grade,
            "band": None if shown is None else shown.band,
            "band_level": None if shown is None else aa_iga_level(shown.salt),
            "complete": self.complete,
            "retake": self.retake,
            "provisional": self.provisional,
            "withheld": list(self.withheld),
            "withheld_reason": self.withheld_reason,
            "missing": list(self.missing),
            "unscorable": self.unscorable,
            # a withheld SALT is not given under another name
            "partial_salt": None if score is None or self.withheld else round(score.salt, 2),
            "views": views,
            "flags": [dict(f) for f in self.flags],
        }


def refused_view(view: str, photo: np.ndarray, name: str | None, flags: list[dict]) -> ViewResult:
    """The result of a photograph the gate refused: no masks, no percentage, retake."""
    height, width = photo.shape[:2]
    maps = ViewMaps.from_masks(np.zeros((height, width), bool), np.zeros((height, width), bool))
    return ViewResult(view=view, image=photo, maps=maps, loss_pct=None, confidence=0.0,
                      flags=list(flags), retake=True, source=name)


def _clipped_percent(loss_pct: float | None) -> float | None:
    """A view's % of scalp with hair loss held to 0..100 (None, no scalp found, stays None)."""
    return None if loss_pct is None else min(100.0, max(0.0, loss_pct))


def visit_from_views(views: Mapping[str, ViewResult], *, provisional: bool = False) -> VisitResult:
    """Combine per-view results into a VisitResult (SALT when all four are scorable
    and none needs a retake, or ``provisional``: see ``alonet.infer.policy``)."""
    clean = {}
    for name, result in views.items():
        view = normalize_view(name)
        if result.view != view:
            raise InvalidValueError(f"result of the {result.view} view given as {view}")
        clean[view] = result
    absent = [v for v in VIEWS if v not in clean]
    flags = [{"view": v, **f} for v in VIEWS if v in clean for f in clean[v].flags]
    percents = {v: _clipped_percent(clean[v].loss_pct) for v in VIEWS if v in clean}
    unscorable = [v for v in VIEWS if v in percents and percents[v] is None]
    decision = decide(clean, provisional=provisional)
    withheld: list[str] = []
    if absent:
        flags.append({"view": None, "code": "incomplete",
                      "message": "no SALT: missing view(s) " + ", ".join(absent)})
    elif not decision.allowed:
        withheld = decision.retake_views
        assert decision.flag is not None, "decide() gives a withheld SALT its flag"
        flags.append(decision.flag)
    elif unscorable:
        flags.append({"view": None, "code": "incomplete",
                      "message": "no SALT: no scalp found in the " + ", ".join(unscorable) + " view(s)"})
    elif decision.provisional:
        assert decision.flag is not None, "decide() gives a provisional SALT its flag"
        flags.append(decision.flag)
    scored = any(p is not None for p in percents.values())
    score = salt_result(percents, missing="zero" if absent or unscorable else "error") if scored else None
    complete = score is not None and not score.missing
    return VisitResult(views={v: clean[v] for v in VIEWS if v in clean}, score=score, missing=absent,
                       flags=flags, withheld=withheld, provisional=complete and decision.provisional)
