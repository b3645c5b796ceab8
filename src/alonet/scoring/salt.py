"""SALT arithmetic: pure functions on masks and percentages (numpy only, no torch).

The Severity of Alopecia Tool (Olsen et al.) splits the scalp into four views
whose share of the scalp surface is fixed: top 40 %, back 24 %, left 18 %,
right 18 % (``alonet.views.VIEW_WEIGHTS``). For each view the share of the
scalp with hair loss is measured as a percentage, and

    SALT = sum over views of weight x percent of that view's scalp with hair loss

so SALT runs from 0 (no hair loss) to 100 (complete scalp hair loss).

Rounding rule for categories and endpoints
------------------------------------------
Olsen's grades (S0 = 0, S1 = 1-24, S2 = 25-49, S3 = 50-74, S4 = 75-99,
S5 = 100), the AA-IGA bands (0 / 1-20 / 21-49 / 50-94 / 95-100) and the trial
endpoints SALT <= 20 and <= 10 are defined on whole numbers, while a measured
SALT is continuous. All of them are looked up on one value (``category_value``):
the SALT **as reports show it (one decimal, ``shown_salt``), rounded half up to a whole number**:
0.4 -> 0 -> S0; 0.5 -> 1 -> S1; 24.46 (shown 24.5) -> 25 -> S2; 99.4 -> 99 -> S4;
99.6 -> 100 -> S5; 20.4 -> 20 -> AA-IGA "limited" and SALT <= 20. Clinicians
report SALT as a whole number, so a category is what a clinician would write
down for the number on the page, and the AA-IGA band is "none" or "limited"
exactly when SALT <= 20 holds. The relative responses (SALT50 ... SALT100) and
the worsening by 20 points use the measured values: SALT100 needs a measured 0,
while S0 and AA-IGA 0 only need a SALT shown as 0.4 or less (below 0.45).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from types import MappingProxyType

import numpy as np

from alonet.errors import (
    EmptyAnnotationError,
    InvalidValueError,
    MissingViewError,
    SizeMismatchError,
)
from alonet.scoring.masks import as_bool_mask
from alonet.views import VIEW_WEIGHTS, VIEWS, normalize_view

#: How ``salt_score`` treats a view that is absent (or ``None``):
#: ``error`` raises MissingViewError; ``zero`` counts the view as 0 % hair loss;
#: ``renormalize`` scores the present views and rescales their weights to sum to 1.
MISSING_POLICIES: tuple[str, ...] = ("error", "zero", "renormalize")

#: The view weights as the decimal fractions they are (2/5, 6/25, 9/50, 9/50, summing to exactly 1).
#: The SALT is the exact weighted sum of the percentages (renormalised: their weighted mean over the
#: views present) rounded once to a float, so a fully bald scalp is 100 and equal views give their
#: own percentage whichever views are present. Float weights got both wrong by a last digit that
#: the one-decimal SALT can show: 1 / 0.18 made a bald left view 99.99999999999999 and a left view
#: of 49.45 % alone 49.449999999999996 (shown 49.4, S2, moderate instead of 49.5, S3, severe);
#: four views of 90.45 % gave 90.44999999999999 (shown 90.4).
_EXACT_WEIGHTS = MappingProxyType({view: Fraction(str(weight)) for view, weight in VIEW_WEIGHTS.items()})

#: Weight of scalp with partial regrowth in the regrowth-weighted SALT (rwSALT).
REGROWTH_WEIGHT = 0.5

#: Olsen's SALT grades: (grade, lowest whole SALT, highest whole SALT, description).
SALT_GRADES: tuple[tuple[str, int, int, str], ...] = (
    ("S0", 0, 0, "no hair loss"),
    ("S1", 1, 24, "less than 25% hair loss"),
    ("S2", 25, 49, "25-49% hair loss"),
    ("S3", 50, 74, "50-74% hair loss"),
    ("S4", 75, 99, "75-99% hair loss"),
    ("S5", 100, 100, "100% hair loss"),
)

#: AA-IGA (Investigator's Global Assessment) bands: (level, name, lowest, highest, description).
AA_IGA_BANDS: tuple[tuple[int, str, int, int, str], ...] = (
    (0, "none", 0, 0, "no scalp hair loss"),
    (1, "limited", 1, 20, "limited scalp hair loss"),
    (2, "moderate", 21, 49, "moderate scalp hair loss"),
    (3, "severe", 50, 94, "severe scalp hair loss"),
    (4, "very severe", 95, 100, "nearly complete or complete scalp hair loss"),
)


# --------------------------------------------------------------------------- checks


def check_percent(value: float, what: str = "percentage") -> float:
    """Return ``value`` as a float if it is a finite number in 0..100, else raise."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidValueError(
            f"{what} {value!r} is not a number", fix="give a number from 0 to 100"
        ) from None
    if not math.isfinite(number) or number < 0.0 or number > 100.0:
        raise InvalidValueError(
            f"{what} {value!r} is outside 0..100", fix="give a number from 0 to 100"
        )
    return number


