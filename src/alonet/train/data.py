"""Training data: where samples come from, which rows a task uses.

The patient split lives in ``alonet.data.split`` (re-exported here).

A *source* is anything with ``records`` (one :class:`Record` per row, with
patient, visit and view) and ``sample(i) -> (image, scalp, hairloss)`` giving
uint8 RGB (H,W,3) and two bool (H,W) masks. The default source is a converted
dataset folder (output of ``alonet convert``); other sources (e.g. phantoms
rendered in memory, :class:`PhantomSource`; in-memory arrays, :class:`ArraySource`)
plug in by providing the same two members.

``TaskDataset`` is the torch Dataset one task trains on: it mirrors right views
for the temporal and hair-loss networks (as inference does), augments, paints the hair-loss input and returns
``(normalised image tensor (3,S,S), target tensor (S,S) int64)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from alonet.data.dataset import open_dataset
from alonet.data.split import (  # noqa: F401 - kept for code that imported them from here; new code imports alonet.data.split
    SPLIT_FORMAT,
    load_or_make_split,
    make_split,
    patient_key,
    read_split,
    split_rows,
)
from alonet.errors import DatasetError
from alonet.model.preprocess import normalize_images, paint_outside_scalp, prepare_input, prepare_mask
from alonet.phantom import render_patient
from alonet.train.augment import build_augmentation, imperfect_scalp, sample_seed
from alonet.train.config import UNKNOWN_VIEW, TrainConfig
from alonet.train.style import list_style_photos, low_frequency_mix, read_style
from alonet.views import VIEWS, seen_mirrored


@dataclass(frozen=True)
class Record:
    """One dataset row as training and evaluation see it."""

    index: int
    stem: str
    patient: str
    visit: str
    view: str  # one of VIEWS or UNKNOWN_VIEW


class Source(Protocol):
    @property
    def records(self) -> Sequence[Record]: ...

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


def _view_of(value) -> str:
    view = str(value or "").strip().lower()
    return view if view in VIEWS else UNKNOWN_VIEW


class ConvertedSource:
    """A converted dataset folder (memory-mapped; cheap to share with workers)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.dataset = open_dataset(self.path)
        self.size = int(self.dataset.size)
        self.records = [
            Record(
                index=i,
                stem=str(row.get("stem") or i),
                patient=str(row.get("patient") or "").strip(),
                visit=str(row.get("visit") or "").strip(),
                view=_view_of(row.get("view")),
            )
            for i, row in enumerate(self.dataset.meta)
        ]

    def __len__(self) -> int:
        return len(self.records)

    def __getstate__(self) -> dict:
        # Worker processes started with "spawn" (macOS, Windows) re-open the
        # memory maps instead of receiving a pickled copy of the arrays.
        state = dict(self.__dict__)
        state["dataset"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.dataset = open_dataset(self.path, check_masks=False)  # the parent checked them

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ds = self.dataset
        return (np.asarray(ds.images[index]), np.asarray(ds.scalp[index]) > 0,
                np.asarray(ds.hairloss[index]) > 0)


class ArraySource:
    """In-memory arrays as a source (phantoms rendered on the fly, tests, notebooks).

    ``images`` (N,H,W,3) uint8, ``scalp`` and ``hairloss`` (N,H,W) with
    non-zero = inside; ``meta`` one dict per row with patient, visit, view and
    optionally stem.
    """

    def __init__(self, images, scalp, hairloss, meta: Sequence[dict], path: str = "in-memory data"):
        self.images, self.scalp, self.hairloss = images, scalp, hairloss
        if not (len(images) == len(scalp) == len(hairloss) == len(meta)):
            raise DatasetError(f"{path}: images, masks and meta differ in length",
                               fix="convert the dataset again with alonet convert")
        self.path = path
        self.records = [
            Record(index=i, stem=str(row.get("stem") or i), patient=str(row.get("patient") or "").strip(),
                   visit=str(row.get("visit") or "").strip(), view=_view_of(row.get("view")))
            for i, row in enumerate(meta)
        ]

    def __len__(self) -> int:
        return len(self.records)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.asarray(self.images[index]), np.asarray(self.scalp[index]) > 0,
                np.asarray(self.hairloss[index]) > 0)


