"""A scored visit while it is open in the browser: photographs, masks, numbers.

A :class:`ScoredVisit` lives in the server's memory (a :class:`VisitCache`
owned by the app, bounded in count, bytes and age) from the moment it is scored until
it is saved, downloaded or forgotten. Corrections from the page replace a
view's ``alonet.infer.ViewResult`` with one built from the corrected masks, and
every number shown, stored or reported is the ``alonet.infer.VisitResult`` of
the current results (:func:`summarize` is its ``to_dict()``), so the corrected
masks are what the report and the stored visit use.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from alonet.infer.gate import GATE_CODES
from alonet.infer.results import ViewResult, VisitResult, visit_from_views
from alonet.infer.viewmaps import MASK_NAMES


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


def incomplete_reasons(summary: dict) -> list[str]:
    """Why a visit's SALT is incomplete, one phrase per cause, from its summary
    (``VisitResult.to_dict()``): views missing, photographs the gate refused (with its
    reason), and photographs in which no scalp was found."""
    reasons = []
    if summary.get("missing"):
        reasons.append("missing " + ", ".join(summary["missing"]))
    for view in summary.get("unscorable") or ():
        flags = (summary.get("views", {}).get(view) or {}).get("flags") or []
        refused = [f for f in flags if f.get("code") in GATE_CODES]
        if refused:
            reasons.append(f"the {view} photograph was refused ({refused[0].get('message', refused[0]['code'])})")
        else:
            reasons.append(f"no scalp found in {view}")
    return reasons


@dataclass
class ViewState:
    """One view of a visit as the page shows it.

    ``result`` is the current ``alonet.infer.ViewResult``: the model's until the
    user corrects the masks, then one built from the corrected masks (see
    :meth:`correct`); ``original`` keeps the model's (the ``result`` it was made with).
    """

    view: str
    result: ViewResult
    original: ViewResult = field(init=False)
    #: The store's file of this photograph when the view was reopened from a stored visit: a
    #: save keeps that file instead of encoding the JPEG again (each encoding loses a little).
    stored_photo: str | None = None
    #: The uploaded JPEG without its metadata (``alonet.data.jpegmeta``): a save stores it,
    #: when it decodes to ``photo``, instead of a JPEG encoded from the pixels (which would
    #: score a little differently when the stored photograph is scored again).
    upload_jpeg: bytes | None = field(default=None, repr=False)
    #: ``upload_jpeg`` was decoded and compared with ``photo`` (it is None when it differed).
    upload_checked: bool = False

    def __post_init__(self) -> None:
        self.original = self.result

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
    def loss_pct(self) -> float | None:
        """Percent of the scalp with hair loss (None when the scalp mask is empty)."""
        return self.result.loss_pct

    @property
    def corrected(self) -> bool:
        return self.result.corrected

    @property
    def confidence(self) -> float:
        return self.result.confidence

    @property
    def flags(self) -> list[dict]:
        return normalize_flags(self.result.flags)

    @property
    def retake(self) -> bool:
        return self.result.retake

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.photo.shape[:2])

    def revert(self) -> None:
        """Take the model's own result back (all corrections of this view undone)."""
        self.result = self.original

    def correct(self, result: ViewResult) -> None:
        """Take ``result`` (a ViewResult built from corrected masks) as current."""
        if tuple(result.scalp_mask.shape) != self.shape or tuple(result.hairloss_mask.shape) != self.shape:
            raise ValueError("corrected masks must have the photograph's size")
        self.result = result


def visit_result(views: Mapping[str, ViewState], provisional: bool = False) -> VisitResult:
    """The ``alonet.infer.VisitResult`` of the views as they are now."""
    return visit_from_views({v: st.result for v, st in views.items()}, provisional=provisional)


