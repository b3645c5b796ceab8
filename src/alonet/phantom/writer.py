"""Write a phantom dataset to disk in exactly the layout a real user brings:

```
OUT/photographs/<stem>.jpg   the photographs (RGB JPEG)
OUT/scalp/<stem>.png         scalp annotations (0 / 255)
OUT/hairloss/<stem>.png      hair-loss annotations (0 / 255)
OUT/manifest.csv             one row per photograph (see MANIFEST_FIELDS)
OUT/preview.png              contact sheet (with preview=True)
```

``stem`` is ``<patient>_v<visit>_<view>``. ``style`` is the look style the
patient was rendered with (``train``, or ``heldout`` for appearance families
training never sees); the columns after it describe the visit's look (see
:data:`LOOK_FIELDS`), so that errors can be broken down by appearance
(``scripts/dev/error_by_look.py``). ``loss_pct`` is the view's true %
hair loss and ``salt`` the visit's true SALT, both computed with
:mod:`alonet.scoring.salt` from exactly the masks written. The folder appears
complete or not at all (:func:`alonet.system.atomic.atomic_directory`). Output
is byte-identical for a seed whatever the number of workers: every patient is
rendered from its own seeds and rows are sorted before the manifest is written.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import sys
from concurrent.futures import as_completed
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from alonet.system.atomic import Marker, atomic_directory, atomic_write_text, check_can_write_directory
from alonet.data.encode import encode_jpeg, encode_mask_png
from alonet.system.processes import worker_pool
from alonet.errors import InvalidValueError
from alonet.phantom.generate import procedural_plan, real_patient_order, real_plan, render_visits
from alonet.phantom.preview import PreviewRow, contact_sheet, thumbnail
from alonet.phantom.render.look import Look
from alonet.phantom.realmasks import RealMaskSet
from alonet.views import VIEWS

LOG = logging.getLogger(__name__)

#: Look columns of manifest.csv: Fitzpatrick skin type (1-6), hair colour name, strand length
#: (share of the scalp's size), cropped and shaved hair (0/1), and how much remaining hair the
#: loss keeps (0 none .. 1, ``Look.remnant_hairs``).
LOOK_FIELDS = ("fitzpatrick", "hair_colour", "hair_length", "cropped", "shaved", "remnant_hairs")

#: Columns of manifest.csv, in order.
MANIFEST_FIELDS = (
    "stem", "patient", "visit", "view", "photo", "scalp", "hairloss", "loss_pct", "salt",
    "visit_date", "source", "pattern", "split", "width", "height", "style", *LOOK_FIELDS,
)


#: What marks a folder as phantoms (``--overwrite`` replaces only such a folder): a manifest.csv
#: with phantom columns (the name alone is common: an annotation folder or a user's data has one).
PHANTOM_FILES = (Marker("manifest.csv", ",".join(MANIFEST_FIELDS[:9])),)


def look_columns(look: Look | None) -> dict[str, str | int]:
    """The :data:`LOOK_FIELDS` of one visit's look (empty strings without one)."""
    if look is None:
        return dict.fromkeys(LOOK_FIELDS, "")
    return {"fitzpatrick": look.fitzpatrick, "hair_colour": look.hair_name, "hair_length": f"{look.hair_length:.4f}",
            "cropped": int(look.cropped), "shaved": int(look.shaved), "remnant_hairs": f"{look.remnant_hairs:.3f}"}

def file_safe(patient: str) -> str:
    """``patient`` as part of a file name: unchanged when it is letters, digits, ``.``, ``_`` and
    ``-``; else those kept, the rest ``_``, plus 8 hex digits of its SHA-256 (``a/b`` and ``a_b``
    stay apart, and ``a/b`` is no longer a folder ``a`` that does not exist)."""
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", patient) and len(patient) <= 100:
        return patient
    digest = hashlib.sha256(patient.encode("utf-8")).hexdigest()[:8]
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', patient)[:100]}-{digest}"


#: Visits per patient at most: procedural visits are 4–17 weeks apart, so 1000 end before the
#: year 2400 (40,000 ran past the year 9999, the last date Python has).
MAX_VISITS = 1000

