"""Hand-drawn scalp regions on real back-view head photographs: a real-photograph scalp test.

Usage::

    # scalp IoU of model sets on the held-out part (and an overlay sheet to look at)
    PYTHONPATH=src python scripts/dev/real_scalp_regions.py score ../shared/data/real-heads-cc-by \\
        --model default --model candidates/effl0-enc001 --part test -o /tmp/real_scalp

    # the learn part as photographs + masks (--cut default: the default's own region cut at
    # the drawn bottom edge), then a dataset for `alonet train` / `alonet adapt`
    PYTHONPATH=src python scripts/dev/real_scalp_regions.py folder ../shared/data/real-heads-cc-by \\
        --part learn --cut default -o /tmp/real_backs
    alonet convert /tmp/real_backs/photographs /tmp/real_backs/scalp /tmp/real_backs/hairloss \\
        --manifest /tmp/real_backs/manifest.csv -o /tmp/ds_real_backs

The regions (``real_back_regions.json`` beside this script: its ``about`` says how they were
drawn) are polygons on upright copies of photographs in the CC BY 4.0 real-head folder, which
has no masks. They are the only scalp-region evidence on real photographs the project has: the
phantom sets cannot show where a network's region ends on a real neck. ``score`` reports, per
model, the mean IoU with the drawn region and how much of the predicted region lies *below*
the drawn bottom edge (neck and nape, real failure mode 4) and *above* its top edge, as a
share of the drawn area. **Read ``below``, not IoU**: the drawn bottom edge follows the
clinical feedback (the region stops above the nape), but the drawn sides and top hug the head
outline, wider and higher than the phantoms' regions (real annotation shapes, inset from the
hair on every side). A network fine-tuned on the polygons as drawn learnt that: real-head
IoU 0.761 -> 0.911, phantom back-view scalp IoU 0.909 -> 0.774 (docs/history.md, thirteenth session).

Hair loss is not annotated: ``folder`` writes empty hair-loss masks (so that ``convert``
accepts the pairs), which are not a statement that the head has no loss. Train only the
scalp networks on it (``--task scalp-midline``), and never read hair-loss numbers from it.
The photographs are third-party: keep the outputs outside the repository and the docs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from alonet.data.photo import read_photo
from alonet.scoring.metrics import iou

REGIONS = Path(__file__).with_name("real_back_regions.json")
CELL = 320


def load_regions(part: str) -> list[dict]:
    """The drawn regions of ``part`` (learn, test or all)."""
    regions = json.loads(REGIONS.read_text(encoding="utf-8"))["regions"]
    return [r for r in regions if part == "all" or r["part"] == part]


def upright_photo(root: Path, region: dict) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(read_photo(root / region["file"]), region["rot90"]))


def region_mask(region: dict, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.asarray(region["polygon"], np.int32)], 1)
    return mask.astype(bool)


def predicted(pipeline, photo: np.ndarray, view: str, shape: tuple[int, int]) -> tuple[np.ndarray, float | None]:
    """The pipeline's scalp region of ``photo`` as a bool mask of ``shape``, and its % hair loss."""
    result = pipeline.predict_view(photo, view)
    pred = result.scalp_mask.astype(np.uint8)
    if pred.shape != shape:
        pred = cv2.resize(pred, shape[::-1], interpolation=cv2.INTER_NEAREST)
    return pred > 0, result.loss_pct


def predicted_scalp(pipeline, photo: np.ndarray, view: str, shape: tuple[int, int]) -> np.ndarray:
    """The pipeline's scalp region of ``photo`` as a bool mask of ``shape``."""
    return predicted(pipeline, photo, view, shape)[0]


