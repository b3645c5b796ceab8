"""The options of a visit's report, in one frozen dataclass: :class:`ReportOptions`.

``render_report_html``, ``report_json`` and ``write_report`` take one, the web app builds
one per download and ``run_batch`` one per visit, so an option reaches every report the
same way and is checked once, here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType

from alonet.errors import InvalidValueError
from alonet.report.overlay import OverlayStyle

#: Hair-loss layer styles a reviewer can choose (``--overlay``): a filled colour,
#: a lighter fill that lets the skin show, or only the outline of each patch.
OVERLAY_STYLES: Mapping[str, OverlayStyle] = MappingProxyType({
    "fill": OverlayStyle(),
    "light": OverlayStyle(hairloss_alpha=0.22),
    "outline": OverlayStyle(hairloss_alpha=0.0, hairloss_outline=True),
})

#: Optional review fields shown in the report header and stored in report.json.
REVIEW_FIELDS: tuple[tuple[str, str], ...] = (
    ("patient_code", "Patient code"), ("visit_date", "Visit date"), ("photo_date", "Photograph date"),
    ("reviewer", "Reviewed by"),
)

#: The heading of a report unless its options name another.
DEFAULT_TITLE = "AloNet SALT report"


@dataclass(frozen=True)
class ReportOptions:
    """What a visit's report says and how.

    ``deidentify``: blur everything outside the scalp in the pictures and leave out what
    identifies a patient (review's code and dates, photographs' paths and checksum, the
    model folder's name, the day the report was made; ``alonet.report.html``'s ``shown_*``);
    ``meta``: provenance (``{"model": ..., "backend": ..., "model_sha256": ..., ...}``) shown
    in the header and stored in report.json; None: what the visit's Pipeline recorded;
    ``review``: :data:`REVIEW_FIELDS` values (patient code, visit and photograph dates,
    reviewer); ``title``: the page's heading (HTML only); ``show_paths``: name the
    photographs' files (off by default: paths may hold names; never when de-identified);
    ``overlay``: the hair-loss layer's style, a name in :data:`OVERLAY_STYLES`; ``created``:
    when the report was made (time-zone aware; None: when it is rendered or written).
    """

    deidentify: bool = False
    meta: Mapping | None = None
    review: Mapping[str, str | None] | None = None
    title: str = DEFAULT_TITLE
    show_paths: bool = False
    overlay: str = "fill"
    created: datetime | None = None

    def __post_init__(self) -> None:
        if self.overlay not in OVERLAY_STYLES:
            raise InvalidValueError(f"unknown overlay style {self.overlay!r}",
                                    fix=f"use one of {', '.join(OVERLAY_STYLES)}")
        unknown = sorted(set(self.review or {}) - {key for key, _ in REVIEW_FIELDS})
        if unknown:
            raise InvalidValueError(f"unknown review field(s) {', '.join(map(repr, unknown))}",
                                    fix=f"use {', '.join(key for key, _ in REVIEW_FIELDS)}")
        if self.created is not None and self.created.utcoffset() is None:
            # a report labels its time UTC: a naive local time would be shown as UTC
            raise InvalidValueError(f"created {self.created.isoformat()} has no time zone",
                                    fix="give an aware time, e.g. datetime.now(timezone.utc)")

    @property
    def style(self) -> OverlayStyle:
        """The hair-loss layer's colours and sizes (:data:`OVERLAY_STYLES` of ``overlay``)."""
        return OVERLAY_STYLES[self.overlay]
