"""The int8-vs-fp32 agreement summary of scripts/dev/int8_real_agreement.py (README "int8 accuracy")."""

from __future__ import annotations

import pytest
from devscripts import load_dev_script


def load():
    return load_dev_script("int8_real_agreement")


def test_agreement_summarises_differences_per_view_and_in_the_tails():
    rows = [
        {"view": "top", "scalp_iou": 1.0, "loss_iou": 0.9, "loss_fp32": 10.0, "loss_int8": 11.0, "loss_pixels": 5000},
        {"view": "top", "scalp_iou": 0.9, "loss_iou": 0.5, "loss_fp32": 20.0, "loss_int8": 16.0, "loss_pixels": 9000},
        {"view": "left", "scalp_iou": 0.8, "loss_iou": 1.0, "loss_fp32": 0.0, "loss_int8": 0.0, "loss_pixels": 0},
        {"view": "right", "scalp_iou": 0.0, "loss_iou": 0.0, "loss_fp32": None, "loss_int8": 30.0, "loss_pixels": 800},
    ]
    summary = load().agreement(rows)
    assert summary["photographs"] == 4 and summary["scored_by_one_only"] == 1
    assert summary["scalp_iou_mean"] == pytest.approx(0.675)
    assert summary["loss_iou_mean"] == pytest.approx(0.7)  # photographs with > 2000 loss pixels only
    assert summary["abs_diff_mean"] == pytest.approx(5 / 3) and summary["abs_diff_max"] == 4.0
    assert summary["abs_diff_median"] == 1.0 and summary["over_3_points"] == 1
    assert summary["bias_int8_minus_fp32"] == pytest.approx(-1.0)
    assert summary["per_view_abs_diff"] == {"top": pytest.approx(2.5), "left": 0.0}
