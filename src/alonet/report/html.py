"""The HTML report of one visit: a single self-contained file.

Overlays are embedded as ``data:`` URIs and the style sheet is inline, so the
file can be e-mailed, archived or opened offline; it references no external
resource. Text is HTML-escaped by the Jinja2 template engine (autoescape on),
so file names or messages cannot inject markup.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import datetime, timezone

import numpy as np

from alonet import __version__
from alonet.data.encode import EMBEDDED_JPEG_QUALITY, encode_jpeg
from alonet.infer.quality import RETAKE_CODES, REVIEW_CODES
from alonet.scoring.salt import shown_salt
from alonet.report.options import REVIEW_FIELDS, ReportOptions
from alonet.report.overlay import (
    OverlayStyle,
    blur_outside_scalp,
    fit_within,
    render_overlay,
)
from alonet.views import VIEW_WEIGHTS, VIEWS

#: Longest side of the overlay pictures embedded in the report (pixels).
REPORT_IMAGE_SIDE = 1024

#: Review fields a de-identified report leaves out: a patient code and full dates identify a
#: patient (dates are identifiers under HIPAA's Safe Harbor rule); the reviewer is kept.
IDENTIFYING_REVIEW_FIELDS = frozenset({"patient_code", "visit_date", "photo_date"})


def shown_review(review: Mapping[str, str | None] | None, deidentify: bool) -> dict[str, str]:
    """The review fields a report shows: those given, less the identifying ones when ``deidentify``."""
    return {key: value for key, value in dict(review or {}).items()
            if value and not (deidentify and key in IDENTIFYING_REVIEW_FIELDS)}


#: Shown next to the SALT while the bundled model is used: it learned hair loss from phantoms
#: only (its midline scalp network also saw 32 real back views of heads, no alopecia masks).
SYNTHETIC_WARNING = ("The bundled model learned hair loss from synthetic (phantom) photographs only and has not "
                     "been validated on real patients: check every overlay before using this number.")


def uses_bundled_model(meta: Mapping | None) -> bool:
    """True when the report's numbers come from the bundled hair-loss network: the provenance
    says so (``synthetic_hair_loss``, by checksum), or, for records made before it did, the
    model set is called ``default``."""
    meta = meta or {}
    if "synthetic_hair_loss" in meta:
        return bool(meta["synthetic_hair_loss"])
    model = str(meta.get("model", ""))
    return model == "default" or model.startswith("default ")


def shown_model(model, deidentify: bool):
    """The model as a report names it: as given, or in a de-identified report only ``default``
    (the bundled set) or ``own model set`` (a folder's path may hold a user's, clinic's or
    patient's name; the checksum beside it still says exactly which model)."""
    if not deidentify or model is None:
        return model
    # the bundled set's names: "default", or "default (onnx)" as the web app says it; a folder
    # named "default (Jane Doe)" is an own model set (its name was shown as it was)
    return model if re.fullmatch(r"default( \((torch|onnx)\))?", str(model)) else "own model set"


def shown_created(created: datetime, deidentify: bool, *, iso: bool) -> str:
    """When a report was made: to the minute (or ISO second), or in a de-identified report
    the year alone (the day a visit is scored is usually its visit date)."""
    if deidentify:
        return created.strftime("%Y")
    return created.isoformat(timespec="seconds") if iso else created.strftime("%Y-%m-%d %H:%M UTC")


def _kind(code: str) -> str:
    if code in RETAKE_CODES:
        return "retake"
    return "check" if code in REVIEW_CODES else "info"


def _template():
    from jinja2 import Environment, PackageLoader

    env = Environment(loader=PackageLoader("alonet.report", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2")


def data_uri(jpeg: bytes) -> str:
    """A JPEG as a ``data:image/jpeg;base64,...`` URI."""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def _photo(result, view: str, images: Mapping[str, np.ndarray] | None) -> np.ndarray:
    """The photograph of ``view``: from ``images`` when given there, else the one kept in its result."""
    return result.image if images is None or view not in images else np.asarray(images[view])


def view_overlay(visit, view: str, images: Mapping[str, np.ndarray] | None = None, *, deidentify: bool = False,
                 style: OverlayStyle = OverlayStyle()) -> np.ndarray:
    """The overlay picture of ``view`` of ``visit`` at its photograph's size.

    ``images`` defaults to the photographs kept in each ViewResult.
    """
    result = visit.views[view]
    return render_overlay(_photo(result, view, images), result.scalp_mask, result.hairloss_mask, style,
                          deidentify_outside=deidentify)


def report_overlays(visit, images: Mapping[str, np.ndarray] | None = None, *, deidentify: bool = False,
                    max_side: int | None = REPORT_IMAGE_SIDE,
                    style: OverlayStyle = OverlayStyle()) -> dict[str, np.ndarray]:
    """Overlay picture per view of ``visit`` (:func:`view_overlay`, shrunk to ``max_side``
    one view at a time: a 12-megapixel visit never holds four full-size overlays at once).
    """
    return {view: fit_within(view_overlay(visit, view, images, deidentify=deidentify, style=style), max_side)
            for view in visit.views}


def report_meta(visit, meta: Mapping | None) -> Mapping | None:
    """``meta`` as given, else the provenance the visit's Pipeline recorded (a report made from
    the Python API without ``meta`` still names its model and carries the bundled model's warning)."""
    return meta if meta is not None else getattr(visit, "provenance", None)


def render_report_html(visit, images: Mapping[str, np.ndarray] | None = None, *,
                       options: ReportOptions = ReportOptions(), max_side: int | None = REPORT_IMAGE_SIDE,
                       overlays: Mapping[str, np.ndarray] | None = None) -> str:
    """Render ``visit`` (a VisitResult) as a self-contained HTML page, as ``options`` say
    (de-identified, provenance, review fields, title, file names, overlay style, time made).

    ``images``: photographs per view (defaults to those kept in the results);
    ``overlays``: already rendered overlay pictures per view (reused, shrunk to
    ``max_side``) instead of rendering them again.
    Each view shows the plain photograph beside its overlay.
    """
    deidentify, style = options.deidentify, options.style
    meta = dict(report_meta(visit, options.meta) or {})
    if overlays is None:
        overlays = report_overlays(visit, images, deidentify=deidentify, max_side=max_side, style=style)
    else:
        overlays = {view: fit_within(np.asarray(picture), max_side) for view, picture in overlays.items()}
    rows, figures = [], []
    for view in VIEWS:
        result = visit.views.get(view)
        rows.append(_view_row(visit, view, result))
        if result is not None:
            photo = _photo(result, view, images)
            figures.append(_view_figure(view, result, photo, overlays[view], deidentify, options.show_paths,
                                        max_side))
    visit_flags = [{"view": f.get("view"), "code": f["code"], "message": f["message"], "kind": _kind(f["code"])}
                   for f in visit.flags]
    created = options.created or datetime.now(timezone.utc)
    thresholds = meta.get("thresholds") or {}
    salt_text = _salt_text(visit)
    review = shown_review(options.review, deidentify)
    return _template().render(
        thresholds=", ".join(f"{k} {v:g}" for k, v in thresholds.items()),
        withheld_reason="; ".join(f["message"] for f in visit.flags if f["code"] == "withheld"),
        points_note=_points_note(visit, rows, salt_text),
        provisional=bool(getattr(visit, "provisional", False)),
        synthetic_warning=SYNTHETIC_WARNING if uses_bundled_model(meta) else None,
        review_rows=[(label, str(review[key])) for key, label in REVIEW_FIELDS if review.get(key)],
        title=options.title,
        version=__version__,
        created=shown_created(created, deidentify, iso=False),
        model=shown_model(meta.get("model"), deidentify),
        model_sha256=(meta.get("model_sha256") or "")[:12] if meta.get("model_sha256") != "unknown" else "",
        backend=meta.get("backend"),
        deidentified=deidentify,
        salt_text=salt_text,
        grade=visit.grade,
        band=visit.band,
        retake=visit.retake,
        rows=rows,
        figures=figures,
        visit_flags=visit_flags,
        outline_color="rgb({}, {}, {})".format(*style.outline_color),
        hairloss_color="rgb({}, {}, {})".format(*style.hairloss_color),
    )


def _view_row(visit, view: str, result) -> dict:
    """The table row of one view: weight, % loss, SALT points, confidence and flags
    (a missing view says so)."""
    weight = VIEW_WEIGHTS[view]
    if result is None:
        return {"name": view, "weight": f"{weight:.2f}", "loss": "missing", "points": "", "confidence": "",
                "flags": []}
    loss = result.loss_pct
    corrected = getattr(result, "corrected", False)
    flags = [{"code": f["code"], "message": f["message"], "kind": _kind(f["code"])} for f in result.flags]
    if corrected:  # a person's masks: say so where the number is
        flags.insert(0, {"code": "corrected", "message": "masks corrected by hand", "kind": "info"})
    return {
        "name": view,
        "weight": f"{weight:.2f}",
        "loss": "n/a" if loss is None else f"{loss:.1f}",
        "points": "" if loss is None else "withheld" if visit.withheld else f"{_points(visit, view, weight * loss):.1f}",
        "confidence": "corrected" if corrected else f"{100 * result.confidence:.0f}%",
        "flags": flags,
    }


def _points(visit, view: str, fallback: float) -> float:
    """The SALT points of a view as the visit's score has them (the exact weighted percentage,
    so the table agrees with report.json: 0.18 × 72.5 is 13.05, shown 13.1, where the float
    product 13.049999… gave 13.0); ``fallback`` for a visit without a score."""
    score = getattr(visit, "score", None)
    return fallback if score is None else score.contributions[view]


def _view_figure(view: str, result, photo: np.ndarray, overlay: np.ndarray, deidentify: bool, show_paths: bool,
                 max_side: int | None) -> dict:
    """The figure of one view: its overlay and plain photograph (blurred outside
    the scalp when ``deidentify``) as data URIs, and a caption."""
    loss = result.loss_pct
    caption = ("not measured" if loss is None else f"{loss:.1f}% of the scalp with hair loss")
    if result.source and show_paths and not deidentify:
        caption += f" ({result.source})"
    if deidentify:
        photo = blur_outside_scalp(photo, result.scalp_mask)
    return {"name": view, "src": data_uri(encode_jpeg(overlay, EMBEDDED_JPEG_QUALITY)),
            "photo_src": data_uri(encode_jpeg(fit_within(photo, max_side), EMBEDDED_JPEG_QUALITY)),
            "alt": f"{view} view with scalp outline and hair loss", "caption": caption}


def _salt_text(visit) -> str:
    """The SALT as the report shows it: the number, ``n/a`` or ``withheld``."""
    if getattr(visit, "withheld", None):
        return "withheld"
    return "n/a" if visit.salt is None else shown_salt(visit.salt)


def _points_note(visit, rows: list[dict], salt_text: str) -> str | None:
    """A note when the views' SALT points, each rounded to 0.1, do not add up to the SALT shown."""
    if visit.salt is None:
        return None
    shown_sum = sum(float(row["points"]) for row in rows if row["points"])
    if f"{shown_sum:.1f}" == salt_text:
        return None
    return (f"Each view's SALT points are rounded to 0.1, so they add up to {shown_sum:.1f}; "
            f"the SALT {salt_text} is the sum of the unrounded points.")
