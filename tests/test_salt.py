"""SALT arithmetic: hand-computed values from known masks, categories at every
boundary, response flags and regrowth-weighted SALT."""

from __future__ import annotations

import json

import numpy as np
import pytest

from alonet.errors import EmptyAnnotationError, InvalidValueError, MissingViewError, SizeMismatchError
from alonet.scoring.salt import (
    aa_iga_band,
    aa_iga_description,
    aa_iga_level,
    category_value,
    loss_percent_or_none,
    response,
    rw_salt,
    rw_salt_from_masks,
    rw_view_loss_percent,
    salt_from_masks,
    salt_grade,
    salt_result,
    salt_score,
    view_loss_percent,
)


def _masks(scalp_rows: int, loss_rows: int, size: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A 10x10 image whose scalp is the first ``scalp_rows`` rows and whose hair
    loss is the first ``loss_rows`` rows (so loss% = 100*loss_rows/scalp_rows)."""
    scalp = np.zeros((size, size), bool)
    scalp[:scalp_rows] = True
    loss = np.zeros((size, size), bool)
    loss[:loss_rows] = True
    return loss, scalp


def test_view_loss_percent_counts_only_loss_inside_the_scalp():
    scalp = np.zeros((4, 5), np.uint8)
    scalp[:, :4] = 1  # 16 scalp pixels
    loss = np.zeros((4, 5), np.uint8)
    loss[:2, 2:] = 255  # 6 pixels, 4 inside the scalp (column 4 is outside)
    assert view_loss_percent(loss, scalp) == pytest.approx(100 * 4 / 16)


def test_view_loss_percent_rejects_empty_scalp_and_size_mismatch():
    with pytest.raises(EmptyAnnotationError, match="scalp mask of the top view is empty"):
        view_loss_percent(np.ones((3, 3)), np.zeros((3, 3)), view="top")
    with pytest.raises(SizeMismatchError):
        view_loss_percent(np.ones((3, 3)), np.ones((3, 4)))


def test_loss_percent_or_none_is_view_loss_percent_or_none_for_an_empty_scalp():
    loss, scalp = _masks(8, 3)
    assert loss_percent_or_none(loss, scalp) == view_loss_percent(loss, scalp) == pytest.approx(100 * 3 / 8)
    assert loss_percent_or_none(np.ones((3, 3)), np.zeros((3, 3)), view="top") is None
    with pytest.raises(SizeMismatchError):
        loss_percent_or_none(np.ones((3, 3)), np.ones((3, 4)))


@pytest.mark.parametrize("view,weight", [("top", 40.0), ("back", 24.0), ("left", 18.0), ("right", 18.0)])
def test_each_view_weight_alone(view, weight):
    # Complete loss in one view, none in the others: SALT = that view's weight.
    masks = {v: _masks(8, 0) for v in ("top", "back", "left", "right")}
    masks[view] = _masks(8, 8)
    result = salt_from_masks(masks)
    assert result.salt == pytest.approx(weight)
    assert result.contributions[view] == pytest.approx(weight)
    assert sum(result.contributions.values()) == pytest.approx(weight)


def test_salt_from_known_masks_hand_computed():
    # top 4/8 = 50 %, back 2/10 = 20 %, left 0 %, right 5/5 = 100 %
    masks = {"Top": _masks(8, 4), "back": _masks(10, 2), "LEFT": _masks(6, 0), "right": _masks(5, 5)}
    result = salt_from_masks(masks)
    # 0.4*50 + 0.24*20 + 0.18*0 + 0.18*100 = 20 + 4.8 + 0 + 18 = 42.8
    assert result.salt == pytest.approx(42.8)
    assert result.per_view == pytest.approx({"top": 50.0, "back": 20.0, "left": 0.0, "right": 100.0})
    assert (result.grade, result.band) == ("S2", "moderate")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["salt"] == 42.8 and data["grade"] == "S2" and data["band_level"] == 2


def test_missing_view_policies():
    partial = {"top": 50, "back": 20, "left": 0}
    with pytest.raises(MissingViewError, match="right") as info:
        salt_score(partial)
    assert "renormalize" in str(info.value) and "zero" in str(info.value)
    assert salt_score(partial, missing="zero") == pytest.approx(24.8)
    # renormalised: 24.8 / (0.40 + 0.24 + 0.18) = 24.8 / 0.82
    assert salt_score(partial, missing="renormalize") == pytest.approx(24.8 / 0.82)
    # None counts as missing too
    assert salt_score({**partial, "right": None}, missing="zero") == pytest.approx(24.8)
    result = salt_result(partial, missing="renormalize")
    assert result.missing == ("right",) and result.per_view["right"] is None
    with pytest.raises(MissingViewError):
        salt_score({}, missing="renormalize")
    with pytest.raises(InvalidValueError, match="policy"):
        salt_score(partial, missing="ignore")


@pytest.mark.parametrize("bad", [-0.1, 100.5, float("nan"), "abc"])
def test_percentages_are_validated(bad):
    with pytest.raises(InvalidValueError):
        salt_score({"top": bad, "back": 0, "left": 0, "right": 0})


def test_unknown_or_duplicate_view_is_an_error():
    with pytest.raises(InvalidValueError, match="unknown view"):
        salt_score({"front": 1, "top": 0, "back": 0, "left": 0, "right": 0})
    with pytest.raises(InvalidValueError, match="twice"):
        salt_score({"top": 1, "TOP": 2, "back": 0, "left": 0, "right": 0})


@pytest.mark.parametrize(
    "salt,grade",
    [
        (0, "S0"), (0.44, "S0"), (0.46, "S1"), (0.5, "S1"), (1, "S1"), (24, "S1"), (24.44, "S1"),
        (24.46, "S2"), (24.5, "S2"), (25, "S2"), (49, "S2"), (50, "S3"), (74, "S3"), (74.5, "S4"),
        (75, "S4"), (99, "S4"), (99.44, "S4"), (99.46, "S5"), (99.5, "S5"), (100, "S5"),
    ],
)
def test_salt_grades_at_every_boundary(salt, grade):
    assert salt_grade(salt) == grade


@pytest.mark.parametrize(
    "salt,level,name",
    [
        (0, 0, "none"), (0.4, 0, "none"), (1, 1, "limited"), (20, 1, "limited"),
        (20.5, 2, "moderate"), (21, 2, "moderate"), (49, 2, "moderate"), (50, 3, "severe"),
        (94, 3, "severe"), (94.5, 4, "very severe"), (95, 4, "very severe"), (100, 4, "very severe"),
    ],
)
def test_aa_iga_bands_at_every_boundary(salt, level, name):
    assert aa_iga_level(salt) == level
    assert aa_iga_band(salt) == name


def test_category_rounding_is_half_up_and_robust_to_float_noise():
    assert category_value(0.1 + 0.2 + 24.2) == 25  # 24.500000000000004 -> 25
    assert category_value(24.499999999999996) == 25  # float noise of 24.5 -> 25
    assert category_value(24.4999) == 25 and f"{24.4999:.1f}" == "24.5"  # the value shown decides
    assert category_value(24.44) == 24 and f"{24.44:.1f}" == "24.4"


@pytest.mark.parametrize("salt, band, le_20", [(20.0, "limited", True), (20.4, "limited", True),
                                               (20.46, "moderate", False), (20.5, "moderate", False)])
def test_the_salt_le_20_endpoint_agrees_with_the_aa_iga_band(salt, band, le_20):
    """Before: 20.4 was AA-IGA "limited" (rounded) but SALT <= 20 "no" (unrounded)."""
    assert aa_iga_band(salt) == band
    assert response(60.0, salt).salt_le_20 is le_20
    assert (band in ("none", "limited")) is le_20
    assert aa_iga_description(100) == "nearly complete or complete scalp hair loss"
    with pytest.raises(InvalidValueError):
        salt_grade(101)


def test_response_flags():
    r = response(80, 20)
    assert r.absolute_change == -60 and r.percent_change == pytest.approx(-75)
    assert (r.salt50, r.salt75, r.salt90, r.salt100) == (True, True, False, False)
    assert (r.salt_le_20, r.salt_le_10, r.loss_of_benefit) == (True, False, False)
    assert r.flags == ("SALT50", "SALT75", "SALT<=20")

    r = response(85, 42.8)
    assert r.improvement_percent == pytest.approx(100 * 42.2 / 85)  # 49.6 %: not SALT50
    assert not r.salt50 and not r.salt_le_20

    r = response(50, 0)
    assert r.salt100 and r.salt90 and r.salt_le_10 and r.percent_change == -100

    r = response(10, 30)  # worsening by exactly 20 points
    assert r.loss_of_benefit and r.percent_change == pytest.approx(200)
    assert not response(10, 29.9).loss_of_benefit


def test_response_with_zero_baseline():
    r = response(0, 5)
    assert r.percent_change is None and r.improvement_percent is None
    assert not (r.salt50 or r.salt100)
    assert r.salt_le_10 and not r.loss_of_benefit
    assert json.loads(json.dumps(r.to_dict()))["percent_change"] is None
    with pytest.raises(InvalidValueError, match="baseline"):
        response(-1, 5)


def test_rw_view_loss_percent_counts_regrowth_half_and_loss_wins_overlap():
    scalp = np.zeros((10, 10), bool)
    scalp[:, :8] = True  # 80 px
    loss = np.zeros_like(scalp)
    loss[:2, :8] = True  # 16 px
    regrowth = np.zeros_like(scalp)
    regrowth[1:5, :] = True  # rows 1..4: 40 px, 32 inside the scalp, 8 of those also loss
    # (16 + 0.5 * 24) / 80 = 35 %
    assert rw_view_loss_percent(loss, scalp, regrowth) == pytest.approx(35.0)
    assert rw_view_loss_percent(loss, scalp) == pytest.approx(20.0)


def test_rw_salt_from_percentages_and_masks():
    result = rw_salt({"top": 50, "back": 20, "left": 0, "right": 100}, {"top": 40, "left": 10})
    # top 50 + 0.5*40 = 70, left 0 + 0.5*10 = 5: 0.4*70 + 4.8 + 0.18*5 + 18 = 51.7
    assert result.salt == pytest.approx(51.7)
    assert result.regrowth_weighted and result.grade == "S3"
    with pytest.raises(InvalidValueError, match="exceed 100"):
        rw_salt({"top": 80, "back": 0, "left": 0, "right": 0}, {"top": 30})
    with pytest.raises(MissingViewError):
        rw_salt({"top": 80, "back": 0, "left": 0}, {"right": 30}, missing="zero")

    loss, scalp = _masks(8, 4)
    regrowth = np.zeros_like(scalp)
    regrowth[4:6] = True  # 2 of 8 scalp rows with partial regrowth = 25 %
    masks = {"top": (loss, scalp, regrowth), "back": _masks(10, 2), "left": _masks(6, 0), "right": _masks(5, 5)}
    result = rw_salt_from_masks(masks)
    # top 50 + 12.5 = 62.5: 25 + 4.8 + 0 + 18 = 47.8
    assert result.salt == pytest.approx(47.8)
    assert result.per_view["top"] == pytest.approx(62.5)


def test_salt_command_shows_the_weights_it_used_and_refuses_a_response_from_missing_views(capsys):
    from alonet.cli.main import main

    assert main(["salt", "--top", "50", "--back", "20", "--missing", "renormalize"]) == 0
    out = capsys.readouterr().out
    # the weights as the fraction they are (0.40/0.64 = 0.625, which 2 decimals showed as 0.62)
    assert "SALT 38.8" in out and "50.0 %  x 0.40/0.64 = 31.25" in out and "20.0 %  x 0.24/0.64 =  7.50" in out
    assert "missing  x         0 =  0.00" in out
    assert main(["salt", "--top", "40", "--missing", "zero", "--baseline", "60"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --baseline needs all four views") and "a lower bound" in err
    assert main(["salt", "--top", "51", "--back", "0", "--left", "0", "--right", "0", "--baseline", "60"]) == 0
    out = capsys.readouterr().out
    assert "AA-IGA limited" in out and "SALT<=20 yes" in out and "worsening>=20 no" in out


def test_baseline_response_only_between_two_scored_not_provisional_salts():
    from alonet.scoring.salt import baseline_response

    assert baseline_response(40.0, 10.0).flags == response(40.0, 10.0).flags == ("SALT50", "SALT75", "SALT<=20", "SALT<=10")
    assert baseline_response(40.0, 10.0).percent_change == pytest.approx(-75.0)
    assert baseline_response(None, 10.0) is None and baseline_response(40.0, None) is None
    assert baseline_response(40.0, 10.0, provisional=True) is None
    assert baseline_response(40.0, 10.0, baseline_provisional=True) is None
