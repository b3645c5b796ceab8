"""Per-view mask pairs read from files: what ``alonet salt --masks`` scores.

Each view to score needs two black-and-white masks of one photograph: its scalp and its
hair loss. A folder names them by view, case ignored, with any of the annotation
extensions (``MASK_EXTENSIONS``):

- ``<view>_scalp_mask.png`` / ``<view>_hairloss_mask.png``: what ``alonet predict --masks``
  writes for a photograph named after its view (looked for first, because the same
  folder then also holds predict's probability maps under the next names);
- ``<view>_scalp.png`` / ``<view>_hairloss.png``: what ``alonet score`` writes into its
  report folder (``alonet.report.writer.report_files``), so a report folder is re-scored
  from its own masks;
- otherwise the one pair whose names end in ``_<view>_scalp_mask`` / ``_<view>_hairloss_mask``
  (``predict --masks`` of ``P01_v2_top.jpg``).

A pair comes from one naming pattern; a view with neither file is missing; one file
without its partner is an error. Masks are read with ``read_annotation`` (0/1, 0/255,
palette GIFs, anti-aliased edges; label maps refused). An 8-bit probability map written
by ``alonet predict`` carries the PNG text key ``PROBABILITY_PNG_KEY`` and is refused
rather than thresholded.

Counting follows ``alonet.scoring.salt.view_loss_percent``: % loss =
``100 * |hair loss AND scalp| / |scalp|``; hair loss drawn outside the scalp is not
counted (its pixels are reported). The views' masks are taken as they are: a right
view's percentage needs no mirroring. A view whose scalp mask is empty cannot be
scored and counts as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from alonet.data.annotation import MASK_EXTENSIONS, read_annotation
from alonet.data.imagefile import DEFAULT_MAX_PIXELS
from alonet.data.pairing import SPLIT_LABEL_MAP, same_file
from alonet.data.pairs import stem_key
from alonet.errors import (
    DatasetError,
    ImageReadError,
    SizeMismatchError,
    UnsupportedImageModeError,
)
from alonet.scoring.salt import loss_percent_or_none
from alonet.views import VIEWS

#: The two masks of a view, in the order ``(scalp, hairloss)``.
MASK_KINDS: tuple[str, ...] = ("scalp", "hairloss")

#: File-name stems tried per view, first match wins: predict --masks, then score's report.
NAME_PATTERNS: tuple[str, ...] = ("{view}_{kind}_mask", "{view}_{kind}")

#: PNG text key and value that mark a probability map written by ``alonet predict``.
PROBABILITY_PNG_KEY = "alonet-content"
PROBABILITY_PNG_VALUE = "probability map (0..255 = 0..1), not a mask"


@dataclass(frozen=True, eq=False)
class ViewMaskPair:
    """One view's scalp and hair-loss masks (bool, same shape) and where they came from."""

    view: str
    scalp_path: Path
    hairloss_path: Path
    scalp: np.ndarray
    hairloss: np.ndarray

    @property
    def scalp_pixels(self) -> int:
        return int(np.count_nonzero(self.scalp))

    @property
    def hairloss_pixels(self) -> int:
        """Hair-loss pixels inside the scalp: the ones that count."""
        return int(np.count_nonzero(self.hairloss & self.scalp))

    @property
    def outside_pixels(self) -> int:
        """Hair-loss pixels outside the scalp: drawn, but not counted."""
        return int(np.count_nonzero(self.hairloss & ~self.scalp))

    @property
    def loss_pct(self) -> float | None:
        """% of the scalp with hair loss (``view_loss_percent``); None for an empty scalp."""
        return loss_percent_or_none(self.hairloss, self.scalp, view=self.view)

    def to_dict(self) -> dict:
        """JSON-ready: files, size and pixel counts (no arrays)."""
        height, width = self.scalp.shape
        return {"scalp": str(self.scalp_path), "hairloss": str(self.hairloss_path), "width": int(width),
                "height": int(height), "scalp_pixels": self.scalp_pixels, "hairloss_pixels": self.hairloss_pixels,
                "hairloss_outside_scalp_pixels": self.outside_pixels, "empty_scalp": self.scalp_pixels == 0}


def _folder_files(folder: Path) -> dict[str, list[Path]]:
    """Mask files of ``folder`` by case-folded stem (several when only case or extension differ)."""
    if not folder.is_dir():
        raise DatasetError(f"{folder}: mask folder not found" if not folder.exists() else
                           f"{folder} is a file, not a folder of masks",
                           fix="give the folder that holds <view>_scalp.png and <view>_hairloss.png")
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in MASK_EXTENSIONS:
            found.setdefault(stem_key(path.stem), []).append(path)
    return found


