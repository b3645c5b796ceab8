"""Evaluating a model set on a converted dataset.

The math is pure and independent of how predictions were made:

* ``score_image`` compares one photograph's predicted masks with the truth;
* ``summarize_images`` groups the per-image rows into visits and computes the
  summary; ``evaluate_predictions`` does both for whole arrays.

Definitions (documented in the report as well):

* scalp IoU / Dice: predicted scalp vs annotated scalp (foreground);
* hair-loss IoU / Dice: the hair loss that counts, i.e. predicted hair loss
  inside the predicted scalp vs annotated hair loss inside the annotated scalp;
* loss %: ``100 * |hair loss & scalp| / |scalp|`` (None when the scalp is empty);
* a visit is scored when its four views are present once each and every view
  has a loss % on both sides; SALT error = predicted - true SALT;
* micro = pooled pixel counts over the images, macro = mean of per-image values;
* a photograph the photograph gate refuses (``alonet.infer.gate``: too small, not
  a head, ...) gets no masks and no % loss from the app, which asks for a retake;
  it is left out of every image figure, named in ``photographs_refused`` and its
  visit gets no SALT (``visits_skipped.refused_photograph``).

``evaluate`` is the runner: it predicts with the inference ``Pipeline`` (the
same code and post-processing users get) and writes the report folder.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from alonet.system.atomic import atomic_directory, check_can_write_directory
from alonet.data.dataset import open_dataset
from alonet.data.split import read_split, row_key
from alonet.errors import DatasetError, InvalidValueError
from alonet.evaluate import plots
from alonet.evaluate.agreement import (
    bias,
    bland_altman,
    decision_flip_rate,
    icc_agreement,
    mean_absolute_error,
)
from alonet.infer import Pipeline
from alonet.infer.gate import GATE_CODES
from alonet.scoring.masks import as_bool_mask
from alonet.scoring.metrics import OverlapCounts, summarize_counts
from alonet.scoring.salt import category_value, loss_percent_or_none, salt_score
from alonet.views import SCALP_TASK_FOR_VIEW, VIEWS

#: Responder thresholds: a visit "responds" when SALT <= threshold.
RESPONDER_THRESHOLDS: tuple[float, ...] = (20.0, 10.0)

IMAGE_COLUMNS = ("index", "stem", "patient", "visit", "view", "scalp_iou", "scalp_dice",
                 "hairloss_iou", "hairloss_dice", "true_loss_pct", "pred_loss_pct", "abs_diff_pct")
VISIT_COLUMNS = ("patient", "visit", "true_salt", "pred_salt", "error", "abs_error",
                 *(f"flip_at_{int(t)}" for t in RESPONDER_THRESHOLDS))


@dataclass
class ImageScore:
    """One photograph's comparison (``row``) plus its pixel counts for pooling."""

    row: dict
    scalp_counts: OverlapCounts
    hairloss_counts: OverlapCounts


@dataclass
class EvaluationResult:
    """Per-image rows, per-visit rows and the summary dict (JSON-ready)."""

    images: list[dict]
    visits: list[dict]
    summary: dict
    image_scores: list[ImageScore] = field(default_factory=list, repr=False)


#: What marks a folder as an evaluation (``--overwrite`` replaces only such a folder).
EVALUATION_FILES = ("summary.json",)


def score_image(pred_scalp, pred_hairloss, true_scalp, true_hairloss, meta: dict) -> ImageScore:
    """Compare one photograph's predicted masks with the annotated ones (pure)."""
    # one rule for what a mask is (alonet.scoring.masks): label and probability maps are refused
    ps, ph = as_bool_mask(pred_scalp, "predicted scalp mask"), as_bool_mask(pred_hairloss, "predicted hair-loss mask")
    ts, th = as_bool_mask(true_scalp, "true scalp mask"), as_bool_mask(true_hairloss, "true hair-loss mask")
    shapes = {ps.shape, ph.shape, ts.shape, th.shape}
    if len(shapes) != 1 or ps.ndim != 2:
        raise InvalidValueError(f"masks of {meta.get('stem', 'an image')} differ in size: {sorted(shapes)}",
                                fix="compare masks of the same photograph at the same size")
    scalp_counts = OverlapCounts.of(ps, ts)
    hairloss_counts = OverlapCounts.of(ph & ps, th & ts)
    true_pct, pred_pct = loss_percent_or_none(th, ts), loss_percent_or_none(ph, ps)
    row = {
        "index": meta.get("index", ""),
        "stem": str(meta.get("stem", "")),
        "patient": str(meta.get("patient", "") or ""),
        "visit": str(meta.get("visit", "") or ""),
        "view": str(meta.get("view", "") or ""),
        "scalp_iou": scalp_counts.iou,
        "scalp_dice": scalp_counts.dice,
        "hairloss_iou": hairloss_counts.iou,
        "hairloss_dice": hairloss_counts.dice,
        "true_loss_pct": true_pct,
        "pred_loss_pct": pred_pct,
        "abs_diff_pct": None if true_pct is None or pred_pct is None else abs(pred_pct - true_pct),
    }
    return ImageScore(row, scalp_counts, hairloss_counts)


