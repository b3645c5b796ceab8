"""Hand-drawn fringe lines on real Norwood 6-7 back views: real hair-loss labels with both classes.

Usage::

    # sheets for drawing (one upright copy per Norwood 6-7 back-view source, six per sheet)
    PYTHONPATH=src python scripts/dev/real_back_fringe.py sheets ../shared/data/real-heads-cc-by \\
        -o /tmp/fringe_sheets

    # hair-loss IoU and |delta % loss| of model sets against the drawn lines (test part)
    PYTHONPATH=src python scripts/dev/real_back_fringe.py score ../shared/data/real-heads-cc-by \\
        --model default --model candidates/effl0-norwood --part test -o /tmp/fringe_score

    # the learn part as training pairs for `alonet train --task hairloss`
    PYTHONPATH=src python scripts/dev/real_back_fringe.py folder ../shared/data/real-heads-cc-by \\
        --part learn --model default -o /tmp/real_fringe
    alonet convert /tmp/real_fringe/photographs /tmp/real_fringe/scalp /tmp/real_fringe/hairloss \\
        --manifest /tmp/real_fringe/manifest.csv -o /tmp/ds_real_fringe

Seen from behind, a Norwood 6-7 head (``../shared/data/real-heads-cc-by``, CC BY 4.0, no
masks) is bare or carries only sparse hairs over skin down to a horseshoe fringe of hair
that runs round the back of the head. ``real_back_fringe.json`` (beside this script; its
``about`` says how it was drawn) holds, per photograph, a polyline along the fringe's upper
edge. Inside a model's scalp region, what lies above the line is hair loss and what lies
below it is hair: a real hair-loss label with both classes in one photograph, the boundary
between dense dark hair and bald skin that real failure modes 1 and 3 of issue 14 are about.

``score`` reports per model the hair-loss IoU inside its own scalp region (prediction against
the region's part above the line) and ``|delta %|``, the difference between its % loss and
the share of its region above the line, i.e. the maintainers' two hair-loss measures on a
label that does not depend on the scalp convention; for every model after the first, the
paired difference to the first with its 95 % bootstrap interval over photographs. ``folder`` writes the photographs with a
model's own region as the scalp mask and the region above the line as the hair-loss mask
(train only ``hairloss`` on it: the regions are the model's, not annotations). Sources are
split as every real-head experiment is (``pseudo_label.part_of``). The photographs are
third-party: keep the outputs outside the repository and the docs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from pseudo_label import fold_of, part_of, upright_choice
from real_scalp_regions import draw_outline, grid_cell, upright_photo, write_csv, write_pair, write_sheet
from tqdm import tqdm

from alonet.data.photo import read_photo
from alonet.scoring.metrics import iou

LINES = Path(__file__).with_name("real_back_fringe.json")
LEVELS = ("6", "7")
CELL = 320


def load_lines(part: str, fold: int | None = None, leave_out: bool = False) -> list[dict]:
    """The drawn lines of ``part`` (learn, test or all); with ``fold``, only that fold's
    (or, with ``leave_out``, all but that fold's: the training pairs of a cross-validation)."""
    entries = json.loads(LINES.read_text(encoding="utf-8"))["lines"]
    if fold is not None:
        return [e for e in entries if (fold_of(e["source_group"]) == fold) != leave_out]
    return [e for e in entries if part == "all" or e["part"] == part]


def above_line(points: list[list[float]], shape: tuple[int, int]) -> np.ndarray:
    """Pixels above a polyline drawn left to right (its end heights continue to the edges)."""
    xs, ys = np.asarray(points, np.float64).T
    order = np.argsort(xs)
    boundary = np.interp(np.arange(shape[1]), xs[order], ys[order])
    return np.arange(shape[0])[:, None] < boundary[None, :]


def compare(pred_loss: np.ndarray, region: np.ndarray, above: np.ndarray) -> dict[str, float]:
    """Hair-loss IoU inside ``region`` and the % loss difference against ``region & above``."""
    truth, pred = region & above, pred_loss & region
    area = max(int(region.sum()), 1)
    return {"iou": iou(pred, truth),
            "loss": 100.0 * pred.sum() / area, "label": 100.0 * truth.sum() / area}


def paired_mean_difference(first: np.ndarray, other: np.ndarray, rounds: int = 5000,
                           seed: int = 0) -> tuple[float, float, float]:
    """Mean of ``other - first`` over photographs and its 95 % paired-bootstrap interval."""
    diff = np.asarray(other, np.float64) - np.asarray(first, np.float64)
    rng = np.random.default_rng(seed)
    draws = diff[rng.integers(0, len(diff), (rounds, len(diff)))].mean(axis=1)
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(diff.mean()), float(low), float(high)


def masks(pipeline, photo: np.ndarray) -> tuple[np.ndarray, np.ndarray, float | None]:
    """A back view's scalp region and hair-loss mask at the photograph's size, and % loss."""
    result = pipeline.predict_view(photo, "back")
    size = photo.shape[1::-1]
    out = []
    for mask in (result.scalp_mask, result.hairloss_mask):
        mask = mask.astype(np.uint8)
        if mask.shape != photo.shape[:2]:
            mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        out.append(mask > 0)
    return out[0], out[1], result.loss_pct


def draw_line(canvas: np.ndarray, points: list[list[float]]) -> None:
    cv2.polylines(canvas, [np.asarray(points, np.int32)], False, (0, 255, 255), 3)


def score(root: Path, models: list[str], entries: list[dict], out: Path) -> dict[str, dict[str, float]]:
    """Each model against the drawn lines; writes scores.csv, summary.json and sheet.png
    (line cyan; per model the scalp region and hair loss outlined in its colour)."""
    from alonet.infer import Pipeline

    pipelines = [Pipeline(m) for m in models]
    colours = [(0, 255, 0), (255, 0, 255), (255, 160, 0), (0, 160, 255)]
    out.mkdir(parents=True, exist_ok=True)
    table, cells = [], []
    for entry in tqdm(entries, unit="photo"):
        photo = upright_photo(root, entry)
        above = above_line(entry["fringe"], photo.shape[:2])
        canvas = photo.copy()
        draw_line(canvas, entry["fringe"])
        row = {"file": entry["file"], "norwood": entry["norwood"]}
        for name, pipeline, colour in zip(models, pipelines, colours):
            region, loss, _ = masks(pipeline, photo)
            key = Path(name).name
            found = compare(loss, region, above)
            row.update({f"{key}_{k}": round(v, 4) for k, v in found.items()})
            draw_outline(canvas, region, colour)
            draw_outline(canvas, loss & region, colour)
        table.append(row)
        cells.append(cv2.resize(canvas, (CELL, CELL), interpolation=cv2.INTER_AREA))
    summary, per_model = {}, {}
    for name in models:
        key = Path(name).name
        ious = np.array([r[f"{key}_iou"] for r in table])
        deltas = np.array([r[f"{key}_loss"] - r[f"{key}_label"] for r in table])
        per_model[name] = (ious, np.abs(deltas))
        summary[name] = {"hairloss_iou": float(ious.mean()), "abs_delta_pct": float(np.abs(deltas).mean()),
                         "bias_pct": float(deltas.mean()),
                         "label_pct": float(np.mean([r[f"{key}_label"] for r in table])),
                         "photographs": len(table)}
        if name != models[0]:  # paired over photographs against the first model
            summary[name]["delta_vs_first"] = {
                "vs": models[0],
                "hairloss_iou": paired_mean_difference(per_model[models[0]][0], ious),
                "abs_delta_pct": paired_mean_difference(per_model[models[0]][1], np.abs(deltas))}
    write_csv(out / "scores.csv", table)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_sheet(cells, out / "sheet.png")
    return summary


def write_folder(root: Path, entries: list[dict], model: str, out: Path) -> int:
    """Photographs, ``model``'s region as scalp and its part above the line as hair loss, and a
    manifest (patient = source group) for `alonet convert`."""
    from alonet.infer import Pipeline

    pipeline = Pipeline(model)
    rows = []
    for entry in tqdm(entries, unit="photo"):
        photo = upright_photo(root, entry)
        region, _, _ = masks(pipeline, photo)
        stem = f"fringe{entry['norwood']}_{entry['source_group']}_back"
        write_pair(out, stem, photo, region, region & above_line(entry["fringe"], photo.shape[:2]))
        rows.append({"stem": stem, "patient": f"real{entry['source_group']}", "visit": 1, "view": "back"})
    if not rows:
        raise SystemExit(f"no drawn lines selected: see {LINES} and --part / --fold")
    write_csv(out / "manifest.csv", rows)
    return len(rows)


def drawing_sheets(root: Path, model: str, out: Path) -> int:
    """One upright copy (the scalp network's surest) per Norwood 6-7 back-view source group, six
    per sheet at 400 px with a 10 % grid (50 % lines yellow), ``model``'s region green and its
    hair loss magenta; ``pick.json`` lists number, file, rotation, level, group and part."""
    from alonet.infer import Pipeline

    rows = [r for r in csv.DictReader((root / "manifest.csv").open())
            if r["view"] == "back" and r["norwood_level"] in LEVELS]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["source_group"], []).append(row)
    pipeline, size, cells, pick = Pipeline(model), 400, [], []
    for number, (group, copies) in enumerate(tqdm(sorted(groups.items(), key=lambda g: int(g[0])), unit="source")):
        photos = [read_photo(root / c["file"]) for c in copies]
        index, k = upright_choice(pipeline, photos, "back")
        photo = np.ascontiguousarray(np.rot90(photos[index], k))
        pick.append({"number": number, "file": copies[index]["file"], "rot90": k,
                     "norwood": int(copies[0]["norwood_level"]), "source_group": group, "part": part_of(group),
                     "shape": list(photo.shape[:2])})
        region, loss, pct = masks(pipeline, photo)
        cell = grid_cell(photo, size)
        small = [cv2.resize(m.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0 for m in (region, loss)]
        draw_outline(cell, small[0], (0, 255, 0))
        draw_outline(cell, small[1] & small[0], (255, 0, 255))
        cv2.rectangle(cell, (0, 0), (130, 20), (0, 0, 0), -1)
        cv2.putText(cell, f"{number} N{copies[0]['norwood_level']} {pct or 0:.0f}%", (3, 15),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
        cells.append(cell)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pick.json").write_text(json.dumps(pick, indent=1) + "\n", encoding="utf-8")
    for first in range(0, len(cells), 6):
        write_sheet(cells[first:first + 6], out / f"sheet_{first // 6}.png", columns=3)
    return len(pick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("score", "folder", "sheets"))
    parser.add_argument("folder", type=Path, help="the real-head folder (manifest.csv, photos/)")
    parser.add_argument("--model", action="append", default=[], help="model set (repeat for score)")
    parser.add_argument("--part", choices=("learn", "test", "all"), default=None,
                        help="sources by pseudo_label.part_of (default: test for score, learn for folder)")
    parser.add_argument("--fold", type=int, choices=(0, 1, 2), default=None,
                        help="cross-validation: score that fold's photographs; folder writes all but that fold's")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    models = args.model or ["default"]
    args.part = args.part or ("learn" if args.what == "folder" else "test")
    if args.what == "sheets":
        print(f"wrote sheets of {drawing_sheets(args.folder, models[0], args.output)} photographs to {args.output}")
        return 0
    if args.what == "folder":
        entries = load_lines(args.part, args.fold, leave_out=True)
        print(f"wrote {write_folder(args.folder, entries, models[0], args.output)} pairs to {args.output}")
        return 0
    summary = score(args.folder, models, load_lines(args.part, args.fold), args.output)
    chosen = args.part if args.fold is None else f"fold {args.fold}"
    print(f"{'model':<40} {'HL IoU':>7} {'|d %|':>6} {'bias':>6} {'label %':>8}  ({chosen}, "
          f"{next(iter(summary.values()))['photographs']} photographs; drawn line cyan)")
    for name, s in summary.items():
        versus = ""
        if "delta_vs_first" in s:
            (di, li, hi), (dd, ld, hd) = s["delta_vs_first"]["hairloss_iou"], s["delta_vs_first"]["abs_delta_pct"]
            versus = f"   vs first: IoU {di:+.3f} ({li:+.3f} .. {hi:+.3f}), |d| {dd:+.1f} ({ld:+.1f} .. {hd:+.1f})"
        print(f"{name:<40} {s['hairloss_iou']:7.3f} {s['abs_delta_pct']:6.1f} {s['bias_pct']:+6.1f} "
              f"{s['label_pct']:8.1f}{versus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
