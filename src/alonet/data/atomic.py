"""Atomic writes: a file or folder appears complete at its final path or not at all.

Everything is first written to a temporary name *beside* the target (same
folder, so the same file system) and then moved into place with ``os.replace``
/ ``os.rename``, which is atomic on POSIX and Windows. If the work fails or is
interrupted, the temporary name is removed and whatever was at the target
before is left untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from alonet.errors import OutputExistsError


def _temp_name(target: Path, kind: str) -> Path:
    """A hidden, unique name in the target's folder, keeping its suffix (so that
    libraries that pick a format from the extension still see the right one)."""
    return target.with_name(f".{target.stem}.{kind}-{uuid.uuid4().hex[:8]}{target.suffix}")


def current_umask() -> int:
    """The process's umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Flush a folder's entries to disk where the OS allows it (not on Windows)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_save(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temp_path)`` and move the file it wrote to ``path``.

    ``temp_path`` lies in the same folder and has the same suffix as ``path``.
    If ``write`` raises, the temporary file is removed and ``path`` is unchanged.
    Returns ``path`` as a ``Path``. The parent folder is created if needed.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_name(target, "tmp")
    try:
        write(temp)
        with contextlib.suppress(OSError):
            with open(temp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_save(path, lambda temp: temp.write_bytes(data))


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (newlines are written as given)."""
    return atomic_save(path, lambda temp: temp.write_text(text, encoding=encoding, newline=""))


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def check_can_write_directory(path: str | Path, overwrite: bool = False) -> Path:
    """Raise OutputExistsError if ``path`` holds something that must not be clobbered.

    An absent path or an empty folder is always fine; another folder needs
    ``overwrite=True``. Never allowed, even with it: a file (an output folder
    does not replace a file), and the current folder, a folder containing it,
    the home folder or a file-system root (replacing one would delete far more
    than an earlier output). Call it before long work so users learn early.
    """
    target = Path(path)
    absolute = Path(os.path.abspath(target))
    protected = {Path.cwd().resolve(), *Path.cwd().resolve().parents}
    try:
        protected.add(Path.home().resolve())
    except (RuntimeError, KeyError):  # no HOME and no passwd entry (containers with any uid)
        pass
    if absolute.resolve() in protected or absolute.parent == absolute:
        raise OutputExistsError(
            f"output {target} is the current folder, a folder containing it, the home folder or a root",
            fix="give the output a folder of its own, e.g. -o results",
        )
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"output {target} is a file, not a folder",
                                fix="choose another output folder (a file is never replaced by a folder)")
    if target.exists() or target.is_symlink():
        if not overwrite and not _is_empty_dir(target):
            raise OutputExistsError(
                f"output {target} already exists",
                fix="choose another output folder or pass --overwrite",
            )
    return target


@contextlib.contextmanager
def atomic_directory(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name, then move it to ``path``.

    Usage::

        with atomic_directory(out, overwrite=False) as tmp:
            ...write files into tmp...
        # now out holds exactly what was written into tmp

    On an exception (or Ctrl-C) inside the block, the temporary folder is
    removed and ``path`` is left as it was. An existing non-empty ``path`` is
    refused with OutputExistsError unless ``overwrite=True``; with it, the old
    folder is first moved aside, the new one moved in, and only then is the old
    one deleted (if the move fails the old one is put back).
    """
    target = Path(os.path.abspath(check_can_write_directory(path, overwrite)))  # "results/.." has no name
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    # mkdtemp makes a private (0700) folder; the result should be an ordinary one.
    os.chmod(temp, 0o777 & ~current_umask())
    try:
        yield temp
        # Re-check: something may have appeared while we worked.
        check_can_write_directory(target, overwrite)
        _move_into_place(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    _fsync_dir(target.parent)


def _move_into_place(temp: Path, target: Path) -> None:
    """Move ``temp`` to ``target``, replacing what is there without a gap."""
    if not (target.exists() or target.is_symlink()):
        os.rename(temp, target)
        return
    if _is_empty_dir(target):
        target.rmdir()
        os.rename(temp, target)
        return
    aside = _temp_name(target, "old")
    os.rename(target, aside)
    try:
        os.rename(temp, target)
    except BaseException:
        os.rename(aside, target)
        raise
    if aside.is_dir() and not aside.is_symlink():
        shutil.rmtree(aside, ignore_errors=True)
    else:
        aside.unlink()