def _metrics(counts: list[OverlapCounts]) -> dict | None:
    return summarize_counts(counts).to_dict() if counts else None


def _visit_key(row: dict) -> tuple[str, str] | None:
    """(patient, visit) of a row that belongs to a visit; None otherwise."""
    if row["patient"] and row["visit"] and row["view"] in VIEWS:
        return row["patient"], row["visit"]
    return None


def _visit_rows(rows: Sequence[dict], refused: Sequence[dict] = ()) -> tuple[list[dict], dict]:
    """Group rows into visits; return scored visit rows and counts of the others.
    ``refused``: rows of photographs the gate refused (their visits get no SALT)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    unlabelled = 0
    for row in rows:
        key = _visit_key(row)
        if key is None:
            unlabelled += 1
        else:
            groups[key].append(row)
    held = {key for key in map(_visit_key, refused) if key is not None}
    visits, skipped = [], {"incomplete": 0, "duplicate_view": 0, "no_true_scalp": 0, "no_predicted_scalp": 0,
                           "refused_photograph": len(held - set(groups)), "photographs_without_visit": unlabelled}
    for (patient, visit), members in sorted(groups.items()):
        if (patient, visit) in held:
            skipped["refused_photograph"] += 1
            continue
        views = [r["view"] for r in members]
        if len(set(views)) != len(views):
            skipped["duplicate_view"] += 1
            continue
        if set(views) != set(VIEWS):
            skipped["incomplete"] += 1
            continue
        by_view = {r["view"]: r for r in members}
        if any(by_view[v]["true_loss_pct"] is None for v in VIEWS):
            skipped["no_true_scalp"] += 1
            continue
        if any(by_view[v]["pred_loss_pct"] is None for v in VIEWS):
            skipped["no_predicted_scalp"] += 1
            continue
        true_salt = salt_score({v: by_view[v]["true_loss_pct"] for v in VIEWS})
        pred_salt = salt_score({v: by_view[v]["pred_loss_pct"] for v in VIEWS})
        row = {"patient": patient, "visit": visit, "true_salt": true_salt, "pred_salt": pred_salt,
               "error": pred_salt - true_salt, "abs_error": abs(pred_salt - true_salt)}
        for t in RESPONDER_THRESHOLDS:
            row[f"flip_at_{int(t)}"] = (category_value(pred_salt) <= t) != (category_value(true_salt) <= t)
        visits.append(row)
    return visits, skipped


def _salt_summary(visits: Sequence[dict], skipped: dict) -> dict:
    summary: dict = {"visits_scored": len(visits), "visits_skipped": skipped}
    if not visits:
        return summary
    pred = [v["pred_salt"] for v in visits]
    true = [v["true_salt"] for v in visits]
    summary.update({
        "mae": mean_absolute_error(pred, true),
        "bias": bias(pred, true),
        "icc_2_1": (icc_agreement(pred, true) + 0.0) if len(visits) >= 2 else math.nan,  # + 0.0: no "-0.0"
        "bland_altman": bland_altman(pred, true).to_dict(),
        "responder_flips": {
            f"salt<={int(t)}": {"fraction": decision_flip_rate(pred, true, t),
                                "count": int(sum(v[f"flip_at_{int(t)}"] for v in visits))}
            for t in RESPONDER_THRESHOLDS
        },
    })
    return summary


def refused_row(meta: dict, flags: Sequence[dict]) -> dict | None:
    """The ``photographs_refused`` entry of a photograph whose result carries a gate flag
    (``alonet.infer.gate``); None when the gate let it through."""
    gate = [f for f in flags if f.get("code") in GATE_CODES]
    if not gate:
        return None
    return {"index": meta.get("index", ""), "stem": str(meta.get("stem", "")),
            "patient": str(meta.get("patient", "") or ""), "visit": str(meta.get("visit", "") or ""),
            "view": str(meta.get("view", "") or ""), "code": gate[0]["code"], "message": gate[0]["message"]}


def _refused_summary(refused: Sequence[dict]) -> dict:
    return {"count": len(refused), "by_code": dict(sorted(Counter(r["code"] for r in refused).items())),
            "photographs": [dict(r) for r in refused]}


def describe_refused(refused: Sequence[dict], limit: int = 5) -> str:
    """One line: how many photographs the gate refused, why, and which (the first ``limit``)."""
    codes = Counter(r["code"] for r in refused)
    why = ", ".join(f"{n} {code}" for code, n in sorted(codes.items()))
    stems = ", ".join(r["stem"] for r in refused[:limit]) + (f" and {len(refused) - limit} more"
                                                              if len(refused) > limit else "")
    example = f"; e.g. {refused[0]['stem']}: {refused[0]['message']}" if refused else ""
    return f"{len(refused)} photograph(s) refused by the photograph gate ({why}): {stems}{example}"


def summarize_images(scores: Sequence[ImageScore], refused: Sequence[dict] = ()) -> EvaluationResult:
    """Pool per-image scores into per-view, per-task and per-visit results (pure).

    ``refused``: photographs the gate refused (``refused_row``); they are left out of
    every image figure, listed in ``photographs_refused`` and withhold their visit's SALT.
    """
    if not scores:
        raise InvalidValueError("no images were evaluated", fix="check the dataset and --views")
    rows = [s.row for s in scores]
    per_task: dict[str, list[OverlapCounts]] = defaultdict(list)
    per_view: dict[str, list[ImageScore]] = defaultdict(list)
    for s in scores:
        view = s.row["view"]
        per_view[view].append(s)
        if view in SCALP_TASK_FOR_VIEW:
            per_task[SCALP_TASK_FOR_VIEW[view]].append(s.scalp_counts)
    views_summary = {}
    for view in [*VIEWS, *sorted(set(per_view) - set(VIEWS))]:
        if view not in per_view:
            continue
        items = per_view[view]
        diffs = [s.row["abs_diff_pct"] for s in items if s.row["abs_diff_pct"] is not None]
        views_summary[view] = {
            "images": len(items),
            "scalp": _metrics([s.scalp_counts for s in items]),
            "hairloss": _metrics([s.hairloss_counts for s in items]),
            "mean_abs_diff_pct": float(np.mean(diffs)) if diffs else math.nan,
            "images_with_loss_pct": len(diffs),
        }
    visits, skipped = _visit_rows(rows, refused)
    summary = {
        "images": len(rows),
        "photographs_refused": _refused_summary(refused),
        "scalp": _metrics([s.scalp_counts for s in scores]),
        "scalp_by_task": {task: _metrics(c) for task, c in sorted(per_task.items())},
        "hairloss": _metrics([s.hairloss_counts for s in scores]),
        "views": views_summary,
        "salt": _salt_summary(visits, skipped),
        "definitions": {
            "images": "photographs scored: every selected photograph but those in photographs_refused",
            "photographs_refused": "photographs the photograph gate refused (too_small, bad_aspect, no_content, "
                                   "noise, not_a_head): the app measures nothing and asks for a retake, so they "
                                   "are left out of every IoU, Dice and % loss figure and their visits get no "
                                   "SALT (visits_skipped.refused_photograph)",
            "iou": "foreground intersection over union; micro pools pixels over images, macro averages images "
                   "(a pair with prediction and truth both empty scores 1 and is part of the macro mean)",
            "both_empty": "pairs whose prediction and truth are both empty",
            "macro_nonempty": "iou_macro_nonempty / dice_macro_nonempty: the macro mean without the both_empty "
                              "pairs (as nnU-Net reports; MONAI's DiceMetric by default also leaves out images "
                              "whose truth is empty but the prediction is not)",
            "pixel_accuracy": "share of all pixels labelled right (inside and outside); high even for a poor mask",
            "mean_abs_diff_pct": "mean over images of |predicted - true % loss|; images_with_loss_pct counts the "
                                 "images where both are defined (a scalp in both)",
            "bias": "mean of predicted - true SALT (negative: AloNet under-calls)",
            "resolution": "masks are compared at the dataset's size (alonet convert --size, 320 by default), "
                          "not the photographs' own; a view's % loss can move by about half a point between "
                          "the two (0.45 measured on a 640-px phantom view, 0.12 on the test split)",
            "hairloss_masks": "predicted hair loss inside predicted scalp vs true hair loss inside true scalp",
            "loss_pct": "100 * |hair loss & scalp| / |scalp|",
            "salt": "0.40 top + 0.24 back + 0.18 left + 0.18 right loss %; visits with all four views",
            "icc_2_1": "Shrout & Fleiss ICC(2,1): two-way random, absolute agreement, single measures",
            "responder_flips": "visits whose 'SALT <= threshold' status differs between prediction and truth",
        },
    }
    return EvaluationResult(images=rows, visits=visits, summary=summary, image_scores=list(scores))


def evaluate_predictions(pred_scalp, pred_hairloss, true_scalp, true_hairloss,
                         meta: Sequence[dict]) -> EvaluationResult:
    """Evaluate predicted masks against the truth (pure; arrays or sequences of (H,W) masks).

    ``meta`` has one dict per image with ``patient``, ``visit``, ``view`` (and
    optionally ``stem``, ``index``).
    """
    lengths = {len(pred_scalp), len(pred_hairloss), len(true_scalp), len(true_hairloss), len(meta)}
    if len(lengths) != 1:
        raise InvalidValueError("predictions, truths and meta differ in length",
                                fix="pass one entry per image to each argument")
    scores = [score_image(pred_scalp[i], pred_hairloss[i], true_scalp[i], true_hairloss[i], meta[i])
              for i in range(len(meta))]
    return summarize_images(scores)


# --------------------------------------------------------------------------- runner


def select_rows(meta: Sequence[dict], views: Sequence[str] | None, where: str) -> list[int]:
    """Rows to evaluate: every row of a known view; unknown views need an explicit ``views``."""
    known = [i for i, row in enumerate(meta) if str(row.get("view") or "").lower() in VIEWS]
    if views is None:
        unknown = len(meta) - len(known)
        if unknown:
            raise DatasetError(
                f"{where}: {unknown} row(s) have no known view; the scalp network for a "
                "photograph is chosen by its view",
                fix="fill the view column of meta.csv, or pass --views top,back,left,right to skip them",
            )
        return known
    wanted = set(views)
    bad = wanted - set(VIEWS)
    if bad:
        raise InvalidValueError(f"cannot evaluate view(s) {', '.join(sorted(bad))}",
                                fix="use --views with top, back, left, right")
    return [i for i in known if meta[i]["view"] in wanted]


def check_dataset_size(size: int, needed: int | None, where: Path) -> None:
    """Refuse a dataset converted smaller than the photograph gate lets through: every
    photograph would be refused as too_small (and, before, scored as an empty mask)."""
    if needed is not None and size < needed:
        raise DatasetError(
            f"{where}: the dataset's photographs are {size}x{size} pixels, but the model's networks need at least "
            f"{needed} pixels on a side, so the photograph gate would refuse every one as too small",
            fix=f"convert the dataset again with alonet convert --size {needed} or more; 320 is the default")


def _run_split(model: str | Path, part: str) -> dict:
    """The training run's split (``split.json``) that ``--split part`` selects from."""
    path = Path(model) / "split.json"
    if str(model) == "default" or not path.is_file():
        raise InvalidValueError(
            f"--split {part} needs a training run folder with split.json as --model (got {model})",
            fix="pass the run folder of `alonet train`, or use --split all",
        )
    return read_split(path)


