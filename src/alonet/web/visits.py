"""A scored visit while it is open in the browser: photographs, masks, numbers.

A :class:`ScoredVisit` lives in the server's memory (a :class:`VisitCache`
owned by the app, bounded in count and age) from the moment it is scored until
it is saved, downloaded or forgotten. Corrections from the page replace a
view's masks; every number shown, stored or reported is then recomputed from
the masks with ``alonet.scoring.salt`` (:func:`summarize`), so the corrected
masks are what the report and the stored visit use.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from alonet.errors import EmptyAnnotationError
from alonet.views import VIEW_WEIGHTS, VIEWS


def normalize_flags(flags) -> list[dict]:
    """Quality flags as ``[{"code": ..., "message": ...}]`` (strings become both)."""
    result = []
    for item in flags or ():
        if isinstance(item, dict):
            code = str(item.get("code", ""))
            result.append({"code": code, "message": str(item.get("message", code))})
        else:
            result.append({"code": str(item), "message": str(item)})
    return result


def loss_percent(hairloss: np.ndarray, scalp: np.ndarray, view: str) -> float | None:
    """Percent of the scalp with hair loss, or None when the scalp mask is empty."""
    from alonet.scoring.salt import view_loss_percent

    try:
        return view_loss_percent(hairloss, scalp, view=view)
    except EmptyAnnotationError:
        return None


@dataclass
class ViewState:
    """One view of a visit as the page shows it.

    ``result`` is the current ``alonet.infer.ViewResult``: the model's until the
    user corrects the masks, then one built from the corrected masks (see
    :meth:`correct`); ``original`` keeps the model's. ``loss_pct`` is always
    recomputed from ``result``'s masks with ``alonet.scoring.salt``.
    """

    view: str
    result: object
    original: object = None
    corrected: bool = False
    loss_pct: float | None = field(default=None)

    def __post_init__(self) -> None:
        if self.original is None:
            self.original = self.result
        self.recompute()

    @property
    def photo(self) -> np.ndarray:
        return self.result.image

    @property
    def scalp(self) -> np.ndarray:
        return self.result.scalp_mask

    @property
    def hairloss(self) -> np.ndarray:
        return self.result.hairloss_mask

    @property
    def confidence(self) -> float | None:
        return getattr(self.result, "confidence", None)

    @property
    def flags(self) -> list[dict]:
        return normalize_flags(getattr(self.result, "flags", ()))

    @property
    def retake(self) -> bool:
        return bool(getattr(self.result, "retake", False))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.photo.shape[:2])  # type: ignore[return-value]

    def recompute(self) -> None:
        """Recompute ``loss_pct`` from the current masks."""
        self.loss_pct = loss_percent(self.hairloss, self.scalp, self.view)

    def correct(self, result) -> None:
        """Take ``result`` (a ViewResult built from corrected masks) as current."""
        if tuple(result.scalp_mask.shape) != self.shape or tuple(result.hairloss_mask.shape) != self.shape:
            raise ValueError("corrected masks must have the photograph's size")
        self.result = result
        self.corrected = True
        self.recompute()


def summarize(views: dict[str, ViewState], provisional: bool = False) -> dict:
    """The visit's numbers from its views' masks, JSON-ready.

    ``salt``, ``grade`` and ``band`` are None unless all four views are scored
    (a view whose scalp mask is empty counts as missing) and none needs a retake
    (``alonet.infer.policy``: ``withheld`` names those views and
    ``withheld_reason`` says why), unless ``provisional``. ``partial_salt`` is
    the sum of the scored views' contributions, a lower bound of the SALT.
    """
    from alonet.infer.policy import decide
    from alonet.scoring.salt import aa_iga_band, aa_iga_level, salt_grade, salt_result

    percents = {v: (views[v].loss_pct if v in views else None) for v in VIEWS}
    missing = [v for v in VIEWS if v not in views]
    unscorable = [v for v in VIEWS if v in views and percents[v] is None]
    complete = not missing and not unscorable
    per_view = {}
    for v in VIEWS:
        state = views.get(v)
        pct = percents[v]
        per_view[v] = {
            "present": state is not None,
            "weight": VIEW_WEIGHTS[v],
            "loss_pct": None if pct is None else round(pct, 2),
            "contribution": None if pct is None else round(VIEW_WEIGHTS[v] * pct, 2),
            "confidence": None if state is None or state.confidence is None else round(float(state.confidence), 3),
            "flags": [] if state is None else state.flags,
            "retake": bool(state and state.retake),
            "corrected": bool(state and state.corrected),
        }
    if any(p is not None for p in percents.values()):
        partial = salt_result(percents, missing="zero").salt
    else:
        partial = None
    decision = decide(views, provisional=provisional)
    salt = partial if complete and decision.allowed else None
    return {
        "complete": complete,
        "withheld": [] if decision.allowed else list(decision.retake_views),
        "withheld_reason": None if decision.allowed else decision.flag["message"],
        "provisional": salt is not None and decision.provisional,
        "missing": missing,
        "unscorable": unscorable,
        "salt": None if salt is None else round(salt, 2),
        "grade": None if salt is None else salt_grade(salt),
        "band": None if salt is None else aa_iga_band(salt),
        "band_level": None if salt is None else aa_iga_level(salt),
        "partial_salt": None if partial is None else round(partial, 2),
        "views": per_view,
    }


@dataclass
class ScoredVisit:
    """A visit held in memory between scoring and saving/downloading."""

    id: str
    views: dict[str, ViewState]
    model: str
    created: float = field(default_factory=time.time)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    #: The user asked for a provisional SALT despite photographs that need a retake.
    provisional: bool = False
    #: One-time token of the save form: a visit is stored once however often Save is sent.
    submission: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    #: Store id of this visit once saved (a repeated save answers with it).
    saved_as: int | None = None

    def summary(self) -> dict:
        return summarize(self.views, self.provisional)


class VisitCache:
    """Scored visits by random id, at most ``capacity`` of them, each forgotten
    ``ttl_s`` seconds after its last use (least recently used go first)."""

    def __init__(self, capacity: int, ttl_s: float):
        self.capacity = int(capacity)
        self.ttl_s = float(ttl_s)
        self._items: OrderedDict[str, tuple[float, ScoredVisit]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, views: dict[str, ViewState], model: str, provisional: bool = False) -> ScoredVisit:
        visit = ScoredVisit(id=secrets.token_urlsafe(18), views=views, model=model, provisional=provisional)
        with self._lock:
            self._expire()
            self._items[visit.id] = (time.monotonic(), visit)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return visit

    def get(self, visit_id: str) -> ScoredVisit | None:
        with self._lock:
            self._expire()
            item = self._items.get(visit_id)
            if item is None:
                return None
            self._items[visit_id] = (time.monotonic(), item[1])
            self._items.move_to_end(visit_id)
            return item[1]

    def discard(self, visit_id: str) -> None:
        with self._lock:
            self._items.pop(visit_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _expire(self) -> None:
        limit = time.monotonic() - self.ttl_s
        for key in [k for k, (t, _) in self._items.items() if t < limit]:
            del self._items[key]
