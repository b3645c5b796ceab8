"""Render phantoms whose hair-loss regions keep many fine hairs (diffuse alopecia areata).

Real clinical photographs show diffuse loss as skin with scattered hairs everywhere, and the
clinical reference calls it loss (issue 14, failure mode 3); the renderer's default draws
such remaining hairs in a third of the patients and covers at most 30 % of the bald skin with
them. This script renders a supplementary training set in which every patient has them and
they may cover up to ``--max-cover`` of the skin (skin still dominates), for a fine-tune
experiment. It changes renderer constants for this process only; once an experiment shows
the effect on real photographs, the renderer's defaults are the place for it.

With ``--pattern total`` or ``near_total`` (whole heads of loss) two more options keep the
label one a person would give: ``--min-length`` (shortest remaining hair, share of the head's
size; the renderer's default lets them be as short as the look's hair, and a head of short
ones reads as cropped hair) and ``--no-dark-regrowth`` (no dark regrowth stubble, which over a
whole head reads as a shaved head):

    PYTHONPATH=src python scripts/dev/render_diffuse.py -o /tmp/ph_total_clean --share 0.35 \
        --max-cover 0.1 --min-length 0.05 --no-dark-regrowth --pattern total --patients 40 \
        --seed 11 --size 640

    PYTHONPATH=src python scripts/dev/render_diffuse.py -o /tmp/ph_diffuse \\
        --masks ../shared/data/alonet-annotations --split train --patients 150 --seed 909
    alonet convert --from /tmp/ph_diffuse -o /tmp/ds_diffuse

Arguments after the script's own are passed to ``alonet phantom`` (rendering runs in this
process: ``--workers`` is forced to 1 so the changed constants apply).
"""

from __future__ import annotations

import argparse

import alonet.phantom.render.hair as hair
import alonet.phantom.render.look as look
import alonet.phantom.render.skin as skin
from alonet.cli.main import main as alonet_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--share", type=float, default=1.0, help="share of patients with remaining hairs in loss")
    parser.add_argument("--max-cover", type=float, default=0.6, help="most of the bald skin the hairs may cover")
    parser.add_argument("--min-length", type=float, default=0.0,
                        help="shortest remaining hair, share of the head's size (0..0.2; default: the look's length)")
    parser.add_argument("--no-dark-regrowth", action="store_true", help="draw no dark regrowth stubble in bald skin")
    args, rest = parser.parse_known_args(argv)
    if not (0.0 <= args.share <= 1.0 and 0.0 < args.max_cover < 1.0):
        parser.error("--share must be in 0..1 and --max-cover in (0, 1)")
    if not 0.0 <= args.min_length <= 0.2:
        parser.error("--min-length must be in 0..0.2")
    look.REMNANT_SHARE = args.share
    hair.REMNANT_MAX_COVER = args.max_cover
    hair.REMNANT_MIN_LENGTH = args.min_length
    skin.DARK_REGROWTH = not args.no_dark_regrowth
    return alonet_main(["phantom", *rest, "--workers", "1"])


if __name__ == "__main__":
    raise SystemExit(main())
