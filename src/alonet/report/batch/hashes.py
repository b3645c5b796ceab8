"""Photograph checksums remembered between batch runs (``OUT/.photo-sha256.json``).

A rerun tells changed photographs from unchanged ones by their SHA-256 (``inputs_sha256`` in
results.csv). Reading every photograph of a trial again on every rerun (tens of gigabytes for
300 patients with eight visits) cost more than the work a rerun does, also with ``--only``. A
file whose device, inode, size, modification time and status-change time are those recorded
with its checksum has not been written since (writing moves both times, and the status-change
time cannot be set back by a user), so its checksum is taken from here instead of from its bytes.

The file names no photograph: its entries are keyed by a SHA-256 of the resolved path, because
paths often hold patients' names. A missing or damaged file is started again (every
photograph is read once more); it holds only the photographs of the last run's manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alonet.system.atomic import atomic_write_text

#: The file in the batch output folder.
HASH_FILE = ".photo-sha256.json"
#: Its format; another value is read as no file.
HASH_FORMAT = "alonet-photo-sha256/1"


def _stamp(status: os.stat_result) -> list[int]:
    return [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns]


def _path_key(path: str | Path) -> str:
    return hashlib.sha256(os.fsencode(Path(path).resolve())).hexdigest()


@dataclass
class PhotoHashes:
    """Checksums of photographs with the file status they were taken at (see module doc)."""

    path: Path
    #: sha256 of the file's bytes (``alonet.report.provenance.file_sha256``).
    hash_file: Callable[[str | Path], str]
    known: dict[str, dict] = field(default_factory=dict)
    used: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def open(cls, out: Path, hash_file: Callable[[str | Path], str]) -> PhotoHashes:
        path = out / HASH_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            known = document["files"] if document.get("format") == HASH_FORMAT else {}
            if not isinstance(known, dict):
                known = {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            known = {}
        return cls(path=path, hash_file=hash_file, known=known)

    def sha256(self, file: str | Path) -> str:
        """The file's SHA-256: remembered when its status is unchanged, else read (OSError as
        reading raises it). The status is taken before the bytes are read, so a file written
        while it is read is read again next time."""
        stamp = _stamp(os.stat(file))
        key = _path_key(file)
        entry = self.known.get(key)
        if isinstance(entry, dict) and entry.get("stat") == stamp and isinstance(entry.get("sha256"), str):
            value = entry["sha256"]
        else:
            value = self.hash_file(file)
        self.used[key] = {"stat": stamp, "sha256": value}
        return value

    def save(self) -> None:
        """Keep the checksums of this run's photographs (those of photographs no longer in the
        manifest are dropped)."""
        atomic_write_text(self.path, json.dumps({"format": HASH_FORMAT, "files": self.used}) + "\n")
