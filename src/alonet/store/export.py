"""Stored visits -> an ordinary converted dataset (``alonet convert --from-store``).

A store (``alonet serve --store DIR``) keeps each saved visit's photographs and
the masks as they were when saved: the user's corrected masks where a view was
corrected, the model's masks otherwise. :func:`export_store` turns the visits
marked "reviewed — use for training" (or, with ``include_all``, every stored
visit) into a dataset folder that ``alonet train`` and ``alonet evaluate`` read
like any other (see ``alonet.data.dataset``)::

    OUT/images.npy, scalp.npy, hairloss.npy, meta.csv, dataset.json
    OUT/photographs/<stem>.jpg     the stored photographs, byte for byte (stem: v<visit id>_<view>)
    OUT/scalp/<stem>.png           the stored full-size masks (0/255), byte for byte
    OUT/hairloss/<stem>.png
    OUT/manifest.csv               stem, patient, visit, view, photo, scalp, hairloss,
                                   visit_date, loss_pct, salt, corrected, reviewed_at
    OUT/skipped.csv                what was left out and why (only when something was)

The photographs, masks and manifest are laid out like ``alonet phantom``'s
output, so they can be inspected with any image viewer or converted again at
another size (``alonet convert --from OUT -o OTHER --size 256``). ``patient`` is
the store's pseudonymous patient code and ``visit`` the store's visit number
(unique per visit, so two visits on one day stay apart). File names hold only the visit
number and the view (``v12_top.jpg``): the patient code and the visit date are in the
manifest's (and ``meta.csv``'s) columns, never in a file name.

Views left out, each with a reason: a scalp mask with no pixel (nothing to
learn the scalp from), files that are missing or unreadable, masks whose size
differs from the photograph. Everything is written into a temporary folder
beside ``OUT`` that is renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from alonet.system.atomic import check_can_write_directory
from alonet.data.dataset import DATASET_FILES, DEFAULT_SIZE, DatasetWriter
from alonet.data.annotation import check_same_size, read_annotation
from alonet.data.photo import read_photo
from alonet.errors import AloNetError, DatasetError, InvalidValueError, SizeMismatchError
from alonet.scoring.salt import view_loss_percent
from alonet.store.errors import DamagedRecordError, StoreError
from alonet.store.records import StoredView, Visit
from alonet.store.storage import DB_NAME, Store

#: Columns of the exported manifest.csv (phantom-style, plus the store's own).
MANIFEST_COLUMNS: tuple[str, ...] = (
    "stem", "patient", "visit", "view", "photo", "scalp", "hairloss",
    "visit_date", "loss_pct", "salt", "corrected", "reviewed_at",
)
SKIPPED_COLUMNS: tuple[str, ...] = ("patient", "visit", "visit_date", "view", "code", "reason")

#: Skip codes and what they mean.
NOT_REVIEWED = "not_reviewed"
EMPTY_SCALP = "empty_scalp"
UNREADABLE = "unreadable"
SIZE_MISMATCH = "size_mismatch"
NO_USABLE_VIEW = "no_usable_view"
VIEW_MISMATCH = "view_mismatch"
DAMAGED_RECORD = "damaged_record"
CHANGED_DURING_EXPORT = "changed_during_export"

#: How `convert --from-store` and `adapt` name each skip code's count.
SKIP_WORDS = MappingProxyType({
    NOT_REVIEWED: "visit(s) not marked reviewed",
    NO_USABLE_VIEW: "visit(s) without a usable view",
    EMPTY_SCALP: "view(s) with an empty scalp mask",
    UNREADABLE: "view(s) with a missing or unreadable file",
    SIZE_MISMATCH: "view(s) whose masks do not fit the photograph",
    VIEW_MISMATCH: "view(s) that look like another view (mislabelled)",
    DAMAGED_RECORD: "visit(s) whose database record cannot be read",
    CHANGED_DURING_EXPORT: "view(s) saved again or deleted in the web app during the export (export again)",
})


def left_out_text(skip_reasons: dict[str, int]) -> str:
    """``{code: count}`` in words, e.g. "8 view(s) with an empty scalp mask; 2 visit(s) without a usable view"."""
    return "; ".join(f"{n} {SKIP_WORDS.get(code, code)}" for code, n in sorted(skip_reasons.items()))


def skip_reasons_of(dataset: str | Path) -> dict[str, int]:
    """``{code: count}`` of what a store export left out, read back from its ``skipped.csv``
    (empty when nothing was, or when ``dataset`` is not a store export)."""
    path = Path(dataset) / "skipped.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        return dict(Counter(row["code"] for row in csv.DictReader(handle) if row.get("code")))


@dataclass(frozen=True)
class Skipped:
    """A visit (``view`` empty) or one view left out of the export, and why."""

    patient: str
    visit: int
    visit_date: str
    view: str
    code: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in SKIPPED_COLUMNS}


def open_store(store_dir: str | Path) -> Store:
    """Open an existing store folder; StoreError if it holds no AloNet database
    (a store is never created here)."""
    root = Path(store_dir)
    if not root.is_dir():
        raise StoreError(f"store folder {root} not found", path=root,
                         fix="give the folder passed to `alonet serve --store`")
    if not (root / DB_NAME).is_file():
        raise StoreError(f"{root} is not an AloNet store (no {DB_NAME})", path=root,
                         fix="give the folder passed to `alonet serve --store`")
    return Store(root)


#: How exported files are named (see :func:`stem_for`); part of :func:`store_fingerprint`, so a
#: work folder that ``alonet adapt`` filled with an export named otherwise is not resumed as is.
STEM_SCHEME = "v<visit id>_<view>"


def stem_for(visit: Visit | int, view: str) -> str:
    """File stem of one exported view: ``v<visit id>_<view>``, e.g. ``v12_top``. The store's
    visit ids are unique, so the stems are; the patient code and the visit date are kept out
    of file names (a shared folder or zip lists those), and only the manifest has them."""
    visit_id = visit if isinstance(visit, int) else visit.id
    return f"v{int(visit_id)}_{view}"


def _load_view(store: Store, stored: StoredView) -> tuple[Any, Any, Any]:
    """Decode a stored view's photograph and masks (raises AloNetError)."""
    photo_path = store.image_file(stored.photo_file)
    scalp_path = store.image_file(stored.scalp_file)
    loss_path = store.image_file(stored.hairloss_file)
    for path in (photo_path, scalp_path, loss_path):
        if not path.is_file():
            raise DatasetError(f"stored file {path} is missing", path=path,
                               fix="delete the visit in the web app and save it again")
    photo = read_photo(photo_path, max_pixels=None)
    scalp = read_annotation(scalp_path, max_pixels=None)
    loss = read_annotation(loss_path, max_pixels=None)
    check_same_size(photo.shape, scalp.shape, photo_path, scalp_path)
    check_same_size(photo.shape, loss.shape, photo_path, loss_path)
    return photo, scalp, loss


