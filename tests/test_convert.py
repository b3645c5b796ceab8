"""Atomic writes, the converted-dataset format, and ``convert`` (folders of
photographs and annotations -> dataset)."""

from __future__ import annotations

import numpy as np
import pytest

import json

from alonet.system.atomic import atomic_directory, atomic_save, atomic_write_bytes, atomic_write_text
from alonet.data.dataset import DatasetWriter, open_dataset, write_dataset
from alonet.data.resize import area_resize_mask
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
    np.testing.assert_array_equal(ds[1]["scalp"], area_resize_mask(samples[1][1], 16).astype(np.uint8))
    np.testing.assert_array_equal(ds[2]["hairloss"], area_resize_mask(samples[2][2], 16).astype(np.uint8))
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


# --------------------------------------------------------------------------- convert

import csv
import os
from pathlib import Path

from PIL import Image

import alonet.data.convert as convert_module
from alonet.data.convert import ConversionError, ConvertOptions, convert_folders, convert_phantom
from alonet.data.manifest import read_manifest
from alonet.data.pairing import find_pairs
from alonet.data.annotation import read_annotation
from alonet.data.photo import read_photo
from alonet.data.resize import resize_photo


def _smallest_shared_pairs(root: Path, count: int) -> list[tuple[str, tuple[int, int]]]:
    """(file name, (width, height)) of the ``count`` shared pairs with the fewest pixels."""
    sizes = []
    for path in (root / "mask").glob("*.gif"):
        with Image.open(path) as image:
            sizes.append((image.width * image.height, path.name, image.size))
    return [(name, size) for _, name, size in sorted(sizes)[:count]]


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """A smooth synthetic photograph (gradients plus a seed-dependent tint)."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), np.full_like(x, 40 * seed % 256)], -1)
    return Image.fromarray(rgb.astype(np.uint8))


def _shared_input(tmp_path: Path, root: Path, count: int = 10) -> tuple[Path, Path, Path]:
    photos, scalp, hairloss = (tmp_path / "in" / d for d in ("photos", "scalp", "hairloss"))
    for folder in (photos, scalp, hairloss):
        folder.mkdir(parents=True)
    for i, (name, (width, height)) in enumerate(_smallest_shared_pairs(root, count)):
        stem = Path(name).stem
        suffix = (".jpg", ".JPG", ".jpeg", ".png")[i % 4]  # extensions of any case pair up
        _photo(width, height, i).save(photos / f"{stem}{suffix}", quality=80)
        os.symlink(root / "mask" / name, scalp / name)  # link, never copy, the shared files
        os.symlink(root / "target" / name, hairloss / name.replace(".gif", ".GIF"))
    return photos, scalp, hairloss


@pytest.mark.shared
def test_convert_real_shared_pairs_round_trips_exactly(tmp_path, shared_annotations):
    photos, scalp, hairloss = _shared_input(tmp_path, shared_annotations, 10)
    out = convert_folders(photos, scalp, hairloss, tmp_path / "ds", ConvertOptions(size=64, progress=False),
                          manifest=shared_annotations / "manifest.csv")
    ds = open_dataset(out)
    assert len(ds) == 10 and ds.images.shape == (10, 64, 64, 3)
    manifest = {row["file"]: row for row in csv.DictReader(open(shared_annotations / "manifest.csv"))}
    for i in range(len(ds)):
        sample = ds[i]
        meta = sample["meta"]
        photo_path = Path(meta["photo"])
        scalp_mask = read_annotation(meta["scalp"])
        np.testing.assert_array_equal(sample["image"], resize_photo(read_photo(photo_path), 64))
        np.testing.assert_array_equal(sample["scalp"], area_resize_mask(scalp_mask, 64).astype(np.uint8))
        np.testing.assert_array_equal(sample["hairloss"], area_resize_mask(read_annotation(meta["hairloss"]), 64).astype(np.uint8))
        row = manifest[meta["stem"] + ".gif"]
        assert (meta["patient"], meta["visit"], meta["case"], meta["photo_index"]) == (
            row["patient"], row["visit_date"], row["case"], row["photo_index"])
        assert (meta["orig_height"], meta["orig_width"]) == scalp_mask.shape
        assert meta["view"] == "" and photo_path.stem == meta["stem"]
    assert ds.scalp.sum() > 0 and set(np.unique(ds.scalp)) <= {0, 1}
    assert [m["stem"] for m in ds.meta] == sorted(m["stem"] for m in ds.meta)


@pytest.mark.shared
def test_interrupted_conversion_leaves_no_partial_output_and_keeps_old(tmp_path, shared_annotations, monkeypatch):
    photos, scalp, hairloss = _shared_input(tmp_path, shared_annotations, 8)
    out = tmp_path / "ds"
    convert_folders(photos, scalp, hairloss, out, ConvertOptions(size=16, progress=False))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    calls = []
    real_load = convert_module.load_pair

    def load_then_fail(pair, options):
        calls.append(pair.stem)
        if len(calls) == 5:
            raise KeyboardInterrupt  # like Ctrl-C halfway
        return real_load(pair, options)

    monkeypatch.setattr(convert_module, "load_pair", load_then_fail)
    for target, overwrite in ((tmp_path / "fresh", False), (out, True)):
        calls.clear()
        with pytest.raises(KeyboardInterrupt):
            convert_folders(photos, scalp, hairloss, target,
                            ConvertOptions(size=32, overwrite=overwrite, workers=2, progress=False))
        assert len(calls) >= 5
    assert not (tmp_path / "fresh").exists()
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # older output intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds", "in"]  # no temporary folders left


def _tiny_set(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Six stems: two good pairs and four different problems."""
    photos, scalp, hairloss = (tmp_path / d for d in ("photos", "scalp", "hairloss"))
    for folder in (photos, scalp, hairloss):
        folder.mkdir()
    mask = np.zeros((12, 10), np.uint8)
    mask[2:8, 1:9] = 255
    for stem in ("good1", "Good2", "trunc", "mismatch", "emptyscalp", "unpaired"):
        _photo(10, 12, 1).save(photos / f"{stem}.png")
        Image.fromarray(mask).save(scalp / f"{stem}.png")
        Image.fromarray(mask[::-1]).save(hairloss / f"{stem.lower()}.png")
    whole = (photos / "trunc.png").read_bytes()
    (photos / "trunc.png").unlink()
    _photo(10, 12, 1).save(photos / "trunc.jpg", quality=90)
    (photos / "trunc.jpg").write_bytes((photos / "trunc.jpg").read_bytes()[:300])
    assert whole
    Image.fromarray(np.zeros((12, 11), np.uint8)).save(hairloss / "mismatch.png")
    Image.fromarray(np.zeros((12, 10), np.uint8)).save(scalp / "emptyscalp.png")
    (hairloss / "unpaired.png").unlink()
    (photos / "notes.txt").write_text("ignored: not an image extension")
    return photos, scalp, hairloss


