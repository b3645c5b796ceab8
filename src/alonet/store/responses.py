"""A patient's visits against the baseline: each visit's response and whether another model
scored it than the visit before (the patient page's rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alonet.scoring.salt import baseline_response
from alonet.store.records import Visit


def model_changed(previous: Visit | None, visit: Visit) -> bool:
    """True when ``visit`` was scored by another model than ``previous`` (by checksum when both
    recorded one, schema 5; else by the model's name)."""
    if previous is None:
        return False
    old, new = previous.scored_with.get("model_sha256"), visit.scored_with.get("model_sha256")
    if old and new and "unknown" not in (old, new):
        return old != new
    return previous.model != visit.model


def response_rows(visits: Sequence[Visit]) -> list[dict[str, Any]]:
    """Each visit with its response against the baseline (the first visit with a SALT that
    is not provisional).

    Returns dicts ``{"visit": Visit, "baseline": bool, "response": Response | None,
    "model_changed": bool}`` (``model_changed``: scored by another model than the visit before);
    visits before the baseline, incomplete, withheld and provisional visits and the
    baseline itself have no response: a provisional SALT was computed from photographs
    that need a retake, so it is neither a baseline nor compared with one
    (:func:`alonet.scoring.salt.baseline_response`, the rule of ``alonet batch`` too; batch's
    baseline is the first visit whatever its SALT, as a trial protocol fixes it).
    """
    baseline = next((v for v in visits if v.salt is not None and not v.provisional), None)
    rows: list[dict[str, Any]] = []
    for visit in visits:
        is_base = baseline is not None and visit.id == baseline.id
        result = None
        if baseline is not None and not is_base and (visit.visit_date, visit.id) > (baseline.visit_date, baseline.id):
            result = baseline_response(baseline.salt, visit.salt, provisional=visit.provisional)
        rows.append({"visit": visit, "baseline": is_base, "response": result,
                     "model_changed": model_changed(rows[-1]["visit"] if rows else None, visit)})
    return rows
