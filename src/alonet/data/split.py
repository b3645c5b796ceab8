"""The patient split: which patients train a model and which validate it.

Training writes the split of a run to ``RUN/split.json``; evaluation reads it
back (``alonet evaluate --split val``). Both sides use this module, so
evaluation does not depend on training. The unit of the split is the patient:
all photographs of one patient land on the same side. A row without a patient
is its own unit.

Records are any objects with ``patient`` and ``stem`` attributes (training's
``alonet.train.data.Record``, for instance).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from alonet.system.atomic import atomic_write_text
from alonet.errors import DatasetError

SPLIT_FORMAT = "alonet-split"


class SplitRecord(Protocol):
    """What the split needs to know about a dataset row (read only)."""

    @property
    def stem(self) -> str: ...

    @property
    def patient(self) -> str | None: ...


class SplitSettings(Protocol):
    """The settings a new split is made with (a ``TrainConfig`` has them; read only)."""

    @property
    def val_fraction(self) -> float: ...

    @property
    def seed(self) -> int: ...


def row_key(patient: str | None, stem: str) -> str:
    """The unit of the split for a row: its patient, or the row itself when no patient is known."""
    return patient or f"row:{stem}"


def patient_key(record: SplitRecord) -> str:
    """:func:`row_key` of a record."""
    return row_key(record.patient, record.stem)


def share_count(fraction: float, n: int) -> int:
    """How many of ``n`` patients ``fraction`` holds: rounded half up, at least one (pure; the one
    rounding of validation and adapt's held-back patients)."""
    return max(1, math.floor(fraction * n + 0.5))


def make_split(records: Sequence[SplitRecord], val_fraction: float, seed: int) -> dict:
    """Assign whole patients to train or validation (pure; deterministic for a seed)."""
    patients = sorted({patient_key(r) for r in records})
    if len(patients) < 2:
        raise DatasetError(
            f"the dataset has {len(patients)} patient(s); a train/validation split needs at least 2",
            fix="add photographs of more patients (or fill the patient column of meta.csv)",
        )
    order = np.random.default_rng(seed).permutation(len(patients))
    n_val = min(len(patients) - 1, share_count(val_fraction, len(patients)))
    val = sorted(patients[i] for i in order[:n_val])
    train = sorted(patients[i] for i in order[n_val:])
    unlabelled = sum(1 for r in records if not r.patient)
    return {"format": SPLIT_FORMAT, "version": 1, "seed": seed, "val_fraction": val_fraction,
            "rows_without_patient": unlabelled, "train": train, "val": val}


def load_or_make_split(run_dir: Path, records: Sequence[SplitRecord], cfg: SplitSettings,
                       write: bool = True) -> dict:
    """Reuse ``RUN_DIR/split.json`` if it exists (checking it covers the dataset), else make it
    from ``cfg.val_fraction`` and ``cfg.seed`` (and write it atomically when ``write``)."""
    path = Path(run_dir) / "split.json"
    if path.is_file():
        split = read_split(path)
        known = set(split["train"]) | set(split["val"])
        new = sorted({patient_key(r) for r in records} - known)
        if new:
            raise DatasetError(
                f"{path}: the dataset has {len(new)} patient(s) not in this run's split "
                f"(e.g. {new[0]}); the dataset changed since the run started",
                fix="train into a new run folder",
            )
        return split
    split = make_split(records, cfg.val_fraction, cfg.seed)
    if write:
        atomic_write_text(path, json.dumps(split, indent=2) + "\n")
    return split


def read_split(path: Path) -> dict:
    """Read a ``split.json``; a damaged or foreign file raises DatasetError."""
    try:
        split = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the split ({exc.__class__.__name__})",
                           fix="delete it to make a new split, or restore it") from None
    if not isinstance(split, dict) or split.get("format") != SPLIT_FORMAT:
        raise DatasetError(f"{path}: not an AloNet split file", fix="delete it to make a new split, or restore it")
    return split


def split_rows(records: Sequence[SplitRecord], rows: Sequence[int], split: dict, part: str) -> list[int]:
    """The rows of ``rows`` whose patient is in ``split[part]`` ("train" or "val")."""
    members = set(split[part])
    return [i for i in rows if patient_key(records[i]) in members]