class PhantomSource:
    """Phantom patients rendered in memory on first use (no dataset folder needed).

    Patient ``p`` has one visit with the four views at rows ``4p .. 4p+3``
    (top, back, left, right). Each process renders a patient when one of its
    rows is first asked for and keeps the last ``cache`` patients. Same seed,
    same photographs (see ``alonet.phantom.render_patient``); ``masks`` (a
    folder of real annotations or an open RealMaskSet) switches to real
    geometry, ``split`` then picks its patient-level split.
    """

    def __init__(self, patients: int, seed: int = 0, size: int = 320, masks=None, split: str = "all",
                 cache: int = 8):
        if patients < 2:
            raise DatasetError("phantom training needs at least 2 patients (one for validation)")
        self.patients, self.seed, self.size = int(patients), int(seed), int(size)
        self.masks, self.split, self.cache = masks, split, max(1, int(cache))
        self.path = f"phantoms(patients={patients}, seed={seed}, size={size})"
        self.records = [
            Record(index=4 * p + j, stem=f"phantom{p:05d}_{view}", patient=f"phantom{p:05d}", visit="1", view=view)
            for p in range(self.patients) for j, view in enumerate(VIEWS)
        ]
        self._rendered: dict[int, dict] = {}

    def __len__(self) -> int:
        return len(self.records)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        patient, j = divmod(int(index), len(VIEWS))
        if patient not in self._rendered:
            visit = render_patient(self.seed, visits=1, masks_dir=self.masks, size=self.size,
                                   patient=patient, split=self.split)[0]
            if len(self._rendered) >= self.cache:
                self._rendered.pop(next(iter(self._rendered)))
            self._rendered[patient] = visit.views
        view = self._rendered[patient][VIEWS[j]]
        return view.image, view.scalp.astype(bool), view.hairloss.astype(bool)


class ConcatSource:
    """Several sources seen as one (e.g. phantoms from real masks plus procedural
    phantoms, or data from two clinics). Rows keep their patient ids, so the
    patient-level split still holds; stems get the source's position as prefix
    only where two sources share one."""

    def __init__(self, sources: Sequence[Source]):
        if not sources:
            raise DatasetError("no dataset given", fix="pass at least one dataset folder")
        self.sources = list(sources)
        self.path = " + ".join(str(getattr(s, "path", "data")) for s in self.sources)
        self._where: list[tuple[int, int]] = []
        self.records = []
        seen: set[str] = set()
        for k, source in enumerate(self.sources):
            for r in source.records:
                stem = r.stem if r.stem not in seen else f"{k}:{r.stem}"
                seen.add(stem)
                self.records.append(Record(index=len(self._where), stem=stem, patient=r.patient,
                                           visit=r.visit, view=r.view))
                self._where.append((k, r.index))

    def __len__(self) -> int:
        return len(self.records)

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k, i = self._where[index]
        return self.sources[k].sample(i)


def open_source(dataset) -> Source:
    """A source for ``dataset``: a converted-dataset path, an object that already
    is one, or a list/tuple of those (concatenated)."""
    if hasattr(dataset, "records") and hasattr(dataset, "sample"):
        return dataset
    if isinstance(dataset, (list, tuple)):
        if len(dataset) == 1:
            return open_source(dataset[0])
        return ConcatSource([open_source(d) for d in dataset])
    return ConvertedSource(dataset)


def task_rows(records: Sequence[Record], cfg: TrainConfig, where: str = "the dataset") -> list[int]:
    """Indices of the rows ``cfg.task`` trains on.

    A scalp task given the default views refuses rows of unknown view: it
    cannot tell whether they belong to it.
    """
    views = cfg.task_views
    if cfg.views is None and cfg.task != "hairloss":
        unknown = [r.stem for r in records if r.view == UNKNOWN_VIEW]
        if unknown:
            raise DatasetError(
                f"{where}: {len(unknown)} row(s) have no known view (e.g. {unknown[0]}); "
                f"the {cfg.task} network needs to know the view of each photograph",
                fix="fill the view column of meta.csv, or pass --views (e.g. --views "
                    f"{','.join(views)} to skip them, or --views all to use every row)",
            )
    rows = [r.index for r in records if r.view in views]
    if not rows:
        raise DatasetError(f"{where}: no rows with view(s) {', '.join(views)} for task {cfg.task}",
                           fix="check the view column of meta.csv or pass --views")
    return rows