def _check_policy(missing: str) -> str:
    if missing not in MISSING_POLICIES:
        raise InvalidValueError(
            f"unknown missing-view policy {missing!r}",
            fix="use one of " + ", ".join(MISSING_POLICIES),
        )
    return missing


# --------------------------------------------------------------------------- per view


def view_loss_percent(hairloss: np.ndarray, scalp: np.ndarray, *, view: str | None = None) -> float:
    """Percent of the scalp with hair loss: ``100 * |hairloss & scalp| / |scalp|``.

    Masks are (H, W) arrays; any non-zero value counts as inside. Hair loss drawn
    outside the scalp is ignored. An empty scalp mask raises EmptyAnnotationError
    (there is nothing to score); ``view`` only improves that message.
    """
    loss = as_bool_mask(hairloss, "hair-loss mask")
    area = as_bool_mask(scalp, "scalp mask")
    if loss.shape != area.shape:
        raise SizeMismatchError(
            f"hair-loss mask {loss.shape} and scalp mask {area.shape} differ in size",
            fix="pass masks of the same photograph",
        )
    scalp_pixels = int(np.count_nonzero(area))
    if scalp_pixels == 0:
        where = f" of the {view} view" if view else ""
        raise EmptyAnnotationError(
            f"the scalp mask{where} is empty, so its hair loss cannot be measured",
            fix="check the scalp annotation or retake the photograph",
        )
    return 100.0 * int(np.count_nonzero(loss & area)) / scalp_pixels


def loss_percent_or_none(hairloss: np.ndarray, scalp: np.ndarray, *, view: str | None = None) -> float | None:
    """:func:`view_loss_percent`, or None when the scalp mask is empty: a view where no scalp
    was found or drawn has no percentage (it counts as missing), which is not an error here."""
    if not np.any(as_bool_mask(scalp, "scalp mask")):
        return None
    return view_loss_percent(hairloss, scalp, view=view)


def regrowth_percent(
    hairloss: np.ndarray, scalp: np.ndarray, regrowth: np.ndarray, *, view: str | None = None
) -> float:
    """Percent of the scalp with partial regrowth not already counted as hair loss:
    ``100 * |regrowth & scalp & ~hairloss| / |scalp|``."""
    view_loss_percent(hairloss, scalp, view=view)  # validates shapes and the scalp
    loss = as_bool_mask(hairloss, "hair-loss mask")
    area = as_bool_mask(scalp, "scalp mask")
    partial = as_bool_mask(regrowth, "regrowth mask")
    if partial.shape != area.shape:
        raise SizeMismatchError(
            f"regrowth mask {partial.shape} and scalp mask {area.shape} differ in size",
            fix="pass masks of the same photograph",
        )
    return 100.0 * int(np.count_nonzero(partial & area & ~loss)) / int(np.count_nonzero(area))


def rw_view_loss_percent(
    hairloss: np.ndarray,
    scalp: np.ndarray,
    regrowth: np.ndarray | None = None,
    *,
    view: str | None = None,
) -> float:
    """Regrowth-weighted percent of one view's scalp with hair loss.

    ``100 * (|loss & scalp| + 0.5 * |regrowth & scalp & ~loss|) / |scalp|``: scalp
    with partial regrowth counts half; where the two masks overlap, full hair loss
    wins. Without a regrowth mask this equals ``view_loss_percent``.
    """
    base = view_loss_percent(hairloss, scalp, view=view)
    if regrowth is None:
        return base
    return base + REGROWTH_WEIGHT * regrowth_percent(hairloss, scalp, regrowth, view=view)


# --------------------------------------------------------------------------- visit


