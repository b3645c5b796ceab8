"""Full resolution only where needed: a visit scored with lazy full-size maps vs eager ones.

The pipeline measures % hair loss at network size and makes the full-size
probability maps and masks only when something reads them
(``alonet.infer.viewmaps``). This script scores the same four phantom
photographs per round two ways, interleaved, in one process:

* ``lazy``: ``score_visit`` and the visit's JSON (what ``alonet batch`` keeps);
* ``eager``: the same plus reading all four full-size maps of every view (what
  the pipeline did for every view before, and what ``predict`` still writes).

It prints min / median / max seconds per visit and the paired eager / lazy
ratio for each photograph size, and the largest difference between the % at
network size and the % of the enlarged masks.

    python benchmarks/bench_fullres.py --sides 1024 3000 --rounds 5
"""

from __future__ import annotations

import argparse
import time

from bench_args import positive_int, run
from bench_inference import phantom_photos
from bench_speed import spread

from alonet.infer import Pipeline
from alonet.infer.viewmaps import MAP_NAMES
from alonet.scoring.salt import view_loss_percent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=positive_int, nargs="+", default=[1024, 3000],
                        help="longer side of the photographs in pixels")
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--model", default="default")
    args = parser.parse_args(argv)

    pipeline = Pipeline(args.model)
    print(f"backend {pipeline.backend_name}; {args.rounds} rounds; seconds per 4-view visit, min / median / max")
    for side in args.sides:
        photos = phantom_photos(side)
        pipeline.score_visit(photos).to_dict()  # warm-up
        lazy, eager, worst = [], [], 0.0
        for _ in range(args.rounds):
            start = time.perf_counter()
            pipeline.score_visit(photos).to_dict()
            lazy.append(time.perf_counter() - start)

            start = time.perf_counter()
            visit = pipeline.score_visit(photos)
            visit.to_dict()
            for result in visit.views.values():
                for name in MAP_NAMES:
                    result.maps.full(name)
            eager.append(time.perf_counter() - start)
            for result in visit.views.values():
                if result.loss_pct is not None:
                    full = view_loss_percent(result.hairloss_mask, result.scalp_mask)
                    worst = max(worst, abs(result.loss_pct - full))
        ratios = [e / lz for e, lz in zip(eager, lazy)]
        print(f"{side:>5} px  lazy {spread(lazy, 3)}  eager {spread(eager, 3)}  eager/lazy {spread(ratios, 2)}  "
              f"max |% at network size - % full size| {worst:.3f}")
    return 0


if __name__ == "__main__":
    run(main)
