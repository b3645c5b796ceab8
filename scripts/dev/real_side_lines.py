"""Hand-drawn limits of the temporal scalp region on real side views: a real-photograph test.

Usage::

    # how much of each model set's side-view scalp region lies on the face or below the ear
    PYTHONPATH=src python scripts/dev/real_side_lines.py score ../shared/data/real-heads-cc-by \\
        --model default --model candidates/effl0-enc001 --part test -o /tmp/real_sides

    # sheets for drawing more limits (the next 48 of the random order the first 96 came from)
    PYTHONPATH=src python scripts/dev/real_side_lines.py sheets ../shared/data/real-heads-cc-by \\
        --start 96 --count 48 -o /tmp/side_sheets

    # the learn part as photographs + masks (a model's own region cut at the drawn limits),
    # then a dataset for `alonet train --task scalp-temporal`
    PYTHONPATH=src python scripts/dev/real_side_lines.py folder ../shared/data/real-heads-cc-by \\
        --part learn --cut default -o /tmp/real_sides_cut
    alonet convert /tmp/real_sides_cut/photographs /tmp/real_sides_cut/scalp \\
        /tmp/real_sides_cut/hairloss --manifest /tmp/real_sides_cut/manifest.csv -o /tmp/ds_real_sides

On real side views of heads (``../shared/data/real-heads-cc-by``, CC BY 4.0, no masks, turned
upright by hand: ``real_side_upright.json``) the temporal network's region runs past the
temple onto the face: forehead, brow, eye, cheek and beard, whose skin the hair-loss network
then calls loss (Norwood 2-3 side views average about 20 % loss). ``real_side_lines.json``
(beside this script; its ``about`` says how it was drawn) holds, per photograph, the two
limits a side view's region has whatever the clinic's exact convention: a *front* line from
the temple down to the lower end of the sideburn (the face lies in front of it) and a
*bottom* row at the ear-lobe's lower end. The back and top of the region are not drawn.

``score`` reports per model the share of its predicted region that lies past those limits
(``outside``: lower is better), the predicted area within them as a share of the frame
(``inside``: a region that shrinks everywhere also has a low ``outside``; compare it with the
first model's) and the % hair loss of the view. ``folder`` writes the photographs with a
model set's own region cut at the limits as scalp masks and empty hair-loss masks (hair loss
is NOT annotated: train only ``scalp-temporal`` on it). The photographs are third-party:
keep the outputs outside the repository and the docs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from pseudo_label import hand_upright, load_turned
from real_scalp_regions import (draw_outline, grid_cell, predicted, upright_photo, write_csv, write_pair,
                                write_sheet)
from tqdm import tqdm

LINES = Path(__file__).with_name("real_side_lines.json")
CELL = 320


def load_lines(part: str) -> list[dict]:
    """The drawn limits of ``part`` (learn, test or all)."""
    entries = json.loads(LINES.read_text(encoding="utf-8"))["lines"]
    return [e for e in entries if part == "all" or e["part"] == part]


def allowed_zone(entry: dict, shape: tuple[int, int]) -> np.ndarray:
    """Pixels a side view's scalp region may cover: behind the front line (away from the face,
    which looks to the image's ``entry['view']`` side) and not below the bottom row."""
    (x1, y1), (x2, y2) = entry["front"]
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    side = (x2 - x1) * (yy - y1) - (y2 - y1) * (xx - x1)  # > 0 left of the line going down
    behind = side <= 0 if entry["view"] == "left" else side >= 0
    return behind & (yy <= entry["bottom"])


def compare(pred: np.ndarray, allowed: np.ndarray) -> dict[str, float]:
    """``outside``: share of ``pred`` past the limits; ``inside``: ``pred`` within them, as a
    share of the frame."""
    area = int(pred.sum())
    return {"outside": float((pred & ~allowed).sum() / area) if area else 0.0,
            "inside": float((pred & allowed).sum() / pred.size)}


def draw_limits(canvas: np.ndarray, entry: dict) -> None:
    """The front line (extended across the frame) and the bottom row, cyan, in place."""
    (x1, y1), (x2, y2) = entry["front"]
    height, width = canvas.shape[:2]
    slope = (x2 - x1) / (y2 - y1)
    top = (int(round(x1 - slope * y1)), 0)
    low = (int(round(x1 + slope * (height - 1 - y1))), height - 1)
    cv2.line(canvas, top, low, (0, 255, 255), 3)
    cv2.line(canvas, (0, entry["bottom"]), (width - 1, entry["bottom"]), (0, 255, 255), 2)


def write_folder(root: Path, part: str, out: Path, cut_model: str) -> int:
    """Photographs (upright JPEG), ``cut_model``'s scalp region within the drawn limits,
    empty hair-loss masks and a manifest (patient = source group) for `alonet convert`."""
    from alonet.infer import Pipeline

    pipeline = Pipeline(cut_model)
    rows = []
    for entry in tqdm(load_lines(part), unit="photo"):
        stem = Path(entry["file"]).stem
        photo = upright_photo(root, entry)
        mask, _ = predicted(pipeline, photo, entry["view"], photo.shape[:2])
        write_pair(out, stem, photo, mask & allowed_zone(entry, photo.shape[:2]))
        rows.append({"stem": stem, "patient": f"real{entry['source_group']}", "visit": 1, "view": entry["view"]})
    write_csv(out / "manifest.csv", rows)
    return len(rows)