def _normalise_percents(percents: Mapping[str, float | None], what: str) -> dict[str, float | None]:
    """Canonical view names -> validated percentages (None stays None = missing)."""
    if not isinstance(percents, Mapping):
        raise InvalidValueError(f"{what} must be a mapping {{view: percent}}", fix='e.g. {"top": 25.0, ...}')
    result: dict[str, float | None] = {}
    for name, value in percents.items():
        view = normalize_view(name)
        if view in result:
            raise InvalidValueError(
                f"view {view!r} is given twice", fix="give each of top, back, left, right once"
            )
        result[view] = None if value is None else check_percent(value, f"{what} of the {view} view")
    return result


def _weighted(percents: Mapping[str, float | None], missing: str) -> tuple[float, dict[str, float], tuple[str, ...]]:
    """Shared SALT sum: (salt, contributions, missing views) after the policy."""
    _check_policy(missing)
    absent = tuple(v for v in VIEWS if percents.get(v) is None)
    if absent and missing == "error":
        raise MissingViewError(
            "missing view(s) " + ", ".join(absent) + " for the SALT score",
            fix="give all four views, or choose how to treat missing views: "
            "missing='zero' (count as no hair loss) or missing='renormalize' "
            "(rescale the weights of the views present); CLI: --missing zero|renormalize",
        )
    present = [v for v in VIEWS if v not in absent]
    if not present:
        raise MissingViewError(
            "no view has a value, so no SALT score can be computed",
            fix="give at least one of top, back, left, right",
        )
    given = {v: float(value) for v in VIEWS if (value := percents.get(v)) is not None}
    total = sum(_EXACT_WEIGHTS[v] for v in given) if missing == "renormalize" else Fraction(1)
    exact = {v: _EXACT_WEIGHTS[v] * Fraction(value) / total for v, value in given.items()}
    salt = float(sum(exact.values()))  # rounded once (exact, so never above 100)
    return salt, {v: float(exact.get(v, 0)) for v in VIEWS}, absent


def salt_score(percents: Mapping[str, float | None], missing: str = "error") -> float:
    """SALT (0..100) from each view's percent of scalp with hair loss.

    ``percents`` maps view names (top/back/left/right, any case) to 0..100;
    ``None`` or an absent key is a missing view, handled by ``missing`` (see
    ``MISSING_POLICIES``). Values outside 0..100 raise InvalidValueError.
    """
    return _weighted(_normalise_percents(percents, "hair loss"), missing)[0]


