"""Score a visit in the browser: upload page, result page, corrections, reports.

=========================================  ===================================
``GET  /``                                 four labelled upload slots
``POST /score``                            score the uploads; 303 to the result
``GET  /result/<id>``                      overlays, numbers, brush/eraser editor
``GET  /result/<id>/photo/<view>.jpg``     photograph at editing size (no EXIF)
``GET  /result/<id>/mask/<view>/<layer>``  scalp / hairloss mask PNG, editing size
``POST /result/<id>/masks``                corrected masks -> recomputed numbers
``GET  /result/<id>/report.html|.json``    the report (``?deidentify=1``)
``POST /result/<id>/save``                 store the visit for a patient
=========================================  ===================================

Scored visits live in memory only (``AppState.cache``); nothing here writes to
disk except ``save``, which needs ``--store``.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from alonet.views import VIEWS
from alonet.web.reports import new_views, report_response
from alonet.web.state import get_state, wants_json
from alonet.web.storage import check_visit_date
from alonet.web.uploads import (
    UploadRejected,
    edit_size,
    jpeg_bytes,
    png_bytes,
    read_mask_upload,
    read_photo_uploads,
    resize_image,
    resize_mask,
)

bp = Blueprint("score", __name__)

#: Optional review fields of the report form (``alonet.report.html.REVIEW_FIELDS``), max 64 characters.
REVIEW_FORM_FIELDS = ("patient_code", "visit_date", "photo_date", "reviewer")


def wants_provisional() -> bool:
    """True when the request asks for a provisional SALT (form field or query ``provisional``)."""
    value = request.form.get("provisional") or request.args.get("provisional") or ""
    return value.lower() in ("1", "true", "on", "yes")


def review_fields() -> dict[str, str]:
    """The report's optional review fields from the query string (trimmed, at most 64 characters)."""
    return {k: " ".join(request.args.get(k, "").split())[:64] for k in REVIEW_FORM_FIELDS if request.args.get(k)}

LAYERS = ("scalp", "hairloss")


def _visit(visit_id: str):
    visit = get_state().cache.get(visit_id)
    if visit is None:
        abort(404, description="this result is no longer in memory (results are kept for a limited time "
                               "and are never written to disk); score the photographs again")
    return visit


def _view(visit, view: str):
    state = visit.views.get(view)
    if state is None:
        abort(404, description=f"the {view} view was not part of this visit")
    return state


def _image_response(data: bytes, mimetype: str):
    from flask import Response

    return Response(data, mimetype=mimetype, headers={"Cache-Control": "no-store"})


@bp.get("/")
def index():
    return render_template("index.html", error=None)


@bp.post("/score")
def score():
    state = get_state()
    images = read_photo_uploads(request.files, request.form, state.config.max_pixels)
    views = state.scorer.score(images)
    visit = state.cache.add(views, state.scorer.description, provisional=wants_provisional())
    url = url_for("score.result", visit_id=visit.id)
    if wants_json():
        return jsonify(url=url, summary=visit.summary())
    return redirect(url, code=303)


def _edit_views(visit) -> list[dict]:
    max_side = get_state().config.edit_max_side
    rows = []
    for view in VIEWS:
        st = visit.views.get(view)
        if st is None:
            continue
        height, width = edit_size(*st.shape, max_side)
        rows.append({
            "view": view,
            "width": width,
            "height": height,
            "photo_url": url_for("score.photo", visit_id=visit.id, view=view),
            "scalp_url": url_for("score.mask", visit_id=visit.id, view=view, layer="scalp"),
            "hairloss_url": url_for("score.mask", visit_id=visit.id, view=view, layer="hairloss"),
        })
    return rows


@bp.get("/result/<visit_id>")
def result(visit_id: str):
    visit = _visit(visit_id)
    state = get_state()
    patients = state.store.list_patients() if state.store is not None else []
    return render_template("result.html", visit=visit, summary=visit.summary(), edit_views=_edit_views(visit),
                           patients=patients)