def _replaced_meanwhile(store: Store, visit_id: int, view: str, stored: StoredView) -> bool:
    """The visit no longer names ``stored``'s files for ``view``: a web server saved it again or
    deleted it after the export read its record (and removed the files it replaced)."""
    try:
        current = store.get_visit(visit_id)
    except (AloNetError, OSError):
        return False
    now = None if current is None else current.views.get(view)
    return now is None or now.files != stored.files


def _skip_code(exc: AloNetError) -> str:
    return SIZE_MISMATCH if isinstance(exc, SizeMismatchError) else UNREADABLE


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns), restval="")
        writer.writeheader()
        writer.writerows(rows)


def _readable_visit(store: Store, visit_id: int, skipped: list[Skipped]) -> Visit | None:
    """The stored visit, or None when it was deleted meanwhile or its database record cannot be
    read (then added to ``skipped`` with the reason: one damaged visit must not stop the export)."""
    try:
        return store.get_visit(visit_id)
    except DamagedRecordError as exc:
        skipped.append(Skipped("", visit_id, "", "", DAMAGED_RECORD, exc.reason))
        return None


def _select(store: Store, store_dir: Path, include_all: bool) -> tuple[list[int], int, list[Skipped]]:
    """The visit ids to export, how many visits are stored, and the
    not-reviewed visits left out."""
    every = store.visit_ids()
    if not every:
        raise StoreError(f"the store {store_dir} holds no visits", path=store_dir,
                         fix="score visits with `alonet serve --store` and save them first")
    if include_all:
        return every, len(every), []
    reviewed = store.visit_ids(reviewed_only=True)
    if not reviewed:
        raise StoreError(
            f"none of the {len(every)} visits in the store {store_dir} is marked reviewed", path=store_dir,
            fix="check each visit's masks in the web app and press 'Mark reviewed — use for training', "
            "or pass --all to export every stored visit",
        )
    chosen = set(reviewed)
    skipped: list[Skipped] = []
    for visit_id in every:
        if visit_id in chosen:
            continue
        visit = _readable_visit(store, visit_id, skipped)
        if visit is None:  # deleted meanwhile, or damaged (then in ``skipped`` already)
            continue
        patient = store.get_patient(visit.patient_id)
        skipped.append(Skipped(patient.code if patient else "", visit.id, visit.visit_date, "", NOT_REVIEWED,
                               "not marked reviewed (pass --all to include it)"))
    return reviewed, len(every), skipped


