"""Render phantoms of short-cropped and shaved heads (hard negatives: not loss).

Real clinical photographs of heads cropped to a few millimetres or shaved to stubble were read
as bare skin (issue 14, failure mode 2: 97 % predicted vs 45 %), and a shaved head among the
real head photographs is called 94 % loss. The renderer's default draws cropped hair in 12 % of
the patients and never stubble. This script renders a supplementary training set in which every
patient has cropped hair (``--share``) and a share of those (``--shaved``) is shaved: stubble of
under a millimetre drawn as a faint grey-blue shadow with a fine grain (``Look.shaved``). Loss
regions (patches) stay smooth skin. It changes two renderer constants for this process only;
once an experiment shows the effect on real photographs, the renderer's defaults are the place
for it.

    PYTHONPATH=src python scripts/dev/render_shaved.py -o /tmp/ph_shaved \\
        --masks ../shared/data/alonet-annotations --split train --patients 150 --visits 1 --seed 919
    alonet convert --from /tmp/ph_shaved -o /tmp/ds_shaved

Arguments after the script's own are passed to ``alonet phantom`` (rendering runs in this
process: ``--workers`` is forced to 1 so the changed constants apply).
"""

from __future__ import annotations

import argparse

import alonet.phantom.render.look as look
from alonet.cli.main import main as alonet_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--share", type=float, default=1.0, help="share of patients with cropped hair")
    parser.add_argument("--shaved", type=float, default=0.6, help="share of the cropped heads that are shaved")
    args, rest = parser.parse_known_args(argv)
    if not (0.0 <= args.share <= 1.0 and 0.0 <= args.shaved <= 1.0):
        parser.error("--share and --shaved must be in 0..1")
    look.CROPPED_SHARE = args.share
    look.SHAVED_SHARE = args.shaved
    return alonet_main(["phantom", *rest, "--workers", "1"])


if __name__ == "__main__":
    raise SystemExit(main())