def test_all_problems_reported_at_once_and_nothing_written(tmp_path, caplog):
    photos, scalp, hairloss = _tiny_set(tmp_path)
    with pytest.raises(ConversionError) as info:
        convert_folders(photos, scalp, hairloss, tmp_path / "ds", ConvertOptions(size=8, progress=False))
    assert str(info.value) == "4 of 6 pairs are invalid (listed above); fix them or pass --skip-invalid"
    assert {p.stem for p in info.value.problems} == {"trunc", "mismatch", "emptyscalp", "unpaired"}
    # one record lists them: the headline, then one line per pair
    [record] = [r for r in caplog.records if r.name == "alonet.data.convert"]
    lines = record.getMessage().split("\n")
    text = "\n".join(lines)
    assert record.levelname == "ERROR" and len(lines) == 5
    assert lines[0] == "4 of 6 pairs are invalid:"
    assert "trunc.jpg: image data is truncated" in text
    assert "mismatch.png is 11x12 pixels but photograph" in text
    assert "emptyscalp.png: annotation is empty" in text
    assert "unpaired: no hair-loss annotation" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hairloss", "photos", "scalp"]


def test_skip_invalid_converts_good_pairs_and_lists_the_rest(tmp_path):
    photos, scalp, hairloss = _tiny_set(tmp_path)
    out = convert_folders(photos, scalp, hairloss, tmp_path / "ds",
                          ConvertOptions(size=8, skip_invalid=True, progress=False))
    ds = open_dataset(out)
    assert [m["stem"] for m in ds.meta] == ["good1", "Good2"] and ds.info["skipped"] == 4
    rows = list(csv.DictReader(open(out / "skipped.csv")))
    assert sorted(r["stem"] for r in rows) == ["emptyscalp", "mismatch", "trunc", "unpaired"]
    assert all(r["reason"] for r in rows)
    files = {r["stem"]: Path(r["file"]).relative_to(tmp_path).as_posix() for r in rows}
    assert files["mismatch"] == "hairloss/mismatch.png" and files["emptyscalp"] == "scalp/emptyscalp.png"
    assert files["trunc"] == "photos/trunc.jpg"
    # the empty scalp annotation may be allowed explicitly
    out2 = convert_folders(photos, scalp, hairloss, tmp_path / "ds2",
                           ConvertOptions(size=8, skip_invalid=True, allow_empty_scalp=True, progress=False))
    assert "emptyscalp" in [m["stem"] for m in open_dataset(out2).meta]


