"""Write a smaller copy of the shared annotations (same layout) for a lent GPU machine.

    python scripts/dev/shrink_annotations.py ../shared/data/alonet-annotations gpu/masks [640]

The device tool carries at most 64 MiB with the working tree and does not carry
``../shared``; the annotations (89 MB at camera size) shrink to about 23 MB at
a 640-pixel long side, plenty for phantoms rendered at 320 px. Masks are
reduced by area averaging and re-thresholded (``reduce_mask``), then saved as
1-bit GIFs; ``manifest.csv`` is copied, so patient splits are unchanged.
"""

from __future__ import annotations

import csv
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from alonet.data.annotation import read_annotation
from alonet.data.maskshape import reduce_mask


def shrink_pair(name: str, source: Path, target: Path, long_side: int) -> str:
    for sub in ("mask", "target"):
        mask = reduce_mask(read_annotation(source / sub / name), long_side)
        Image.fromarray(mask.astype(np.uint8) * 255, "L").convert("1").save(target / sub / name, format="GIF")
    return name


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    long_side = int(argv[2]) if len(argv) == 3 else 640
    for sub in ("mask", "target"):
        (target / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(source / "manifest.csv", target / "manifest.csv")
    with open(source / "manifest.csv", newline="", encoding="utf-8-sig") as handle:
        names = [row["file"] for row in csv.DictReader(handle)]
    work = partial(shrink_pair, source=source, target=target, long_side=long_side)
    with ProcessPoolExecutor(2) as pool:
        for _ in tqdm(pool.map(work, names, chunksize=16), total=len(names), unit="pair"):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
