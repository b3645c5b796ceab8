"""Render phantoms of dark skin only (Fitzpatrick types V and VI by default).

Broken down by look (``scripts/dev/error_by_look.py``), the default's errors on the phantom test
split sit on dark skin: Fitzpatrick V views are read 6.4 points off on average and VI 3.8 (both
under-called), types II-IV 0.9-1.7; on whole heads of loss, smooth Fitzpatrick VI skin is read
as hair (32 points low). Bald dark skin and dark hair are close in colour, so the network has to
go by texture and light, and the renderer draws types V and VI for only 16 % of the patients.
This script renders a supplementary training set whose patients all have the chosen skin
types (equally often); it changes one renderer constant for this process only. Once an
experiment shows an effect on real photographs, the renderer's defaults are the place for it.

    PYTHONPATH=src python scripts/dev/render_dark_skin.py -o /tmp/ph_dark_skin \\
        --masks ../shared/data/alonet-annotations --split train --patients 150 --visits 1 --seed 939
    alonet convert --from /tmp/ph_dark_skin -o /tmp/ds_dark_skin

Arguments after the script's own are passed to ``alonet phantom`` (rendering runs in this
process: ``--workers`` is forced to 1 so the changed constant applies).
"""

from __future__ import annotations

import argparse

import alonet.phantom.render.look as look
from alonet.cli.main import main as alonet_main


def skin_types(text: str) -> tuple[int, ...]:
    """``"5,6"`` -> (5, 6); ArgumentTypeError unless each is a Fitzpatrick type 1..6."""
    try:
        types = tuple(sorted({int(t) for t in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of skin types") from None
    if not types or not all(1 <= t <= 6 for t in types):
        raise argparse.ArgumentTypeError(f"{text!r}: Fitzpatrick types are 1 to 6")
    return types


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--types", type=skin_types, default=(5, 6), help="Fitzpatrick types to draw, e.g. 5,6")
    args, rest = parser.parse_known_args(argv)
    look.FITZPATRICK_WEIGHTS = tuple(1.0 if t in args.types else 0.0 for t in range(1, 7))
    return alonet_main(["phantom", *rest, "--workers", "1"])


if __name__ == "__main__":
    raise SystemExit(main())
