"""Score a visit in the browser: upload page, result page, corrections, reports.

=========================================  ===================================
``GET  /``                                 four labelled upload slots
``POST /score``                            score the uploads; 303 to the result
``GET  /result/<id>``                      overlays, numbers, brush/eraser editor
``GET  /result/<id>/photo/<view>.jpg``     photograph at editing size (no EXIF)
``GET  /result/<id>/mask/<view>/<layer>``  scalp / hairloss mask PNG, editing size
``POST /result/<id>/masks``                corrected masks -> recomputed numbers
``POST /result/<id>/report.html|.json``    the report (form: ``deidentify``, review fields)
``GET  /result/<id>/report.html|.json``    the report without review fields (``?deidentify=1``)
``POST /result/<id>/save``                 store the visit for a patient
=========================================  ===================================

Scored visits live in memory only (``AppState.cache``); nothing here writes to
disk except ``save``, which needs ``--store``.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import NoReturn

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from alonet.data.encode import NO_CHROMA_SUBSAMPLING, PHOTO_JPEG_QUALITY, encode_jpeg, encode_mask_png
from alonet.data.resize import area_resize_mask, resize_photo
from alonet.report import ReportOptions
from alonet.views import VIEWS
from alonet.web.reports import new_views, scored_with_meta, report_response
from alonet.web.state import get_state, scoring_slot, wants_json, wants_provisional
from alonet.store.checks import (
    CODE_CONFIRM_FIELD,
    check_date,
    check_new_patient_code,
    check_patient_code,
    check_visit_date,
    parse_id,
)
from alonet.store.errors import VisitChangedError
from alonet.web.uploads import (
    UploadRejected,
    edit_size,
    read_mask_upload,
    read_photo_files,
)
from alonet.web.visits import ScoredVisit, ViewState, keep_words

bp = Blueprint("score", __name__)

#: Optional review fields of the report form (``alonet.report.options.REVIEW_FIELDS``), max 64 characters.
REVIEW_FORM_FIELDS = ("patient_code", "visit_date", "photo_date", "reviewer")


#: Review fields that hold a date (checked like a visit date).
DATE_FIELDS = MappingProxyType({"visit_date": "visit date", "photo_date": "photograph date"})


#: Why review fields are refused in a report's address.
REVIEW_IN_URL = ("the report's review fields ({fields}) are not taken from the address: addresses are kept in "
                 "the browser's history and in proxy logs; send them in the body of a POST with the session's "
                 "CSRF token (the result page's Report form does), or leave them out of the address for a "
                 "report without them")


def review_fields() -> dict[str, str | None]:
    """The report's optional review fields from a POSTed form body (trimmed, at most 64 characters;
    dates must be real, past dates). A review field in the query string is refused (400), also
    in a POST: patient codes and dates must not travel in addresses (privacy audit F6)."""
    in_url = [k for k in REVIEW_FORM_FIELDS if request.args.get(k, "").strip()]
    if in_url:
        raise UploadRejected(REVIEW_IN_URL.format(fields=", ".join(in_url)))
    form = request.form if request.method == "POST" else {}
    fields: dict[str, str | None] = {k: " ".join(form.get(k, "").split())[:64] for k in REVIEW_FORM_FIELDS
                                     if form.get(k)}
    for key, what in DATE_FIELDS.items():
        if key in fields:
            fields[key] = check_date(fields[key], what)
    return fields

LAYERS = ("scalp", "hairloss")


def _visit(visit_id: str) -> ScoredVisit:
    cache = get_state().cache
    visit = cache.get(visit_id)
    if visit is not None:
        return visit
    _gone(visit_id)


def _gone(visit_id: str) -> NoReturn:
    """Abort with a 404 that says why the result ``visit_id`` is no longer held."""
    cache = get_state().cache
    reason = cache.why_gone(visit_id)
    if reason == "replaced":
        memory = "" if cache.max_bytes is None else (f" (and at most {cache.max_bytes / (1024 * 1024):.4g} MiB of "
                                                     "their photographs and masks)")
        why = (f"the server keeps only the last {cache.capacity} scored visits that are open{memory}, and newer "
               "ones replaced it")
    elif reason == "expired":
        why = f"it was not used for {keep_words(cache.ttl_s)}"
    else:
        why = "results are kept in memory for a limited time and never written to disk, or the server restarted"
    abort(404, description=f"this result is no longer in memory ({why}); score the photographs again, "
                           "and save or download corrections before moving on")


def _view(visit: ScoredVisit, view: str) -> ViewState:
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
    with scoring_slot():
        images, jpegs = read_photo_files(request.files, request.form, state.config.max_pixels,
                                         state.config.max_request_pixels)
        # the uploaded files are kept only where a save can store them
        views = state.scorer.score(images, uploads=jpegs if state.store is not None else None)
    visit = state.cache.add(views, state.scorer.description, provisional=wants_provisional(),
                            scored_with=state.scorer.provenance())
    url = url_for("score.result", visit_id=visit.id)
    if wants_json():
        return jsonify(url=url, summary=visit.summary())
    return redirect(url, code=303)


def _edit_views(visit: ScoredVisit) -> list[dict]:
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
    saved = saved_patient = None
    if state.store is not None and visit.saved_as is not None:
        saved = state.store.get_visit(visit.saved_as)
        saved_patient = state.store.get_patient(saved.patient_id) if saved is not None else None
    # after the no-JavaScript masks form: which views it applied, said on the page
    applied = [v for v in request.args.get("applied", "").split(",") if v in visit.views]
    return render_template("result.html", visit=visit, summary=visit.summary(), edit_views=_edit_views(visit),
                           patients=patients, saved=saved, saved_patient=saved_patient, applied=applied,
                           keep_for=keep_words(state.cache.ttl_s), ttl_s=state.cache.ttl_s)


@bp.route("/result/<visit_id>/lease", methods=["GET", "POST"])
def lease(visit_id: str):
    """How long the server still keeps this result in memory: ``expires_in_s`` (seconds until it
    is forgotten unless used) and ``ttl_s`` (the time each use gives it). GET asks without
    counting as a use; POST (the page's "Keep this result" button) counts as one. A result no
    longer held is a 404 that says why."""
    cache = get_state().cache
    if request.method == "POST":
        _visit(visit_id)  # a use: the time starts again
    left = cache.expires_in(visit_id)
    if left is None:
        _gone(visit_id)
    return jsonify(expires_in_s=round(left, 1), ttl_s=cache.ttl_s)


@bp.get("/result/<visit_id>/photo/<view>.jpg")
def photo(visit_id: str, view: str):
    st = _view(_visit(visit_id), view)
    height, width = edit_size(*st.shape, get_state().config.edit_max_side)
    picture = encode_jpeg(resize_photo(st.photo, (width, height)), quality=PHOTO_JPEG_QUALITY,
                          subsampling=NO_CHROMA_SUBSAMPLING, optimize=True)
    return _image_response(picture, "image/jpeg")


@bp.get("/result/<visit_id>/mask/<view>/<layer>.png")
def mask(visit_id: str, view: str, layer: str):
    if layer not in LAYERS:
        abort(404, description=f"unknown mask layer {layer!r}; use scalp or hairloss")
    visit = _visit(visit_id)
    st = _view(visit, view)
    height, width = edit_size(*st.shape, get_state().config.edit_max_side)
    with visit.lock:
        data = st.scalp if layer == "scalp" else st.hairloss
    return _image_response(encode_mask_png(area_resize_mask(data, (width, height))), "image/png")


def stale_page_message(now: int, page: int, sent_by: str) -> str:
    """Why corrections from a page built on correction ``page`` of a result now at correction
    ``now`` were refused (409), in the words of what the user did: ``sent_by`` is "strokes"
    (painted on the page, or a script's masks), "files" (the "correct the masks from files" form,
    sent by the page's script) or "form" (that form posted without JavaScript: the answer is a
    page of its own, with a link back to the result)."""
    if sent_by == "strokes":
        return (f"this result was corrected elsewhere (another tab or person) since this page loaded it (it is at "
                f"correction {now}, this page at {page}); the strokes made here since were not applied: reload "
                "the page to see that correction, then correct again")
    again = ("open the result again and choose the files again" if sent_by == "form" else
             "reload the page to see that correction, then choose the files again")
    return (f"this page is out of date: the result was corrected after it loaded (it is at correction {now}, the "
            f"page at {page}), so these masks were not applied: {again}")


def _revision(text: str | None) -> int | None:
    """The page's ``revision`` field as a number (``None`` when not sent), or UploadRejected.

    A correction count has at most 19 digits, like a store id; a longer string of digits
    is refused before ``int`` (which stops at 4300 digits with an error of its own).
    """
    if text is None:
        return None
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 19):
        raise UploadRejected(f"revision {text[:20]!r} is not a number; reload the page")
    return int(digits)


@bp.post("/result/<visit_id>/masks")
def masks(visit_id: str):
    """Corrected masks from the page (fields ``scalp_<view>``, ``hairloss_<view>``,
    PNG at editing size; both layers of a view come together), or ``revert=<view>``
    to take the model's own result back. ``revision``: the correction count the page
    started from; when another page corrected the result since, the answer is 409 and
    nothing changes (scripts that leave it out are not checked). Returns the recomputed
    summary, the new revision and whether corrections are unsaved, as JSON; the page's
    "correct the masks from files" form sent without JavaScript (``then=page``) is answered
    with the result page instead; sent by the page's script it says ``source=files`` (only the
    words of a 409 differ: :func:`stale_page_message`). A file field sent empty and without a
    file name (a form's file input left empty) counts as not sent."""
    visit = _visit(visit_id)
    from_form = request.form.get("then") == "page" and not wants_json()
    started = _revision(request.form.get("revision"))
    max_side = get_state().config.edit_max_side
    sent = {}
    for name in request.files:
        uploads = [(f.stream.read(), f.filename) for f in request.files.getlist(name)]
        datas = [data for data, filename in uploads if data or filename]
        if len(datas) > 1:
            raise UploadRejected(f"more than one file was sent for the mask field {name[:40]!r}; send one per field")
        if datas:
            sent[name] = datas[0]
    expected = {f"{layer}_{view}" for layer in LAYERS for view in visit.views}
    unknown = sorted(set(sent) - expected)
    if unknown:
        raise UploadRejected(f"unexpected mask field {unknown[0]!r}")
    reverts = request.form.getlist("revert")
    bad = [v for v in reverts if v not in visit.views]
    if bad:
        raise UploadRejected(f"cannot revert {bad[0][:20]!r}: not a view of this visit")
    corrections = {}
    for view, st in visit.views.items():
        names = [f"{layer}_{view}" for layer in LAYERS]
        given = [n in sent for n in names]
        if not any(given):
            continue
        if not all(given):
            raise UploadRejected(f"send both the scalp and the hair-loss mask of the {view} view")
        shape = edit_size(*st.shape, max_side)
        scalp, loss = (
            read_mask_upload(sent[n], f"{layer} ({view})", shape, get_state().config.max_pixels)
            for n, layer in zip(names, LAYERS)
        )
        height, width = st.shape
        corrections[view] = (area_resize_mask(scalp, (width, height)), area_resize_mask(loss, (width, height)))
    if set(corrections) & set(reverts):
        raise UploadRejected("a view is either corrected or reverted, not both")
    if not corrections and not reverts:
        raise UploadRejected("no corrected mask was sent")
    scorer = get_state().scorer
    with visit.lock:
        if started is not None and started != visit.revision:
            sent_by = "form" if from_form else "files" if request.form.get("source") == "files" else "strokes"
            abort(409, description=stale_page_message(visit.revision, started, sent_by))
        for view, (scalp, loss) in corrections.items():
            scorer.correct(visit.views[view], scalp, loss)
        for view in reverts:  # every stroke undone: the model's own result again
            visit.views[view].revert()
        visit.revision += 1
        summary = visit.summary()
        revision, unsaved = visit.revision, visit.unsaved
    if from_form:
        applied = [v for v in visit.views if v in corrections or v in reverts]
        return redirect(url_for("score.result", visit_id=visit.id, applied=",".join(applied)), code=303)
    return jsonify(summary=summary, revision=revision, unsaved=unsaved)


@bp.route("/result/<visit_id>/report.<kind>", methods=["GET", "POST"])
def report(visit_id: str, kind: str):
    """The report as a download. The result page POSTs its Report form (``deidentify`` and the
    review fields in the body, with the CSRF token); a plain GET, with at most ``?deidentify=1``,
    gives the report without review fields. Review fields in the address are refused."""
    visit = _visit(visit_id)
    source = request.form if request.method == "POST" else request.args
    deidentify = source.get("deidentify", "0") in ("1", "true", "on", "yes")
    with visit.lock:
        options = ReportOptions(deidentify=deidentify, meta=scored_with_meta(visit.model, visit.scored_with),
                                review=review_fields())
        return report_response(visit.views, kind, options, provisional=visit.provisional)


def _patient_for_save(store, choice: str, new_code: str) -> int:
    """The patient a first save goes to: the chosen one, or a new one with ``new_code``."""
    if choice == "new" or not choice:
        confirmed = request.form.get(CODE_CONFIRM_FIELD) == "1"
        return store.create_patient(check_new_patient_code(new_code, confirmed))
    patient_id = parse_id(choice)
    if patient_id is None:
        abort(400, description="choose a patient from the list")
    patient = store.get_patient(patient_id)
    if patient is None:
        abort(404, description=f"patient {patient_id} does not exist (deleted?); reload the page and choose again")
    _check_no_other_code(patient, new_code)
    return patient_id


def _check_no_other_code(patient, new_code: str) -> None:
    """A patient chosen from the list with another code typed in the new-code field is a 400: the
    visit was filed under the chosen one without a word (first saves and later ones alike)."""
    typed = new_code.strip()
    if typed and typed.casefold() != patient.code.casefold():
        abort(400, description=f"you chose patient {patient.code} from the list and typed the new code {typed}: "
                               "choose \"New patient…\" to file it under the new code, or clear the code field")


def _check_no_visit_that_day(store, patient_id: int, visit_date: str, allowed: bool, itself: int | None = None) -> None:
    """A second visit of a patient on one date is filed only when the form says so (``same_day=1``):
    otherwise it is usually the same visit saved twice (two identical rows on the patient page).
    ``itself``: the stored visit being moved to ``visit_date`` (not a second visit of that day)."""
    earlier = [v for v in store.visits_on(patient_id, visit_date) if v != itself]
    if earlier and not allowed:
        patient = store.get_patient(patient_id)
        abort(409, description=f"patient {patient.code} already has a visit on {visit_date} (visit {earlier[0]}); "
                               "open that visit instead, or tick \"another visit the same day\" and save again")


def _check_same_patient(store, stored, choice: str, new_code: str) -> None:
    """A saved visit is saved again only for its own patient (a resent form, or later corrections)."""
    patient = store.get_patient(stored.patient_id)
    same = (parse_id(choice) == stored.patient_id if choice not in ("", "new")  # codes are one patient ignoring case
            else patient is not None and check_patient_code(new_code).casefold() == patient.code.casefold())
    if not same:
        code = patient.code if patient is not None else stored.patient_id
        abort(409, description=f"this visit is already saved as visit {stored.id} of patient {code}; "
                               "to file it under another patient, delete that visit first and save again")
    if choice not in ("", "new") and patient is not None:
        _check_no_other_code(patient, new_code)


@bp.post("/result/<visit_id>/save")
def save(visit_id: str):
    """Store the visit. The first save adds it for the chosen patient; a later save (a resent
    form, or a save after more corrections) updates that stored visit and creates nothing.
    If the stored visit was deleted meanwhile, the save adds it again."""
    state = get_state()
    if state.store is None:
        abort(404, description="visits are stored only when the server runs with --store DIR")

    visit = _visit(visit_id)
    store = state.store
    submission = request.form.get("submission")
    if submission is not None and submission != visit.submission:
        abort(400, description="this save form belongs to another scoring of the photographs; reload the page")
    typed_date = (request.form.get("visit_date") or "").strip()
    visit_date = check_visit_date(typed_date)
    choice = request.form.get("patient", "").strip()
    new_code = request.form.get("new_code", "")
    with visit.lock:  # a second Save (double click) waits for the first
        stored = store.get_visit(visit.saved_as) if visit.saved_as is not None else None
        kept_date = stored.visit_date if stored is not None else visit.stored_date
        if not typed_date and kept_date is not None:
            # an empty date field keeps the stored date (the one this page opened, if deleted since)
            visit_date = kept_date
        if stored is None:
            created = choice in ("", "new")
            patient_id = _patient_for_save(store, choice, new_code)
            try:
                _check_no_visit_that_day(store, patient_id, visit_date, request.form.get("same_day") == "1")
                visit.saved_as = saved_as = store.add_visit(patient_id, visit_date, visit.stored_summary(),
                                                            new_views(visit.views), model=visit.model,
                                                            scored_with=visit.scored_with)
            except BaseException:
                if created:  # the patient was made for this visit: nothing of the save stays
                    store.delete_patient(patient_id)
                raise
        else:
            saved_as = stored.id  # the stored visit found by visit.saved_as
            _check_same_patient(store, stored, choice, new_code)
            if visit_date != stored.visit_date:
                _check_no_visit_that_day(store, stored.patient_id, visit_date, request.form.get("same_day") == "1",
                                         itself=stored.id)
            try:
                if visit.revision != visit.saved_revision or visit_date != stored.visit_date:
                    visit.stored_stamp = store.update_visit(
                        stored.id, visit_date, visit.stored_summary(), new_views(visit.views), model=visit.model,
                        scored_with=visit.scored_with, expect_stamp=visit.stored_stamp)
                elif visit.stored_stamp is not None and store.visit_stamp(saved_as) != visit.stored_stamp:
                    # nothing to write, but another page saved since this one opened the visit: taking
                    # that save's stamp here let this page's next save overwrite it unseen
                    raise VisitChangedError.since_opened(saved_as)
            except VisitChangedError as exc:
                abort(409, description=str(exc))
        if visit.stored_stamp is None or stored is None:
            visit.stored_stamp = store.visit_stamp(saved_as)
        visit.saved_revision, visit.stored_date = visit.revision, visit_date
        if request.form.get("reviewed") == "1":
            try:  # the mark goes on the masks this page showed, never on another page's later save
                store.set_reviewed(saved_as, True, expect_stamp=visit.stored_stamp)
            except VisitChangedError as exc:
                abort(409, description=str(exc))
    return redirect(url_for("patients.visit", visit_id=visit.saved_as), code=303)