def evaluate(dataset: str | Path, model: str | Path = "default", out: str | Path | None = None, *,
             backend: str = "auto", views: Sequence[str] | None = None, split: str = "all",
             batch_size: int = 8, overwrite: bool = False, progress: bool = True,
             pipeline_config=None) -> EvaluationResult:
    """Predict every photograph of ``dataset`` with ``model`` and compare with its annotations.

    ``split``: ``all`` rows, or only the ``val``/``train`` patients of the
    training run given as ``model``. Writes the report to ``out`` (atomically)
    when given.
    """
    from tqdm import tqdm

    if split not in ("all", "train", "val"):
        raise InvalidValueError(f"unknown split {split!r}", fix="use all, train or val")
    if batch_size < 1:
        raise InvalidValueError("batch size must be >= 1")
    if out is not None:
        check_can_write_directory(out, overwrite, inputs=(dataset, model), own=EVALUATION_FILES)
    ds = open_dataset(dataset)
    rows = select_rows(ds.meta, views, str(ds.path))
    split_patients = None
    if split != "all":
        run_split = _run_split(model, split)
        members, everyone = set(run_split[split]), set(run_split["train"]) | set(run_split["val"])
        keys = {row_key(ds.meta[i]["patient"], str(ds.meta[i]["stem"])) for i in rows}
        unknown = sorted(keys - everyone)
        if unknown:
            raise DatasetError(
                f"{ds.path}: {len(unknown)} patient(s) are not in the run's split (e.g. {', '.join(unknown[:3])}), "
                "so this is not the dataset the run was trained on", fix="evaluate the run's own dataset with "
                "--split, or leave --split out to score every photograph")
        rows = [i for i in rows if row_key(ds.meta[i]["patient"], str(ds.meta[i]["stem"])) in members]
        split_patients = len({row_key(ds.meta[i]["patient"], str(ds.meta[i]["stem"])) for i in rows})
    if not rows:
        raise DatasetError(f"{ds.path}: no photographs to evaluate", fix="check --views and --split")
    pipeline = Pipeline(models=model, backend=backend, config=pipeline_config)
    check_dataset_size(ds.size, pipeline.min_photo_side(), ds.path)
    scores, refused = [], []
    with tqdm(total=len(rows), desc="evaluate", unit="img", file=sys.stderr, disable=not progress) as bar:
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            results = pipeline.predict_views([(np.asarray(ds.images[i]), ds.meta[i]["view"]) for i in chunk])
            for i, res in zip(chunk, results):
                gated = refused_row(ds.meta[i], res.flags)
                if gated is not None:
                    refused.append(gated)
                    continue
                scores.append(score_image(res.scalp_mask, res.hairloss_mask, np.asarray(ds.scalp[i]) > 0,
                                          np.asarray(ds.hairloss[i]) > 0, ds.meta[i]))
            bar.update(len(chunk))
    if not scores:
        raise DatasetError(f"{ds.path}: nothing to score: {describe_refused(refused)}",
                           fix="evaluate photographs the app would measure (see the photograph gate in the README)")
    result = summarize_images(scores, refused)
    result.summary["dataset"] = str(ds.path)
    result.summary.update(pipeline.provenance())
    result.summary["split"] = split
    if split_patients is not None:
        result.summary["split_patients"] = split_patients
    if out is not None:
        write_evaluation(result, out, overwrite=overwrite)
    return result