def store_fingerprint(store_dir: str | Path, include_all: bool = False) -> str:
    """A checksum of what :func:`export_store` would export now: the chosen visits, their
    patients and their stored files (a save after more corrections writes new files), and how
    the exported files are named (:data:`STEM_SCHEME`), so a dataset exported earlier can tell
    that the store, or its export, has changed since."""
    store_dir = Path(store_dir)
    store = open_store(store_dir)
    visit_ids, _, _ = _select(store, store_dir, include_all)
    digest = hashlib.sha256(f"stems {STEM_SCHEME}\n".encode())
    for visit_id in visit_ids:
        try:
            visit = store.get_visit(visit_id)
        except DamagedRecordError:
            digest.update(f"{visit_id}|damaged\n".encode())
            continue
        if visit is None:
            continue
        files = [f"{v.view}:{v.photo_file}:{v.scalp_file}:{v.hairloss_file}" for v in visit.views.values()]
        digest.update(f"{visit.id}|{visit.patient_id}|{visit.visit_date}|{'|'.join(files)}\n".encode())
    return digest.hexdigest()


def _export_view(store: Store, writer: DatasetWriter, folders: dict[str, Path], patient: str, visit: Visit,
                 view: str, stored: StoredView) -> dict[str, Any] | Skipped:
    """Export one stored view: copy its files into ``folders`` and add it to ``writer``. Returns
    its manifest row, or the :class:`Skipped` row saying why it was left out."""
    def skip(code: str, reason: str) -> Skipped:
        return Skipped(patient, visit.id, visit.visit_date, view, code, reason)

    mismatch = next((f for f in stored.flags if f.get("code") == VIEW_MISMATCH), None)
    if mismatch is not None:  # its label is wrong: it would train the other scalp network
        return skip(VIEW_MISMATCH, f"{mismatch.get('message', 'looks like another view')} (label the "
                                   "photographs right and score the visit again)")
    changed = skip(CHANGED_DURING_EXPORT, "saved again or deleted in the web app while the export read it "
                                          "(export again, or while nobody saves)")
    try:
        photo, scalp, loss = _load_view(store, stored)
    except AloNetError as exc:
        return changed if _replaced_meanwhile(store, visit.id, view, stored) else skip(_skip_code(exc), str(exc))
    if not scalp.any():
        return skip(EMPTY_SCALP, "the scalp mask is empty (draw the scalp in the web app, or retake)")
    stem = stem_for(visit, view)
    files = {"photo": f"{stem}.jpg", "scalp": f"{stem}.png", "hairloss": f"{stem}.png"}
    try:
        shutil.copyfile(store.image_file(stored.photo_file), folders["photographs"] / files["photo"])
        shutil.copyfile(store.image_file(stored.scalp_file), folders["scalp"] / files["scalp"])
        shutil.copyfile(store.image_file(stored.hairloss_file), folders["hairloss"] / files["hairloss"])
    except FileNotFoundError:  # removed between the decode and the copy
        if not _replaced_meanwhile(store, visit.id, view, stored):
            raise
        return changed
    writer.add(
        photo, scalp, loss, stem=stem, photo=f"photographs/{files['photo']}",
        scalp=f"scalp/{files['scalp']}", hairloss=f"hairloss/{files['hairloss']}",
        patient=patient, visit=str(visit.id), view=view, visit_date=visit.visit_date,
        corrected=int(stored.corrected),
    )
    return {
        "stem": stem, "patient": patient, "visit": str(visit.id), "view": view, **files,
        "visit_date": visit.visit_date,
        "loss_pct": round(view_loss_percent(loss, scalp, view=view), 4),
        "salt": "" if visit.salt is None else visit.salt,
        "corrected": int(stored.corrected), "reviewed_at": visit.reviewed_at or "",
    }


def _summary(target: Path, size: int, include_all: bool, stored_count: int, manifest: list[dict[str, Any]],
             skipped: list[Skipped]) -> dict[str, Any]:
    """What :func:`export_store` returns, from the manifest rows written and the rows left out."""
    exported_visits = {row["visit"] for row in manifest}
    return {
        "dataset": str(target),
        "size": int(size),
        "include_all": bool(include_all),
        "patients": len({row["patient"] for row in manifest}),
        "visits_stored": stored_count,
        "visits_exported": len(exported_visits),
        "visits_skipped": stored_count - len(exported_visits),
        "views_exported": len(manifest),
        "views_corrected": sum(row["corrected"] for row in manifest),
        "views_skipped": sum(1 for s in skipped if s.view),
        "skipped": [s.to_dict() for s in skipped],
        "skip_reasons": dict(Counter(s.code for s in skipped)),
    }


