"""Atomic writes: a file or folder appears complete at its final path or not at all.

Everything is first written to a temporary name *beside* the target (same
folder, so the same file system) and then moved into place with ``os.replace``
/ ``os.rename``, which is atomic on POSIX and Windows. If the work fails or is
interrupted, the temporary name is removed and whatever was at the target
before is left untouched.

A process killed outright (``kill -9``, a power cut) cannot remove its
temporary name. So every temporary name says which process on which machine
made it, ``.NAME.tmp-<host>-<pid>-<random>`` (``.STEM.tmp-...SUFFIX`` for a
file, keeping its suffix), and each write of NAME first removes those that a
process on this machine that is no longer running left beside it (a running
writer's are kept; see :func:`remove_stale_temps`). :func:`scratch_directory`
does the same for work folders under the system's temporary folder.

Secret key files (:func:`create_hex_key`, :func:`read_hex_key`) are the one
kind of file that is never replaced: made once, 0600, linked into place.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from alonet.errors import OutputExistsError
from alonet.system.processes import host_tag, pid_alive

#: What follows "tmp-" / "old-" in a temporary name: host tag, process id, random part.
_OWNER = r"(?P<host>[0-9a-f]{8})-(?P<pid>[1-9][0-9]{0,9})-[0-9a-f]{8}"


def _owner_tag() -> str:
    return f"{host_tag()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _temp_name(target: Path, kind: str, keep_suffix: bool = True) -> Path:
    """A hidden, unique name in the target's folder naming this process and machine.

    Files keep their suffix (libraries that pick a format from the extension
    still see the right one): ``.STEM.KIND-OWNER.SUFFIX``; folders get
    ``.NAME.KIND-OWNER``.
    """
    if keep_suffix:
        return target.with_name(f".{target.stem}.{kind}-{_owner_tag()}{target.suffix}")
    return target.with_name(f".{target.name}.{kind}-{_owner_tag()}")


def temp_path_for(target: str | Path) -> Path:
    """A temporary name beside ``target`` (same folder and suffix) for writing it atomically.

    The name follows this module's pattern, so that what a killed process left
    under it is removed by the next write of ``target`` (:func:`remove_stale_temps`).
    """
    return _temp_name(Path(target), "tmp")


def _left_by_ended_process(match: re.Match | None) -> bool:
    return (match is not None and match.group("host") == host_tag()
            and not pid_alive(int(match.group("pid"))))


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def remove_stale_temps(target: str | Path) -> list[Path]:
    """Remove what writers of ``target`` that are no longer running left beside it; return it.

    Only names of exactly this module's pattern for ``target`` are considered
    (``.NAME.tmp-<host>-<pid>-<random>`` for a folder, ``.STEM.tmp-...SUFFIX``
    for a file), and only those whose process ran on this machine and has
    ended: another process may be writing ``target`` right now. A folder moved
    aside to be replaced (``.NAME.old-...``) is removed only once ``target``
    exists again (until then it is the only copy of the old output).
    Anything that cannot be removed is left; nothing here raises.
    """
    target = Path(target)
    forms = [re.escape(f".{target.name}.") + r"(?P<kind>tmp|old)-" + _OWNER]  # a folder's
    if target.suffix:  # a file's
        forms.append(re.escape(f".{target.stem}.") + r"(?P<kind>tmp|old)-" + _OWNER + re.escape(target.suffix))
    patterns = [re.compile(form) for form in forms]
    removed: list[Path] = []
    prefixes = (f".{target.name}.", f".{target.stem}.")  # every candidate starts so: the regexes see few names
    try:
        with os.scandir(target.parent) as listing:
            names = [entry.name for entry in listing if entry.name.startswith(prefixes)]
    except OSError:
        return removed
    for name in names:
        match = next((m for m in (p.fullmatch(name) for p in patterns) if m is not None), None)
        if match is None or not _left_by_ended_process(match):
            continue
        if match.group("kind") == "old" and not (target.exists() or target.is_symlink()):
            continue
        path = target.parent / name
        _remove(path)
        if not os.path.lexists(path):
            removed.append(path)
    return removed


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
    remove_stale_temps(target)
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


# --------------------------------------------------------------------------- secret key files

_HEX_DIGITS = b"0123456789abcdefABCDEF"


def read_hex_key(path: str | Path) -> bytes | None:
    """The 32-byte key a file made by :func:`create_hex_key` holds (64 hexadecimal digits;
    surrounding white space is ignored), or None when there is no such file (or no folder
    for it). Raises OSError when it cannot be read and ValueError when it holds anything
    else; callers turn both into their own errors (the data their key names needs it, so
    such a file is never replaced)."""
    try:
        data = Path(path).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    text = data.strip()
    if len(text) == 64 and all(c in _HEX_DIGITS for c in text):
        return bytes.fromhex(text.decode("ascii"))
    raise ValueError(f"{path} does not hold 64 hexadecimal digits")


def create_hex_key(path: str | Path) -> None:
    """Make a new random 32-byte key (64 hexadecimal digits and a newline) at ``path``
    unless a file is there already: then that one is kept, whoever made it.

    The file is 0600 from the start, written and flushed to disk under a temporary name
    and hard-linked into place, which fails rather than overwrite a key another process
    made meanwhile. Where there are no hard links (some network or FAT file systems) it is
    created in place with ``O_EXCL``. The folder must exist. Raises OSError when it cannot
    be written; a failed write leaves no empty or partial key behind. Read it back with
    :func:`read_hex_key`.
    """
    path = Path(path)
    temp = temp_path_for(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(OSError):
            temp.chmod(0o600)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        except OSError:  # no hard links here
            _create_in_place(path, temp.read_text(encoding="ascii"))
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()
    _fsync_dir(path.parent)


def _create_in_place(path: Path, text: str) -> None:
    """Write ``text`` to a new file ``path`` (0600); an existing file is left as it is. A write
    that fails removes the file it made, so no empty or partial key is left to be taken for
    a damaged one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


