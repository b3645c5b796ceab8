"""Do int8 and fp32 give the same masks on real head photographs? (no masks needed)

Usage::

    alonet export --into SET --int8            # SET: a copy of a model set
    PYTHONPATH=src python scripts/dev/int8_real_agreement.py ../shared/data/real-heads-cc-by SET \\
        -n 300 -o /tmp/int8_real.json

Scores ``-n`` photographs of the top, back, left and right views (shuffled with ``--seed``;
``--split test`` keeps the publisher's test split only) with both precisions of SET and
prints the agreement: scalp IoU and hair-loss IoU between the two sets of masks, and the
difference in % of scalp with hair loss per view. The photographs are not alopecia areata
and have no masks, so this measures only whether int8 changes the answer on the real domain,
which the phantom test split cannot show (README, "int8 accuracy").
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

import numpy as np
from tqdm import tqdm

from alonet.data.photo import read_photo
from alonet.infer import Pipeline, PipelineConfig
from alonet.scoring.metrics import iou
from alonet.views import VIEWS


def agreement(rows: list[dict]) -> dict:
    """Summary of per-photograph rows (``view``, ``scalp_iou``, ``loss_iou``, ``loss_fp32``,
    ``loss_int8``, ``loss_pixels``): means, tails and per-view mean |difference|."""
    both = [r for r in rows if r["loss_fp32"] is not None and r["loss_int8"] is not None]
    diff = np.array([r["loss_int8"] - r["loss_fp32"] for r in both])
    with_loss = [r["loss_iou"] for r in rows if r["loss_pixels"] > 2000]
    return {
        "photographs": len(rows),
        "scalp_iou_mean": float(np.mean([r["scalp_iou"] for r in rows])),
        "loss_iou_mean": float(np.mean(with_loss)) if with_loss else None,
        "abs_diff_mean": float(np.abs(diff).mean()),
        "abs_diff_median": float(np.median(np.abs(diff))),
        "abs_diff_max": float(np.abs(diff).max()),
        "over_3_points": int((np.abs(diff) > 3).sum()),
        "bias_int8_minus_fp32": float(diff.mean()),
        "scored_by_one_only": len(rows) - len(both),
        "per_view_abs_diff": {v: float(np.mean([abs(r["loss_int8"] - r["loss_fp32"]) for r in both
                                                if r["view"] == v])) for v in VIEWS
                              if any(r["view"] == v for r in both)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="the real-heads folder (manifest.csv, photos/)")
    parser.add_argument("model_set", help="a model set with <task>.onnx and <task>.int8.onnx")
    parser.add_argument("-n", type=int, default=300, help="photographs to score")
    parser.add_argument("--split", choices=("all", "train", "valid", "test"), default="all")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("-o", "--output", type=Path, default=None, help="JSON with every photograph's numbers")
    args = parser.parse_args(argv)

    with open(args.root / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["view"] in VIEWS
                and args.split in ("all", r["split"])]
    random.Random(args.seed).shuffle(rows)
    rows = rows[: args.n]
    fp32, int8 = (Pipeline(args.model_set, backend="onnx",
                           config=PipelineConfig(precision=p, check_views=False)) for p in ("fp32", "int8"))
    out = []
    for row in tqdm(rows, desc="photographs", unit="photo"):
        photo = read_photo(args.root / row["file"])
        a, b = fp32.predict_view(photo, row["view"]), int8.predict_view(photo, row["view"])
        out.append({"file": row["file"], "view": row["view"],
                    "scalp_iou": iou(a.scalp_mask, b.scalp_mask), "loss_iou": iou(a.hairloss_mask, b.hairloss_mask),
                    "loss_fp32": a.loss_pct, "loss_int8": b.loss_pct,
                    "loss_pixels": int(a.hairloss_mask.sum() + b.hairloss_mask.sum())})
    summary = agreement(out)
    print(json.dumps(summary, indent=2))
    if args.output is not None:
        args.output.write_text(json.dumps({"summary": summary, "photographs": out}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