def summarize(views: dict[str, ViewState], provisional: bool = False) -> dict:
    """The visit's numbers from its views' current masks: ``VisitResult.to_dict()``
    (``provisional``: give the SALT although a view needs a retake, ``alonet.infer.policy``)."""
    return visit_result(views, provisional).to_dict()


def exact_summary(result: VisitResult) -> dict:
    """``result.to_dict()`` with the SALT unrounded (``to_dict`` rounds it to 0.01, and
    formatting a rounded value to one decimal can differ from the SALT shown: 20.452 is
    shown 20.5, its 0.01-rounded 20.45 formats as 20.4)."""
    summary, salt = result.to_dict(), result.salt
    if salt is not None:  # to_dict gave it rounded
        summary["salt"] = float(salt)
    return summary


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
    #: Counts the corrections applied; ``saved_revision`` is its value at the last save,
    #: so a save after later corrections updates the stored visit.
    revision: int = 0
    saved_revision: int | None = None
    #: What scored the visit (``Scorer.provenance()`` at scoring time), stored with it.
    scored_with: dict = field(default_factory=dict)
    #: ``Store.visit_stamp`` of the stored visit as this page last saved or opened it: a save
    #: over a stored visit that someone else saved since is refused (409), not merged blindly.
    stored_stamp: str | None = None
    #: The stored visit's date as this page last saved or opened it: an empty date field keeps
    #: it, also when the stored visit was deleted meanwhile and the save adds it again.
    stored_date: str | None = None
    #: Opened from the store for correction: the masks to go back to are the stored ones
    #: (``revert`` takes them), not the model's.
    reopened: bool = False

    def summary(self) -> dict:
        return summarize(self.views, self.provisional)

    @property
    def unsaved(self) -> bool:
        """Saved once, and corrected since: the stored visit does not have the latest masks."""
        return self.saved_as is not None and self.revision != self.saved_revision

    def stored_summary(self) -> dict:
        """:meth:`summary` as the store keeps it: ``salt`` unrounded, so the SALT the store gives
        back (visit rows, patient list, chart) shows and categorises exactly as the page did."""
        return {**exact_summary(visit_result(self.views, self.provisional)), "provisional_requested": self.provisional}


def visit_nbytes(visit: ScoredVisit) -> int:
    """Bytes of the arrays a scored visit holds, counting the full-size masks the page shows
    before they are made (``ViewMaps.nbytes``; a visit is measured when it is scored, and its
    masks grow to the photograph's size once the page asks for them): each view's photograph
    and maps, current and original (shared ones count once), and its uploaded JPEG."""
    photos: set[int] = set()
    maps: set[int] = set()
    total = 0
    for st in list(visit.views.values()):
        for result in (st.result, st.original):
            if id(result.image) not in photos:
                photos.add(id(result.image))
                total += int(result.image.nbytes)
            if id(result.maps) not in maps:
                maps.add(id(result.maps))
                total += result.maps.nbytes(enlarge=MASK_NAMES)
        total += len(st.upload_jpeg or b"")
    return total


def keep_words(seconds: float) -> str:
    """How long a result is kept, for the page: "60 minutes", "1 minute", "45 seconds"."""
    if seconds >= 60 and round(seconds) % 60 == 0:
        minutes = round(seconds) // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    whole = max(1, round(seconds))
    return f"{whole} second{'s' if whole != 1 else ''}"


