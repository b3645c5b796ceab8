"""When a visit gets a SALT score: the one policy every output follows.

A SALT score is either trustworthy or withheld with its reason:

1. A view refused by the photograph gate (``alonet.infer.gate``: too small,
   strip-shaped, blank, noise, not a head) is never measured.
2. A view whose photograph needs a retake -- any flag in
   ``alonet.infer.quality.RETAKE_CODES``: gate refusals, too dark, too bright,
   blurred, scalp not found or too small -- or that looks like another view
   than its label (``view_mismatch``, ``alonet.infer.viewcheck``; measured
   precision 1.0 on phantoms) makes the visit's SALT *withheld*:
   the report, the JSON, the command line, the web page and the batch row all
   show no SALT, name the view(s) and give the reason.
3. Only when the user asks for it explicitly (``--provisional`` on the command
   line, ``provisional=1`` in the web app and API) is a SALT computed from
   views that need a retake; it is then marked *provisional* everywhere. Views
   that were not measured at all (rule 1, or no scalp found) still leave the
   SALT empty.
4. ``alonet score`` exits with status 3 when the SALT is withheld or left empty
   by a view not measured (rule 3); ``alonet batch`` exits with status 3 when any
   visit has no SALT or failed (see the README's exit-status table).

A ``check`` flag (the networks are unsure) or a ``dark_skin`` flag (the bald skin
looks dark, which the model under-calls) does not withhold the score; it asks for
a look at the overlay.

The functions here are pure: they take per-view objects with ``retake`` and
``flags`` (a ``ViewResult`` or the web app's view state) and decide.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alonet.infer.quality import RETAKE_CODES
from alonet.infer.viewcheck import MISMATCH_CODE
from alonet.views import VIEWS

#: Visit-level flag code: the SALT is withheld because a view needs a retake.
WITHHELD_CODE = "withheld"
#: Visit-level flag code: the SALT was computed on request although a view needs a retake.
PROVISIONAL_CODE = "provisional"


@dataclass(frozen=True)
class SaltDecision:
    """Whether a visit's SALT may be shown, and the visit-level flag saying why not."""

    allowed: bool
    provisional: bool = False
    retake_views: list[str] = field(default_factory=list)
    flag: dict | None = None


def withholding_codes() -> frozenset[str]:
    """Flag codes that withhold the SALT: every retake code and ``view_mismatch``."""
    return RETAKE_CODES | {MISMATCH_CODE}


def retake_reasons(views: Mapping[str, object]) -> dict[str, list[str]]:
    """``{view: [reason, ...]}`` for every view that needs a retake (or looks
    mislabelled), in view order."""
    codes = withholding_codes()
    reasons: dict[str, list[str]] = {}
    for view in VIEWS:
        result = views.get(view)
        if result is None:
            continue
        messages = [f["message"] for f in getattr(result, "flags", ()) or () if f.get("code") in codes]
        if messages or getattr(result, "retake", False):
            reasons[view] = messages or ["the photograph needs a retake"]
    return reasons


def describe_retakes(reasons: Mapping[str, list[str]]) -> str:
    """One line naming each view to retake (or relabel) and why."""
    return "; ".join(f"{view} view: {'; '.join(texts)}" for view, texts in reasons.items())


def decide(views: Mapping[str, object], provisional: bool = False) -> SaltDecision:
    """Apply the policy (module doc) to a visit's views."""
    reasons = retake_reasons(views)
    if not reasons:
        return SaltDecision(allowed=True)
    names = list(reasons)
    if provisional:
        return SaltDecision(allowed=True, provisional=True, retake_views=names, flag={
            "view": None, "code": PROVISIONAL_CODE,
            "message": "provisional SALT (asked for): computed although " + ", ".join(names)
                       + " need(s) a retake; do not use it for decisions"})
    return SaltDecision(allowed=False, retake_views=names, flag={
        "view": None, "code": WITHHELD_CODE,
        "message": "no SALT: " + describe_retakes(reasons)})
