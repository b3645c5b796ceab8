"""Segmentation metrics on binary masks: foreground IoU (Jaccard), Dice, pixel accuracy.

IoU and Dice here measure the *foreground* (the region marked inside):

    IoU  = |P & T| / |P | T|          Dice = 2 |P & T| / (|P| + |T|)

Pixel accuracy, the fraction of all pixels labelled correctly, is a different
number and is named separately: on a photograph that is mostly background it is
high even for a useless prediction (the seed study reported it as "Jaccard").

Convention for empty masks: when prediction and truth are both empty the
prediction is perfect, so IoU and Dice are 1.0 (no division by zero). When
only one is empty they are 0.0. The macro means include such pairs;
``MetricSummary`` also counts them (``both_empty``) and gives the macro means
without them (``*_macro_nonempty``), the way nnU-Net and MONAI leave them out.

Dataset-level reductions:
- *micro*: sum the intersections and unions (or sizes) over all masks, then
  divide once -- large regions weigh more;
- *macro*: the mean of the per-mask values -- every mask weighs the same.

Masks may be bool, 0/1 or 0/255 (``alonet.scoring.masks``); probability and label maps are
refused rather than read as "any non-zero value is inside".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from alonet.errors import InvalidValueError, SizeMismatchError
from alonet.scoring.masks import as_bool_mask

#: IoU / Dice when both masks are empty (a perfect prediction of "nothing").
EMPTY_SCORE = 1.0


def _pair(pred: np.ndarray, true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(pred)
    t = np.asarray(true)
    if p.shape != t.shape:
        raise SizeMismatchError(
            f"prediction {p.shape} and ground truth {t.shape} differ in size",
            fix="compare masks of the same image at the same size",
        )
    return as_bool_mask(p, "prediction", two_d=False), as_bool_mask(t, "ground truth", two_d=False)


@dataclass(frozen=True)
class OverlapCounts:
    """Pixel counts of a binary comparison: true/false positives and negatives.

    Counts add (``a + b``), so dataset-level *micro* metrics come from the sum.
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @classmethod
    def of(cls, pred: np.ndarray, true: np.ndarray) -> "OverlapCounts":
        """Count the overlap of one predicted mask with its ground truth."""
        p, t = _pair(pred, true)
        tp = int(np.count_nonzero(p & t))
        fp = int(np.count_nonzero(p)) - tp
        fn = int(np.count_nonzero(t)) - tp
        return cls(tp=tp, fp=fp, fn=fn, tn=int(p.size) - tp - fp - fn)

    def __add__(self, other: "OverlapCounts") -> "OverlapCounts":
        return OverlapCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn)

    @property
    def iou(self) -> float:
        union = self.tp + self.fp + self.fn
        return EMPTY_SCORE if union == 0 else self.tp / union

    @property
    def dice(self) -> float:
        total = 2 * self.tp + self.fp + self.fn
        return EMPTY_SCORE if total == 0 else 2 * self.tp / total

    @property
    def pixel_accuracy(self) -> float:
        total = self.tp + self.fp + self.fn + self.tn
        if total == 0:
            raise InvalidValueError("cannot compute pixel accuracy of zero pixels", fix="pass non-empty arrays")
        return (self.tp + self.tn) / total


def iou(pred: np.ndarray, true: np.ndarray) -> float:
    """Foreground IoU (Jaccard index) of one mask pair; 1.0 when both are empty."""
    return OverlapCounts.of(pred, true).iou


def dice(pred: np.ndarray, true: np.ndarray) -> float:
    """Dice coefficient (F1 of the foreground) of one mask pair; 1.0 when both are empty."""
    return OverlapCounts.of(pred, true).dice


def pixel_accuracy(pred: np.ndarray, true: np.ndarray) -> float:
    """Fraction of pixels (foreground and background) labelled correctly."""
    return OverlapCounts.of(pred, true).pixel_accuracy


def _counts(pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> list[OverlapCounts]:
    counts = [OverlapCounts.of(p, t) for p, t in pairs]
    if not counts:
        raise InvalidValueError("no mask pairs to score", fix="pass at least one (prediction, truth) pair")
    return counts


def _pairs(preds, trues) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """Accept either one iterable of (pred, true) pairs or two sequences / (N,H,W) arrays."""
    if trues is None:
        return preds
    preds_list, trues_list = list(preds), list(trues)
    if len(preds_list) != len(trues_list):
        raise SizeMismatchError(
            f"{len(preds_list)} predictions but {len(trues_list)} ground-truth masks",
            fix="pass one prediction per ground-truth mask",
        )
    return zip(preds_list, trues_list)


def micro_iou(preds, trues=None) -> float:
    """Dataset IoU: sum of intersections / sum of unions over all masks.

    Pass two sequences (or (N, H, W) arrays) of predictions and truths, or one
    iterable of (prediction, truth) pairs.
    """
    return sum(_counts(_pairs(preds, trues)), OverlapCounts()).iou


def micro_dice(preds, trues=None) -> float:
    """Dataset Dice: 2 * sum of intersections / sum of mask sizes over all masks."""
    return sum(_counts(_pairs(preds, trues)), OverlapCounts()).dice


def macro_iou(preds, trues=None) -> float:
    """Mean of the per-mask IoU values."""
    return float(np.mean([c.iou for c in _counts(_pairs(preds, trues))]))


def macro_dice(preds, trues=None) -> float:
    """Mean of the per-mask Dice values."""
    return float(np.mean([c.dice for c in _counts(_pairs(preds, trues))]))


@dataclass(frozen=True)
class MetricSummary:
    """Dataset-level scores of a set of mask pairs (see the module doc)."""

    count: int
    iou_micro: float
    iou_macro: float
    dice_micro: float
    dice_macro: float
    pixel_accuracy: float
    #: Pairs where prediction and truth are both empty (each scores :data:`EMPTY_SCORE` in the macro means).
    both_empty: int = 0
    #: Macro means over the other pairs, as nnU-Net and MONAI report them (NaN when every pair is empty).
    iou_macro_nonempty: float = math.nan
    dice_macro_nonempty: float = math.nan

    def to_dict(self) -> dict:
        return {k: (v if isinstance(v, int) else round(v, 6)) for k, v in self.__dict__.items()}


def summarize(preds, trues=None) -> MetricSummary:
    """All dataset-level metrics at once (one pass over the masks)."""
    return summarize_counts(_counts(_pairs(preds, trues)))


def summarize_counts(counts: Iterable[OverlapCounts]) -> MetricSummary:
    """``summarize`` from already computed per-mask counts (for streaming evaluation)."""
    items = list(counts)
    if not items:
        raise InvalidValueError("no mask pairs to score", fix="pass at least one (prediction, truth) pair")
    total = sum(items, OverlapCounts())
    marked = [c for c in items if c.tp + c.fp + c.fn > 0]
    return MetricSummary(
        count=len(items),
        iou_micro=total.iou,
        iou_macro=float(np.mean([c.iou for c in items])),
        dice_micro=total.dice,
        dice_macro=float(np.mean([c.dice for c in items])),
        pixel_accuracy=total.pixel_accuracy,
        both_empty=len(items) - len(marked),
        iou_macro_nonempty=float(np.mean([c.iou for c in marked])) if marked else math.nan,
        dice_macro_nonempty=float(np.mean([c.dice for c in marked])) if marked else math.nan,
    )