class VisitCache:
    """Scored visits by random id, at most ``capacity`` of them holding at most ``max_bytes``
    of arrays together (:func:`visit_nbytes`; the visit just added or used always stays), each
    forgotten ``ttl_s`` seconds after its last use (least recently used go first).

    A visit's size is measured outside the cache's lock, when it is added and each time it is
    used, and kept: measuring reads its maps (``ViewMaps.nbytes``), which wait while one of them
    is being enlarged, and that wait must not hold up the lookups of every other visit. The
    full-size masks the page will ask for count from the start (:func:`visit_nbytes`).

    The ids of the last ``remember`` forgotten visits are kept with the reason
    (:meth:`why_gone`), so a page can say why a result is no longer there.
    """

    def __init__(self, capacity: int, ttl_s: float, remember: int = 1000, max_bytes: int | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.clock = clock  # seconds, never going back (tests pass their own)
        self.capacity = int(capacity)
        self.ttl_s = float(ttl_s)
        self.remember = int(remember)
        self.max_bytes = None if max_bytes is None else int(max_bytes)
        self._items: OrderedDict[str, tuple[float, ScoredVisit]] = OrderedDict()
        self._sizes: dict[str, int] = {}  # bytes of each visit held, as last measured
        self._gone: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, views: dict[str, ViewState], model: str, provisional: bool = False,
            scored_with: dict | None = None) -> ScoredVisit:
        visit = ScoredVisit(id=secrets.token_urlsafe(18), views=views, model=model, provisional=provisional,
                            scored_with=dict(scored_with or {}))
        size = self._measure(visit)
        with self._lock:
            self._expire()
            self._items[visit.id] = (self.clock(), visit)
            self._sizes[visit.id] = size
            self._trim(visit.id)
        return visit

    def get(self, visit_id: str) -> ScoredVisit | None:
        with self._lock:
            self._expire()
            item = self._items.get(visit_id)
            if item is None:
                return None
            self._items[visit_id] = (self.clock(), item[1])
            self._items.move_to_end(visit_id)
        size = self._measure(item[1])  # corrections and enlarged masks make a visit grow
        with self._lock:
            if visit_id in self._items:
                self._sizes[visit_id] = size
                self._trim(visit_id)
        return item[1]

    def expires_in(self, visit_id: str) -> float | None:
        """Seconds until the visit is forgotten for want of use (it may go sooner, pushed out by
        newer visits), or None when it is not held; asking does not count as a use."""
        with self._lock:
            self._expire()
            item = self._items.get(visit_id)
            return None if item is None else max(0.0, item[0] + self.ttl_s - self.clock())

    def why_gone(self, visit_id: str) -> str | None:
        """"replaced" (newer visits pushed it out), "expired" (unused for ``ttl_s``), or None (unknown id)."""
        with self._lock:
            return self._gone.get(visit_id)

    def discard(self, visit_id: str) -> None:
        with self._lock:
            self._items.pop(visit_id, None)
            self._sizes.pop(visit_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def nbytes(self) -> int:
        """Bytes of the arrays of all visits held now (measured now, outside the lock)."""
        with self._lock:
            visits = [v for _, v in self._items.values()]
        return sum(visit_nbytes(v) for v in visits)

    def _measure(self, visit: ScoredVisit) -> int:
        """:func:`visit_nbytes`, only when the cache has a byte cap (never called under the lock)."""
        return 0 if self.max_bytes is None else visit_nbytes(visit)

    def _trim(self, keep: str) -> None:
        """Forget the least recently used visits (never ``keep``) until at most ``capacity`` are
        held, with at most ``max_bytes`` of arrays together (by their measured sizes)."""
        while len(self._items) > self.capacity:
            key, _ = self._items.popitem(last=False)
            self._forget(key, "replaced")
        if self.max_bytes is None:
            return
        total = sum(self._sizes.get(key, 0) for key in self._items)
        for key in [k for k in self._items if k != keep]:  # oldest first
            if total <= self.max_bytes:
                break
            total -= self._sizes.get(key, 0)
            del self._items[key]
            self._forget(key, "replaced")

    def _expire(self) -> None:
        limit = self.clock() - self.ttl_s
        for key in [k for k, (t, _) in self._items.items() if t < limit]:
            del self._items[key]
            self._forget(key, "expired")

    def _forget(self, key: str, reason: str) -> None:
        self._sizes.pop(key, None)
        self._gone[key] = reason
        while len(self._gone) > self.remember:
            self._gone.popitem(last=False)
