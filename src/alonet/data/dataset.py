"""The converted-dataset folder: writing it (``DatasetWriter``) and opening it
(``open_dataset``).

A dataset folder holds (see DEVELOPERS.md, "Converted dataset"):

- ``images.npy``   (N, S, S, 3) uint8 RGB photographs, resized to S x S;
- ``scalp.npy``    (N, S, S) uint8, 1 = scalp that counts for SALT, else 0;
- ``hairloss.npy`` (N, S, S) uint8, 1 = hair loss, else 0;
- ``meta.csv``     one row per sample: index, stem, photo, scalp, hairloss,
  orig_width, orig_height, patient, visit, view (then any extra columns);
- ``dataset.json`` {"format": "alonet-dataset", "version": 1, "size": S, "count": N, ...}.

Arrays are written through memory-mapped ``.npy`` files, so memory stays
bounded for any N, into a temporary folder beside the target that is renamed
into place only when everything is written: an interrupted write leaves
nothing at the target (and an older dataset there stays intact).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alonet import __version__
from alonet.system.atomic import atomic_directory
from alonet.data.photo import as_rgb_photo
from alonet.data.resize import area_resize_mask, resize_photo
from alonet.system.preflight import check_output_folder
from alonet.errors import DatasetError, InvalidValueError
from alonet.views import normalize_view

DATASET_FORMAT = "alonet-dataset"
DATASET_VERSION = 1
DEFAULT_SIZE = 320
#: Largest array side a dataset may have: 4096 x 4096 x 3 is 48 MiB per photograph.
MAX_SIZE = 4096


#: What marks a folder as a dataset (``--overwrite`` replaces only such a folder).
DATASET_FILES = ("dataset.json",)


def check_size(size) -> int:
    """The side of a dataset's square arrays as an int in 8..MAX_SIZE, or InvalidValueError."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise InvalidValueError(f"size must be a whole number of pixels, not {size!r}",
                                fix=f"e.g. size={DEFAULT_SIZE} (the study's)")
    if not 8 <= int(size) <= MAX_SIZE:
        raise InvalidValueError(f"size {size} is outside 8..{MAX_SIZE}", fix=f"e.g. {DEFAULT_SIZE} (the study's)")
    return int(size)

#: Columns of meta.csv, in order; extra columns follow them.
META_COLUMNS: tuple[str, ...] = (
    "index", "stem", "photo", "scalp", "hairloss", "orig_width", "orig_height", "patient", "visit", "view",
)
_INT_COLUMNS = ("index", "orig_width", "orig_height")
ARRAY_FILES: tuple[str, ...] = ("images.npy", "scalp.npy", "hairloss.npy")
_COPY_ROWS = 256  # rows per chunk when shrinking arrays (bounded memory)
#: Mask bytes ``open_dataset`` reads per array to check that it holds only 0 and 1: every row of
#: a dataset up to this size (about 5,000 samples at 320 px), evenly spread rows of a larger one.
#: Measured 2026-12-07 (2 busy cores): opening a 300-sample phantom dataset took 11 ms, with
#: the check 20-26 ms from the page cache and 76 ms from disk; 2,716 samples (the real
#: annotations' count) 0.16-0.21 s cached and 1.6 s from disk (pages train and evaluate read anyway).
MASK_CHECK_BYTES = 512 << 20
_CHECK_CHUNK_BYTES = 32 << 20  # bytes read at a time while checking (bounded memory)

_FIX_RECONVERT = "convert the data again with `alonet convert`"


# --------------------------------------------------------------------------- reading


