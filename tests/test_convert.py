"""Atomic writes, the converted-dataset format, and ``convert`` (folders of
photographs and annotations -> dataset)."""

from __future__ import annotations

import numpy as np
import pytest

from alonet.data.atomic import atomic_directory, atomic_save, atomic_write_bytes, atomic_write_text
from alonet.errors import OutputExistsError


class Boom(RuntimeError):
    pass


# --------------------------------------------------------------------------- atomic writes


def test_atomic_file_writes_leave_no_temp_and_keep_old_on_failure(tmp_path):
    target = tmp_path / "report.json"
    atomic_write_text(target, "old")
    atomic_write_bytes(tmp_path / "b.bin", b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"

    def failing(temp):
        temp.write_text("half")
        raise Boom()

    with pytest.raises(Boom):
        atomic_save(target, failing)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "report.json"]
    seen = []
    atomic_save(target, lambda temp: (seen.append(temp.suffix), temp.write_text("new")))
    assert seen == [".json"] and target.read_text() == "new"


def test_atomic_directory_success_failure_and_overwrite(tmp_path):
    out = tmp_path / "out"
    with atomic_directory(out) as temp:
        assert temp.parent == tmp_path and temp != out
        (temp / "a.txt").write_text("1")
    assert (out / "a.txt").read_text() == "1"

    with pytest.raises(OutputExistsError, match="--overwrite"):
        with atomic_directory(out):
            pass
    with pytest.raises(Boom):
        with atomic_directory(out, overwrite=True) as temp:
            (temp / "b.txt").write_text("2")
            raise Boom()
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]  # old output intact

    with atomic_directory(out, overwrite=True) as temp:
        (temp / "b.txt").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temp or backup left

    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_directory(empty) as temp:  # an empty folder may be filled without --overwrite
        (temp / "c.txt").write_text("3")
    assert (empty / "c.txt").exists()
