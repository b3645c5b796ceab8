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

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import secrets
from pathlib import Path

from alonet.data.atomic import atomic_write_text

KEY_FILE = ".report-key"
INDEX_FILE = "reports_index.csv"
SUPERSEDED_DIR = "superseded-reports"


def report_key(out: Path) -> bytes:
    """The output folder's key for de-identified folder names (made on first use, mode 0600)."""
    path = Path(out) / KEY_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
        if len(text) == 64:
            return bytes.fromhex(text)
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        pass
    text = secrets.token_hex(32)
    atomic_write_text(path, text + "\n")
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return bytes.fromhex(text)


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
    """``OUT/reports_index.csv``: patient, visit and report folder of each visit (atomic)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["patient", "visit", "folder"])
    writer.writerows(rows)
    atomic_write_text(Path(out) / INDEX_FILE, buffer.getvalue())
