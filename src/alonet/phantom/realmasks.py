"""Real annotation geometry (the shared AloNet annotations) for phantoms.

The folder holds ``mask/NAME.gif`` (scalp region), ``target/NAME.gif`` (hair
loss) and ``manifest.csv`` (``file, patient, case, visit_date, photo_index``).
The view of each photograph was not recorded, so it is inferred from the
scalp region's shape:

**Temporal or midline**, and **which way a side view looks**, come from the
scalp region's outline (:func:`alonet.data.maskshape.analyse_shape`, whose
module doc gives the rules; inference's view checks use the same function).
On the 2,716 shared scalp masks the notch depth is bimodal (midline ≤ 0.06,
temporal ≥ 0.10, nothing in between), 1,172 masks come out temporal; in 4-photo
visits 91 % have exactly two temporal photographs.

Of the 464 real visits with two
temporal photographs, 452 (97 %) come out as one left- and one right-looking
photograph. Right-looking masks are mirrored into the canonical (left-looking)
orientation before rendering.

**Top or back.** Not separable by shape with confidence; within a visit the
midline photographs are taken in photo order, first ``top`` then ``back``.
This is a guess: in the 259 visits photographed midline, midline, side, side
the second midline region is the taller one (as a back view of the head
should be) in 81 %, but across consecutive visits of a patient the photo
order pairs the more similar regions only 2 times in 3 (126 of 189).

**Split.** A patient's split is a hash of the patient id (:func:`split_of`):
stable, independent of the seed and of which patients are present, and never
divides a patient.

Masks are read with :func:`alonet.data.annotation.read_annotation` and reduced to
the working size at once; the reduced masks are cached in memory only (per
:class:`RealMaskSet` instance), never written.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np

from alonet.data.annotation import read_annotation
from alonet.data.maskshape import ANALYSIS_SIDE, ShapeInfo, analyse_shape, reduce_mask
from alonet.errors import DatasetError, InvalidValueError, SizeMismatchError

#: Patient-level split of the real annotations: name -> fraction.
SPLIT_FRACTIONS: Mapping[str, float] = MappingProxyType({"train": 0.8, "val": 0.1, "test": 0.1})

MANIFEST_COLUMNS = ("file", "patient", "visit_date", "photo_index")


def split_of(patient: str, fractions: Mapping[str, float] | None = None) -> str:
    """The split (``train``/``val``/``test``) of a real patient id: a fixed hash
    of the id mapped onto the cumulative ``fractions``."""
    table = fractions or SPLIT_FRACTIONS
    digest = hashlib.sha256(f"alonet-split:{patient}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    total = sum(table.values())
    acc = 0.0
    for name, frac in table.items():
        acc += frac / total
        if u < acc:
            return name
    return list(table)[-1]


# --------------------------------------------------------------------------- the folder


@dataclass(frozen=True)
class RealRecord:
    """One annotated photograph of the shared set."""

    file: str
    patient: str
    visit_date: str
    photo_index: int

    @property
    def split(self) -> str:
        return split_of(self.patient)


#: The smallest long side of an annotation a phantom is rendered from (the smallest --size).
MIN_SIDE = 64


class RealMaskSet:
    """An annotation folder (``mask/``, ``target/``, ``manifest.csv``) with a
    small in-memory cache of reduced masks.

    ``cache_bytes`` bounds the memory the cached masks may take (least
    recently used go first). ``working_side``, when known, is the size at
    which :meth:`shape` reads a file, so that analysing a mask also fills the
    cache for rendering it (each file is then decoded once).
    """

    def __init__(self, root: str | Path, cache_bytes: int = 256 * 2**20, working_side: int | None = None):
        self.root = Path(root)
        self.records = self._read_manifest()
        self._by_file = {r.file: r for r in self.records}
        self._cache: OrderedDict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cached_bytes = 0
        self._shapes: dict[str, ShapeInfo] = {}
        self.cache_bytes = int(cache_bytes)
        self.working_side = working_side

    def _read_manifest(self) -> list[RealRecord]:
        root = self.root
        manifest = root / "manifest.csv"
        if not root.is_dir():
            raise DatasetError(f"annotation folder {root} not found", path=root,
                               fix="pass the folder that holds mask/, target/ and manifest.csv")
        for sub in ("mask", "target"):
            if not (root / sub).is_dir():
                raise DatasetError(f"annotation folder {root} has no {sub}/ subfolder", path=root,
                                   fix="pass a folder laid out like the AloNet annotations (mask/, target/, manifest.csv)")
        if not manifest.is_file():
            raise DatasetError(f"{manifest} not found", path=manifest,
                               fix="the folder needs manifest.csv with file, patient, visit_date, photo_index")
        try:
            with open(manifest, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
                if missing:
                    raise DatasetError(f"{manifest} lacks column(s) {', '.join(missing)}", path=manifest,
                                       fix="add file, patient, visit_date and photo_index columns")
                records = []
                for line, row in enumerate(reader, start=2):
                    try:
                        index = int(row["photo_index"])
                    except (TypeError, ValueError):
                        raise DatasetError(f"{manifest} line {line}: photo_index {row['photo_index']!r} is not a number",
                                           path=manifest, fix="write whole numbers in photo_index") from None
                    try:  # dates are compared (and sorted as text) to borrow a view from the nearest visit
                        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["visit_date"] or ""):
                            raise ValueError("not YYYY-MM-DD")  # 20151113 passes fromisoformat on 3.11
                        _dt.date.fromisoformat(row["visit_date"])
                    except ValueError:
                        raise DatasetError(f"{manifest} line {line}: visit_date {row['visit_date']!r} is not a "
                                           "date of the form YYYY-MM-DD", path=manifest,
                                           fix="write visit dates as YYYY-MM-DD, e.g. 2015-11-13") from None
                    records.append(RealRecord(row["file"], row["patient"], row["visit_date"], index))
        except UnicodeDecodeError:
            raise DatasetError(f"{manifest} is not UTF-8 text", path=manifest, fix="save it as UTF-8 CSV") from None
        if not records:
            raise DatasetError(f"{manifest} lists no annotations", path=manifest, fix="add rows to the manifest")
        return records

    # ---- patients

    def patients(self, split: str = "all") -> dict[str, list[RealRecord]]:
        """Records grouped by patient (patients in id order), for one split or all."""
        if split != "all" and split not in SPLIT_FRACTIONS:
            raise InvalidValueError(f"unknown split {split!r}", fix="use train, val, test or all")
        out: dict[str, list[RealRecord]] = {}
        for r in self.records:
            if split == "all" or r.split == split:
                out.setdefault(r.patient, []).append(r)
        return dict(sorted(out.items()))

    # ---- masks

    def _paths(self, file: str) -> tuple[Path, Path]:
        if file not in self._by_file:
            raise DatasetError(f"{file} is not listed in {self.root / 'manifest.csv'}", path=self.root,
                               fix="use a file named in the manifest")
        return self.root / "mask" / file, self.root / "target" / file

    def load(self, file: str, long_side: int) -> tuple[np.ndarray, np.ndarray]:
        """``(scalp, hairloss)`` bool masks of ``file`` reduced to ``long_side``
        (never enlarged), as drawn (not mirrored). Cached in memory."""
        key = (file, int(long_side))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]

        scalp_path, loss_path = self._paths(file)
        for p in (scalp_path, loss_path):
            if not p.is_file():
                raise DatasetError(f"annotation {p} is missing", path=p,
                                   fix="restore the file or remove its row from the manifest")
        scalp = read_annotation(scalp_path)
        loss = read_annotation(loss_path)
        if scalp.shape != loss.shape:
            raise SizeMismatchError(
                f"the hair-loss mask {loss_path} is {loss.shape[1]}x{loss.shape[0]} pixels but its scalp mask "
                f"{scalp_path} is {scalp.shape[1]}x{scalp.shape[0]}", path=loss_path,
                fix="draw both masks on the same photograph, or remove the row from the manifest")
        if not scalp.any():
            raise DatasetError(f"the scalp mask {scalp_path} is empty (all black)", path=scalp_path,
                               fix="draw the scalp region, or remove the row from the manifest")
        if max(scalp.shape) < MIN_SIDE:
            raise DatasetError(f"the scalp mask {scalp_path} is only {scalp.shape[1]}x{scalp.shape[0]} pixels",
                               path=scalp_path, fix=f"use annotations at least {MIN_SIDE} pixels on their long "
                                                    "side (masks are never enlarged), or remove the row")
        pair = (reduce_mask(scalp, long_side), reduce_mask(loss, long_side))
        if not pair[0].any():
            raise DatasetError(f"the scalp mask {scalp_path} is empty once reduced to a long side of {long_side} "
                               f"pixels (its region is {int(scalp.sum())} pixel(s) at full size)", path=scalp_path,
                               fix="draw the scalp region, ask for a larger --size, or remove the row")
        if file not in self._shapes:
            self._shapes[file] = analyse_shape(scalp)
        self._cache[key] = pair
        self._cached_bytes += pair[0].nbytes + pair[1].nbytes
        while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_bytes -= old[0].nbytes + old[1].nbytes
        return pair

    def shape(self, file: str) -> ShapeInfo:
        """The inferred view kind and facing of ``file`` (read once, then kept)."""
        if file not in self._shapes:
            self.load(file, self.working_side or ANALYSIS_SIDE)
        return self._shapes[file]