def test_a_photograph_enlarged_more_than_four_times_is_refused_naming_it(tmp_path):
    """A 10x12 photograph may become an 8- or 40-px sample, not a 41-px or 320-px one (a 1x1
    picture upscaled to a training sample used to be accepted)."""
    photos, scalp, hairloss = _tiny_set(tmp_path)
    for stem in ("trunc", "mismatch", "emptyscalp"):
        for path in (*photos.glob(f"{stem}.*"), scalp / f"{stem}.png", hairloss / f"{stem}.png"):
            path.unlink()
    out = convert_folders(photos, scalp, hairloss, tmp_path / "ds40", ConvertOptions(size=40, skip_invalid=True,
                                                                                     progress=False))
    assert [m["stem"] for m in open_dataset(out).meta] == ["good1", "Good2"]
    with pytest.raises(ConversionError) as info:
        convert_folders(photos, scalp, hairloss, tmp_path / "ds41", ConvertOptions(size=41, progress=False))
    problems = {p.stem: p.reason for p in info.value.problems}
    assert set(problems) == {"good1", "Good2", "unpaired"}
    assert "good1.png is 10x12 pixels, too small for a 41x41 training sample (its shorter side must be at " \
           "least 11 px)" in problems["good1"]
    assert "smaller --size" in problems["good1"]
    assert not (tmp_path / "ds41").exists()


def test_manifest_formats_and_problems(tmp_path):
    photos, scalp, hairloss = _tiny_set(tmp_path)
    manifest = tmp_path / "m.csv"
    manifest.write_text("stem,patient,visit,view,loss_pct\ngood1,p1,v1,TOP,3.5\nGOOD2,p2,v1,front,1\n")
    pairs, problems = find_pairs(photos, scalp, hairloss, manifest)
    by_stem = {p.stem: p for p in pairs}
    assert by_stem["good1"].view == "top" and by_stem["good1"].extra == {"loss_pct": "3.5"}
    reasons = {p.stem: p.reason for p in problems}
    assert "front" in reasons["Good2"] and "not in the manifest" in reasons["trunc"]
    shared_style = tmp_path / "shared.csv"
    shared_style.write_text("file,patient,case,visit_date,photo_index\nx1.gif,7,100,2015-01-02,3\n")
    assert read_manifest(shared_style) == {"x1": {"patient": "7", "visit": "2015-01-02", "view": "", "case": "100", "photo_index": "3"}}
    bad = tmp_path / "bad.csv"
    bad.write_text("name,patient\nx,1\n")
    with pytest.raises(DatasetError, match="no 'stem' or 'file' column"):
        read_manifest(bad)


def test_convert_phantom_layout(tmp_path):
    root = tmp_path / "phantom"
    for d in ("photographs", "scalp", "hairloss"):
        (root / d).mkdir(parents=True)
    mask = np.zeros((20, 20), np.uint8)
    mask[5:15, 5:15] = 255
    rows = ["stem,patient,visit,view,photo,scalp,hairloss,loss_pct,salt"]
    for i, view in enumerate(("top", "back", "left", "right")):
        stem = f"p1_v1_{view}"
        _photo(20, 20, i).save(root / "photographs" / f"{stem}.jpg")
        Image.fromarray(mask).save(root / "scalp" / f"{stem}.png")
        Image.fromarray(mask[:, ::-1] * (i % 2)).save(root / "hairloss" / f"{stem}.png")
        rows.append(f"{stem},p1,v1,{view},{stem}.jpg,{stem}.png,{stem}.png,{50 * (i % 2)},21")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    ds = open_dataset(convert_phantom(root, tmp_path / "ds", ConvertOptions(size=10, progress=False)))
    assert [m["view"] for m in ds.meta] == ["back", "left", "right", "top"]  # sorted by stem
    assert ds.meta[0]["loss_pct"] == "50" and ds.meta[0]["salt"] == "21"
    assert ds.meta[0]["photo"].endswith("p1_v1_back.jpg")  # the real path, not the manifest's
    assert ds.indices_for(view="top").tolist() == [3]
    with pytest.raises(DatasetError, match="not a phantom folder"):
        convert_phantom(tmp_path / "ds", tmp_path / "other")