#: JPEG quality of the written photographs (the renderer has already applied
#: the camera's own compression, quality 50–95).
JPEG_QUALITY = 95

#: Visits shown on the contact sheet at most.
PREVIEW_ROWS = 12


@dataclass(frozen=True)
class PhantomSpec:
    """What ``alonet phantom`` writes.

    ``patients``/``visits`` None means all (real annotations only: every
    patient of the split, every visit); ``size`` is the long side in pixels
    or ``"random"``; ``split`` selects real patients (train/val/test/all).
    """

    out: Path
    patients: int | None = 10
    visits: int | None = 1
    seed: int = 0
    size: int | str = 320
    masks_dir: Path | None = None
    split: str = "all"
    preview: bool = False
    workers: int = 1
    overwrite: bool = False
    pattern: str | None = None
    style: str = "train"

    def check(self) -> None:
        """Raise InvalidValueError for values no run can use."""
        if self.patients is not None and self.patients < 1:
            raise InvalidValueError(f"--patients {self.patients} must be at least 1", fix="ask for one patient or more")
        if self.visits is not None and self.visits < 1:
            raise InvalidValueError(f"--visits {self.visits} must be at least 1", fix="ask for one visit or more")
        if self.visits is not None and self.visits > MAX_VISITS:  # their dates would run past the calendar's end
            raise InvalidValueError(f"--visits {self.visits} is more than {MAX_VISITS} visits per patient",
                                    fix=f"ask for at most {MAX_VISITS} visits, and more patients if you need more")
        if self.masks_dir is None and (self.patients is None or self.visits is None):
            raise InvalidValueError("'all' patients or visits needs --masks",
                                    fix="give a number, or real annotations with --masks DIR")
        if self.size != "random" and (not isinstance(self.size, int) or self.size < 64):
            raise InvalidValueError(f"--size {self.size} is not a size", fix="use at least 64 (pixels) or 'random'")
        if self.workers < 1:
            raise InvalidValueError(f"--workers {self.workers} must be at least 1", fix="use 1 or more")
        if self.split not in ("train", "val", "test", "all"):
            raise InvalidValueError(f"unknown split {self.split!r}", fix="use train, val, test or all")
        if self.style not in ("train", "heldout"):
            raise InvalidValueError(f"unknown style {self.style!r}", fix="use train or heldout")


@dataclass(frozen=True)
class WriteResult:
    out: Path
    patients: int
    visits: int
    views: int
    manifest: Path
    preview: Path | None


@dataclass(frozen=True)
class _Task:
    index: int
    real_patient: str | None


def _tasks(spec: PhantomSpec) -> list[_Task]:
    if spec.masks_dir is None:
        return [_Task(i, None) for i in range(int(spec.patients or 0))]

    order = real_patient_order(RealMaskSet(spec.masks_dir), spec.split, spec.seed)
    if not order:
        raise InvalidValueError(f"the {spec.split} split of {spec.masks_dir} has no patients",
                                fix="choose another --split")
    if spec.patients is not None:
        if spec.patients > len(order):
            LOG.info("note: the %s split has %d patients; writing all of them", spec.split, len(order))
        order = order[: spec.patients]
    return [_Task(i, p) for i, p in enumerate(order)]


