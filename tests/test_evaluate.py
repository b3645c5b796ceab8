"""Evaluation: hand-made masks with hand-computed IoU, Dice, SALT error and ICC; the runner."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from alonet.errors import DatasetError, InvalidValueError
from alonet.evaluate import (
    bland_altman,
    decision_flip_rate,
    evaluate,
    evaluate_predictions,
    icc_2_1,
    icc_agreement,
    mean_absolute_error,
)
from alonet.model import TASKS, ModelConfig, build_model, save_model


def first(n: int, total: int = 100) -> np.ndarray:
    """A 10 x 10 mask whose first ``n`` pixels (row-major) are set."""
    flat = np.zeros(total, bool)
    flat[:n] = True
    return flat.reshape(10, 10)


# (patient, view, true loss px, predicted loss px, predicted scalp px); true scalp is always 100 px.
CASES = [
    ("A", "top", 50, 35, 100), ("A", "back", 0, 0, 100), ("A", "left", 10, 10, 100), ("A", "right", 20, 20, 100),
    ("B", "top", 10, 10, 100), ("B", "back", 50, 60, 100), ("B", "left", 0, 0, 90), ("B", "right", 0, 0, 100),
    ("C", "top", 30, 30, 100), ("C", "back", 30, 30, 100), ("C", "left", 30, 30, 100),  # no right view
]


def hand_made():
    pred_scalp = [first(ps) for *_, ps in CASES]
    pred_loss = [first(pl) for _, _, _, pl, _ in CASES]
    true_scalp = [first(100) for _ in CASES]
    true_loss = [first(tl) for _, _, tl, _, _ in CASES]
    meta = [{"stem": f"{p}_{v}", "patient": p, "visit": "1", "view": v} for p, v, *_ in CASES]
    return pred_scalp, pred_loss, true_scalp, true_loss, meta


def test_hand_made_masks_give_hand_computed_numbers():
    result = evaluate_predictions(*hand_made())
    s = result.summary
    assert s["images"] == 11
    # A-top: predicted loss (35 px) inside true loss (50 px): IoU 35/50, Dice 70/85
    a_top = result.images[0]
    assert a_top["hairloss_iou"] == pytest.approx(0.7)
    assert a_top["hairloss_dice"] == pytest.approx(70 / 85)
    assert (a_top["true_loss_pct"], a_top["pred_loss_pct"], a_top["abs_diff_pct"]) == (50, 35, 15)
    # B-left: 90 of 100 scalp pixels found; both-empty hair loss counts as perfect
    b_left = result.images[6]
    assert b_left["scalp_iou"] == pytest.approx(0.9) and b_left["scalp_dice"] == pytest.approx(180 / 190)
    assert b_left["hairloss_iou"] == 1.0 and b_left["pred_loss_pct"] == 0.0
    # Micro over all images. Hair loss: sum of min / sum of max pixel counts.
    tl = [c[2] for c in CASES]
    pl = [c[3] for c in CASES]
    inter, union = sum(map(min, tl, pl)), sum(map(max, tl, pl))
    assert (inter, union) == (215, 240)
    assert s["hairloss"]["iou_micro"] == pytest.approx(215 / 240)
    assert s["hairloss"]["dice_micro"] == pytest.approx(2 * 215 / (sum(tl) + sum(pl)))
    assert s["scalp"]["iou_micro"] == pytest.approx(1090 / 1100)
    assert s["scalp_by_task"]["scalp-temporal"]["iou_micro"] == pytest.approx(490 / 500)
    assert s["scalp_by_task"]["scalp-midline"]["iou_micro"] == 1.0
    # Per-view mean |delta %|: top (15, 0, 0) -> 5; back (0, 10, 0) -> 10/3
    assert s["views"]["top"]["mean_abs_diff_pct"] == pytest.approx(5.0)
    assert s["views"]["back"]["mean_abs_diff_pct"] == pytest.approx(10 / 3)
    assert s["views"]["left"]["mean_abs_diff_pct"] == 0.0

    # Visits: A true 0.4*50 + 0.18*10 + 0.18*20 = 25.4, predicted 0.4*35 + 5.4 = 19.4
    #         B true 0.4*10 + 0.24*50 = 16.0,               predicted 4 + 0.24*60 = 18.4
    #         C has no right view: skipped
    visits = {v["patient"]: v for v in result.visits}
    assert set(visits) == {"A", "B"}
    assert visits["A"]["true_salt"] == pytest.approx(25.4) and visits["A"]["pred_salt"] == pytest.approx(19.4)
    assert visits["B"]["true_salt"] == pytest.approx(16.0) and visits["B"]["pred_salt"] == pytest.approx(18.4)
    salt = s["salt"]
    assert salt["visits_scored"] == 2 and salt["visits_skipped"]["incomplete"] == 1
    assert salt["mae"] == pytest.approx((6.0 + 2.4) / 2)
    assert salt["bias"] == pytest.approx((-6.0 + 2.4) / 2)
    # ICC(2,1) of [[19.4, 25.4], [18.4, 16.0]] by hand: MSR 27.04, MSC 3.24, MSE 17.64,
    # (27.04 - 17.64) / (27.04 + 17.64 + 2 (3.24 - 17.64) / 2) = 9.4 / 30.28
    assert salt["icc_2_1"] == pytest.approx(9.4 / 30.28)
    # A crosses the SALT 20 line (25.4 -> 19.4); nobody crosses 10
    assert salt["responder_flips"]["salt<=20"] == {"fraction": 0.5, "count": 1}
    assert salt["responder_flips"]["salt<=10"] == {"fraction": 0.0, "count": 0}
    ba = salt["bland_altman"]
    sd = float(np.std([-6.0, 2.4], ddof=1))
    assert ba["bias"] == pytest.approx(-1.8) and ba["sd"] == pytest.approx(sd, abs=1e-6)
    assert ba["upper"] == pytest.approx(-1.8 + 1.96 * sd, abs=1e-5)


def test_visit_without_predicted_scalp_is_not_scored():
    pred_scalp, pred_loss, true_scalp, true_loss, meta = hand_made()
    pred_scalp[4] = np.zeros((10, 10), bool)  # B-top: the network found no scalp
    result = evaluate_predictions(pred_scalp, pred_loss, true_scalp, true_loss, meta)
    assert result.images[4]["pred_loss_pct"] is None and result.images[4]["scalp_iou"] == 0.0
    assert [v["patient"] for v in result.visits] == ["A"]
    assert result.summary["salt"]["visits_skipped"]["no_predicted_scalp"] == 1
    assert math.isnan(result.summary["salt"]["icc_2_1"])  # one visit: ICC undefined


def test_icc_matches_shrout_fleiss_and_hand_computation():
    # Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges; ICC(2,1) = 0.29
    table = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    assert icc_2_1(table) == pytest.approx(0.2898, abs=1e-4)
    # By hand: [[1,2],[2,2],[3,4]]: MSR 13/6, MSC 2/3, MSE 1/6 -> 2 / (8/3) = 0.75
    assert icc_agreement([1, 2, 3], [2, 2, 4]) == pytest.approx(0.75)
    assert icc_agreement([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    # a constant offset lowers absolute agreement
    assert icc_agreement([11, 12, 13], [1, 2, 3]) < 0.1
    assert math.isnan(icc_agreement([5, 5], [5, 5]))
    with pytest.raises(InvalidValueError):
        icc_2_1([[1, 2]])


def test_agreement_helpers():
    assert mean_absolute_error([1, 5], [2, 2]) == 2.0
    ba = bland_altman([3, 5, 7], [1, 5, 6])
    assert ba.bias == 1.0 and ba.sd == pytest.approx(1.0) and ba.lower == pytest.approx(-0.96)
    assert decision_flip_rate([19, 21, 5, 30], [21, 22, 15, 30], 20) == 0.25
    with pytest.raises(InvalidValueError):
        mean_absolute_error([1], [1, 2])


def _tiny_model_set(folder):
    torch.manual_seed(0)
    for task in TASKS:
        cfg = ModelConfig(task=task, base_width=4, depth=2, input_size=32)
        save_model(build_model(cfg), cfg, folder / task)
    return folder


def _head(rng, size=32):
    """A picture the photograph gate lets through: a skin-coloured disc on a brown gradient."""
    yy, xx = np.mgrid[:size, :size]
    img = (60 + 2 * yy[..., None] + np.array([30, 15, 0]) + rng.integers(0, 10, (size, size, 1))).astype(np.uint8)
    img[(yy - size // 2) ** 2 + (xx - size // 2) ** 2 < (size // 4) ** 2] = (200, 160, 140)
    return img


def _tiny_dataset(path, views=("top", "back", "left", "right"), noise=(), size=32):
    """Two patients' visits; the stems in ``noise`` get random noise, which the gate refuses."""
    from alonet.data.dataset import write_dataset

    rng = np.random.default_rng(0)
    samples = []
    for p in range(2):
        for v in views:
            img = _head(rng)
            if f"p{p}_{v or 'x'}" in noise:
                img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            scalp = np.zeros((32, 32), np.uint8)
            scalp[4:28, 4:28] = 1
            loss = np.zeros((32, 32), np.uint8)
            loss[4:12, 4:28] = 1
            samples.append((img, scalp, loss, {"stem": f"p{p}_{v or 'x'}", "patient": f"p{p}",
                                               "visit": "1", "view": v}))
    return write_dataset(path, samples, size=size)


