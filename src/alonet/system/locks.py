"""A lock file in an output folder, so that two commands never write one folder at once.

Training holds ``RUN/train.lock`` (``alonet.train.lock``), a batch run ``OUT/batch.lock``
(``alonet.report.batch.run``): a :class:`LockKind` names the file and the words of the
errors. The file is created with ``O_EXCL`` (atomic on local disks and on
NFSv3 and later) and holds the process id, host name and start time of its
owner as JSON; it is removed when the work ends, however it ends. A lock left
by a killed process is *stale* when it names this host and a process id that is
no longer alive, or this process's own id with another process's token (a
container may give every run the same id: each process writes a random token
drawn when the module is imported), or that was written before the machine last
restarted (Linux's boot id: after a restart its process id may belong to another
process); a stale lock is taken over.
A lock from another host cannot be checked from here and is always respected:
the error says to delete it when nothing of that kind runs there any more.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from alonet.system.processes import pid_alive
from alonet.errors import RunInUseError

#: A lock file that holds no readable owner is taken for one being written for this long (seconds).
UNREADABLE_GRACE_S = 30.0
#: Drawn once per process: a lock file with this process's id but another token is a leftover.
PROCESS_TOKEN = uuid.uuid4().hex
#: Where Linux keeps the id of the current boot.
BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"


@dataclass(frozen=True)
class LockKind:
    """Which lock: its file name in the folder and the words its errors use."""

    #: The lock file's name in the folder it guards, e.g. ``train.lock``.
    file_name: str
    #: The commands that take it, as the errors name them: "`alonet train` or `alonet adapt`".
    commands: str
    #: What runs while it is held, as in "another training in this process".
    work: str


def _owner(text: str) -> dict | None:
    try:
        owner = json.loads(text)
    except ValueError:
        return None
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int) or not isinstance(owner.get("host"), str):
        return None
    return owner


def boot_id() -> str | None:
    """This boot of the machine (Linux's random boot id), or None where there is none: a lock
    written before a restart is stale though its process id may name a new, live process."""
    try:
        return Path(BOOT_ID_FILE).read_text(encoding="ascii").strip() or None
    except (OSError, ValueError):
        return None


def _is_stale(path: Path, owner: dict | None) -> bool:
    if owner is None:  # being written this instant, or garbage left by a crash
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > UNREADABLE_GRACE_S
        return False
    if owner["host"] != socket.gethostname():
        return False
    booted = boot_id()
    if owner.get("boot") and booted and owner["boot"] != booted:  # the machine restarted since
        return True
    if owner["pid"] == os.getpid():
        return owner.get("token") != PROCESS_TOKEN
    return not pid_alive(owner["pid"])


def _in_use(folder: Path, path: Path, owner: dict | None, kind: LockKind) -> RunInUseError:
    if owner is None:
        return RunInUseError(f"{folder} is in use by another {kind.commands} (its lock file {path} is being written)",
                             fix=f"wait a minute and try again; if no {kind.work} runs in it, delete {path}")
    since = f", since {owner['started']}" if owner.get("started") else ""
    if owner["host"] == socket.gethostname() and owner["pid"] == os.getpid():
        return RunInUseError(f"{folder} is in use by another {kind.work} in this process{since}",
                             fix="wait for it to finish, then try again")
    if owner["host"] == socket.gethostname():
        fix = (f"wait for process {owner['pid']} to finish or stop it; if it is not an AloNet {kind.work}, "
               f"delete {path}")
    else:
        fix = f"if no {kind.work} runs on {owner['host']} in this folder any more, delete {path}"
    return RunInUseError(f"{folder} is in use by another {kind.commands} (process {owner['pid']} on "
                         f"{owner['host']}{since})", fix=fix)


def acquire(folder: str | Path, kind: LockKind) -> tuple[Path, str]:
    """Create ``folder/<kind.file_name>`` for this process (taking over a stale one; the folder
    is made if missing).

    Returns the lock's path and the text written to it (for ``release``); raises
    RunInUseError naming the owner when another live process holds it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / kind.file_name
    mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "token": PROCESS_TOKEN, "boot": boot_id(),
                       "started": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")}) + "\n"
    for _ in range(5):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                text = path.read_text(encoding="utf-8", errors="replace")
            except FileNotFoundError:  # released meanwhile: try again
                continue
            owner = _owner(text)
            if not _is_stale(path, owner):
                raise _in_use(folder, path, owner, kind) from None
            _take_away(path, text)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(mine)
        return path, mine
    raise RunInUseError(f"{folder}: could not take its lock file {path} (other processes keep taking it)",
                        fix=f"make sure only one {kind.commands} writes this folder, then try again")


def _take_away(path: Path, stale_text: str) -> None:
    """Remove the stale lock that held ``stale_text``, and only it (another process may have
    taken it over between our read and now: then its lock is put back)."""
    aside = path.with_name(f".{path.name}.stale-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return
    try:
        moved = aside.read_text(encoding="utf-8", errors="replace")
    except OSError:
        moved = None
    if moved != stale_text:
        os.replace(aside, path)
        return
    aside.unlink(missing_ok=True)


def release(path: Path, text: str) -> None:
    """Remove the lock file if it still holds ``text`` (this process's lock)."""
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8", errors="replace") == text:
            path.unlink()


@contextlib.contextmanager
def folder_lock(folder: str | Path, kind: LockKind):
    """Hold ``folder``'s lock of ``kind`` for the duration of the block."""
    path, text = acquire(folder, kind)
    try:
        yield path
    finally:
        release(path, text)
