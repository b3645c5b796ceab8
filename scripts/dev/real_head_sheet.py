"""Look at what model sets do on real head photographs (no masks): overlays side by side.

Usage::

    PYTHONPATH=src python scripts/dev/real_head_sheet.py ../shared/data/real-heads-cc-by \\
        --model default --model candidates/default-2026-12-05 -n 16 -o /tmp/sheet

Picks ``-n`` photographs of the top/back/left/right views from the folder's
manifest.csv (one per source group, spread over the Norwood levels, fixed by
``--seed``), turns each upright (the copy of its source and the rotation the first
model's scalp network is surest about: ``pseudo_label.upright``; the publisher rotated
the copies, clinics send upright photographs; that choice often turns side views sideways,
so ``--upright real_side_upright.json`` takes side views turned by hand, and only those),
scores it with every model set and writes

* ``sheet.png``: one row per photograph: the photograph, then each model's
  overlay (scalp outline, hair loss in colour) with its % of hair loss, and "check"
  where the pipeline flags the view for a person to look at (unsure networks, or bald
  skin that looks dark);
* ``percents.csv``: file, view, Norwood level and each model's % and scalp share.

The photographs are third-party (CC BY 4.0, see their README): keep the sheet
for looking, outside the repository and the docs.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from alonet.data.photo import read_photo
from alonet.infer import Pipeline
from alonet.infer.quality import REVIEW_CODES
from alonet.report.overlay import render_overlay

VIEWS = ("top", "back", "left", "right")
CELL = 256


def choose(manifest: Path, n: int, seed: int, views: tuple[str, ...] = VIEWS,
           splits: tuple[str, ...] | None = None, keep=None) -> list[dict]:
    """``n`` rows of ``views`` (and publisher ``splits``, and where ``keep(row)``), one per
    source group, round-robin over Norwood levels (deterministic)."""
    rows = [r for r in csv.DictReader(manifest.open())
            if r["view"] in views and (splits is None or r["split"] in splits) and (keep is None or keep(r))]
    rng = np.random.default_rng(seed)
    rng.shuffle(rows)
    by_level: dict[str, list[dict]] = {}
    seen: set[str] = set()
    for row in rows:
        if row["source_group"] not in seen:
            seen.add(row["source_group"])
            by_level.setdefault(row["norwood_level"], []).append(row)
    chosen: list[dict] = []
    levels = sorted(by_level)
    while len(chosen) < n and any(by_level.values()):
        for level in levels:
            if by_level[level] and len(chosen) < n:
                chosen.append(by_level[level].pop())
    return chosen


def label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (CELL, 22), (0, 0, 0), -1)
    cv2.putText(out, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder with manifest.csv and photos/")
    parser.add_argument("--model", action="append", required=True, help="model set (repeat)")
    parser.add_argument("-n", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--views", default=",".join(VIEWS), help="comma-separated views to pick from")
    parser.add_argument("--splits", default=None,
                        help="comma-separated publisher splits to pick from (e.g. test: photographs that "
                             "scripts/dev/pseudo_label.py never labels)")
    parser.add_argument("--upright", type=Path, default=None,
                        help="JSON of hand-turned side views (scripts/dev/real_side_upright.json): side views "
                             "are picked only among the sources it lists and turned as it says")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)

    views = tuple(v.strip() for v in args.views.split(",") if v.strip())
    unknown = sorted(set(views) - set(VIEWS))
    if unknown:
        parser.error(f"unknown view(s) {', '.join(unknown)}; use {', '.join(VIEWS)}")
    splits = None if args.splits is None else tuple(s.strip() for s in args.splits.split(",") if s.strip())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pseudo_label import hand_upright, load_turned, upright

    turned = load_turned(args.upright)
    copies: dict[tuple[str, str], list[str]] = {}
    for r in csv.DictReader((args.folder / "manifest.csv").open()):
        copies.setdefault((r["source_group"], r["view"]), []).append(r["file"])
    listed = {key for key, files in copies.items() if any(f in turned for f in files)}
    rows = choose(args.folder / "manifest.csv", args.n, args.seed, views, splits,
                  keep=None if not turned else lambda r: r["view"] not in ("left", "right")
                  or (r["source_group"], r["view"]) in listed)
    pipelines = [Pipeline(m) for m in args.model]
    args.output.mkdir(parents=True, exist_ok=True)
    sheet_rows, table = [], []
    for row in tqdm(rows, unit="photo"):
        files = copies[(row["source_group"], row["view"])]
        view = row["view"]
        if turned and view in ("left", "right"):
            photo, view = hand_upright(args.folder, files, turned)
        else:
            photo = upright(pipelines[0], [read_photo(args.folder / f) for f in files], view)
        small = cv2.resize(photo, (CELL, CELL), interpolation=cv2.INTER_AREA)
        cells = [label(small, f"{view} N{row['norwood_level']}")]
        record = {"file": row["file"], "view": view, "norwood": row["norwood_level"]}
        for name, pipeline in zip(args.model, pipelines):
            result = pipeline.predict_view(photo, view)
            overlay = render_overlay(photo, result.scalp_mask, result.hairloss_mask)
            overlay = cv2.resize(overlay, (CELL, CELL), interpolation=cv2.INTER_AREA)
            pct = "-" if result.loss_pct is None else f"{result.loss_pct:.0f}%"
            checked = " check" if any(f.get("code") in REVIEW_CODES for f in result.flags) else ""
            cells.append(label(overlay, f"{Path(name).name}: {pct}{checked}"))
            record[f"{Path(name).name}_pct"] = "" if result.loss_pct is None else f"{result.loss_pct:.1f}"
            record[f"{Path(name).name}_scalp_share"] = f"{result.scalp_mask.mean():.3f}"
        sheet_rows.append(np.concatenate(cells, axis=1))
        table.append(record)
    sheet = np.concatenate(sheet_rows, axis=0)
    cv2.imwrite(str(args.output / "sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    with (args.output / "percents.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    print(f"wrote {args.output / 'sheet.png'} ({len(rows)} photographs x {len(args.model)} models)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