@dataclass(frozen=True)
class Marker:
    """A file whose presence marks a folder as an earlier output of one command, for a name too
    common to tell on its own (``manifest.csv``): it must also begin with ``first_line``."""

    name: str
    first_line: str = ""

    def found_in(self, folder: Path) -> bool:
        path = folder / self.name
        if not path.is_file():
            return False
        if not self.first_line:
            return True
        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as handle:
                return handle.readline(len(self.first_line) + 1).startswith(self.first_line)
        except OSError:
            return False


def _marks(folder: Path, marker: str | Marker) -> bool:
    return (Marker(marker) if isinstance(marker, str) else marker).found_in(folder)


def check_can_write_directory(path: str | Path, overwrite: bool = False, *,
                              inputs: Iterable[object] = (), own: tuple[str | Marker, ...] = ()) -> Path:
    """Raise OutputExistsError if ``path`` holds something that must not be clobbered.

    An absent path or an empty folder is always fine; another folder needs
    ``overwrite=True`` and, when ``own`` names the files the command's output
    holds (e.g. ``("report.json",)``, or a :class:`Marker`), one of them: ``--overwrite`` replaces an
    earlier output, never a folder of other files. Never allowed, even with it:
    a file (an output folder does not replace a file), the current folder, a
    folder containing it, the home folder or a file-system root (replacing one
    would delete far more than an earlier output), and a folder that is or holds
    one of ``inputs`` (the paths the command reads; other values and paths that
    do not exist are passed over). Call it before long work so users learn early.
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
    real = Path(os.path.realpath(absolute))
    for given in inputs:
        if isinstance(given, (str, Path)) and os.path.lexists(given):
            source = Path(os.path.realpath(given))
            if source == real or real in source.parents:
                raise OutputExistsError(f"output {target} is or holds {given}, which this command reads",
                                        fix="give the output a folder of its own, e.g. -o results")
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"output {target} is a file, not a folder",
                                fix="choose another output folder (a file is never replaced by a folder)")
    if (target.exists() or target.is_symlink()) and not _is_empty_dir(target):
        if not overwrite:
            raise OutputExistsError(
                f"output {target} already exists",
                fix="choose another output folder or pass --overwrite",
            )
        if own and not any(_marks(target, marker) for marker in own):
            names = " or ".join(m if isinstance(m, str) else f"{m.name} of its own" for m in own)
            raise OutputExistsError(
                f"output {target} holds files this command did not write (no {names}), "
                "and --overwrite replaces only an earlier output of the same command",
                fix="choose another output folder (or empty that one)",
            )
    return target


def _new_directory(target: Path, kind: str) -> Path:
    """Create an empty folder under a fresh temporary name for ``target`` (an ordinary
    folder: permissions as the umask says)."""
    for _ in range(100):
        temp = _temp_name(target, kind, keep_suffix=False)
        try:
            temp.mkdir()
        except FileExistsError:
            continue
        return temp
    raise FileExistsError(f"no free temporary name beside {target}")


@contextlib.contextmanager
def atomic_directory(path: str | Path, overwrite: bool = False,
                     own: tuple[str | Marker, ...] = ()) -> Iterator[Path]:
    """Build a folder under a temporary name, then move it to ``path``.

    Usage::

        with atomic_directory(out, overwrite=False) as tmp:
            ...write files into tmp...
        # now out holds exactly what was written into tmp

    On an exception (or Ctrl-C) inside the block, the temporary folder is
    removed and ``path`` is left as it was. An existing non-empty ``path`` is
    refused with OutputExistsError unless ``overwrite=True`` (and, when ``own``
    names the output's files, it holds one of them: :func:`check_can_write_directory`);
    with it, the old folder is first moved aside, the new one moved in, and only
    then is the old one deleted (if the move fails the old one is put back).
    """
    target = Path(os.path.abspath(check_can_write_directory(path, overwrite, own=own)))  # "results/.." has no name
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    temp = _new_directory(target, "tmp")
    try:
        yield temp
        # Re-check: something may have appeared while we worked.
        check_can_write_directory(target, overwrite, own=own)
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
    aside = _temp_name(target, "old", keep_suffix=False)
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


@contextlib.contextmanager
def scratch_directory(label: str, parent: str | Path | None = None) -> Iterator[Path]:
    """A private work folder under the system's temporary folder, removed at the end.

    It is named ``alonet-LABEL-<host>-<pid>-<random>`` (under ``parent`` if
    given); work folders of the same label that processes no longer running
    on this machine left there are removed first, as :func:`remove_stale_temps`
    does beside a target.
    """
    if not re.fullmatch(r"[a-z0-9]+", label):
        raise ValueError(f"scratch folder label {label!r}: lower-case letters and digits only")
    base = Path(parent) if parent is not None else Path(tempfile.gettempdir())
    pattern = re.compile(re.escape(f"alonet-{label}-") + _OWNER)
    stale: list[str] = []
    with contextlib.suppress(OSError), os.scandir(base) as listing:
        stale = [entry.name for entry in listing if _left_by_ended_process(pattern.fullmatch(entry.name))]
    for name in stale:
        _remove(base / name)
    for _ in range(100):
        folder = base / f"alonet-{label}-{_owner_tag()}"
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"no free scratch folder name in {base}")
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
