"""Patients and stored visits (the server must run with ``--store DIR``).

=============================================  ==============================
``GET  /patients``                             list, and a form to add one
``POST /patients``                             add a patient (pseudonymous code: see below)
``GET  /patients/<id>``                        SALT-over-time chart, visits, response
``POST /patients/<id>/delete``                 delete patient, visits, image files
``GET  /visits/<id>``                          a stored visit with its overlays
``GET  /visits/<id>/photo/<view>.jpg``         stored photograph (EXIF-free)
``GET  /visits/<id>/mask/<view>/<layer>.png``  stored mask
``GET  /visits/<id>/report.html|.json``        report of the stored visit
``POST /visits/<id>/correct``                  reopen it for correction (303 to a result page)
``POST /visits/<id>/delete``                   delete the visit and its files
=============================================  ==============================

Without ``--store`` every route answers 404 with a sentence saying so. A new patient's code
that looks like a name or holds a date (``checks.identifying_code_reason``) is refused
unless the form says ``code_is_pseudonymous=1`` (the page shows that tick when the code
looks so); saving a visit for a new patient checks its code the same way.
"""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, send_file, url_for

from alonet.report import ReportOptions
from alonet.report.html import SYNTHETIC_WARNING, uses_bundled_model
from alonet.views import VIEWS
from alonet.web.state import get_state, scoring_slot
from alonet.web.charts import salt_chart
from alonet.web.reports import open_stored_file, scored_with_meta, report_response, stored_view_states
from alonet.store.checks import CODE_CONFIRM_FIELD, check_new_patient_code
from alonet.store.responses import response_rows
from alonet.store.storage import Store

bp = Blueprint("patients", __name__)

LAYERS = ("scalp", "hairloss")


def _store() -> Store:
    store = get_state().store
    if store is None:
        abort(404, description="patients and visits are kept only when the server runs with --store DIR; "
                               "without it nothing is written to disk")
    return store


def _patient(store: Store, patient_id: int):
    patient = store.get_patient(patient_id)
    if patient is None:
        abort(404, description=f"patient {patient_id} does not exist")
    return patient


def _stored_visit(store: Store, visit_id: int):
    return _stored_visit_and_stamp(store, visit_id)[0]


def _stored_visit_and_stamp(store: Store, visit_id: int):
    """The visit and its stamp as one moment of the store (``Store.visit_and_stamp``); 404 if absent."""
    visit, stamp = store.visit_and_stamp(visit_id)
    if visit is None:
        abort(404, description=f"visit {visit_id} does not exist")
    return visit, stamp


@bp.get("/patients")
def patients():
    store = _store()
    return render_template("patients.html", patients=store.list_patients(), error=None,
                           reviewed=store.visit_count(reviewed_only=True), store_dir=str(store.root))


@bp.post("/patients")
def create_patient():
    store = _store()
    confirmed = request.form.get(CODE_CONFIRM_FIELD) == "1"
    patient_id = store.create_patient(check_new_patient_code(request.form.get("code", ""), confirmed))
    return redirect(url_for("patients.patient", patient_id=patient_id), code=303)


@bp.get("/patients/<id:patient_id>")
def patient(patient_id: int):
    store = _store()
    record = _patient(store, patient_id)
    visits = store.list_visits(patient_id)
    rows = response_rows(visits)
    chart = salt_chart([(v.visit_date, v.salt) for v in visits if v.salt is not None],
                       provisional=[v.provisional for v in visits if v.salt is not None])
    return render_template("patient.html", patient=record, rows=rows, chart=chart)


@bp.post("/patients/<id:patient_id>/delete")
def delete_patient(patient_id: int):
    store = _store()
    _patient(store, patient_id)
    store.delete_patient(patient_id)
    return redirect(url_for("patients.patients"), code=303)


@bp.get("/visits/<id:visit_id>")
def visit(visit_id: int):
    store = _store()
    record, stamp = _stored_visit_and_stamp(store, visit_id)  # the stamp of the masks this page shows
    patient = _patient(store, record.patient_id)
    views = []
    for view in record.views:
        views.append({
            "view": view,
            "photo_url": url_for("patients.photo", visit_id=visit_id, view=view),
            "scalp_url": url_for("patients.mask", visit_id=visit_id, view=view, layer="scalp"),
            "hairloss_url": url_for("patients.mask", visit_id=visit_id, view=view, layer="hairloss"),
        })
    # the warning about the bundled model follows the model this visit was scored with, not the served one
    warning = SYNTHETIC_WARNING if uses_bundled_model({"model": record.model, **(record.scored_with or {})}) else None
    return render_template("visit.html", visit=record, patient=patient, summary=record.summary, edit_views=views,
                           synthetic_warning=warning, stamp=stamp)


def _stored_view(record, view: str):
    stored = record.views.get(view)
    if stored is None or view not in VIEWS:
        abort(404, description=f"the {view} view is not part of visit {record.id}")
    return stored


@bp.get("/visits/<id:visit_id>/photo/<view>.jpg")
def photo(visit_id: int, view: str):
    store = _store()
    stored = _stored_view(_stored_visit(store, visit_id), view)
    return send_file(open_stored_file(store, stored.photo_file, visit_id, view), mimetype="image/jpeg", max_age=0)


@bp.get("/visits/<id:visit_id>/mask/<view>/<layer>.png")
def mask(visit_id: int, view: str, layer: str):
    if layer not in LAYERS:
        abort(404, description=f"unknown mask layer {layer!r}; use scalp or hairloss")
    store = _store()
    stored = _stored_view(_stored_visit(store, visit_id), view)
    name = stored.scalp_file if layer == "scalp" else stored.hairloss_file
    return send_file(open_stored_file(store, name, visit_id, view), mimetype="image/png", max_age=0)


@bp.get("/visits/<id:visit_id>/report.<kind>")
def report(visit_id: int, kind: str):
    store = _store()
    record = _stored_visit(store, visit_id)
    deidentify = request.args.get("deidentify", "0") in ("1", "true", "on", "yes")
    views = stored_view_states(store, record, get_state().scorer)
    patient = _patient(store, record.patient_id)
    review = {"patient_code": patient.code, "visit_date": record.visit_date}
    options = ReportOptions(deidentify=deidentify, meta=scored_with_meta(record.model, record.scored_with),
                            review=review)
    return report_response(views, kind, options, provisional=record.provisional_requested)


@bp.post("/visits/<id:visit_id>/correct")
def correct_visit(visit_id: int):
    """Open a stored visit for correction: its stored photographs, masks and flags become a
    scored visit in memory (what the model found is then the stored masks, so "revert"
    goes back to them), already saved as this visit, so Save updates it
    (``Store.update_visit``) with what scored it kept."""
    store = _store()
    record, stamp = _stored_visit_and_stamp(store, visit_id)
    state = get_state()
    with scoring_slot():
        views = stored_view_states(store, record, state.scorer)
    visit = state.cache.add(views, record.model, provisional=record.provisional_requested,
                            scored_with=record.scored_with)
    visit.saved_as, visit.saved_revision = record.id, visit.revision
    # the stamp read with the record: a save over someone else's later save is refused (a stamp
    # read after rebuilding the views, seconds later, could be of that later save)
    visit.stored_stamp = stamp
    visit.stored_date, visit.reopened = record.visit_date, True
    return redirect(url_for("score.result", visit_id=visit.id), code=303)


@bp.post("/visits/<id:visit_id>/delete")
def delete_visit(visit_id: int):
    store = _store()
    record = _stored_visit(store, visit_id)
    store.delete_visit(visit_id)
    return redirect(url_for("patients.patient", patient_id=record.patient_id), code=303)