def score(root: Path, models: list[str], part: str, out: Path) -> dict[str, dict[str, float]]:
    """Each model's side-view region against the drawn limits; writes scores.csv,
    summary.json and sheet.png."""
    from alonet.infer import Pipeline

    pipelines = [Pipeline(m) for m in models]
    colours = [(0, 255, 0), (255, 0, 255), (255, 160, 0), (0, 160, 255)]
    out.mkdir(parents=True, exist_ok=True)
    table, cells = [], []
    for entry in tqdm(load_lines(part), unit="photo"):
        photo = upright_photo(root, entry)
        allowed = allowed_zone(entry, photo.shape[:2])
        canvas = photo.copy()
        draw_limits(canvas, entry)
        row = {"file": entry["file"], "view": entry["view"], "norwood": entry["norwood"]}
        for name, pipeline, colour in zip(models, pipelines, colours):
            pred, loss = predicted(pipeline, photo, entry["view"], allowed.shape)
            for key, value in compare(pred, allowed).items():
                row[f"{Path(name).name}_{key}"] = round(value, 4)
            row[f"{Path(name).name}_loss"] = None if loss is None else round(float(loss), 2)
            draw_outline(canvas, pred, colour)
        table.append(row)
        cells.append(cv2.resize(canvas, (CELL, CELL), interpolation=cv2.INTER_AREA))
    summary = {}
    for name in models:
        key = Path(name).name
        losses = [r[f"{key}_loss"] for r in table if r[f"{key}_loss"] is not None]
        low = [r[f"{key}_loss"] for r in table if r[f"{key}_loss"] is not None and r["norwood"] <= 3]
        summary[name] = {f"mean_{k}": float(np.mean([r[f"{key}_{k}"] for r in table])) for k in ("outside", "inside")}
        summary[name]["mean_loss"] = float(np.mean(losses)) if losses else float("nan")
        summary[name]["mean_loss_norwood_2_3"] = float(np.mean(low)) if low else float("nan")
        summary[name]["photographs"] = len(table)
    write_csv(out / "scores.csv", table)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_sheet(cells, out / "sheet.png")
    return summary


def drawing_sheets(root: Path, model: str, seed: int, start: int, count: int, out: Path) -> int:
    """Sheets for drawing more limits: photographs ``start`` .. ``start + count`` of a seeded
    random order of the hand-turned side views, six per sheet at 400 px with a 10 % grid
    (the 50 % lines yellow) and ``model``'s region in green; ``pick.json`` lists them."""
    from alonet.infer import Pipeline

    turned = load_turned(Path(__file__).with_name("real_side_upright.json"))
    files = sorted(turned)
    pick = [files[i] for i in np.random.default_rng(seed).permutation(len(files))[start:start + count]]
    out.mkdir(parents=True, exist_ok=True)
    (out / "pick.json").write_text(json.dumps(pick, indent=1) + "\n", encoding="utf-8")
    pipeline, size, cells = Pipeline(model), 400, []
    for number, name in enumerate(tqdm(pick, unit="photo"), start=start):
        photo, view = hand_upright(root, [name], turned)
        mask, _ = predicted(pipeline, photo, view, (size, size))
        cell = grid_cell(photo, size)
        draw_outline(cell, mask, (0, 255, 0))
        cv2.rectangle(cell, (0, 0), (90, 20), (0, 0, 0), -1)
        cv2.putText(cell, f"{number} {view[0]}", (3, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
        cells.append(cell)
    for first in range(0, len(cells), 6):
        write_sheet(cells[first:first + 6], out / f"sheet_{first // 6}.png", columns=3)
    return len(pick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("score", "folder", "sheets"))
    parser.add_argument("folder", type=Path, help="the real-head folder (manifest.csv, photos/)")
    parser.add_argument("--model", action="append", default=[], help="model set (repeat; score only)")
    parser.add_argument("--part", choices=("learn", "test", "all"), default="test")
    parser.add_argument("--cut", metavar="MODEL", default=None,
                        help="folder only: scalp masks = MODEL's region within the drawn limits")
    parser.add_argument("--seed", type=int, default=61, help="sheets only: order of the photographs")
    parser.add_argument("--start", type=int, default=96, help="sheets only: first photograph of that order")
    parser.add_argument("--count", type=int, default=48, help="sheets only: how many")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.what == "folder":
        if args.cut is None:
            parser.error("folder needs --cut MODEL (only the region's limits are drawn, not the region)")
        print(f"wrote {write_folder(args.folder, args.part, args.output, args.cut)} photographs to {args.output}")
        return 0
    if args.what == "sheets":
        model = args.model[0] if args.model else "default"
        done = drawing_sheets(args.folder, model, args.seed, args.start, args.count, args.output)
        print(f"wrote sheets of {done} photographs to {args.output}")
        return 0
    if not args.model:
        parser.error("score needs at least one --model")
    summary = score(args.folder, args.model, args.part, args.output)
    print(f"{'model':<40} {'outside':>8} {'inside':>7} {'loss %':>7} {'N2-3 %':>7}  ({args.part}, "
          f"{next(iter(summary.values()))['photographs']} photographs; drawn limits cyan)")
    for name, s in summary.items():
        print(f"{name:<40} {s['mean_outside']:8.3f} {s['mean_inside']:7.3f} {s['mean_loss']:7.1f} "
              f"{s['mean_loss_norwood_2_3']:7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
