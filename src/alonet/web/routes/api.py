"""The JSON API.

``POST /api/score`` takes multipart fields ``top``, ``back``, ``left``,
``right`` (any subset, at least one) and answers::

    {"salt": 23.4 | null, "grade": "S1" | null, "band": "moderate" | null,
     "band_level": 2 | null, "complete": true, "missing": [], "unscorable": [],
     "partial_salt": 23.4,
     "views": {"top": {"loss_pct": ..., "weight": 0.4, "contribution": ...,
                       "confidence": ..., "flags": [{"code", "message"}], "retake": false,
                       "width": W, "height": H,
                       "scalp_mask": "data:image/png;base64,...",
                       "hairloss_mask": "data:image/png;base64,..."}, ...},
     "flags": [...], "model": "...", "version": "..."}

``?masks=0`` leaves the mask data URLs out. Bad uploads get 400/413 with
``{"error": "<one line>"}``. The endpoint is exempt from CSRF (it stores
nothing); with ``--token`` it needs the token header like every route.
``GET /api/health`` reports that the server and its model are up.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from alonet import __version__
from alonet.web.state import get_state
from alonet.web.uploads import png_data_url, read_photo_uploads

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.post("/score")
def score():
    state = get_state()
    images = read_photo_uploads(request.files, request.form, state.config.max_pixels)
    from alonet.web.routes.score import wants_provisional

    provisional = wants_provisional()
    views = state.scorer.score(images)
    summary = _summary(views, provisional)
    with_masks = request.args.get("masks", "1") not in ("0", "false", "no")
    payload_views = {}
    for view, st in views.items():
        row = dict(summary["views"][view])
        row.pop("present", None)
        row.pop("corrected", None)
        row["height"], row["width"] = st.shape
        if with_masks:
            row["scalp_mask"] = png_data_url(st.scalp)
            row["hairloss_mask"] = png_data_url(st.hairloss)
        payload_views[view] = row
    visit = state.scorer.visit_result(views, provisional=provisional)
    return jsonify(
        salt=summary["salt"], grade=summary["grade"], band=summary["band"], band_level=summary["band_level"],
        withheld=summary["withheld"], withheld_reason=summary["withheld_reason"],
        provisional=summary["provisional"],
        complete=summary["complete"], missing=summary["missing"], unscorable=summary["unscorable"],
        partial_salt=summary["partial_salt"], views=payload_views, flags=[dict(f) for f in visit.flags],
        model=state.scorer.description, version=__version__,
    )


def _summary(views, provisional: bool = False):
    from alonet.web.visits import summarize

    return summarize(views, provisional)


@bp.get("/health")
def health():
    state = get_state()
    return jsonify(status="ok", version=__version__, model=state.scorer.description,
                   store=state.store is not None, token=bool(state.config.token))
