"""Folder locks (``alonet.system.locks``): who holds a folder, and when a lock is stale."""

from __future__ import annotations

import json
import os
import socket

import pytest

from alonet.errors import RunInUseError
from alonet.system import locks
from alonet.system.locks import LockKind, acquire, folder_lock, release
from alonet.system.processes import pid_alive
from alonet.train import lock as train_lock

KIND = LockKind(file_name="thing.lock", commands="`alonet thing`", work="thing run")


def write_owner(folder, **owner):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KIND.file_name).write_text(json.dumps({"host": socket.gethostname(), **owner}) + "\n")


def test_a_lock_names_its_owner_and_goes_with_the_block(tmp_path):
    with folder_lock(tmp_path / "out", KIND) as path:
        owner = json.loads(path.read_text())
        assert path == tmp_path / "out" / "thing.lock" and owner["pid"] == os.getpid()
        assert owner["host"] == socket.gethostname() and owner["boot"] == locks.boot_id()
        with pytest.raises(RunInUseError, match="in use by another thing run in this process"):
            acquire(tmp_path / "out", KIND)
    assert not path.exists()


def test_a_live_owner_is_respected_unless_the_machine_restarted_since(tmp_path, monkeypatch):
    other = os.getppid()  # a live process that is not this one
    assert pid_alive(other)
    boot = tmp_path / "boot_id"
    boot.write_text("aaaa-this-boot\n")
    monkeypatch.setattr(locks, "BOOT_ID_FILE", str(boot))
    write_owner(tmp_path, pid=other, boot="aaaa-this-boot")
    with pytest.raises(RunInUseError) as refused:
        acquire(tmp_path, KIND)
    assert f"in use by another `alonet thing` (process {other} on" in str(refused.value)
    assert f"if it is not an AloNet thing run, delete {tmp_path / 'thing.lock'}" in str(refused.value)
    write_owner(tmp_path, pid=other)  # written by a version that did not record the boot: respected
    with pytest.raises(RunInUseError):
        acquire(tmp_path, KIND)
    # written before a restart: the process id may now belong to anything; taken over
    write_owner(tmp_path, pid=other, boot="bbbb-an-earlier-boot")
    path, text = acquire(tmp_path, KIND)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    release(path, text)
    assert not path.exists()


def test_without_a_boot_id_a_lock_of_a_live_process_is_respected(tmp_path, monkeypatch):
    monkeypatch.setattr(locks, "BOOT_ID_FILE", str(tmp_path / "missing"))
    assert locks.boot_id() is None
    write_owner(tmp_path, pid=os.getppid(), boot="bbbb-an-earlier-boot")
    with pytest.raises(RunInUseError):
        acquire(tmp_path, KIND)


def test_the_training_lock_keeps_its_name_and_call(tmp_path):
    path, text = train_lock.acquire(tmp_path / "run")
    assert path == tmp_path / "run" / "train.lock" == tmp_path / "run" / train_lock.LOCK_NAME
    with pytest.raises(RunInUseError, match="in use by another training in this process"):
        train_lock.acquire(tmp_path / "run")
    train_lock.release(path, text)
    assert not path.exists()
