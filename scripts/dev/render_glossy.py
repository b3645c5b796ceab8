"""Render phantoms with glossy bald skin (a broad soft highlight over the dome: still loss).

On real head photographs, bald tops with large bright areas (oily skin, household or window
light) were partly read as hair-bearing: Norwood 6-7 tops called 40-58 % (the Norwood check,
``scripts/dev/norwood_check.py``). The renderer's only highlight on bald skin is the flash's
small hard one. This script renders a supplementary training set in which a share of the
patients (``--share``) has glossy bald skin (``Look.skin_gloss``); it changes one renderer
constant for this process only. Once an experiment shows an effect on real photographs, the
renderer's defaults are the place for it.

    PYTHONPATH=src python scripts/dev/render_glossy.py -o /tmp/ph_glossy \\
        --masks ../shared/data/alonet-annotations --split train --patients 150 --visits 1 --seed 929
    alonet convert --from /tmp/ph_glossy -o /tmp/ds_glossy

Arguments after the script's own are passed to ``alonet phantom`` (rendering runs in this
process: ``--workers`` is forced to 1 so the changed constant applies).
"""

from __future__ import annotations

import argparse

import alonet.phantom.render.look as look
from alonet.cli.main import main as alonet_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--share", type=float, default=1.0, help="share of patients with glossy bald skin")
    args, rest = parser.parse_known_args(argv)
    if not 0.0 <= args.share <= 1.0:
        parser.error("--share must be in 0..1")
    look.GLOSS_SHARE = args.share
    return alonet_main(["phantom", *rest, "--workers", "1"])


if __name__ == "__main__":
    raise SystemExit(main())
