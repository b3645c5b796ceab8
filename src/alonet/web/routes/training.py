"""Visits as training data, and the model set the app serves.

========================================  ========================================
``POST /visits/<id>/review``              mark a stored visit "reviewed — use for
                                          training" (``reviewed=1``) or take the
                                          mark back (``reviewed=0``); form field or
                                          JSON body ``{"reviewed": true}``
``GET  /model``                           the model set: name, folder, model card,
                                          before/after numbers of ``alonet adapt``
``GET  /api/model``                       the same as JSON (``?card=1`` adds the
                                          card's full text)
========================================  ========================================

The review route changes the store, so it needs the session's CSRF token like
every form (the page's ``fetch`` sends it as ``X-CSRFToken``). It answers JSON
``{"visit": id, "reviewed": bool, "reviewed_at": str | null}`` to JSON requests
and redirects forms back to the visit. Reviewed visits become a dataset with
``alonet convert --from-store DIR -o DATASET`` (see ``alonet.store.export``).
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for

from alonet.errors import InvalidValueError
from alonet.store.errors import VisitChangedError
from alonet.web.state import get_state, wants_json
from alonet.web.model_info import describe_model_set, model_set_name

bp = Blueprint("training", __name__)

_YES = ("1", "true", "on", "yes")
_NO = ("0", "false", "off", "no")


def served_spec() -> str:
    """The model-set spec of the app's pipeline (its folder, or ``default``)."""
    scorer = get_state().scorer
    return str(getattr(scorer.pipeline, "models_spec", None) or scorer.models)


@bp.app_context_processor
def _model_name() -> dict:
    return {"model_name": model_set_name(served_spec())}


def _wanted_state() -> bool:
    """The ``reviewed`` value of a form or JSON request."""
    if request.is_json:
        body = request.get_json(silent=True)
        value = body.get("reviewed") if isinstance(body, dict) else None
        if isinstance(value, bool):
            return value
        raise InvalidValueError('the JSON body must be {"reviewed": true} or {"reviewed": false}')
    value = request.form.get("reviewed", "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise InvalidValueError("say reviewed=1 (use for training) or reviewed=0 (do not)")


@bp.post("/visits/<id:visit_id>/review")
def review(visit_id: int):
    store = get_state().store
    if store is None:
        abort(404, description="visits are kept only when the server runs with --store DIR")
    if store.get_visit(visit_id) is None:
        abort(404, description=f"visit {visit_id} does not exist")
    try:  # the page's stamp: a page opened before another page's save may not mark masks it never showed
        stamp = store.set_reviewed(visit_id, _wanted_state(), expect_stamp=request.form.get("stamp") or None)
    except VisitChangedError as exc:
        abort(409, description=str(exc))
    if wants_json():
        return jsonify(visit=visit_id, reviewed=stamp is not None, reviewed_at=stamp)
    return redirect(url_for("patients.visit", visit_id=visit_id), code=303)


def _info():
    return describe_model_set(served_spec(), getattr(get_state().scorer.pipeline, "backend_name", None))


@bp.get("/model")
def model_page():
    return render_template("model.html", info=_info())


@bp.get("/api/model")
def model_json():
    with_text = request.args.get("card", "0").lower() in _YES
    return jsonify(_info().to_dict(with_card_text=with_text))