def find_mask_files(folder: str | Path) -> dict[str, tuple[Path, Path]]:
    """``{view: (scalp_path, hairloss_path)}`` for the views whose masks ``folder`` holds.

    See the module doc for the names. Raises DatasetError for a missing folder, a
    folder without any mask pair, a mask without its partner, or two files that
    fit one name (e.g. ``top_scalp.png`` and ``top_scalp.gif``).
    """
    folder = Path(folder)
    files = _folder_files(folder)
    pairs: dict[str, tuple[Path, Path]] = {}
    for view in VIEWS:
        for pattern in NAME_PATTERNS:
            names = [pattern.format(view=view, kind=kind) for kind in MASK_KINDS]
            hits = [files.get(stem_key(name), []) for name in names]
            for name, paths in zip(names, hits):
                if len(paths) > 1:
                    raise DatasetError(f"{folder}: {len(paths)} files fit the {view} view's {name} mask "
                                       f"({', '.join(p.name for p in paths)})",
                                       fix="keep one of them in the folder")
            if not any(hits):
                continue
            if not all(hits):
                have = (hits[0] or hits[1])[0].name
                lack = names[1] if hits[0] else names[0]
                raise DatasetError(f"{folder}: {have} has no partner {lack}.png",
                                   fix=f"add {lack}.png (0/255, the size of {have}), or remove {have} "
                                       f"to leave the {view} view out")
            pairs[view] = (hits[0][0], hits[1][0])
            break
    pairs.update(_prefixed_pairs(folder, files, pairs))
    if not pairs:
        raise DatasetError(f"{folder}: no mask pair found",
                           fix="name the files <view>_scalp_mask.png and <view>_hairloss_mask.png (what alonet "
                               "predict --masks writes, also with a prefix: P01_top_scalp_mask.png) or "
                               "<view>_scalp.png and <view>_hairloss.png (view = top, back, left, right), or "
                               "give --mask VIEW SCALP HAIRLOSS")
    return pairs


def _prefixed(files: dict[str, list[Path]]) -> dict[tuple[str, str, str], list[Path]]:
    """Mask files named ``<prefix>_<view>_<kind>_mask`` (or ``-``), by (prefix, view, kind)."""
    found: dict[tuple[str, str, str], list[Path]] = {}
    for key, paths in files.items():
        for view in VIEWS:
            for kind in MASK_KINDS:
                for sep in ("_", "-"):
                    ending = f"{sep}{view}_{kind}_mask"
                    if key.endswith(ending) and len(key) > len(ending):
                        found.setdefault((key[: -len(ending)], view, kind), []).extend(paths)
    return found


def _prefixed_pairs(folder: Path, files: dict[str, list[Path]], plain: dict) -> dict[str, tuple[Path, Path]]:
    """``predict --masks`` output of photographs not named after their views (``P01_v2_top.jpg``
    gives ``P01_v2_top_scalp_mask.png``): the pairs of one prefix. Masks of several prefixes (two
    visits), or beside plainly named ones, are refused rather than mixed into one SALT."""
    found = _prefixed(files)
    if not found:
        return {}
    prefixes = sorted({prefix for prefix, _, _ in found})
    if len(prefixes) > 1 or plain:
        shown = ", ".join(prefixes) + (" and unprefixed names" if plain else "")
        raise DatasetError(f"{folder}: holds the masks of more than one set of photographs ({shown})",
                           fix="keep one visit's masks in the folder, or give --mask VIEW SCALP HAIRLOSS per view")
    pairs = {}
    for view in VIEWS:
        hits = [found.get((prefixes[0], view, kind), []) for kind in MASK_KINDS]
        if not any(hits):
            continue
        if len(hits[0]) != 1 or len(hits[1]) != 1:
            shown = ", ".join(p.name for p in hits[0] + hits[1])
            raise DatasetError(f"{folder}: the {view} view's masks are not one pair ({shown or 'none'})",
                               fix=f"keep one scalp and one hair-loss mask per view, or give --mask {view} "
                                   "SCALP HAIRLOSS")
        pairs[view] = (hits[0][0], hits[1][0])
    return pairs


def _refuse_probability_map(path: Path) -> None:
    """Refuse a probability map ``alonet predict`` wrote (it would be read thresholded)."""
    try:
        with Image.open(path) as image:
            marked = image.info.get(PROBABILITY_PNG_KEY)
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError):
        return  # read_annotation will say what is wrong with the file
    if marked:
        raise UnsupportedImageModeError(
            f"{path}: is a probability map written by alonet predict, not a mask",
            fix="run alonet predict with --masks and score its <stem>_scalp_mask.png / "
                "<stem>_hairloss_mask.png, or score the report folder of alonet score")


def read_mask_pair(view: str, scalp_path: str | Path, hairloss_path: str | Path,
                   max_pixels: int | None = DEFAULT_MAX_PIXELS) -> ViewMaskPair:
    """Read one view's two masks; they must have the same size (SizeMismatchError naming both)."""
    if same_file(scalp_path, hairloss_path):  # also a hard link of one file
        # a two-level label map (0/1: no loss) given as both would read as 100 % loss
        raise DatasetError(f"the {view} view's scalp and hair-loss masks are the same file ({scalp_path})",
                           fix=SPLIT_LABEL_MAP)
    masks = []
    for path in (Path(scalp_path), Path(hairloss_path)):
        if path.is_file():
            _refuse_probability_map(path)
        elif not path.exists():
            raise ImageReadError(f"{path}: mask file not found", fix=f"check the path of the {view} view's mask")
        masks.append(read_annotation(path, max_pixels, refuse_pictures=True))  # a photograph is no mask
    scalp, hairloss = masks
    if scalp.shape != hairloss.shape:
        (sh, sw), (hh, hw) = scalp.shape, hairloss.shape
        raise SizeMismatchError(
            f"the {view} view's masks differ in size: scalp {scalp_path} is {sw}x{sh} pixels, "
            f"hair loss {hairloss_path} is {hw}x{hh}",
            fix="give two masks of the same photograph at the same size")
    return ViewMaskPair(view, Path(scalp_path), Path(hairloss_path), scalp, hairloss)


def read_mask_folder(folder: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> dict[str, ViewMaskPair]:
    """Every mask pair of ``folder`` (``find_mask_files``), read and checked."""
    return {view: read_mask_pair(view, scalp, hairloss, max_pixels)
            for view, (scalp, hairloss) in find_mask_files(folder).items()}