#: The networks that see right views mirrored, as inference feeds them (``alonet.infer.pipeline``
#: processes a right view entirely in the mirrored frame: temporal scalp network and hair loss).
MIRRORED_TASKS = ("scalp-temporal", "hairloss")


def needs_mirror(record: Record, cfg: TrainConfig) -> bool:
    """Right views are mirrored (to look like left views) for the networks inference shows them
    mirrored to. Before 2026-12-06 the hair-loss network saw them unmirrored in training
    (only its random flips showed it the other orientation)."""
    return cfg.task in MIRRORED_TASKS and cfg.mirror_right and seen_mirrored(record.view)


def subsample(rows: Sequence[int], limit: int | None, seed: int) -> list[int]:
    """At most ``limit`` rows, chosen reproducibly (order kept)."""
    rows = list(rows)
    if limit is None or len(rows) <= limit:
        return rows
    keep = np.random.default_rng(seed).choice(len(rows), size=limit, replace=False)
    return [rows[i] for i in sorted(keep)]


class TaskDataset:
    """torch-compatible Dataset of (input tensor, target tensor) for one task.

    Set ``epoch`` before each epoch: augmentation is seeded by
    (``cfg.seed``, epoch, row index), so results do not depend on worker
    count or on whether the run was resumed.
    """

    def __init__(self, source: Source, rows: Sequence[int], cfg: TrainConfig, train: bool):
        self.source = source
        self.rows = list(rows)
        self.cfg = cfg
        self.train = train
        self.model_cfg = cfg.model_config()
        self.augment = build_augmentation(cfg, train)
        self.style_photos = []
        if train and cfg.style_images:
            self.style_photos = list_style_photos(cfg.style_images)
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.rows)

    def arrays(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(network input uint8 (S,S,3), target bool (S,S)) of item ``k`` as numpy."""
        index = self.rows[k]
        record = self.source.records[index]
        image, scalp, hairloss = self.source.sample(index)
        size = self.cfg.input_size
        # The inference route: mirror first (a right view), then alonet.model.preprocess.prepare_input;
        # the dataset holds the working-size step, the network-size step is the function inference calls.
        if needs_mirror(record, self.cfg):
            image, scalp, hairloss = (np.ascontiguousarray(a[:, ::-1]) for a in (image, scalp, hairloss))
        image = prepare_input(image, size)
        scalp, hairloss = prepare_mask(scalp, size), prepare_mask(hairloss, size)
        seed = sample_seed(self.cfg.seed, self.epoch if self.train else 0, index)
        self.augment.set_random_seed(seed)
        out = self.augment(image=np.ascontiguousarray(image),
                           scalp=np.ascontiguousarray(scalp, dtype=np.uint8),
                           hairloss=np.ascontiguousarray(hairloss, dtype=np.uint8))
        image, scalp, hairloss = out["image"], out["scalp"] > 0, out["hairloss"] > 0
        rng = np.random.default_rng(seed)
        if self.train and self.style_photos and rng.random() < self.cfg.style_p:
            style = read_style(self.style_photos[int(rng.integers(len(self.style_photos)))], size)
            image = low_frequency_mix(image, style, self.cfg.style_beta, float(rng.uniform(0.15, 0.4)))
        if self.cfg.task != "hairloss":
            return image, scalp
        if self.train and rng.random() < self.cfg.imperfect_scalp_p:
            scalp = imperfect_scalp(scalp, rng)
        return paint_outside_scalp(image, scalp, self.model_cfg.fill_color), hairloss & scalp

    def __getitem__(self, k: int):
        import torch

        image, target = self.arrays(k)
        x = normalize_images(image, self.model_cfg)[0]
        return torch.from_numpy(x), torch.from_numpy(target.astype(np.int64))