def _write_patient(task: _Task, spec: PhantomSpec, folder: Path) -> tuple[list[dict], list[PreviewRow]]:
    """Render and write one patient; returns its manifest rows and preview rows."""
    masks = None
    if task.real_patient is None:
        plan = procedural_plan(task.index, int(spec.visits or 1), spec.seed)
    else:
        working = spec.size if isinstance(spec.size, int) else None
        # real patients come only from spec.masks_dir, so it is not None here
        masks = RealMaskSet(spec.masks_dir, working_side=working)  # type: ignore[arg-type]
        records = masks.patients("all")[task.real_patient]
        plan = real_plan(task.index, task.real_patient, records, masks, spec.visits)
    rows: list[dict] = []
    previews: list[PreviewRow] = []
    for visit in render_visits(plan, spec.seed, spec.size, masks, pattern=spec.pattern, style=spec.style):
        thumbs, captions = {}, {}
        for view in VIEWS:
            pv = visit.views[view]
            stem = f"{file_safe(visit.patient)}_v{visit.visit:02d}_{view}"
            photo, scalp, loss = f"{stem}.jpg", f"{stem}.png", f"{stem}.png"
            # plain writes: the whole folder appears at once (atomic_directory)
            (folder / "photographs" / photo).write_bytes(encode_jpeg(pv.image, JPEG_QUALITY))
            (folder / "scalp" / scalp).write_bytes(encode_mask_png(pv.scalp))
            (folder / "hairloss" / loss).write_bytes(encode_mask_png(pv.hairloss))
            rows.append({
                "stem": stem, "patient": visit.patient, "visit": visit.visit, "view": view,
                "photo": photo, "scalp": scalp, "hairloss": loss,
                "loss_pct": f"{pv.loss_pct:.4f}", "salt": f"{visit.salt:.4f}",
                "visit_date": visit.date, "source": pv.source, "pattern": pv.pattern, "split": visit.split,
                "width": pv.image.shape[1], "height": pv.image.shape[0], "style": visit.style,
                **look_columns(visit.look),
            })
            if spec.preview:
                thumbs[view] = thumbnail(pv.image, 150)
                captions[view] = f"{view} {pv.loss_pct:.0f}%"
        if spec.preview and len(previews) < PREVIEW_ROWS:
            previews.append(PreviewRow(f"{visit.patient}\nvisit {visit.visit}\nSALT {visit.salt:.1f}", thumbs, captions))
    return rows, previews


def _run(args: tuple[_Task, PhantomSpec, Path]) -> tuple[int, list[dict], list]:
    task, spec, folder = args
    if spec.workers > 1:  # one OpenCV thread per worker process: no oversubscription
        import cv2

        cv2.setNumThreads(1)
    rows, previews = _write_patient(task, spec, folder)
    return task.index, rows, previews


def write_phantoms(spec: PhantomSpec, progress: bool = True) -> WriteResult:
    """Write the phantom dataset described by ``spec`` (see the module doc); a request for
    more patients than a split has is logged (a note) and all of them are written."""
    from tqdm import tqdm

    spec.check()
    out = Path(spec.out)
    check_can_write_directory(out, spec.overwrite, inputs=(spec.masks_dir,), own=PHANTOM_FILES)
    tasks = _tasks(spec)
    results: dict[int, tuple[list[dict], list]] = {}
    with atomic_directory(out, overwrite=spec.overwrite, own=PHANTOM_FILES) as tmp:
        for sub in ("photographs", "scalp", "hairloss"):
            (tmp / sub).mkdir()
        jobs = [(t, spec, tmp) for t in tasks]
        bar = tqdm(total=len(jobs), desc="phantoms", unit="patient", file=sys.stderr, disable=not progress)
        try:
            if spec.workers > 1 and len(jobs) > 1:
                # "spawn" workers that exit if this process is killed (alonet.system.processes)
                with worker_pool(min(spec.workers, len(jobs))) as pool:
                    for future in as_completed([pool.submit(_run, job) for job in jobs]):
                        index, rows, previews = future.result()
                        results[index] = (rows, previews)
                        bar.update(1)
            else:
                for job in jobs:
                    index, rows, previews = _run(job)
                    results[index] = (rows, previews)
                    bar.update(1)
        finally:
            bar.close()
        rows = [r for i in sorted(results) for r in results[i][0]]
        atomic_write_text(tmp / "manifest.csv", _csv_text(rows))
        preview_path = None
        if spec.preview:
            previews = [p for i in sorted(results) for p in results[i][1]][:PREVIEW_ROWS]
            sheet = contact_sheet(previews).quantize(256, dither=Image.Dither.FLOYDSTEINBERG)
            sheet.save(tmp / "preview.png", format="PNG", optimize=True)
            preview_path = out / "preview.png"
    n_visits = len({(r["patient"], r["visit"]) for r in rows})
    return WriteResult(out, len(tasks), n_visits, len(rows), out / "manifest.csv", preview_path)


def _csv_text(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(MANIFEST_FIELDS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
