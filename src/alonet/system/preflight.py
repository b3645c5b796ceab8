"""Checks made before the slow work: can the output be written at all?

A command that loads networks and scores photographs for minutes must not
find out at the end that its output folder is read-only, is a file, or lies on
a full disk. :func:`check_output_folder` tries a real write in the folder (or in
the nearest existing folder above it, where it would be created) and compares
the free space with a rough estimate of what will be written; it raises
:class:`alonet.errors.OutputNotWritableError` with a one-line reason.
"""

from __future__ import annotations

import errno
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from alonet.errors import OutputNotWritableError

MB = 1_000_000
#: Free space always kept in reserve (reports, logs and temporary files).
RESERVE_BYTES = 20 * MB


def _nearest_existing(path: Path) -> Path:
    current = path
    while not (current.exists() or current.is_symlink()):
        if current.parent == current:
            break
        current = current.parent
    return current


def check_output_folder(path: str | Path, need_bytes: int = 0, *, what: str = "output folder") -> Path:
    """Raise OutputNotWritableError unless ``path`` can be created/written with
    about ``need_bytes`` (+ a reserve) of free space. Returns ``path``."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputNotWritableError(f"{what} {target} is a file, not a folder",
                                     fix="choose a folder name with -o/--output")
    existing = _nearest_existing(target)
    if not existing.is_dir():
        raise OutputNotWritableError(f"cannot create {what} {target}: {existing} is a file",
                                     fix="choose another place with -o/--output")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".alonet-write-test-") as handle:
            handle.write(b"x")
            handle.flush()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        fix = ("free some space or choose another disk" if exc.errno == errno.ENOSPC
               else "choose a folder you can write to, or fix its permissions")
        raise OutputNotWritableError(f"cannot write to {existing} ({reason})", fix=fix) from None
    free = shutil.disk_usage(existing).free
    need = int(need_bytes) + RESERVE_BYTES
    if free < need:
        raise OutputNotWritableError(
            f"only {free / MB:.0f} MB free on the disk of {existing}; the {what} needs about {need / MB:.0f} MB",
            fix="free some space or choose another disk")
    return target


def files_size(paths: Iterable[str | Path]) -> int:
    """Total size in bytes of the files that exist among ``paths``."""
    total = 0
    for path in paths:
        try:
            total += Path(path).stat().st_size
        except OSError:
            continue
    return total


def report_bytes_estimate(photo_paths: Iterable[str | Path]) -> int:
    """Rough size of report folders for these photographs: the overlays, masks and
    the HTML with embedded pictures take about four times the photographs."""
    return 4 * files_size(photo_paths) + MB
