"""Atomic writes, the converted-dataset format, and ``convert`` (folders of
photographs and annotations -> dataset)."""

from __future__ import annotations

import numpy as np
import pytest

import json

from alonet.data.atomic import atomic_directory, atomic_save, atomic_write_bytes, atomic_write_text
from alonet.data.dataset import DatasetWriter, open_dataset, write_dataset
from alonet.data.imageio import resize_mask
from alonet.errors import DatasetError, InvalidValueError, OutputExistsError


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


# --------------------------------------------------------------------------- dataset format


def _sample(height, width, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    scalp = np.zeros((height, width), bool)
    scalp[: height // 2] = True
    loss = np.zeros((height, width), np.uint8)
    loss[: height // 4, : width // 2] = 255
    return image, scalp, loss


def test_dataset_writer_and_open_dataset_round_trip(tmp_path):
    out = tmp_path / "ds"
    samples = [_sample(16, 16, 0), _sample(40, 24, 1), _sample(8, 8, 2)]
    metas = [
        {"stem": "a", "patient": "p1", "visit": "v1", "view": "Top", "loss_pct": 12.5},
        {"stem": "b", "patient": "p2", "visit": "v1", "view": "left"},
        {"stem": "c", "patient": "p1", "visit": "v2", "view": "top"},
    ]
    with DatasetWriter(out, count=5, size=16, info={"source": "test"}) as writer:  # capacity 5, 3 added
        for (image, scalp, loss), meta in zip(samples, metas):
            writer.add(image, scalp, loss, **meta)
        assert not out.exists()  # nothing visible before the block ends
    ds = open_dataset(out)
    assert len(ds) == 3 and ds.size == 16
    assert ds.images.shape == (3, 16, 16, 3) and ds.scalp.shape == (3, 16, 16)
    assert ds.images.dtype == ds.scalp.dtype == ds.hairloss.dtype == np.uint8
    np.testing.assert_array_equal(ds[0]["image"], samples[0][0])  # same size: stored as is
    np.testing.assert_array_equal(ds[1]["scalp"], resize_mask(samples[1][1], 16).astype(np.uint8))
    np.testing.assert_array_equal(ds[2]["hairloss"], resize_mask(samples[2][2], 16).astype(np.uint8))
    assert set(np.unique(ds.hairloss)) == {0, 1}
    meta = ds[1]["meta"]
    assert meta["index"] == 1 and meta["orig_width"] == 24 and meta["orig_height"] == 40
    assert meta["view"] == "left" and meta["patient"] == "p2" and meta["loss_pct"] == ""
    assert ds.meta[0]["view"] == "top" and ds.meta[0]["loss_pct"] == "12.5"
    assert ds.patients() == ["p1", "p2"]
    assert ds.indices_for(view="top").tolist() == [0, 2]
    assert ds.indices_for(view=["left", "top"], patients=["p2"]).tolist() == [1]
    assert ds.info["source"] == "test" and ds.info["count"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json", "hairloss.npy", "images.npy", "meta.csv", "scalp.npy"]
    with pytest.raises(InvalidValueError):
        ds.indices_for(view="front")


def test_interrupted_writer_leaves_nothing_and_keeps_old_dataset(tmp_path):
    out = tmp_path / "ds"
    write_dataset(out, [(*_sample(8, 8, 0), {"stem": "old"})], size=8)
    with pytest.raises(Boom):
        with DatasetWriter(out, count=3, size=8, overwrite=True) as writer:
            writer.add(*_sample(8, 8, 1), stem="new")
            raise Boom()
    assert open_dataset(out).meta[0]["stem"] == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
    with pytest.raises(OutputExistsError):
        write_dataset(out, [(*_sample(8, 8, 0), {"stem": "x"})], size=8)


def test_open_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(tmp_path / "nope")
    out = write_dataset(tmp_path / "ds", [(*_sample(8, 8, i), {"stem": str(i)}) for i in range(2)], size=8)
    info = json.loads((out / "dataset.json").read_text())
    (out / "dataset.json").write_text(json.dumps({**info, "count": 3}))
    with pytest.raises(DatasetError, match=r"images.npy has shape \(2, 8, 8, 3\)"):
        open_dataset(out)
    (out / "dataset.json").write_text(json.dumps(info))
    lines = (out / "meta.csv").read_text().splitlines()
    (out / "meta.csv").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match="1 rows but the arrays hold 2"):
        open_dataset(out)
    (out / "scalp.npy").unlink()
    with pytest.raises(DatasetError, match="scalp.npy is missing"):
        open_dataset(out)
    (out / "dataset.json").write_text("{not json")
    with pytest.raises(DatasetError, match="not valid JSON"):
        open_dataset(out)
