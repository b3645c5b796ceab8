"""Phantom errors broken down by the phantom's look: which appearances does a model get wrong?

Usage::

    PYTHONPATH=src python scripts/dev/error_by_look.py ph_test \\
        eval_default_test eval_candidate_test -o /tmp/by_look

``ph_test`` is a phantom folder written by ``alonet phantom`` (its ``manifest.csv`` has the
look columns: Fitzpatrick skin type, hair colour and length, cropped, shaved, remaining hairs
in the loss); each further folder is an ``alonet evaluate`` report of that set (its
``per_image.csv``). For every report and every group of views with one value of a look
feature, it gives the number of views, the mean absolute error of the % hair loss per view
(``mae``), its mean signed error (``bias``: negative = loss under-called) and the mean hair-loss
IoU, with the number of patients behind the views (a group of few patients is a small
sample, however many views). Writes ``by_look.csv`` and ``by_look.png`` (mean absolute error per group, one bar per
report) and prints the table.

A mean over a whole test set hides where the error sits: on the total-loss phantoms of set O's
``total_test_clean`` (``scripts/train_candidates.sh``) the default reads views of Fitzpatrick VI
skin 32 points low on average, types II-IV 1 to 3 (see ``candidates/README.md``). Phantom sets written before the
manifest had the look columns must be rendered again (same command: the images come out
byte for byte the same).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

#: Look features and how a manifest value becomes a group label.
FEATURES = {
    "skin": lambda r: f"Fitzpatrick {'I II III IV V VI'.split()[int(r['fitzpatrick']) - 1]}",
    "hair": lambda r: ("shaved" if r["shaved"] == "1" else "cropped" if r["cropped"] == "1"
                       else "short" if float(r["hair_length"]) < 0.08 else
                       "medium" if float(r["hair_length"]) < 0.25 else "long"),
    "hair colour": lambda r: r["hair_colour"],
    "remaining hairs": lambda r: "some" if float(r["remnant_hairs"]) > 0 else "none",
}

#: Groups in reading order where alphabetical order would mislead.
ORDER = ("shaved", "cropped", "short", "medium", "long", "none", "some")

COLUMNS = ("report", "feature", "group", "views", "patients", "mae", "bias", "hairloss_iou")


class InputError(Exception):
    """A folder or file this script cannot use (the message says which and how to fix it)."""


def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise InputError(f"{path} not found")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_looks(phantoms: Path) -> dict[str, dict[str, str]]:
    """Manifest rows of a phantom folder by stem; InputError without the look columns."""
    rows = read_csv(phantoms / "manifest.csv")
    if rows and "fitzpatrick" not in rows[0]:
        raise InputError(f"{phantoms / 'manifest.csv'} has no look columns: render the set again with this "
                         "version of `alonet phantom` (same command, same images)")
    return {r["stem"]: r for r in rows}


def group_errors(looks: dict[str, dict[str, str]], per_image: list[dict[str, str]], feature: str) -> list[dict]:
    """Views of one report grouped by ``feature``: views, patients, mean |error|, bias, mean IoU
    (sorted by group). Views of one patient are alike: read a group of few patients with care."""
    groups: dict[str, list[tuple[float, float]]] = defaultdict(list)
    patients: dict[str, set[str]] = defaultdict(set)
    for row in per_image:
        look = looks.get(row["stem"])
        if look is None:
            raise InputError(f"{row['stem']} is in the report but not in the phantom manifest: wrong phantom folder?")
        error = float(row["pred_loss_pct"]) - float(row["true_loss_pct"])
        group = FEATURES[feature](look)
        groups[group].append((error, float(row["hairloss_iou"])))
        patients[group].add(row["patient"])
    out = []
    for group in sorted(groups, key=lambda g: (ORDER.index(g) if g in ORDER else len(ORDER), g)):
        errors, ious = np.array(groups[group]).T
        out.append({"feature": feature, "group": group, "views": len(errors), "patients": len(patients[group]),
                    "mae": float(np.abs(errors).mean()),
                    "bias": float(errors.mean()), "hairloss_iou": float(ious.mean())})
    return out


def table(looks: dict[str, dict[str, str]], reports: list[Path]) -> list[dict]:
    rows = []
    for report in reports:
        per_image = read_csv(report / "per_image.csv")
        try:
            for feature in FEATURES:
                rows += [{"report": report.name, **g} for g in group_errors(looks, per_image, feature)]
        except (KeyError, ValueError) as err:
            raise InputError(f"{report / 'per_image.csv'}: missing or unreadable column {err}: is it an "
                             "`alonet evaluate` report?") from None
    return rows


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    reports = list(dict.fromkeys(r["report"] for r in rows))
    fig = Figure(figsize=(11, 2.6 * len(FEATURES)), layout="constrained")
    for ax, feature in zip(fig.subplots(len(FEATURES), 1), FEATURES):
        groups = list(dict.fromkeys(r["group"] for r in rows if r["feature"] == feature))
        width = 0.8 / len(reports)
        for k, report in enumerate(reports):
            values = {r["group"]: r for r in rows if r["feature"] == feature and r["report"] == report}
            xs = np.arange(len(groups)) + (k - (len(reports) - 1) / 2) * width
            ax.bar(xs, [values[g]["mae"] if g in values else 0 for g in groups], width, label=report)
        views = {r["group"]: r["views"] for r in rows if r["feature"] == feature and r["report"] == reports[0]}
        ax.set_xticks(np.arange(len(groups)), [f"{g}\n({views.get(g, 0)} views)" for g in groups], fontsize=8)
        ax.set_ylabel("mean |Δ % loss|")
        ax.set_title(feature, fontsize=10)
    fig.axes[0].legend(fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    tmp = path.with_suffix(".png.tmp")
    tmp.write_bytes(buffer.getvalue())
    tmp.replace(path)


def write_csv(rows: list[dict], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, **{k: f"{r[k]:.3f}" for k in ("mae", "bias", "hairloss_iou")}})
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("phantoms", type=Path, help="phantom folder (alonet phantom) the reports evaluated")
    parser.add_argument("reports", type=Path, nargs="+", help="alonet evaluate report folders")
    parser.add_argument("-o", "--out", type=Path, required=True, help="folder for by_look.csv and by_look.png")
    args = parser.parse_args(argv)
    try:
        rows = table(read_looks(args.phantoms), args.reports)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / "by_look.csv")
    plot(rows, args.out / "by_look.png")
    for r in rows:
        print(f"{r['report']:32s} {r['feature']:16s} {r['group']:16s} {r['views']:4d} views {r['patients']:3d} patients  "
              f"|Δ| {r['mae']:5.1f}  bias {r['bias']:+6.1f}  IoU {r['hairloss_iou']:.3f}")
    print(f"wrote {args.out / 'by_look.csv'}, {args.out / 'by_look.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