def _patient_codes(store: Store, visits: list[Visit]) -> dict[int, str]:
    """Patient id -> the store's pseudonymous code (the id itself for a patient deleted meanwhile)."""
    codes: dict[int, str] = {}
    for visit in visits:
        if visit.patient_id not in codes:
            record = store.get_patient(visit.patient_id)
            codes[visit.patient_id] = record.code if record else str(visit.patient_id)
    return codes


def _private_file_folders(writer: DatasetWriter) -> dict[str, Path]:
    """Make the dataset folder private (it holds the store's photographs and codes, like the
    store) and create its photographs/, scalp/ and hairloss/ folders."""
    if os.name != "nt":
        with contextlib.suppress(OSError):
            os.chmod(writer.folder, 0o700)
    folders = {name: writer.folder / name for name in ("photographs", "scalp", "hairloss")}
    for folder in folders.values():
        folder.mkdir()
    return folders


def _export_visit(store: Store, writer: DatasetWriter, folders: dict[str, Path], patient: str,
                  visit: Visit) -> tuple[list[dict[str, Any]], list[Skipped]]:
    """Export every view of one visit. Returns the manifest rows written and the rows left out
    (in view order; then the visit itself when none of its views could be exported)."""
    rows: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for view, stored in visit.views.items():
        row = _export_view(store, writer, folders, patient, visit, view, stored)
        if isinstance(row, Skipped):
            skipped.append(row)
        else:
            rows.append(row)
    if not rows:
        skipped.append(Skipped(patient, visit.id, visit.visit_date, "", NO_USABLE_VIEW,
                               "none of its views could be exported (see its views' rows)"))
    return rows, skipped


def export_store(
    store_dir: str | Path,
    out_dir: str | Path,
    *,
    include_all: bool = False,
    size: int = DEFAULT_SIZE,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Write the store's reviewed visits (all with ``include_all``) as a dataset.

    Returns a summary: ``dataset`` (the folder), ``size``, ``include_all``,
    ``patients``, ``visits_stored``, ``visits_exported``, ``visits_skipped``,
    ``views_exported``, ``views_corrected`` (exported views whose masks the
    user corrected), ``views_skipped``, ``skipped`` (a list of dicts with
    patient, visit, visit_date, view, code, reason; ``view`` is empty when a
    whole visit was left out) and ``skip_reasons`` ({code: count}).

    Raises StoreError when ``store_dir`` is not a store, holds no visits or no
    reviewed visit (without ``include_all``); DatasetError when no view can be
    exported; OutputExistsError when ``out_dir`` exists (unless ``overwrite``).
    Nothing is written at ``out_dir`` unless the whole export succeeds.
    """
    from tqdm import tqdm

    if int(size) < 8:
        raise InvalidValueError(f"size {size} is too small", fix="use --size 8 or more (the study used 320)")
    store_dir = Path(store_dir)
    target = check_can_write_directory(out_dir, overwrite, inputs=(store_dir,), own=DATASET_FILES)
    store = open_store(store_dir)
    visit_ids, stored_count, skipped = _select(store, store_dir, include_all)
    visits = []
    for visit_id in visit_ids:
        visit = _readable_visit(store, visit_id, skipped)
        if visit is not None:
            visits.append(visit)
    capacity = max(1, sum(len(v.views) for v in visits))
    codes = _patient_codes(store, visits)
    info = {"source": {"store": str(store_dir.resolve()), "include_all": bool(include_all),
                       "fingerprint": store_fingerprint(store_dir, include_all)}, "skipped": 0}
    manifest: list[dict[str, Any]] = []
    with DatasetWriter(target, count=capacity, size=int(size), overwrite=overwrite, info=info) as writer:
        folders = _private_file_folders(writer)
        for visit in tqdm(visits, desc="exporting", unit="visit", file=sys.stderr, disable=not progress):
            rows, left_out = _export_visit(store, writer, folders, codes[visit.patient_id], visit)
            manifest += rows
            skipped += left_out
        if not manifest:
            reasons = "; ".join(sorted({s.reason for s in skipped if s.view}))
            raise DatasetError(f"none of the {len(visits)} selected visits has a view that can be exported: {reasons}",
                               path=store_dir, fix="correct the visits' masks in the web app and save them again")
        _write_csv(writer.folder / "manifest.csv", MANIFEST_COLUMNS, manifest)
        writer.info["skipped"] = sum(1 for s in skipped if s.view)
        if skipped:
            _write_csv(writer.folder / "skipped.csv", SKIPPED_COLUMNS, [s.to_dict() for s in skipped])
    return _summary(target, size, include_all, stored_count, manifest, skipped)


__all__ = ["MANIFEST_COLUMNS", "SKIP_WORDS", "STEM_SCHEME", "Skipped", "export_store", "left_out_text", "open_store",
           "skip_reasons_of", "stem_for"]