@dataclass(frozen=True)
class SaltResult:
    """A SALT score with its categories and how each view contributed.

    ``per_view`` holds each view's percent of scalp with hair loss (None where the
    view is missing); ``contributions`` the points each view adds to ``salt``
    (after any renormalisation); ``missing`` the views that were absent and
    ``missing_policy`` how they were treated.
    """

    salt: float
    grade: str
    band: str
    per_view: dict[str, float | None]
    contributions: dict[str, float]
    missing: tuple[str, ...] = ()
    missing_policy: str = "error"
    regrowth_weighted: bool = False

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (numbers rounded to 0.01; missing views as null)."""
        data = asdict(self)
        data["salt"] = round(self.salt, 2)
        # the number to show and to categorise by (grade and band come from it, not from the
        # 2-decimal ``salt``: 20.452 gives "salt": 20.45 and "salt_shown": "20.5", moderate)
        data["salt_shown"] = shown_salt(self.salt)
        data["per_view"] = {k: (None if v is None else round(v, 2)) for k, v in self.per_view.items()}
        data["contributions"] = {k: round(v, 2) for k, v in self.contributions.items()}
        data["missing"] = list(self.missing)
        data["band_level"] = aa_iga_level(self.salt)
        return data


def salt_result(percents: Mapping[str, float | None], missing: str = "error") -> SaltResult:
    """Like ``salt_score`` but returns the full ``SaltResult``."""
    return _result(_normalise_percents(percents, "hair loss"), missing)


def _result(percents: Mapping[str, float | None], missing: str, regrowth_weighted: bool = False) -> SaltResult:
    """Weigh checked per-view percentages into a ``SaltResult`` with grade and band."""
    salt, contributions, absent = _weighted(percents, missing)
    return SaltResult(
        salt=salt,
        grade=salt_grade(salt),
        band=aa_iga_band(salt),
        per_view={v: percents.get(v) for v in VIEWS},
        contributions=contributions,
        missing=absent,
        missing_policy=missing,
        regrowth_weighted=regrowth_weighted,
    )


def salt_from_masks(
    masks: Mapping[str, tuple[np.ndarray, np.ndarray]], missing: str = "error"
) -> SaltResult:
    """SALT from masks: ``{view: (hairloss, scalp)}`` -> ``SaltResult`` (None = a missing view)."""
    if not isinstance(masks, Mapping):
        raise InvalidValueError("masks must be a mapping {view: (hairloss, scalp)}",
                                fix='e.g. {"top": (hairloss_mask, scalp_mask), ...}')
    percents: dict[str, float | None] = {}
    for name, pair in masks.items():
        view = normalize_view(name)
        if view in percents:
            raise InvalidValueError(f"view {view!r} is given twice", fix="give each of top, back, left, right once")
        if pair is None:
            percents[view] = None
            continue
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InvalidValueError(f"the {view} view needs a (hairloss, scalp) pair of masks",
                                    fix=f'e.g. {{"{view}": (hairloss_mask, scalp_mask)}}')
        loss, area = pair
        percents[view] = view_loss_percent(loss, area, view=view)
    return salt_result(percents, missing)


# --------------------------------------------------------------------------- rwSALT


def rw_salt(
    loss_percents: Mapping[str, float | None],
    regrowth_percents: Mapping[str, float | None] | None = None,
    missing: str = "error",
) -> SaltResult:
    """Regrowth-weighted SALT from per-view percentages.

    For each view the weighted loss is ``loss% + 0.5 * regrowth%``, where
    ``regrowth%`` is the percent of that view's scalp with partial regrowth that
    is not already counted as hair loss (so the two add up to at most 100).
    Views without a regrowth value count no regrowth. Returns a ``SaltResult``
    with ``regrowth_weighted=True``; its grade and band use the weighted value.
    """
    loss = _normalise_percents(loss_percents, "hair loss")
    regrowth = _normalise_percents(regrowth_percents or {}, "partial regrowth")
    for view, value in regrowth.items():
        if value is not None and loss.get(view) is None:
            raise MissingViewError(
                f"partial regrowth is given for the {view} view but its hair loss is not",
                fix=f"give the hair-loss percent of the {view} view too",
            )
    weighted: dict[str, float | None] = {}
    for view, value in loss.items():
        extra = regrowth.get(view) or 0.0
        if value is not None and value + extra > 100.0 + 1e-9:
            raise InvalidValueError(
                f"hair loss {value:g}% plus partial regrowth {extra:g}% of the {view} view exceed 100%",
                fix="give partial regrowth only for scalp that is not counted as hair loss",
            )
        weighted[view] = None if value is None else min(100.0, value + REGROWTH_WEIGHT * extra)
    return _result(weighted, missing, regrowth_weighted=True)


def rw_salt_from_masks(
    masks: Mapping[str, tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    missing: str = "error",
) -> SaltResult:
    """rwSALT from masks: ``{view: (hairloss, scalp[, regrowth])}`` -> ``SaltResult``."""
    loss: dict[str, float] = {}
    regrowth: dict[str, float] = {}
    for name, masks_of_view in masks.items():
        view = normalize_view(name)
        hairloss, scalp, *rest = masks_of_view
        partial = rest[0] if rest else None
        loss[view] = view_loss_percent(hairloss, scalp, view=view)
        if partial is not None:
            regrowth[view] = regrowth_percent(hairloss, scalp, partial, view=view)
    return rw_salt(loss, regrowth, missing)


# --------------------------------------------------------------------------- categories


def shown_salt(salt: float) -> str:
    """The SALT as every page and report shows it: the measured value with one decimal
    (correctly rounded, "20.452" -> "20.5"). Format the unrounded SALT with this, never a
    value rounded before (20.452 -> 20.45 -> "20.4"); ``category_value`` is this number
    rounded half up, so the shown number and its grade and band always agree."""
    return f"{check_percent(salt, 'SALT'):.1f}"


def category_value(salt: float) -> int:
    """The whole number a SALT is categorised by: the SALT as shown (one decimal, Python's
    correctly rounded ``round``/``f"{x:.1f}"``), then rounded half up (see module doc)."""
    value = check_percent(salt, "SALT")
    return int(math.floor(round(value, 1) + 0.5))


def salt_grade(salt: float) -> str:
    """Olsen's SALT grade "S0".."S5" of a SALT value (rounded half up first)."""
    whole = category_value(salt)
    for grade, low, high, _ in SALT_GRADES:
        if low <= whole <= high:
            return grade
    raise AssertionError("unreachable: SALT grades cover 0..100")  # pragma: no cover


