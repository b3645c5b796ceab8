"""Render phantoms whose top views are shot from in front and above (forehead, brows, eyes).

On real head photographs the default's worst full heads of hair are top views taken from in
front and above: the forehead fills the lower third of the frame down to brows and eyes, the
scalp region runs onto it and its skin is called loss (the Norwood check's Norwood 2-3 tops at
20-51 %). Phantom top views look straight down with a small forehead below the region. This
script renders a supplementary training set in which a share of the top views
(``--share``) gets the front-above forehead (``head.FRONT_TOP_SHARE``); it changes one renderer
constant for this process only. Experiment I (``ONLY=I scripts/train_candidates.sh``,
docs/history.md, twelfth session) fine-tuned the midline scalp network on such phantoms: the
phantom forehead was learned, the real one was not (Norwood 2-3 tops 5.2 -> 5.1 %), so the
renderer's default share stays 0.

    PYTHONPATH=src python scripts/dev/render_front_top.py -o /tmp/ph_front \\
        --masks ../shared/data/alonet-annotations --split train --patients 300 --visits 1 --seed 939
    alonet convert --from /tmp/ph_front -o /tmp/ds_front

Arguments after the script's own are passed to ``alonet phantom`` (rendering runs in this
process: ``--workers`` is forced to 1 so the changed constant applies).
"""

from __future__ import annotations

import argparse

import alonet.phantom.render.head as head
from alonet.cli.main import main as alonet_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--share", type=float, default=1.0, help="share of top views shot from in front")
    args, rest = parser.parse_known_args(argv)
    if not 0.0 <= args.share <= 1.0:
        parser.error("--share must be in 0..1")
    head.FRONT_TOP_SHARE = args.share
    return alonet_main(["phantom", *rest, "--workers", "1"])


if __name__ == "__main__":
    raise SystemExit(main())
