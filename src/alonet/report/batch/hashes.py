"""Photograph checksums remembered between batch runs (``OUT/.photo-sha256.json``).

A rerun tells changed photographs from unchanged ones by their SHA-256 (``inputs_sha256`` in
results.csv). Reading every photograph of a trial again on every rerun (tens of gigabytes for
300 patients with eight visits) cost more than the work a rerun does, also with ``--only``.
So a photograph's checksum is taken from here when all of these are as they were recorded:

- its device, inode, size, modification time and status-change time (read from the open file,
  so a network file system checks them with the server);
- a SHA-256 of its first and last 64 KiB (camera metadata, the EXIF orientation among it, is
  at the start; this also covers file systems whose "status-change" time is the creation time
  (Windows) or a copy of the modification time);

and the file was last written at least :data:`SETTLED_S` seconds before its checksum was
recorded: on a file system with coarse times (whole seconds on some NAS and older disks) a
file rewritten in the same tick as it was read would keep every time (git's "racy clean"
files), so such a checksum is not trusted and the file is read again next time.

Entries are keyed by a SHA-256 of the resolved path (paths often hold patients' names), sorted,
and the file is readable by its owner only. A missing or damaged file is started again (every
photograph is read once more). It keeps the last :data:`MAX_ENTRIES` photographs (those of
other manifests written into the same folder too), and is saved every :data:`SAVE_EVERY` new
checksums, so an interrupted first run keeps what it read.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alonet.system.atomic import atomic_save

#: The file in the batch output folder.
HASH_FILE = ".photo-sha256.json"
#: Its format; another value is read as no file.
HASH_FORMAT = "alonet-photo-sha256/2"
#: Bytes sampled at each end of a photograph for its stamp.
SAMPLE_BYTES = 64 * 1024
#: A checksum recorded sooner than this after the file's last write is not trusted later.
SETTLED_S = 2.0
#: At most this many photographs are remembered (the least recently used go first).
MAX_ENTRIES = 200_000
#: Save after this many photographs were read, so an interrupted run keeps them.
SAVE_EVERY = 500


def _path_key(path: str | Path) -> str:
    return hashlib.sha256(os.fsencode(Path(path).resolve())).hexdigest()


def file_stamp(path: str | Path) -> tuple[list[int], int]:
    """(device, inode, size, mtime and ctime in ns, plus a SHA-256 of the first and last
    :data:`SAMPLE_BYTES` as an integer prefix) of a file, and its last change in ns."""
    with open(path, "rb") as handle:
        status = os.fstat(handle.fileno())
        sample = hashlib.sha256(handle.read(SAMPLE_BYTES))
        if status.st_size > SAMPLE_BYTES:
            handle.seek(max(SAMPLE_BYTES, status.st_size - SAMPLE_BYTES))
            sample.update(handle.read(SAMPLE_BYTES))
    stamp = [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns,
             int.from_bytes(sample.digest()[:8], "big")]
    return stamp, max(status.st_mtime_ns, status.st_ctime_ns)


@dataclass
class PhotoHashes:
    """Checksums of photographs with the file stamp they were taken at (see module doc)."""

    path: Path
    #: sha256 of the file's bytes (``alonet.report.provenance.file_sha256``).
    hash_file: Callable[[str | Path], str]
    entries: dict[str, dict] = field(default_factory=dict)
    read_since_save: int = 0

    @classmethod
    def open(cls, out: Path, hash_file: Callable[[str | Path], str]) -> PhotoHashes:
        path = out / HASH_FILE
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            entries = document["files"] if document.get("format") == HASH_FORMAT else {}
            if not isinstance(entries, dict):
                entries = {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            entries = {}
        return cls(path=path, hash_file=hash_file, entries=entries)

    def sha256(self, file: str | Path) -> str:
        """The file's SHA-256: remembered when its stamp is unchanged and was settled when
        recorded, else read (OSError as reading raises it). The stamp is taken before the
        bytes are read, so a file written while it is read is read again next time."""
        stamp, changed_ns = file_stamp(file)
        key = _path_key(file)
        entry = self.entries.pop(key, None)
        if (isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("settled")
                and isinstance(entry.get("sha256"), str)):
            value = entry["sha256"]
            settled = True
        else:
            recorded_ns = time.time_ns()
            value = self.hash_file(file)
            settled = recorded_ns - changed_ns >= SETTLED_S * 1e9
            self.read_since_save += 1
        self.entries[key] = {"stamp": stamp, "sha256": value, "settled": settled}  # now the most recent
        if self.read_since_save >= SAVE_EVERY:
            self.save()
        return value

    def save(self) -> None:
        """Write the remembered checksums (the :data:`MAX_ENTRIES` most recently used), sorted
        by key, readable by the owner only."""
        kept = dict(list(self.entries.items())[-MAX_ENTRIES:])
        text = json.dumps({"format": HASH_FORMAT, "files": dict(sorted(kept.items()))}) + "\n"

        def write(temp: Path) -> None:
            with os.fdopen(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as out:
                out.write(text)

        atomic_save(self.path, write)
        self.read_since_save = 0