def write_evaluation(result: EvaluationResult, out: str | Path, overwrite: bool = False) -> Path:
    """Write per_image.csv, per_visit.csv, summary.json and the plots into ``out`` atomically."""
    with atomic_directory(out, overwrite=overwrite, own=EVALUATION_FILES) as tmp:
        for name, columns, rows in (("per_image.csv", IMAGE_COLUMNS, result.images),
                                    ("per_visit.csv", VISIT_COLUMNS, result.visits)):
            with open(tmp / name, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: _csv_value(row.get(k)) for k in columns})
        (tmp / "summary.json").write_text(json.dumps(_json_ready(result.summary), indent=2) + "\n",
                                          encoding="utf-8")
        plots.write_evaluation_plots(result, tmp)
    return Path(out)


def metric_text(value, spec: str = ".3f") -> str:
    """A summary figure as text, ``format(value, spec)``, or "n/a" when it is None or NaN
    (nothing to measure it on, e.g. no complete visit)."""
    return "n/a" if value is None or value != value else format(value, spec)


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{round(value, 6) + 0.0:.10g}"  # 6 decimals; + 0.0: no "-0"
    return str(value)


def _json_ready(value):
    """NaN/inf -> None (JSON has no NaN), floats rounded to 6 decimals."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _json_ready(value.item())
    return value
