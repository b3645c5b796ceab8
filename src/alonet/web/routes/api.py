"""The JSON API.

``POST /api/score`` takes multipart fields ``top``, ``back``, ``left``,
``right`` (any subset, at least one) and answers with the visit's JSON shape
(``alonet.infer.VisitResult.to_dict()``, the same as ``report.json``; see the
README), plus ``model``, ``version`` and ``provenance`` (model checksum, backend, precision,
thresholds, view checks: what made the numbers); each view also carries its masks as
``scalp_mask`` and ``hairloss_mask`` (``data:image/png;base64,...``).
``?masks=0`` leaves the mask data URLs out. Bad uploads get 400/413 with
``{"error": "<one line>"}``. The endpoint is exempt from CSRF (it stores
nothing); with ``--token`` it needs the token header like every route, without one it
refuses requests a browser marks as sent by another site's page (403).
``GET /api/health`` reports that the server and its model are up.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from alonet import __version__
from alonet.web.security import foreign_origin
from alonet.web.state import get_state, scoring_slot, wants_provisional
from alonet.web.uploads import png_data_url, read_photo_uploads
from alonet.web.visits import visit_result

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
def _same_origin_only():
    """Without a token a cross-site form could post here (the API needs no CSRF token): refuse
    what a browser says another site's page sent. Scripts (curl, Python) send no such header."""
    if get_state().config.token:
        return None
    why = foreign_origin(request.headers, request.host)
    if why is not None:
        abort(403, description=f"the API answers only this server's own pages and scripts, not a page of "
                               f"another site ({why})")
    return None


@bp.post("/score")
def score():
    state = get_state()
    provisional = wants_provisional()
    with scoring_slot():
        images = read_photo_uploads(request.files, request.form, state.config.max_pixels,
                                    state.config.max_request_pixels)
        views = state.scorer.score(images)
        body = visit_result(views, provisional).to_dict()
        if request.args.get("masks", "1") not in ("0", "false", "no"):
            for view, st in views.items():
                body["views"][view]["scalp_mask"] = png_data_url(st.scalp)
                body["views"][view]["hairloss_mask"] = png_data_url(st.hairloss)
        del views
    return jsonify(**body, model=state.scorer.description, version=__version__,
                   provenance=state.scorer.provenance())


@bp.get("/health")
def health():
    state = get_state()
    return jsonify(status="ok", version=__version__, model=state.scorer.description,
                   store=state.store is not None, token=bool(state.config.token))