@dataclass
class Dataset:
    """An opened dataset: memory-mapped arrays plus one metadata dict per sample.

    ``images``, ``scalp`` and ``hairloss`` are read-only memory maps; index them
    with integers, slices or index arrays (``ds.images[idx]`` loads only those
    rows). ``meta[i]`` is a dict with the ``META_COLUMNS`` (ints for index and
    original size, strings otherwise; empty string where unknown).
    """

    path: Path
    size: int
    images: np.ndarray
    scalp: np.ndarray
    hairloss: np.ndarray
    meta: list[dict[str, Any]]
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One sample: {"image": (S,S,3) uint8, "scalp": (S,S) uint8, "hairloss": ..., "meta": dict}."""
        i = int(index)
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {index} out of range for a dataset of {len(self)}")
        i %= len(self)
        return {
            "image": np.asarray(self.images[i]),
            "scalp": np.asarray(self.scalp[i]),
            "hairloss": np.asarray(self.hairloss[i]),
            "meta": dict(self.meta[i]),
        }

    def patients(self) -> list[str]:
        """Distinct patient ids, sorted (empty ids left out)."""
        return sorted({row["patient"] for row in self.meta if row["patient"]})

    def indices_for(self, view: str | Iterable[str] | None = None, patients: Iterable[str] | None = None) -> np.ndarray:
        """Indices of the samples with the given view(s) and/or patient ids.

        ``view`` is one view name or several; ``None`` means any. Use it to split
        by patient (never by file) and to pick the views of one scalp network.
        """
        wanted_views = None
        if view is not None:
            names = [view] if isinstance(view, str) else list(view)
            wanted_views = {normalize_view(v) for v in names}
        wanted_patients = None if patients is None else {str(p) for p in patients}
        picked = [
            row["index"]
            for row in self.meta
            if (wanted_views is None or row["view"] in wanted_views)
            and (wanted_patients is None or row["patient"] in wanted_patients)
        ]
        return np.asarray(picked, dtype=np.int64)


def _load_array(folder: Path, name: str) -> np.ndarray:
    path = folder / name
    if not path.is_file():
        raise DatasetError(f"{path} is missing", path=path, fix=_FIX_RECONVERT)
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable .npy array ({exc})", path=path, fix=_FIX_RECONVERT) from None


def check_mask_values(array: np.ndarray, path: str | Path, budget: int = MASK_CHECK_BYTES) -> None:
    """Raise DatasetError unless the (N, S, S) uint8 mask ``array`` holds only 0 and 1.

    A mask array written by another tool (0/255, a probability map saved as 0..255) would
    otherwise train and evaluate on wrong targets without a word (7 counted as inside).
    Reads every row up to ``budget`` bytes, evenly spread rows beyond, a chunk at a time.
    """
    count = int(array.shape[0])
    row_bytes = max(1, int(np.prod(array.shape[1:], dtype=np.int64)))
    step = max(1, -(-count * row_bytes // budget))  # ceil: rows 0, step, 2*step, ... fit the budget
    rows = max(1, _CHECK_CHUNK_BYTES // row_bytes)
    for start in range(0, count, rows * step):
        block = array[start:min(start + rows * step, count):step]
        if block.max(initial=0) <= 1:
            continue
        bad = int(np.flatnonzero(block.reshape(len(block), -1).max(axis=1) > 1)[0])
        levels = np.unique(block[bad])
        shown = ", ".join(str(v) for v in levels[:6]) + (", ..." if len(levels) > 6 else "")
        raise DatasetError(
            f"{path} holds values {shown} in sample {start + bad * step}, but dataset masks hold only 0 and 1, "
            "as `alonet convert` writes them",
            path=path,
            fix="convert the annotations again, or save the array as 0/1, "
            "e.g. (masks >= 128).astype(np.uint8) for 0/255 or 0..255 masks",
        )


def _read_meta(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing", path=path, fix=_FIX_RECONVERT)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in META_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path} lacks column(s) {', '.join(missing)}", path=path, fix=_FIX_RECONVERT)
            rows = []
            for line, row in enumerate(reader, start=2):
                clean: dict[str, Any] = {k: (v if v is not None else "") for k, v in row.items() if k is not None}
                try:
                    for column in _INT_COLUMNS:
                        clean[column] = int(clean[column])
                except ValueError:
                    raise DatasetError(f"{path} line {line}: {column} is not a whole number", path=path,
                                       fix=_FIX_RECONVERT) from None
                rows.append(clean)
    except UnicodeDecodeError:  # convert writes UTF-8; other bytes mean the file was edited or damaged
        raise DatasetError(f"{path} is not UTF-8 text (edited or damaged)", path=path, fix=_FIX_RECONVERT) from None
    except csv.Error as exc:
        raise DatasetError(f"{path} is not a readable CSV table ({exc})", path=path, fix=_FIX_RECONVERT) from None
    return rows


def open_dataset(path: str | Path, check_masks: bool = True) -> Dataset:
    """Open a dataset folder written by ``alonet convert`` (or ``DatasetWriter``).

    Raises DatasetError naming the file when the folder, a file or a column is
    missing, when array shapes, ``dataset.json`` and ``meta.csv`` disagree, or
    when a mask array holds values other than 0 and 1 (:func:`check_mask_values`;
    ``check_masks=False`` skips that read of the masks, for a dataset this
    process or its parent has opened already).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"dataset folder {folder} not found", path=folder, fix="run `alonet convert` to create it")
    info_path = folder / "dataset.json"
    if not info_path.is_file():
        raise DatasetError(f"{info_path} is missing; {folder} is not an AloNet dataset", path=info_path, fix=_FIX_RECONVERT)
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{info_path} is not valid JSON ({exc})", path=info_path, fix=_FIX_RECONVERT) from None
    if not isinstance(info, dict) or info.get("format") != DATASET_FORMAT:
        raise DatasetError(f"{info_path} does not describe an {DATASET_FORMAT}", path=info_path, fix=_FIX_RECONVERT)
    if info.get("version") != DATASET_VERSION:
        raise DatasetError(
            f"{info_path} has format version {info.get('version')!r}; this AloNet reads version {DATASET_VERSION}",
            path=info_path,
            fix=_FIX_RECONVERT,
        )
    try:
        size, count = int(info["size"]), int(info["count"])
    except (KeyError, TypeError, ValueError):
        raise DatasetError(f"{info_path} lacks a valid size and count", path=info_path, fix=_FIX_RECONVERT) from None

    images, scalp, hairloss = (_load_array(folder, name) for name in ARRAY_FILES)
    expected = {
        "images.npy": ((count, size, size, 3), images),
        "scalp.npy": ((count, size, size), scalp),
        "hairloss.npy": ((count, size, size), hairloss),
    }
    for name, (shape, array) in expected.items():
        if array.shape != shape or array.dtype != np.uint8:
            raise DatasetError(
                f"{folder / name} has shape {array.shape} {array.dtype}, expected {shape} uint8 "
                f"(from dataset.json: count {count}, size {size})",
                path=folder / name,
                fix=_FIX_RECONVERT,
            )
    meta = _read_meta(folder / "meta.csv")
    if len(meta) != count:
        raise DatasetError(
            f"{folder / 'meta.csv'} has {len(meta)} rows but the arrays hold {count} samples",
            path=folder / "meta.csv",
            fix=_FIX_RECONVERT,
        )
    if [row["index"] for row in meta] != list(range(count)):
        raise DatasetError(f"{folder / 'meta.csv'}: the index column is not 0..{count - 1} in order", path=folder / "meta.csv", fix=_FIX_RECONVERT)
    if check_masks:
        check_mask_values(scalp, folder / "scalp.npy")
        check_mask_values(hairloss, folder / "hairloss.npy")
    return Dataset(path=folder, size=size, images=images, scalp=scalp, hairloss=hairloss, meta=meta, info=info)


