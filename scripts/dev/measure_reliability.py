"""Measure the photograph gate and the view checks on phantom visits.

Usage::

    alonet phantom -o PH --patients 50 --visits 1 --seed 7
    PYTHONPATH=src python scripts/dev/measure_reliability.py PH [--model default]

Prints (for the README's Reliability section):

* how many of the (good) phantom photographs the gate refuses (must be 0), and
  how many the whole pipeline flags for a retake (gate, exposure, blur, scalp)
  and how many visits lose their SALT (retake or a false view-mismatch flag);
* the smallest perceptual-hash distance between two different views of a visit
  (must stay above the duplicate threshold) and how many all-views-identical
  visits are caught;
* precision and recall of the ``view_mismatch`` flag over visits with
  deliberately swapped views (every pair of views swapped once, plus the
  unswapped visit), overall and per swap; "withholding" counts only the
  ``view_mismatch`` flags (side vs top/back), which withhold the SALT, and
  "any" also the ``side_mismatch`` flags (left/right), which only ask for a look.
"""

from __future__ import annotations

import argparse
import csv
import itertools
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from alonet.data.photo import read_photo
from alonet.infer import Pipeline
from alonet.infer.gate import gate_photo
from alonet.infer.quality import RETAKE_CODES
from alonet.infer.viewcheck import (
    MISMATCH_CODE,
    find_duplicates,
    hash_distance,
    likely_view,
    mismatch_flag,
    perceptual_hash,
    view_evidence,
)
from alonet.views import VIEWS


def visits_of(folder: Path) -> list[dict[str, Path]]:
    rows = list(csv.DictReader((folder / "manifest.csv").open(encoding="utf-8")))
    visits: dict[tuple[str, str], dict[str, Path]] = {}
    for row in rows:
        visits.setdefault((row["patient"], row["visit"]), {})[row["view"]] = folder / "photographs" / row["photo"]
    return [v for v in visits.values() if set(v) == set(VIEWS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phantoms", type=Path)
    parser.add_argument("--model", default="default")
    parser.add_argument("--side-margin", type=float,
                        help="side_margin to measure (default: the model set's own, see view_check_config_for)")
    parser.add_argument("--midline-margin", type=float,
                        help="midline_margin to measure (default: the model set's own)")
    args = parser.parse_args()
    pipeline = Pipeline(args.model)
    config = pipeline.view_check_config
    if args.side_margin is not None:
        config = replace(config, side_margin=args.side_margin)
    if args.midline_margin is not None:
        config = replace(config, midline_margin=args.midline_margin)
    pipeline.view_check_config = config  # the whole pipeline's checks, not only the swap counts
    print(f"view-check margins: side {config.side_margin}, midline {config.midline_margin}")
    visits = visits_of(args.phantoms)
    refused, photos_seen, min_distance, dup_caught = [], 0, 64, 0
    retakes, withheld = [], []
    swaps = [None, *itertools.combinations(VIEWS, 2)]
    counts = {kind: {s: [0, 0, 0, 0] for s in swaps} for kind in ("any", "withholding")}  # tp, fp, fn, positives
    for visit in tqdm(visits, unit="visit"):
        photos = {v: read_photo(visit[v]) for v in VIEWS}
        for view, photo in photos.items():
            photos_seen += 1
            flags = gate_photo(photo)
            if flags:
                refused.append((visit[view].name, flags[0]["code"]))
        hashes = {v: perceptual_hash(p) for v, p in photos.items()}
        min_distance = min([min_distance] + [hash_distance(hashes[a], hashes[b])
                                             for a, b in itertools.combinations(VIEWS, 2)])
        same = {v: photos["top"] for v in VIEWS}
        dup_caught += bool(find_duplicates(same, config))
        visit_result = pipeline.score_visit(photos)
        retakes += [(visit[f["view"]].name, f["code"]) for f in visit_result.flags if f["code"] in RETAKE_CODES]
        if visit_result.salt is None:
            withheld.append(visit["top"].name)
        evidence = dict(zip(VIEWS, view_evidence([photos[v] for v in VIEWS], pipeline)))
        for swap in swaps:
            label_of = {v: v for v in VIEWS}  # true view -> label given
            if swap is not None:
                a, b = swap
                label_of[a], label_of[b] = b, a
            for true_view, label in label_of.items():
                likely = likely_view(label, evidence[true_view], config)
                for kind in ("any", "withholding"):
                    if kind == "any":
                        wrong, flagged = label != true_view, likely is not None
                    else:  # only kind swaps change the SALT's weights; only their flag withholds it
                        wrong = (label in ("top", "back")) != (true_view in ("top", "back"))
                        flagged = likely is not None and mismatch_flag(label, likely)["code"] == MISMATCH_CODE
                    c = counts[kind][swap]
                    c[3] += wrong
                    c[0] += wrong and flagged
                    c[1] += flagged and not wrong
                    c[2] += wrong and not flagged
    print(f"gate: {len(refused)} of {photos_seen} phantom photographs refused {refused[:10]}")
    print(f"pipeline: {len(retakes)} retake flag(s) on good photographs {retakes[:10]}; "
          f"{len(withheld)} of {len(visits)} visits without SALT {withheld[:10]}")
    print(f"duplicates: smallest hash distance between two views of a visit {min_distance} bits "
          f"(threshold {config.max_duplicate_distance}); identical views caught in {dup_caught} of {len(visits)} visits")
    for kind, table in counts.items():
        tp = sum(c[0] for c in table.values())
        fp = sum(c[1] for c in table.values())
        fn = sum(c[2] for c in table.values())
        print(f"{kind} mismatch flags over {len(visits)} visits x {len(swaps)} label sets: precision "
              f"{tp / max(1, tp + fp):.3f} recall {tp / max(1, tp + fn):.3f} (tp {tp}, fp {fp}, fn {fn})")
        for swap, (tp_, fp_, _fn, pos) in table.items():
            name = "unswapped" if swap is None else f"{swap[0]}<->{swap[1]}"
            print(f"  {name:<12} flagged {tp_}/{pos} swapped views, {fp_} false flag(s)")


if __name__ == "__main__":
    main()
