"""Reports and stored files of a visit, built from the masks as they are now.

The report itself is ``alonet.report`` (the same HTML and JSON as ``alonet
score``), rendered in memory and sent as a download: nothing is written to
disk. This module only turns the web app's view states into what the report
and the store need.
"""

from __future__ import annotations

from dataclasses import replace

import datetime as _dt
import json
import re
from collections.abc import Mapping
from functools import partial

from flask import Response, abort

from alonet.data.annotation import read_annotation
from alonet.data.encode import NO_CHROMA_SUBSAMPLING, encode_jpeg, encode_mask_png
from alonet.data.jpegmeta import decodes_to
from alonet.data.photo import read_photo
from alonet.errors import AloNetError
from alonet.infer.quality import RETAKE_CODES
from alonet.infer.results import ViewResult
from alonet.report import ReportOptions, render_report_html, report_json
from alonet.store.records import NewView, Visit
from alonet.store.storage import Store
from alonet.web.visits import ViewState, visit_result

#: JPEG quality of stored photographs that are not kept as uploaded (see :func:`stored_photo_jpeg`).
STORED_JPEG_QUALITY = 95


def report_response(views: Mapping[str, ViewState], kind: str, options: ReportOptions,
                    provisional: bool = False) -> Response:
    """The visit's report as a download, as ``options`` say: ``kind`` is ``html`` or ``json``.

    ``options.meta`` says what scored the visit (``Scorer.provenance()`` when it was scored, or
    what a stored visit recorded: :func:`scored_with_meta`), never what the server runs now;
    report.json adds the views corrected by hand. The file is named after the review's patient
    code and visit date when given (and not de-identified).
    """
    if kind not in ("html", "json"):
        abort(404, description=f"unknown report type {kind!r}; use report.html or report.json")
    visit = visit_result(views, provisional=provisional)
    corrected = [v for v, st in views.items() if st.corrected]
    meta = dict(options.meta or {})
    if kind == "html":
        body = render_report_html(visit, options=replace(options, meta=meta))
        mimetype = "text/html"  # werkzeug adds "; charset=utf-8"
    else:
        document = report_json(visit, options=replace(options, meta={**meta, "corrected_views": corrected}))
        body = json.dumps(document, indent=2)
        mimetype = "application/json"
    name = report_file_name(options.review, options.deidentify, kind, _dt.date.today().isoformat())
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store",
    })


def scored_with_meta(model: str, scored_with: Mapping | None) -> dict:
    """The provenance a stored visit's report states: what the visit was stored with (model
    name, and for visits saved since schema 5 its checksum, backend, thresholds); nothing
    is taken from the server running now."""
    return {**dict(scored_with or {}), "model": model or (scored_with or {}).get("model") or "unknown"}


def report_file_name(review: Mapping[str, str | None] | None, deidentify: bool, kind: str, today: str) -> str:
    """``alonet-report-<code>-<visit date>.<kind>`` from the review fields (letters, digits, ``.``,
    ``_`` and ``-`` kept, anything else a ``-``); today's date without a visit date; a
    de-identified report names no code and no date at all (``alonet-report-deidentified.<kind>``:
    the day a report is made is usually the visit's)."""
    review = dict(review or {})
    if deidentify:
        return f"alonet-report-deidentified.{kind}"
    parts = [review.get("patient_code") or "", review.get("visit_date") or today]
    safe = [re.sub(r"[^A-Za-z0-9._-]+", "-", part).strip("-.") for part in parts]
    return "-".join(["alonet-report", *[p for p in safe if p]]) + f".{kind}"


def new_views(views: Mapping[str, ViewState]) -> list[NewView]:
    """Encode each view for the store: masks as PNG, the photograph as :func:`stored_photo_jpeg`."""
    return [
        NewView(
            view=v,
            # a reopened visit keeps its stored file: encoded only if that file is gone by then
            photo_jpeg=partial(stored_photo_jpeg, st) if st.stored_photo else stored_photo_jpeg(st),
            scalp_png=encode_mask_png(st.scalp),
            hairloss_png=encode_mask_png(st.hairloss),
            loss_pct=st.loss_pct,
            confidence=st.confidence,
            flags=st.flags,
            corrected=st.corrected,
            photo_file=st.stored_photo,
        )
        for v, st in views.items()
    ]


