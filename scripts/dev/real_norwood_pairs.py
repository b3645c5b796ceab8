"""Hair-loss training pairs from real head photographs, labelled by their Norwood level.

Usage::

    PYTHONPATH=src python scripts/dev/real_norwood_pairs.py ../shared/data/real-heads-cc-by \\
        --model default --part learn -o /tmp/real_norwood
    alonet convert /tmp/real_norwood/photographs /tmp/real_norwood/scalp /tmp/real_norwood/hairloss \\
        --manifest /tmp/real_norwood/manifest.csv -o /tmp/ds_real_norwood

The real-head folder has no masks, but its publisher's Norwood level is a weak label that
needs no drawing: on a **Norwood 2** head (at most a slight recession at the temples) the
whole scalp region of a top, back or side view carries hair, so any hair loss the networks
find there is a false alarm -- on real textures the phantoms lack: cropped hair, fades,
stubble, sheen (real failure modes 1 and 2). Each Norwood-2 source photograph (one upright
copy, as in ``norwood_check.py``) becomes a pair of ``--model``'s own scalp region and an
**empty hair-loss mask**. With ``--positives``, each **Norwood 6-7 top view** also becomes a
pair whose hair-loss mask is the **whole region**: seen from above, those heads are bare or
carry only sparse hairs over skin inside the region (looked at: 24 of 24 learn-part tops),
which is loss in SALT's terms (real failure mode 3) and is where the networks under-call
pale and shiny bald skin. Their back and side views keep a fringe of hair inside the region
and Norwood 3-5 heads a mix: nobody has labelled where, so they are left out. The positives
keep the negatives from teaching "real photograph, therefore hair".

Sources are split by ``source_group`` as the hand-drawn side limits are (``part_of``: sha1
% 3 == 0 is test), so ``norwood_check.py --part test`` scores only sources no pair came
from. Side views need ``--upright real_side_upright.json`` (the hand-turned copies; sources
it lacks are skipped); top and back views take the copy and rotation the model's scalp
network is surest about. Only the hair-loss network may be trained on these pairs: the
regions are the model's own, not annotations. The photographs are third-party (CC BY 4.0):
keep the output outside the repository.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path

from tqdm import tqdm

from alonet.data.photo import read_photo

NEGATIVE = (2,)
POSITIVE = (6, 7)
POSITIVE_VIEWS = ("top",)


def pick_sources(rows: list[dict], views: set[str], part: str, positives: bool) -> dict[tuple[str, str], list[dict]]:
    """``{(source_group, view): manifest rows}`` of the Norwood levels and part asked for."""
    from pseudo_label import part_of

    levels = set(NEGATIVE) | (set(POSITIVE) if positives else set())
    sources: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        level = int(row["norwood_level"])
        if level in POSITIVE and row["view"] not in POSITIVE_VIEWS:
            continue
        if row["view"] in views and level in levels and (part == "all" or part_of(row["source_group"]) == part):
            sources[(row["source_group"], row["view"])].append(row)
    return dict(sorted(sources.items()))


def write_folder(root: Path, model: str, views: set[str], part: str, positives: bool,
                 upright_json: Path | None, out: Path) -> dict[str, int]:
    """Writes the pairs and manifest.csv under ``out``; returns counts per kind."""
    from pseudo_label import hand_upright, load_turned, upright
    from real_scalp_regions import write_csv, write_pair

    from alonet.infer import Pipeline

    pipeline = Pipeline(model)
    turned = load_turned(upright_json)
    rows = list(csv.DictReader((root / "manifest.csv").open()))
    manifest, counts = [], {"negative": 0, "positive": 0, "skipped": 0}
    for (group, view), copies in tqdm(pick_sources(rows, views, part, positives).items(), unit="source"):
        if view in ("left", "right"):
            found = hand_upright(root, [c["file"] for c in copies], turned)
            if found is None:
                counts["skipped"] += 1
                continue
            photo, view = found
        else:
            photo = upright(pipeline, [read_photo(root / c["file"]) for c in copies], view)
        result = pipeline.predict_view(photo, view)
        if result.loss_pct is None or not result.scalp_mask.any():
            counts["skipped"] += 1
            continue
        negative = int(copies[0]["norwood_level"]) in NEGATIVE
        scalp = result.scalp_mask.astype(bool)
        stem = f"nw{copies[0]['norwood_level']}_{group}_{view}"
        write_pair(out, stem, photo, scalp, None if negative else scalp)
        manifest.append({"stem": stem, "patient": f"real{group}", "visit": 1, "view": view})
        counts["negative" if negative else "positive"] += 1
    if not manifest:
        raise SystemExit(f"no Norwood pairs in part {part!r} of views {sorted(views)}: check the folder and --views")
    write_csv(out / "manifest.csv", manifest)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the real-head folder (manifest.csv, photos/)")
    parser.add_argument("--model", default="default", help="model set whose scalp regions are used")
    parser.add_argument("--views", default="top,back,left,right")
    parser.add_argument("--part", choices=("learn", "test", "all"), default="learn")
    parser.add_argument("--positives", action="store_true",
                        help="also Norwood 6-7 top views, the whole region labelled as hair loss")
    parser.add_argument("--upright", type=Path, default=Path(__file__).with_name("real_side_upright.json"),
                        help="hand-turned side views (default: real_side_upright.json beside this script)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    views = {v.strip() for v in args.views.split(",") if v.strip()}
    counts = write_folder(args.folder, args.model, views, args.part, args.positives, args.upright, args.output)
    print(f"wrote {counts['negative']} Norwood-2 pairs (empty hair loss) and {counts['positive']} "
          f"Norwood 6-7 top views (the whole region as loss) to {args.output}; skipped {counts['skipped']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
