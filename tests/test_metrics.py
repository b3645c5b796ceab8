"""True foreground IoU / Dice versus pixel accuracy, with hand-computed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from alonet.errors import InvalidValueError, SizeMismatchError
from alonet.scoring.metrics import (
    OverlapCounts,
    dice,
    iou,
    macro_dice,
    macro_iou,
    micro_dice,
    micro_iou,
    pixel_accuracy,
    summarize,
)


def _rect(shape, rows, cols):
    mask = np.zeros(shape, bool)
    mask[rows[0]:rows[1], cols[0]:cols[1]] = True
    return mask


def test_iou_and_dice_hand_computed():
    true = _rect((10, 10), (0, 4), (0, 5))  # 20 px
    pred = _rect((10, 10), (2, 6), (0, 5))  # 20 px, overlap rows 2..3 = 10 px
    # union 30: IoU 1/3; Dice 2*10/40 = 0.5; correct pixels 100 - 20 = 80
    assert iou(pred, true) == pytest.approx(1 / 3)
    assert dice(pred, true) == pytest.approx(0.5)
    assert pixel_accuracy(pred, true) == pytest.approx(0.8)
    assert OverlapCounts.of(pred, true) == OverlapCounts(tp=10, fp=10, fn=10, tn=70)


def test_pixel_accuracy_is_not_iou_on_small_regions():
    # A prediction that finds nothing on a mostly-background image: pixel accuracy
    # is 0.99 (what the seed study called "Jaccard"), the true IoU is 0.
    true = _rect((10, 10), (0, 1), (0, 1))
    pred = np.zeros((10, 10), np.uint8)
    assert pixel_accuracy(pred, true) == pytest.approx(0.99)
    assert iou(pred, true) == 0.0 and dice(pred, true) == 0.0


def test_empty_masks_convention():
    empty = np.zeros((4, 4), bool)
    assert iou(empty, empty) == 1.0 and dice(empty, empty) == 1.0
    assert iou(empty, _rect((4, 4), (0, 1), (0, 1))) == 0.0


def test_numeric_masks_and_size_mismatch():
    true = np.array([[0, 255], [255, 0]], np.uint8)
    pred = np.array([[0, 1], [0, 0]], np.int64)
    assert iou(pred, true) == pytest.approx(0.5)
    with pytest.raises(SizeMismatchError):
        iou(np.zeros((2, 2)), np.zeros((2, 3)))


def test_micro_and_macro_reductions():
    a_true = _rect((10, 10), (0, 10), (0, 10))  # 100 px
    a_pred = _rect((10, 10), (0, 8), (0, 10))   # 80 px: IoU 0.8, Dice 160/180
    b_true = _rect((10, 10), (0, 1), (0, 2))    # 2 px
    b_pred = _rect((10, 10), (0, 1), (0, 1))    # 1 px: IoU 0.5, Dice 2/3
    preds, trues = [a_pred, b_pred], [a_true, b_true]
    # micro IoU (80+1)/(100+2) ; micro Dice 2*81/(180+3)
    assert micro_iou(preds, trues) == pytest.approx(81 / 102)
    assert micro_dice(preds, trues) == pytest.approx(162 / 183)
    assert macro_iou(preds, trues) == pytest.approx((0.8 + 0.5) / 2)
    assert macro_dice(list(zip(preds, trues))) == pytest.approx((160 / 180 + 2 / 3) / 2)
    summary = summarize(np.stack(preds), np.stack(trues))
    assert summary.count == 2
    assert summary.iou_micro == pytest.approx(81 / 102)
    assert summary.pixel_accuracy == pytest.approx((200 - 21) / 200)
    assert summary.to_dict()["count"] == 2
    with pytest.raises(InvalidValueError):
        micro_iou([], [])
    with pytest.raises(SizeMismatchError):
        micro_iou(preds, trues[:1])
