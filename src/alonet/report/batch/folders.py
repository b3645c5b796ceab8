"""Where ``alonet batch --reports`` puts each visit's report folder, and what it does with
the folders a rerun replaces.

* Identified reports: ``OUT/reports/<patient>_<visit>/`` (``batch.output_name``).
* ``--deidentify``: ``OUT/reports/visit-<16 hex>/``, the hex an HMAC-SHA256 of the patient
  and visit labels under a random key kept in ``OUT/.report-key`` (created once, readable
  by its owner only). The name says nothing about the patient and cannot be confirmed
  from a list of names without the key; a rerun finds the same folder again.
  ``OUT/reports_index.csv`` (beside ``reports/``, not in it) maps each visit to its folder.
* A folder a rerun replaces moves out of ``reports/`` to
  ``OUT/superseded-reports/<name>.superseded-<UTC time>`` (kept, never written over), so
  sharing ``reports/`` never shares an older, perhaps identified, report with it.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from pathlib import Path

from alonet.system.atomic import atomic_write_text, create_hex_key, read_hex_key
from alonet.errors import DatasetError

KEY_FILE = ".report-key"
INDEX_FILE = "reports_index.csv"
SUPERSEDED_DIR = "superseded-reports"


def read_key(out: Path) -> bytes | None:
    """The output folder's key for de-identified folder names, or None when it has none yet.
    Raises DatasetError for a damaged key file (its folders could no longer be found)."""
    path = Path(out) / KEY_FILE
    try:
        return read_hex_key(path)
    except (OSError, ValueError):
        pass
    raise DatasetError(f"{path} is damaged: it names the de-identified report folders of {Path(out) / 'reports'}",
                       path=path, fix=f"restore it from a backup, or move {Path(out) / 'reports'} aside and delete it")


def report_key(out: Path) -> bytes:
    """The output folder's key (:func:`read_key`), made on first use: readable by its owner
    only from the start, and never written over a key another run made meanwhile (then
    that one is used; ``alonet.system.atomic.create_hex_key``)."""
    key = read_key(out)
    if key is not None:
        return key
    create_hex_key(Path(out) / KEY_FILE)
    key = read_key(out)
    if key is None:  # deleted as soon as it was made
        raise DatasetError(f"{Path(out) / KEY_FILE} disappeared right after it was made",
                           path=Path(out) / KEY_FILE,
                           fix=f"make sure no other program deletes files in {out}, then run the command again")
    return key


def tidy_reports(out: Path, stamp: str, key_is_new: bool) -> None:
    """Keep ``reports/`` to current reports: folders renamed ``*.superseded-*`` inside it (as
    runs before 2026-12-07 left them) move to ``superseded-reports/``; with a key just made,
    de-identified folders of an earlier key (deleted since: nobody can say whose they are)
    move there too."""
    reports = Path(out) / "reports"
    if not reports.is_dir():
        return
    old = [p for p in reports.iterdir() if p.is_dir() and ".superseded-" in p.name]
    target_dir = Path(out) / SUPERSEDED_DIR
    for folder in old:
        target_dir.mkdir(exist_ok=True)
        if not (target_dir / folder.name).exists():
            folder.rename(target_dir / folder.name)
    if key_is_new:
        supersede(out, [p for p in reports.iterdir() if p.is_dir() and p.name.startswith("visit-")], stamp)


def supersede_identified(out: Path, stamp: str) -> None:
    """Before a de-identified run scores (after it decided why each visit is redone): move every
    report folder of ``reports/`` written identified, or that cannot say, to
    ``superseded-reports/``. The identified reports of visits it does not score (no longer in
    the manifest, or not chosen with ``--only``) stayed in ``reports/``, the folder that is
    shared alone (a privacy audit, thirty-fourth session); moved first, an interrupted run
    leaves none either. Kept: folders being written (hidden temporary names) and de-identified
    names (``visit-<16 hex>``, which only de-identified runs make) still without a report.json."""
    reports = Path(out) / "reports"
    if not reports.is_dir():
        return
    identified = [p for p in reports.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and not was_deidentified(p)
                  and not (re.fullmatch(r"visit-[0-9a-f]{16}", p.name) and was_deidentified(p) is None)]
    supersede(out, identified, stamp)


def deidentified_name(key: bytes, patient: str, visit: str) -> str:
    """``visit-<16 hex>``: an HMAC of the labels, opaque without the output folder's key."""
    digest = hmac.new(key, f"{patient}\0{visit}".encode("utf-8"), hashlib.sha256).hexdigest()
    return f"visit-{digest[:16]}"


def was_deidentified(folder: Path) -> bool | None:
    """Whether the report in ``folder`` was written de-identified (None: no readable report.json)."""
    try:
        return bool(json.loads((folder / "report.json").read_text(encoding="utf-8")).get("deidentified"))
    except (OSError, ValueError, AttributeError):
        return None


def supersede(out: Path, folders: list[Path], stamp: str) -> None:
    """Move each existing folder of ``folders`` to ``OUT/superseded-reports/<name>.superseded-<stamp>``."""
    target_dir = Path(out) / SUPERSEDED_DIR
    for folder in folders:
        if not folder.is_dir():
            continue
        target_dir.mkdir(exist_ok=True)
        target, n = target_dir / f"{folder.name}.superseded-{stamp}", 1
        while target.exists():
            n += 1
            target = target_dir / f"{folder.name}.superseded-{stamp}-{n}"
        folder.rename(target)


def write_index(out: Path, rows: list[tuple[str, str, str]]) -> None:
    """``OUT/reports_index.csv``: patient, visit and report folder of each visit that has one (atomic)."""
    rows = [row for row in rows if (Path(out) / "reports" / row[2]).is_dir()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["patient", "visit", "folder"])
    writer.writerows(rows)
    atomic_write_text(Path(out) / INDEX_FILE, buffer.getvalue())
