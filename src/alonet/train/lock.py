"""The lock of a training run folder, so that two ``alonet train`` never write one run.

``RUN/train.lock`` (``alonet.system.locks``); ``alonet adapt`` holds one on its work folder.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from alonet.system import locks
from alonet.system.locks import LockKind, folder_lock, release

TRAIN_LOCK = LockKind(file_name="train.lock", commands="`alonet train` or `alonet adapt`", work="training")
LOCK_NAME = TRAIN_LOCK.file_name

__all__ = ["LOCK_NAME", "TRAIN_LOCK", "acquire", "release", "run_lock"]


def acquire(run_dir: str | Path) -> tuple[Path, str]:
    """Take ``run_dir``'s training lock (``alonet.system.locks.acquire``); returns what
    :func:`release` takes."""
    return locks.acquire(run_dir, TRAIN_LOCK)


@contextlib.contextmanager
def run_lock(run_dir: str | Path):
    """Hold ``run_dir``'s training lock for the duration of the block."""
    with folder_lock(run_dir, TRAIN_LOCK) as path:
        yield path
