"""A lock file on a training run folder, so that two ``alonet train`` never write one run.

``RUN/train.lock`` is created with ``O_EXCL`` (atomic on local disks and on
NFSv3 and later) and holds the process id, host name and start time of its
owner as JSON; it is removed when training ends, however it ends. A lock left
by a killed process is *stale* when it names this host and a process id that is
no longer alive, or this process's own id with another process's token (a
container may give every run the same id: each process writes a random token
drawn when the module is imported); a stale lock is taken over.
A lock from another host cannot be checked from here and is always respected:
the error says to delete it when no training runs there any more.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from alonet.data.processes import pid_alive
from alonet.errors import RunInUseError

LOCK_NAME = "train.lock"
#: A lock file that holds no readable owner is taken for one being written for this long (seconds).
UNREADABLE_GRACE_S = 30.0
#: Drawn once per process: a lock file with this process's id but another token is a leftover.
PROCESS_TOKEN = uuid.uuid4().hex


def _owner(text: str) -> dict | None:
    try:
        owner = json.loads(text)
    except ValueError:
        return None
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int) or not isinstance(owner.get("host"), str):
        return None
    return owner


def _is_stale(path: Path, owner: dict | None) -> bool:
    if owner is None:  # being written this instant, or garbage left by a crash
        with contextlib.suppress(OSError):
            return time.time() - path.stat().st_mtime > UNREADABLE_GRACE_S
        return False
    if owner["host"] != socket.gethostname():
        return False
    if owner["pid"] == os.getpid():
        return owner.get("token") != PROCESS_TOKEN
    return not pid_alive(owner["pid"])


def _in_use(run_dir: Path, path: Path, owner: dict | None) -> RunInUseError:
    if owner is None:
        return RunInUseError(f"{run_dir} is in use by another `alonet train` or `alonet adapt` (its lock file {path} is being written)",
                             fix=f"wait a minute and try again; if no training runs in it, delete {path}")
    since = f", since {owner['started']}" if owner.get("started") else ""
    if owner["host"] == socket.gethostname() and owner["pid"] == os.getpid():
        return RunInUseError(f"{run_dir} is in use by another training in this process{since}",
                             fix="wait for it to finish, then try again")
    if owner["host"] == socket.gethostname():
        fix = (f"wait for process {owner['pid']} to finish or stop it; if it is not an AloNet training, "
               f"delete {path}")
    else:
        fix = f"if no training runs on {owner['host']} in this folder any more, delete {path}"
    return RunInUseError(f"{run_dir} is in use by another `alonet train` or `alonet adapt` (process {owner['pid']} on "
                         f"{owner['host']}{since})", fix=fix)


def acquire(run_dir: str | Path) -> tuple[Path, str]:
    """Create ``run_dir/train.lock`` for this process (taking over a stale one).

    Returns the lock's path and the text written to it (for ``release``); raises
    RunInUseError naming the owner when another live process holds it.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "token": PROCESS_TOKEN,
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
                raise _in_use(run_dir, path, owner) from None
            _take_away(path, text)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(mine)
        return path, mine
    raise RunInUseError(f"{run_dir}: could not take its lock file {path} (other processes keep taking it)",
                        fix="make sure only one `alonet train` writes this run folder, then try again")


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
def run_lock(run_dir: str | Path):
    """Hold ``run_dir``'s lock for the duration of the block."""
    path, text = acquire(run_dir)
    try:
        yield path
    finally:
        release(path, text)
