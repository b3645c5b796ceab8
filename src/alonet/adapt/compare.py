"""adapt's before/after comparison on the held-back patients: the headline numbers, their
paired changes, the verdict, and the evaluation folders made shareable (patients as HMACs)."""

from __future__ import annotations

import csv
import io
import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from alonet.adapt.card import FEW_PATIENTS
from alonet.adapt.keys import patient_digest
from alonet.evaluate.agreement import paired_change


def headline(summary: dict, scalp_only: bool = False) -> dict:
    """The numbers adapt compares: IoU (micro), mean |Δ % loss| per view and overall, SALT MAE.

    With ``scalp_only`` the hair-loss masks are not annotations, so only the scalp IoU is
    kept (per view as well); every number that needs true hair loss is None.
    """
    if scalp_only:
        return {"images": summary["images"],
                "scalp_iou": summary["scalp"]["iou_micro"] if summary["scalp"] else None,
                "hairloss_iou": None, "mean_abs_diff_pct": None, "views_mean_abs_diff_pct": {},
                "views_scalp_iou": {v: s["scalp"]["iou_micro"] for v, s in summary["views"].items()
                                    if s.get("scalp")},
                "salt_visits": None, "salt_mae": None, "scalp_only": True}
    views = {v: s["mean_abs_diff_pct"] for v, s in summary["views"].items()}
    diffs = [s["mean_abs_diff_pct"] * s["images_with_loss_pct"] for s in summary["views"].values()
             if s["images_with_loss_pct"]]
    n = sum(s["images_with_loss_pct"] for s in summary["views"].values())
    salt = summary["salt"]
    return {
        "images": summary["images"],
        "scalp_iou": summary["scalp"]["iou_micro"] if summary["scalp"] else None,
        "hairloss_iou": summary["hairloss"]["iou_micro"] if summary["hairloss"] else None,
        "mean_abs_diff_pct": (sum(diffs) / n) if n else None,
        "views_mean_abs_diff_pct": views,
        "salt_visits": salt["visits_scored"],
        "salt_mae": salt["mae"] if salt["visits_scored"] else None,
    }


def _read_rows(path: Path, key: str, value: str) -> dict[str, tuple[str, float]]:
    """{patient/key column: (patient, value)} of a report CSV's rows that have the value
    (the patient is part of the key: visit numbers repeat across patients)."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {f"{row['patient']}/{row[key]}": (row["patient"], float(row[value]))
                for row in csv.DictReader(fh) if row.get(value)}


def paired_changes(before_dir: Path, after_dir: Path) -> dict:
    """How much after changes each error against before on the same held-back photographs
    and visits, with a 95 % bootstrap interval over patients (``PairedChange`` as a dict; None
    where no pair has the number; ``clear`` when the interval excludes 0 over at least
    ``FEW_PATIENTS`` patients, ``too_few`` below that). Nine or so patients give wide intervals:
    this says when the test cannot tell the two models apart."""
    out: dict[str, dict[str, Any] | None] = {}
    for name, csv_name, key, value in (("mean_abs_diff_pct", "per_image.csv", "stem", "abs_diff_pct"),
                                       ("salt_mae", "per_visit.csv", "visit", "abs_error")):
        b = _read_rows(before_dir / csv_name, key, value) if (before_dir / csv_name).is_file() else {}
        a = _read_rows(after_dir / csv_name, key, value) if (after_dir / csv_name).is_file() else {}
        both = sorted(set(b) & set(a))
        if not both:
            out[name] = None
            continue
        change = paired_change([b[k][1] for k in both], [a[k][1] for k in both], [b[k][0] for k in both])
        too_few = change.groups < FEW_PATIENTS  # an interval over so few patients says little
        out[name] = {**asdict(change), "clear": change.clear and not too_few, "too_few": too_few}
    return out


def judge(before: dict, after: dict) -> bool:
    """'After' is better when the % loss error falls and neither IoU drops by more than 0.01.

    For scalp-only corrections (``before["scalp_only"]``): when the scalp IoU rises overall
    and falls by no more than 0.01 on any view.
    """
    def val(d, k):
        v = d.get(k)
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    if before.get("scalp_only"):
        b, a = val(before, "scalp_iou"), val(after, "scalp_iou")
        if b is None or a is None or a <= b:
            return False
        views_b, views_a = before.get("views_scalp_iou", {}), after.get("views_scalp_iou", {})
        return all(views_a.get(v, 0.0) >= iou - 0.01 for v, iou in views_b.items())

    err_b, err_a = val(before, "mean_abs_diff_pct"), val(after, "mean_abs_diff_pct")
    if err_b is None or err_a is None or err_a >= err_b:
        return False
    for key in ("scalp_iou", "hairloss_iou"):
        b, a = val(before, key), val(after, key)
        if b is not None and a is not None and a < b - 0.01:
            return False
    return True


def shareable_evaluation(src: Path, dst: Path, model: str, key: bytes) -> None:
    """Copy an evaluation folder into the model set, where it travels: patient codes become
    :func:`~alonet.adapt.keys.patient_digest` HMACs under ``key``, visit labels (which may be
    dates) their order within the patient (1, 2, ...), photograph stems (which may hold codes
    and dates) ``<hash>-<row>``, and the work folder's paths words."""
    shutil.copytree(src, dst)
    tables = {}
    for name in ("per_image.csv", "per_visit.csv"):
        if (dst / name).is_file():
            with open(dst / name, newline="", encoding="utf-8") as handle:
                reader = csv.DictReader(handle)
                tables[name] = (reader.fieldnames or [], list(reader))
    visits: dict[str, set[str]] = {}
    for _, rows in tables.values():
        for row in rows:
            visits.setdefault(row.get("patient", ""), set()).add(row.get("visit", ""))
    order = {(p, v): str(n) for p, labels in visits.items()
             for n, v in enumerate(sorted(labels, key=_visit_order), start=1)}
    for name, (columns, rows) in tables.items():
        path = dst / name
        for n, row in enumerate(rows):
            patient = row.get("patient", "")
            if "stem" in row:
                row["stem"] = f"{patient_digest(key, patient)}-{n}"
            if "visit" in row:
                row["visit"] = order[(patient, row["visit"])] if row["visit"] else ""
            if "patient" in row:
                row["patient"] = patient_digest(key, patient)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(buffer.getvalue(), encoding="utf-8")
    summary_path = dst / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        summary.update(dataset="the held-back patients' photographs", model=model)
        for n, item in enumerate((summary.get("photographs_refused") or {}).get("photographs", [])):
            patient = str(item.get("patient", ""))
            digest = patient_digest(key, patient)
            item.update(stem=f"{digest}-refused-{n}", patient=digest,
                        visit=order.get((patient, str(item.get("visit", ""))), ""))
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def _visit_order(label: str):
    """Visit labels in their natural order: numbers by value, then the rest (dates, words) as text."""
    try:
        return (0, float(label), "")
    except ValueError:
        return (1, 0.0, label)