@bp.get("/result/<visit_id>/photo/<view>.jpg")
def photo(visit_id: str, view: str):
    st = _view(_visit(visit_id), view)
    shape = edit_size(*st.shape, get_state().config.edit_max_side)
    return _image_response(jpeg_bytes(resize_image(st.photo, shape)), "image/jpeg")


@bp.get("/result/<visit_id>/mask/<view>/<layer>.png")
def mask(visit_id: str, view: str, layer: str):
    if layer not in LAYERS:
        abort(404, description=f"unknown mask layer {layer!r}; use scalp or hairloss")
    visit = _visit(visit_id)
    st = _view(visit, view)
    shape = edit_size(*st.shape, get_state().config.edit_max_side)
    with visit.lock:
        data = st.scalp if layer == "scalp" else st.hairloss
    return _image_response(png_bytes(resize_mask(data, shape)), "image/png")


@bp.post("/result/<visit_id>/masks")
def masks(visit_id: str):
    """Corrected masks from the page (fields ``scalp_<view>``, ``hairloss_<view>``,
    PNG at editing size); both layers of a view come together. Returns the
    recomputed summary as JSON."""
    visit = _visit(visit_id)
    max_side = get_state().config.edit_max_side
    expected = {f"{layer}_{view}" for layer in LAYERS for view in visit.views}
    unknown = sorted(set(request.files) - expected)
    if unknown:
        raise UploadRejected(f"unexpected mask field {unknown[0]!r}")
    corrections = {}
    for view, st in visit.views.items():
        names = [f"{layer}_{view}" for layer in LAYERS]
        given = [n in request.files for n in names]
        if not any(given):
            continue
        if not all(given):
            raise UploadRejected(f"send both the scalp and the hair-loss mask of the {view} view")
        shape = edit_size(*st.shape, max_side)
        scalp, loss = (
            read_mask_upload(request.files[n].stream.read(), f"{layer} ({view})", shape, get_state().config.max_pixels)
            for n, layer in zip(names, LAYERS)
        )
        corrections[view] = (resize_mask(scalp, st.shape), resize_mask(loss, st.shape))
    if not corrections:
        raise UploadRejected("no corrected mask was sent")
    scorer = get_state().scorer
    with visit.lock:
        for view, (scalp, loss) in corrections.items():
            scorer.correct(visit.views[view], scalp, loss)
        summary = visit.summary()
    return jsonify(summary=summary)


@bp.get("/result/<visit_id>/report.<kind>")
def report(visit_id: str, kind: str):
    visit = _visit(visit_id)
    deidentify = request.args.get("deidentify", "0") in ("1", "true", "on", "yes")
    with visit.lock:
        return report_response(visit.views, visit.model, kind, deidentify, provisional=visit.provisional,
                               review=review_fields())


@bp.post("/result/<visit_id>/save")
def save(visit_id: str):
    state = get_state()
    if state.store is None:
        abort(404, description="visits are stored only when the server runs with --store DIR")

    visit = _visit(visit_id)
    store = state.store
    submission = request.form.get("submission")
    if submission is not None and submission != visit.submission:
        abort(400, description="this save form belongs to another scoring of the photographs; reload the page")
    visit_date = check_visit_date(request.form.get("visit_date"))
    choice = request.form.get("patient", "").strip()
    # One save per scored visit: a second Save (double click, resent form) waits for
    # the first and then answers with the visit it stored, creating nothing.
    with visit.lock:
        if visit.saved_as is None:
            if choice == "new" or not choice:
                patient_id = store.create_patient(request.form.get("new_code", ""))
            else:
                try:
                    patient_id = int(choice)
                except ValueError:
                    abort(400, description="choose a patient from the list")
                if store.get_patient(patient_id) is None:
                    abort(404, description=f"patient {patient_id} does not exist")
            visit.saved_as = store.add_visit(patient_id, visit_date, visit.summary(), new_views(visit.views),
                                             model=visit.model)
            if request.form.get("reviewed") == "1":
                store.set_reviewed(visit.saved_as, True)
    return redirect(url_for("patients.visit", visit_id=visit.saved_as), code=303)