def stored_photo_jpeg(state: ViewState) -> bytes:
    """The photograph as the store keeps it: the uploaded JPEG without its metadata when it
    decodes to the pixels that were scored (so scoring the stored file again gives the same
    numbers), otherwise (another format, a photograph turned by its EXIF orientation, an
    unusual JPEG) a JPEG encoded from the pixels, upright."""
    if state.upload_jpeg is not None and not state.upload_checked:
        # checked once (a full decode): later saves of the visit reuse the answer
        if not decodes_to(state.upload_jpeg, state.photo):
            state.upload_jpeg = None
        state.upload_checked = True
    if state.upload_jpeg is not None:
        return state.upload_jpeg
    return encode_jpeg(state.photo, quality=STORED_JPEG_QUALITY, subsampling=NO_CHROMA_SUBSAMPLING, optimize=True)


MISSING_FILE = ("a stored image of visit {visit} ({view}) is missing from the store folder "
                "(moved or deleted outside AloNet); its numbers are kept, its pictures are lost")


def refuse_if_changed_meanwhile(store: Store, visit_id: int, view: str, names: tuple[str, ...]) -> None:
    """Answer 404 or 409 when ``visit_id`` no longer names ``names`` for ``view``: another page or
    server saved or deleted the visit after it was read here, and removed the files it replaced.
    That is no damage to the store; only files the visit still names can be missing or damaged."""
    current, _ = store.visit_and_stamp(visit_id)
    if current is None:
        abort(404, description=f"visit {visit_id} was deleted meanwhile (from another page or server)")
    now = current.views.get(view)
    if now is None or not set(names) <= set(now.files):
        abort(409, description=f"visit {visit_id} was saved again meanwhile (from another page or server): "
                               "open it again to see the masks saved last")


def open_stored_file(store: Store, name: str, visit_id: int, view: str):
    """A stored image file opened for reading; 404 with a sentence when it is gone."""
    try:
        return open(store.image_file(name), "rb")
    except FileNotFoundError:
        refuse_if_changed_meanwhile(store, visit_id, view, (name,))
        abort(404, description=MISSING_FILE.format(visit=visit_id, view=view))


def stored_view_states(store: Store, visit: Visit, scorer) -> dict[str, ViewState]:
    """Rebuild a stored visit's view states from its files (for its report)."""
    states = {}
    for view, stored in visit.views.items():
        names = stored.files
        paths = [store.image_file(n) for n in names]
        if not all(p.is_file() for p in paths):
            refuse_if_changed_meanwhile(store, visit.id, view, names)
            abort(404, description=MISSING_FILE.format(visit=visit.id, view=view))
        conf = 1.0 if stored.confidence is None else float(stored.confidence)
        try:  # a mask replaced by one of another size is damage in the store too
            photo = read_photo(paths[0], max_pixels=None)
            scalp = read_annotation(paths[1], max_pixels=None)
            hairloss = read_annotation(paths[2], max_pixels=None)
            result = scorer.pipeline.result_from_masks(photo, view, scalp, hairloss, confidence_value=conf,
                                                       corrected=stored.corrected)
        except AloNetError:
            refuse_if_changed_meanwhile(store, visit.id, view, names)  # removed while being read
            abort(500, description=f"a stored image of visit {visit.id} ({view}) cannot be read (damaged in the "
                                   "store folder); restore the store from a backup")
        if stored.loss_pct is not None and result.loss_pct is not None:
            # The networks' % was measured at network size, a correction's on the page's masks;
            # the stored full-size masks give it to about 0.1 points. Show the number that was
            # saved, the one the visit's stored SALT was weighed from.
            result = replace(result, loss_pct=float(stored.loss_pct))
        result = with_stored_flags(result, stored.flags)
        states[view] = ViewState(view=view, result=result, stored_photo=stored.photo_file)
    return states


def with_stored_flags(result: ViewResult, flags) -> ViewResult:
    """``result`` (rebuilt from stored masks) with the flags the view had when it was saved.

    Rebuilding from masks reruns only the photograph's own checks; what the model and the
    view checks found when the visit was scored (``view_mismatch``, low confidence, ...) is
    known only from the stored flags, and the SALT policy must see exactly what the page saw.
    """
    kept = [dict(f) for f in flags]
    return replace(result, flags=kept, retake=any(f.get("code") in RETAKE_CODES for f in kept))
