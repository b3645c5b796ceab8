"""Agreement between two measurements of the same quantity (pure numpy).

Used to compare predicted with true SALT scores:

* mean absolute error and bias (mean of predicted - true);
* ICC(2,1): the intraclass correlation of Shrout & Fleiss (1979), case 2
  (two-way random effects), absolute agreement, single measures. For an
  n x k table of ratings (n subjects, k raters) with two-way ANOVA mean
  squares MSR (rows/subjects), MSC (columns/raters) and MSE (residual)::

      ICC(2,1) = (MSR - MSE) / (MSR + (k - 1) MSE + k (MSC - MSE) / n)

  (= McGraw & Wong's ICC(A,1));
* Bland-Altman limits of agreement: bias +- 1.96 x SD of the differences;
* how often a threshold decision (e.g. "responder: SALT <= 20") differs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from alonet.errors import InvalidValueError
from alonet.scoring.salt import category_value


def _pair(pred, true) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred, dtype=np.float64).ravel()
    t = np.asarray(true, dtype=np.float64).ravel()
    if p.shape != t.shape:
        raise InvalidValueError(f"{p.size} predicted values but {t.size} true values",
                                fix="pass one prediction per true value")
    if p.size == 0:
        raise InvalidValueError("no values to compare", fix="pass at least one pair")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise InvalidValueError("values must be finite numbers")
    return p, t


def mean_absolute_error(pred, true) -> float:
    p, t = _pair(pred, true)
    return float(np.mean(np.abs(p - t)))


def bias(pred, true) -> float:
    """Mean of (predicted - true): positive means the prediction is too high."""
    p, t = _pair(pred, true)
    return float(np.mean(p - t))


def icc_2_1(ratings) -> float:
    """ICC(2,1) of an (n subjects, k raters) table; NaN when undefined.

    Needs n >= 2 and k >= 2. The result is NaN when the denominator is zero
    (e.g. every rating identical), since agreement is then not measurable.
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise InvalidValueError(f"ICC needs a table of at least 2 subjects x 2 raters; got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidValueError("ICC ratings must be finite numbers")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * float(np.sum((x.mean(axis=1) - grand) ** 2))
    ss_cols = n * float(np.sum((x.mean(axis=0) - grand) ** 2))
    ss_total = float(np.sum((x - grand) ** 2))
    ss_error = ss_total - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    denominator = msr + (k - 1) * mse + k * (msc - mse) / n
    if abs(denominator) < 1e-12 * max(1.0, ss_total):
        return math.nan
    return (msr - mse) / denominator


def icc_agreement(pred, true) -> float:
    """ICC(2,1) between two raters (e.g. predicted and true SALT of n visits)."""
    p, t = _pair(pred, true)
    return icc_2_1(np.column_stack([p, t]))


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman statistics of predicted - true differences."""

    n: int
    bias: float
    sd: float
    lower: float  # bias - 1.96 sd
    upper: float  # bias + 1.96 sd

    def to_dict(self) -> dict:
        return {k: (v if isinstance(v, int) or not math.isfinite(v) else round(v, 6))
                for k, v in asdict(self).items()}


def bland_altman(pred, true) -> BlandAltman:
    """Bias and 95 % limits of agreement (SD with n - 1; NaN for a single pair)."""
    p, t = _pair(pred, true)
    d = p - t
    sd = float(np.std(d, ddof=1)) if d.size > 1 else math.nan
    b = float(np.mean(d))
    return BlandAltman(n=int(d.size), bias=b, sd=sd, lower=b - 1.96 * sd, upper=b + 1.96 * sd)


def decision_flip_rate(pred, true, threshold: float) -> float:
    """Fraction of pairs where ``SALT <= threshold`` differs between pred and true, decided on
    each SALT's ``category_value`` (one decimal, then half up) as the response flags are."""
    p, t = _pair(pred, true)
    flips = [(category_value(a) <= threshold) != (category_value(b) <= threshold) for a, b in zip(p, t)]
    return float(np.mean(flips))


#: Below this many independent groups (patients) a bootstrap interval is little more than their
#: own values: a change over fewer is "too few patients to tell", never clear (adapt's card,
#: adapt.json, the web app's model page).
FEW_PATIENTS = 5


@dataclass(frozen=True)
class PairedChange:
    """Change of a mean error between two models on the same items, with a bootstrap interval."""

    change: float  # mean(after) - mean(before)
    low: float
    high: float
    groups: int  # independent units resampled (patients)
    items: int

    @property
    def clear(self) -> bool:
        """True when the interval excludes zero (the items tell the two models apart)."""
        return self.high < 0 or self.low > 0


def paired_change(before, after, groups, *, rounds: int = 2000, level: float = 0.95,
                  seed: int = 0) -> PairedChange:
    """Change of the mean from ``before`` to ``after`` (one pair per item), with a percentile
    bootstrap interval that resamples whole ``groups`` (e.g. patients: their photographs are
    not independent). Deterministic for a seed."""
    a, b = _pair(after, before)
    keys = np.asarray([str(g) for g in groups])
    if keys.size != a.size:
        raise InvalidValueError(f"{keys.size} group labels for {a.size} pairs", fix="pass one group per pair")
    if not 0 < level < 1 or rounds < 1:
        raise InvalidValueError("level must be between 0 and 1 and rounds >= 1")
    names, members = np.unique(keys, return_inverse=True)
    diff_sum = np.bincount(members, weights=a - b, minlength=names.size)
    count = np.bincount(members, minlength=names.size).astype(np.float64)
    picks = np.random.default_rng(seed).integers(0, names.size, size=(rounds, names.size))
    draws = diff_sum[picks].sum(axis=1) / count[picks].sum(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return PairedChange(change=float((a - b).mean()), low=float(low), high=float(high),
                        groups=int(names.size), items=int(a.size))