def draw_outline(canvas: np.ndarray, mask: np.ndarray, colour: tuple[int, int, int]) -> None:
    """The outer outline of ``mask`` on ``canvas``, 2 px, in place."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(canvas, contours, -1, colour, 2)


def grid_cell(photo: np.ndarray, size: int = 400) -> np.ndarray:
    """``photo`` at ``size`` x ``size`` with a 10 % grid (the 50 % lines yellow), for reading
    coordinates off by eye when drawing."""
    cell = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
    for k in range(1, 10):
        colour = (255, 255, 0) if k == 5 else (200, 200, 200)
        cv2.line(cell, (k * size // 10, 0), (k * size // 10, size), colour, 1)
        cv2.line(cell, (0, k * size // 10), (size, k * size // 10), colour, 1)
    return cell


def write_pair(out: Path, stem: str, photo: np.ndarray, scalp: np.ndarray, hairloss: np.ndarray | None = None) -> None:
    """One photograph (JPEG), its scalp mask and its hair-loss mask (GIFs) under ``out``'s
    photographs/, scalp/ and hairloss/. Without ``hairloss`` the mask is empty: hair loss is
    not annotated on these photographs, and ``alonet convert`` needs a mask."""
    for sub in ("photographs", "scalp", "hairloss"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo).save(out / "photographs" / f"{stem}.jpg", quality=95)
    Image.fromarray(scalp).save(out / "scalp" / f"{stem}.gif")
    Image.fromarray(np.zeros_like(scalp) if hairloss is None else hairloss).save(out / "hairloss" / f"{stem}.gif")


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def write_sheet(cells: list[np.ndarray], path: Path, columns: int = 5) -> None:
    """RGB cells of one size as a grid image (rows of ``columns``, padded with black)."""
    cells = cells + [np.zeros_like(cells[0])] * (-len(cells) % columns)
    sheet = np.concatenate([np.concatenate(cells[i:i + columns], axis=1) for i in range(0, len(cells), columns)], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


def compare(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """IoU, and the predicted area outside the drawn region's vertical extent, as a share of
    the drawn area (``below``: under its lowest row, ``above``: over its highest row)."""
    rows = np.nonzero(truth.any(axis=1))[0]
    area = max(int(truth.sum()), 1)
    return {
        "iou": iou(pred, truth),
        "below": float(pred[rows[-1] + 1:].sum() / area),
        "above": float(pred[:rows[0]].sum() / area),
    }


def lower_edge(mask: np.ndarray) -> np.ndarray:
    """Per column, the lowest row of ``mask`` (columns left or right of it take the nearest
    edge column's value)."""
    cols = np.nonzero(mask.any(axis=0))[0]
    lowest = mask.shape[0] - 1 - np.argmax(mask[::-1], axis=0)
    edge = lowest.copy()
    edge[:cols[0]], edge[cols[-1] + 1:] = lowest[cols[0]], lowest[cols[-1]]
    return edge


def cut_at_bottom(pred: np.ndarray, drawn: np.ndarray, margin: int = 0) -> np.ndarray:
    """``pred`` without what lies more than ``margin`` rows below ``drawn``'s bottom edge: the
    drawn region's one edge the clinical feedback supports, the model's own sides and top."""
    return pred & (np.arange(pred.shape[0])[:, None] <= lower_edge(drawn)[None, :] + margin)


def write_folder(root: Path, part: str, out: Path, cut_model: str | None = None, margin: int = 0) -> int:
    """Photographs (upright JPEG), scalp masks, empty hair-loss masks and a manifest
    (patient = source group), the layout `alonet convert --manifest` reads.

    Scalp masks: the drawn polygons, or with ``cut_model`` that model set's own scalp region
    cut ``margin`` pixels (of the 640-px photograph) below the drawn bottom edge
    (``cut_at_bottom``)."""
    regions = load_regions(part)
    pipeline = None
    if cut_model is not None:
        from alonet.infer import Pipeline

        pipeline = Pipeline(cut_model)
    rows = []
    for region in tqdm(regions, unit="photo"):
        stem = Path(region["file"]).stem
        photo = upright_photo(root, region)
        mask = region_mask(region, photo.shape[:2])
        if pipeline is not None:
            mask = cut_at_bottom(predicted_scalp(pipeline, photo, region["view"], mask.shape), mask, margin)
        write_pair(out, stem, photo, mask)
        rows.append({"stem": stem, "patient": f"real{region['source_group']}", "visit": 1, "view": region["view"]})
    write_csv(out / "manifest.csv", rows)
    return len(rows)


def score(root: Path, models: list[str], part: str, out: Path) -> dict[str, dict[str, float]]:
    """Each model's scalp region against the drawn ones; writes scores.csv, summary.json, sheet.png."""
    from alonet.infer import Pipeline

    regions = load_regions(part)
    pipelines = [Pipeline(m) for m in models]
    colours = [(0, 255, 0), (255, 0, 255), (255, 160, 0), (0, 160, 255)]
    out.mkdir(parents=True, exist_ok=True)
    table, cells = [], []
    for region in tqdm(regions, unit="photo"):
        photo = upright_photo(root, region)
        truth = region_mask(region, photo.shape[:2])
        canvas = photo.copy()
        cv2.polylines(canvas, [np.asarray(region["polygon"], np.int32)], True, (0, 255, 255), 3)
        row = {"file": region["file"], "norwood": region["norwood"]}
        for name, pipeline, colour in zip(models, pipelines, colours):
            pred = predicted_scalp(pipeline, photo, region["view"], truth.shape)
            for key, value in compare(pred, truth).items():
                row[f"{Path(name).name}_{key}"] = round(value, 4)
            draw_outline(canvas, pred, colour)
        table.append(row)
        cells.append(cv2.resize(canvas, (CELL, CELL), interpolation=cv2.INTER_AREA))
    summary = {}
    for name in models:
        key = Path(name).name
        summary[name] = {f"mean_{k}": float(np.mean([r[f"{key}_{k}"] for r in table])) for k in ("iou", "below", "above")}
        summary[name]["min_iou"] = float(np.min([r[f"{key}_iou"] for r in table]))
        summary[name]["photographs"] = len(table)
    write_csv(out / "scores.csv", table)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    write_sheet(cells, out / "sheet.png")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("score", "folder"))
    parser.add_argument("folder", type=Path, help="the real-head folder (manifest.csv, photos/)")
    parser.add_argument("--model", action="append", default=[], help="model set (repeat; score only)")
    parser.add_argument("--part", choices=("learn", "test", "all"), default="test")
    parser.add_argument("--cut", metavar="MODEL", default=None,
                        help="folder only: scalp masks = MODEL's region cut at the drawn bottom edge")
    parser.add_argument("--margin", type=int, default=0,
                        help="with --cut: cut this many pixels below the drawn bottom edge")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.what == "folder":
        print(f"wrote {write_folder(args.folder, args.part, args.output, args.cut, args.margin)} photographs to {args.output}")
        return 0
    if not args.model:
        parser.error("score needs at least one --model")
    summary = score(args.folder, args.model, args.part, args.output)
    print(f"{'model':<40} {'IoU':>6} {'min':>6} {'below':>6} {'above':>6}  ({args.part}, "
          f"{next(iter(summary.values()))['photographs']} photographs; drawn outline cyan)")
    for name, s in summary.items():
        print(f"{name:<40} {s['mean_iou']:6.3f} {s['min_iou']:6.3f} {s['mean_below']:6.3f} {s['mean_above']:6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
