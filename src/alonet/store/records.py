"""What the store hands out and takes in: patients, stored visits and their views, and the
views of a visit about to be saved; and what a stored visit's SALT is (:func:`salt_status`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


def salt_status(summary: dict) -> str:
    """What a visit's summary (``VisitResult.to_dict()``) says about its SALT: ``scored``,
    ``provisional`` (computed on request despite a retake), ``withheld`` (all four views,
    but one needs a retake or is mislabelled) or ``incomplete`` (a view missing or without scalp)."""
    if summary.get("salt") is not None:
        return "provisional" if summary.get("provisional") else "scored"
    return "withheld" if summary.get("withheld") else "incomplete"


@dataclass(frozen=True)
class Patient:
    id: int
    code: str
    created_at: str
    visit_count: int = 0
    last_salt: float | None = None
    last_visit: str | None = None
    #: :func:`salt_status` of the latest visit (None without visits).
    last_status: str | None = None


@dataclass(frozen=True)
class StoredView:
    """One view of a stored visit (file names are relative to ``images/``)."""

    view: str
    photo_file: str
    scalp_file: str
    hairloss_file: str
    loss_pct: float | None
    confidence: float | None
    flags: tuple[dict, ...]
    corrected: bool

    @property
    def files(self) -> tuple[str, str, str]:
        """The view's photograph, scalp mask and hair-loss mask file names."""
        return self.photo_file, self.scalp_file, self.hairloss_file


@dataclass(frozen=True)
class Visit:
    id: int
    patient_id: int
    visit_date: str
    created_at: str
    salt: float | None
    grade: str | None
    band: str | None
    missing: tuple[str, ...]
    summary: dict
    model: str
    views: dict[str, StoredView] = field(default_factory=dict)
    #: When the visit was marked reviewed for training (UTC, ISO), or None.
    reviewed_at: str | None = None
    #: What scored the visit (model, model_sha256, backend, precision, thresholds, view_checks);
    #: empty for visits saved before schema 5.
    scored_with: dict = field(default_factory=dict)

    @property
    def reviewed(self) -> bool:
        return self.reviewed_at is not None

    @property
    def provisional(self) -> bool:
        """The SALT was computed on request from photographs that need a retake."""
        return self.salt is not None and bool(self.summary.get("provisional"))

    @property
    def provisional_requested(self) -> bool:
        """The visit was scored asking for a provisional SALT (whether or not it got one): its
        report and a reopened page must apply the same policy, or a visit the page called
        "incomplete" comes back "withheld". Visits saved before this was recorded: a visit
        without a withheld SALT although a view needed a retake can only have been scored so."""
        if "provisional_requested" in self.summary:
            return bool(self.summary["provisional_requested"])
        return bool(self.summary.get("provisional")) or (
            not self.summary.get("withheld") and bool(self.summary.get("retake")))

    @property
    def status(self) -> str:
        """What the stored SALT is: see :func:`salt_status`."""
        return salt_status(self.summary)


@dataclass(frozen=True)
class NewView:
    """What :meth:`alonet.store.storage.Store.add_visit` needs for one view: encoded files and numbers."""

    view: str
    #: The photograph as JPEG bytes, or a function giving them: a reopened visit's photograph
    #: is encoded only when its stored file has to be written again (:meth:`photo_bytes`).
    photo_jpeg: bytes | Callable[[], bytes]
    scalp_png: bytes
    hairloss_png: bytes
    loss_pct: float | None
    confidence: float | None
    flags: Sequence[dict]
    corrected: bool
    #: A file of the store already holding this photograph (a reopened visit): kept, not
    #: written again from ``photo_jpeg``, when it is still there.
    photo_file: str | None = None

    def photo_bytes(self) -> bytes:
        return self.photo_jpeg() if callable(self.photo_jpeg) else self.photo_jpeg