# --------------------------------------------------------------------------- writing


def _reserve_space(path: Path) -> None:
    """Allocate the disk blocks of a just-created (sparse) file now, so that a full disk is an
    OSError here rather than SIGBUS when a memory-mapped page of it is first written. Where
    the system or file system cannot reserve space (no ``posix_fallocate``), nothing is done."""
    if not hasattr(os, "posix_fallocate"):
        return
    with open(path, "r+b") as handle:
        try:
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS):
                raise OSError(exc.errno, exc.strerror, str(path)) from None


class DatasetWriter:
    """Write a dataset folder sample by sample, atomically and in bounded memory.

    Usage::

        with DatasetWriter("datasets/train", count=len(pairs), size=320) as writer:
            for ...:
                writer.add(image, scalp, hairloss, stem=..., patient=..., visit=..., view=...)

    ``count`` is the capacity; if fewer samples are added the arrays are shrunk
    (chunk by chunk) when the block ends. Images and masks of another size are
    resized with ``resize_photo`` / ``area_resize_mask``. The folder appears at
    ``path`` only when the block ends without an exception; an existing
    non-empty ``path`` is refused unless ``overwrite=True`` (then it is replaced
    only after the new dataset is complete). ``info`` adds keys to dataset.json.
    """

    def __init__(
        self,
        path: str | Path,
        count: int,
        size: int = DEFAULT_SIZE,
        *,
        overwrite: bool = False,
        info: dict[str, Any] | None = None,
    ):
        if int(count) < 1:
            raise DatasetError(f"cannot write an empty dataset to {path}", path=path, fix="give at least one sample")
        self.path = Path(path)
        self.capacity = int(count)
        self.size = check_size(size)
        self.overwrite = overwrite
        self.info = dict(info or {})
        self.meta: list[dict[str, Any]] = []
        self._stack: contextlib.ExitStack | None = None
        self._folder: Path | None = None
        self._arrays: dict[str, np.memmap] = {}

    @property
    def folder(self) -> Path:
        """The temporary folder being written; extra files put here become part
        of the dataset (e.g. ``skipped.csv``). Only valid inside the block."""
        if self._folder is None:
            raise RuntimeError("use DatasetWriter in a `with` block")
        return self._folder

    @property
    def written(self) -> int:
        """How many samples have been added so far."""
        return len(self.meta)

    def __enter__(self) -> "DatasetWriter":
        # The arrays are memory-mapped files, filled as samples arrive: on a disk that fills up
        # the process would die of SIGBUS without a word, so the space is checked first and
        # then reserved (another writer may fill the disk while the samples arrive).
        s, n = self.size, self.capacity
        check_output_folder(self.path, n * s * s * 5 + 4096 * 3, what="dataset folder")
        stack = contextlib.ExitStack()
        self._folder = stack.enter_context(atomic_directory(self.path, overwrite=self.overwrite, own=DATASET_FILES))
        self._stack = stack
        try:
            s, n = self.size, self.capacity
            shapes = {"images.npy": (n, s, s, 3), "scalp.npy": (n, s, s), "hairloss.npy": (n, s, s)}
            for name, shape in shapes.items():
                self._arrays[name] = np.lib.format.open_memmap(self._folder / name, mode="w+", dtype=np.uint8, shape=shape)
                _reserve_space(self._folder / name)
        except BaseException:
            self._arrays.clear()
            stack.__exit__(*sys.exc_info())
            raise
        return self

    def add(self, image: np.ndarray, scalp: np.ndarray, hairloss: np.ndarray, /, **meta: Any) -> int:
        """Add one sample; returns its index. ``meta`` fills the meta.csv columns
        (stem, photo, scalp, hairloss, orig_width, orig_height, patient, visit,
        view, or extra ones). Original width/height default to the image's."""
        if self._folder is None:
            raise RuntimeError("use DatasetWriter in a `with` block")
        if self.written >= self.capacity:
            raise DatasetError(f"more than {self.capacity} samples added to {self.path}", path=self.path, fix="raise count")
        photo = as_rgb_photo(image, f"sample {self.written} of {self.path}")
        area, loss = np.asarray(scalp), np.asarray(hairloss)
        if area.ndim != 2 or loss.ndim != 2:
            raise ValueError(f"masks must be 2-D, got {area.shape} and {loss.shape}")
        index = self.written
        target = (self.size, self.size)
        self._arrays["images.npy"][index] = photo if photo.shape[:2] == target else resize_photo(photo, self.size)
        self._arrays["scalp.npy"][index] = area_resize_mask(area, self.size)
        self._arrays["hairloss.npy"][index] = area_resize_mask(loss, self.size)
        row: dict[str, Any] = {column: "" for column in META_COLUMNS}
        row.update({"orig_width": photo.shape[1], "orig_height": photo.shape[0]})
        row.update({k: ("" if v is None else v) for k, v in meta.items()})
        row["index"] = index
        if row["view"]:
            row["view"] = normalize_view(row["view"])
        self.meta.append(row)
        return index

    def _shrink(self, folder: Path) -> None:
        """Copy the first ``written`` rows into arrays of exactly that length."""
        n = self.written
        for name in ARRAY_FILES:
            old = self._arrays[name]
            temp = folder / f"{name}.part"
            new = np.lib.format.open_memmap(temp, mode="w+", dtype=np.uint8, shape=(n, *old.shape[1:]))
            _reserve_space(temp)
            for start in range(0, n, _COPY_ROWS):
                stop = min(start + _COPY_ROWS, n)
                new[start:stop] = old[start:stop]
            new.flush()
            del new
            del self._arrays[name]  # the old map's last references: closes it
            del old
            os.replace(temp, folder / name)

    def _finish(self) -> None:
        folder = self._folder
        assert folder is not None
        if self.written == 0:
            raise DatasetError(f"no samples were added to {self.path}", path=self.path, fix="add at least one sample")
        for array in self._arrays.values():
            array.flush()
        if self.written < self.capacity:
            self._shrink(folder)
        self._arrays.clear()
        extra = sorted({k for row in self.meta for k in row} - set(META_COLUMNS))
        with open(folder / "meta.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*META_COLUMNS, *extra], restval="")
            writer.writeheader()
            writer.writerows(self.meta)
        info = {
            "format": DATASET_FORMAT,
            "version": DATASET_VERSION,
            "size": self.size,
            "count": self.written,
            "created_by": f"alonet {__version__}",
            **{k: v for k, v in self.info.items() if k not in ("format", "version", "size", "count")},
        }
        (folder / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

    def _release(self) -> None:
        """Drop the memory maps (closing their files) before the folder moves."""
        self._arrays.clear()
        self._folder = None

    def __exit__(self, exc_type, exc, tb) -> bool:
        stack, self._stack = self._stack, None
        assert stack is not None
        if exc_type is None:
            try:
                self._finish()
            except BaseException:
                self._release()
                if not stack.__exit__(*sys.exc_info()):  # removes the temporary folder
                    raise
                return False
        self._release()
        return bool(stack.__exit__(exc_type, exc, tb))


def write_dataset(
    path: str | Path,
    samples: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]],
    size: int = DEFAULT_SIZE,
    *,
    overwrite: bool = False,
) -> Path:
    """Write (image, scalp, hairloss, meta) samples to a dataset folder in one call
    (convenient for tests and small synthetic sets)."""
    with DatasetWriter(path, count=len(samples), size=size, overwrite=overwrite) as writer:
        for image, scalp, hairloss, meta in samples:
            writer.add(image, scalp, hairloss, **meta)
    return Path(path)