def test_cli_writes_the_report(tmp_path, capsys):
    from alonet.cli.main import main

    models = _tiny_model_set(tmp_path / "models")
    dataset = _tiny_dataset(tmp_path / "ds")
    out = tmp_path / "report"
    code = main(["evaluate", str(dataset), "--model", str(models), "-o", str(out), "--backend", "torch",
                 "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "images: 8" in captured.out
    assert {p.name for p in out.iterdir()} >= {"per_image.csv", "per_visit.csv", "summary.json",
                                               "loss_pct_by_view.png"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 8 and summary["backend"] == "torch"
    assert summary["thresholds"] == {"scalp": 0.5, "hairloss": 0.5}
    assert 0.0 <= summary["scalp"]["iou_micro"] <= 1.0
    # a chosen hair-loss threshold is used and recorded
    assert main(["evaluate", str(dataset), "--model", str(models), "-o", str(tmp_path / "t"), "--backend",
                 "torch", "--quiet", "--hairloss-threshold", "0.3"]) == 0
    assert json.loads((tmp_path / "t" / "summary.json").read_text())["thresholds"]["hairloss"] == 0.3
    capsys.readouterr()
    with open(out / "per_image.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8 and rows[0]["true_loss_pct"] == "33.333333"  # 6 decimals
    # the output is not overwritten without --overwrite
    assert main(["evaluate", str(dataset), "--model", str(models), "-o", str(out), "--backend", "torch",
                 "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    # --split val needs a training run
    assert main(["evaluate", str(dataset), "--model", str(models), "-o", str(tmp_path / "r2"),
                 "--split", "val", "--quiet"]) == 2
    assert "needs a training run folder" in capsys.readouterr().err


def test_runner_matches_the_pure_function_and_refuses_unknown_views(tmp_path):
    from alonet.infer import Pipeline

    models = _tiny_model_set(tmp_path / "models")
    dataset = _tiny_dataset(tmp_path / "ds")
    result = evaluate(dataset, models, backend="torch", progress=False)
    from alonet.data.dataset import open_dataset

    ds = open_dataset(dataset)
    preds = Pipeline(models, backend="torch").predict_views(
        [(np.asarray(ds.images[i]), ds.meta[i]["view"]) for i in range(len(ds))])
    direct = evaluate_predictions([p.scalp_mask for p in preds], [p.hairloss_mask for p in preds],
                                  np.asarray(ds.scalp) > 0, np.asarray(ds.hairloss) > 0, ds.meta)
    assert result.images == direct.images
    assert result.summary["salt"] == direct.summary["salt"]
    salt = result.summary["salt"]
    assert salt["visits_scored"] + salt["visits_skipped"]["no_predicted_scalp"] == 2

    unknown = _tiny_dataset(tmp_path / "ds2", views=("top", ""))
    with pytest.raises(DatasetError, match="no known view"):
        evaluate(unknown, models, backend="torch", progress=False)
    only_top = evaluate(unknown, models, backend="torch", views=["top"], progress=False)
    assert only_top.summary["images"] == 2 and only_top.summary["salt"]["visits_scored"] == 0


def test_paired_change_resamples_whole_patients():
    from alonet.evaluate.agreement import paired_change

    # every photograph 5 points better: the change is -5 whatever the resampling
    same = paired_change([10, 10, 10, 10], [5, 5, 5, 5], ["a", "a", "b", "b"])
    assert same.change == -5.0 and same.low == same.high == -5.0 and same.clear
    assert (same.groups, same.items) == (2, 4)
    # one patient 6 points better (3 photographs), one 6 points worse (1 photograph): the mean
    # over photographs is -3, but resampling patients spans -6 (only the first) to +6 (only the second)
    mixed = paired_change([0, 0, 0, 0], [-6, -6, -6, 6], ["a", "a", "a", "b"], rounds=4000, seed=1)
    assert mixed.change == -3.0 and not mixed.clear
    assert mixed.low == pytest.approx(-6.0) and mixed.high == pytest.approx(6.0)
    # deterministic for a seed
    assert paired_change([0, 0, 0, 0], [-6, -6, -6, 6], ["a", "a", "a", "b"], rounds=4000, seed=1) == mixed
    with pytest.raises(InvalidValueError, match="group labels"):
        paired_change([1, 2], [1, 2], ["a"])


def test_split_refuses_a_dataset_the_run_was_not_trained_on(tmp_path):
    """Before: --split val filtered by patient id only, so another dataset sharing an id was
    partly scored and its other patients silently dropped."""
    from alonet.evaluate import evaluate

    run = _tiny_model_set(tmp_path / "run")
    dataset = _tiny_dataset(tmp_path / "ds")  # patients p0 and p1
    (run / "split.json").write_text(json.dumps({"format": "alonet-split", "version": 1, "seed": 0,
                                                "val_fraction": 0.5, "train": ["p0"], "val": ["p1"]}))
    result = evaluate(dataset, run, split="val", backend="torch", progress=False)
    assert result.summary["images"] == 4 and result.summary["split_patients"] == 1
    (run / "split.json").write_text(json.dumps({"format": "alonet-split", "version": 1, "seed": 0,
                                                "val_fraction": 0.5, "train": ["p0"], "val": ["other"]}))
    with pytest.raises(DatasetError, match="1 patient\\(s\\) are not in the run's split \\(e.g. p1\\)"):
        evaluate(dataset, run, split="val", backend="torch", progress=False)


def test_a_dataset_smaller_than_the_networks_is_refused_before_predicting(tmp_path, capsys):
    """Before: a dataset converted at 128 px for 160-px networks scored IoU 0.000 everywhere,
    every photograph refused by the gate as too_small and scored as an empty prediction."""
    from alonet.cli.main import main

    models = _tiny_model_set(tmp_path / "models")  # networks of input size 32
    small = _tiny_dataset(tmp_path / "ds16", size=16)
    with pytest.raises(DatasetError, match="are 16x16 pixels, but the model's networks need at least 32 pixels"):
        evaluate(small, models, backend="torch", progress=False)
    out = tmp_path / "report"
    assert main(["evaluate", str(small), "--model", str(models), "-o", str(out), "--backend", "torch",
                 "--quiet"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "alonet convert --size 32 or more" in err[0] and not out.exists()


def test_photographs_the_gate_refuses_are_named_and_left_out_of_every_figure(tmp_path, capsys):
    """Before: a refused photograph was scored as an empty prediction (IoU 0), silently."""
    from alonet.cli.main import main
    from alonet.data.dataset import open_dataset
    from alonet.infer import Pipeline

    models = _tiny_model_set(tmp_path / "models")
    dataset = _tiny_dataset(tmp_path / "ds", noise=("p1_top",))
    out = tmp_path / "report"
    assert main(["evaluate", str(dataset), "--model", str(models), "-o", str(out), "--backend", "torch",
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "images: 7 " in printed
    assert "left out of every figure: 1 photograph(s) refused by the photograph gate (1 noise): p1_top; e.g. p1_top: " \
        in printed
    summary = json.loads((out / "summary.json").read_text())
    refused = summary["photographs_refused"]
    assert summary["images"] == 7 and refused["count"] == 1 and refused["by_code"] == {"noise": 1}
    assert [(r["stem"], r["patient"], r["view"], r["code"]) for r in refused["photographs"]] == [
        ("p1_top", "p1", "top", "noise")]
    assert summary["salt"]["visits_skipped"]["refused_photograph"] == 1
    assert summary["salt"]["visits_scored"] + summary["salt"]["visits_skipped"]["no_predicted_scalp"] == 1
    assert "photographs_refused" in summary["definitions"]
    with open(out / "per_image.csv", newline="") as fh:
        assert [row["stem"] for row in csv.DictReader(fh)] == ["p0_top", "p0_back", "p0_left", "p0_right",
                                                                "p1_back", "p1_left", "p1_right"]
    # the figures are those of the seven photographs scored, as the pure function gives them
    ds = open_dataset(dataset)
    kept = [i for i in range(len(ds)) if ds.meta[i]["stem"] != "p1_top"]
    preds = Pipeline(models, backend="torch").predict_views([(np.asarray(ds.images[i]), ds.meta[i]["view"])
                                                             for i in kept])
    direct = evaluate_predictions([p.scalp_mask for p in preds], [p.hairloss_mask for p in preds],
                                  np.asarray(ds.scalp)[kept] > 0, np.asarray(ds.hairloss)[kept] > 0,
                                  [ds.meta[i] for i in kept])
    assert summary["scalp"]["iou_micro"] == pytest.approx(direct.summary["scalp"]["iou_micro"], abs=1e-6)
    assert summary["hairloss"]["iou_micro"] == pytest.approx(direct.summary["hairloss"]["iou_micro"], abs=1e-6)
    assert direct.summary["photographs_refused"]["count"] == 0  # nothing refused: figures as before


def test_nothing_to_score_when_the_gate_refuses_every_photograph(tmp_path):
    models = _tiny_model_set(tmp_path / "models")
    dataset = _tiny_dataset(tmp_path / "ds", views=("top",), noise=("p0_top", "p1_top"))
    with pytest.raises(DatasetError, match="nothing to score: 2 photograph\\(s\\) refused by the photograph gate "
                                           "\\(2 noise\\): p0_top, p1_top; e.g. p0_top: "):
        evaluate(dataset, models, backend="torch", progress=False)