def aa_iga_level(salt: float) -> int:
    """AA-IGA level 0..4 of a SALT value (rounded half up first)."""
    whole = category_value(salt)
    for level, _, low, high, _ in AA_IGA_BANDS:
        if low <= whole <= high:
            return level
    raise AssertionError("unreachable: AA-IGA bands cover 0..100")  # pragma: no cover


def aa_iga_band(salt: float) -> str:
    """AA-IGA band name of a SALT value: none, limited, moderate, severe, very severe."""
    return AA_IGA_BANDS[aa_iga_level(salt)][1]


def aa_iga_description(salt: float) -> str:
    """Long AA-IGA description, e.g. "moderate scalp hair loss"."""
    return AA_IGA_BANDS[aa_iga_level(salt)][4]


# --------------------------------------------------------------------------- response

#: Tolerance for the >= comparisons of response thresholds (float noise only).
_EPS = 1e-9


@dataclass(frozen=True)
class Response:
    """Change of SALT from a baseline visit to a current one.

    ``absolute_change`` = current - baseline (negative is improvement);
    ``percent_change`` = 100 * (current - baseline) / baseline and
    ``improvement_percent`` = its negation, both None when the baseline is 0
    (relative change is undefined; the SALTxx flags are then False).
    ``saltNN`` is True when SALT improved by at least NN % of the baseline;
    ``salt_le_20`` / ``salt_le_10`` test the current SALT's ``category_value`` (as the
    AA-IGA band does); ``loss_of_benefit`` is a worsening of at least 20 SALT points
    (shown as "worsening>=20": a working definition, not a published one).
    """

    baseline: float
    current: float
    absolute_change: float
    percent_change: float | None
    improvement_percent: float | None
    salt50: bool
    salt75: bool
    salt90: bool
    salt100: bool
    salt_le_20: bool
    salt_le_10: bool
    loss_of_benefit: bool
    flags: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (numbers rounded to 0.01)."""
        data = asdict(self)
        for key in ("baseline", "current", "absolute_change", "percent_change", "improvement_percent"):
            if data[key] is not None:
                data[key] = round(data[key], 2)
        data["flags"] = list(self.flags)
        return data


def response(baseline: float, current: float) -> Response:
    """Response of ``current`` SALT against ``baseline`` SALT (both 0..100)."""
    base = check_percent(baseline, "baseline SALT")
    now = check_percent(current, "current SALT")
    change = now - base
    percent_change: float | None = None
    improvement: float | None = None
    if base > 0:
        percent_change = 100.0 * change / base
        improvement = -percent_change

    def improved_by(threshold: float) -> bool:
        return improvement is not None and improvement >= threshold - _EPS

    values = {
        "salt50": improved_by(50),
        "salt75": improved_by(75),
        "salt90": improved_by(90),
        "salt100": improved_by(100),
        "salt_le_20": category_value(now) <= 20,
        "salt_le_10": category_value(now) <= 10,
        "loss_of_benefit": change >= 20 - _EPS,
    }
    names = {
        "salt50": "SALT50",
        "salt75": "SALT75",
        "salt90": "SALT90",
        "salt100": "SALT100",
        "salt_le_20": "SALT<=20",
        "salt_le_10": "SALT<=10",
        "loss_of_benefit": "worsening>=20",
    }
    return Response(
        baseline=base,
        current=now,
        absolute_change=change,
        percent_change=percent_change,
        improvement_percent=improvement,
        flags=tuple(names[k] for k, v in values.items() if v),
        **values,
    )



def baseline_response(baseline_salt: float | None, salt: float | None, *, baseline_provisional: bool = False,
                      provisional: bool = False) -> Response | None:
    """:func:`response` of a visit to its baseline, or None where none is given: a SALT missing on
    either side (withheld, not scored) or a provisional one (computed from photographs that need a
    retake: such a SALT is neither a baseline nor compared with one). The one rule of
    ``alonet batch``'s response columns and the web app's patient page."""
    if baseline_salt is None or salt is None or baseline_provisional or provisional:
        return None
    return response(baseline_salt, salt)