"""The patient split (alonet.data.split): whole patients per side, reproducible, reused."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from alonet.data.split import load_or_make_split, make_split, patient_key, read_split, row_key, split_rows
from alonet.errors import DatasetError


def rows(patients):
    return [SimpleNamespace(stem=f"img{i}", patient=p) for i, p in enumerate(patients)]


def test_rows_without_patient_are_their_own_unit():
    assert row_key("P1", "a") == "P1"
    assert row_key("", "a") == "row:a" and row_key(None, "b") == "row:b"
    assert patient_key(SimpleNamespace(stem="x", patient="")) == "row:x"


def test_split_keeps_patients_whole_and_reuses_the_file(tmp_path):
    records = rows(["A", "A", "B", "B", "C", "D", "E", ""])
    cfg = SimpleNamespace(val_fraction=0.4, seed=3)
    split = load_or_make_split(tmp_path, records, cfg)
    assert split == make_split(records, 0.4, 3)
    assert len(split["val"]) == 2 and len(split["train"]) == 4 and split["rows_without_patient"] == 1
    assert set(split["train"]).isdisjoint(split["val"])
    val = split_rows(records, range(len(records)), split, "val")
    train = split_rows(records, range(len(records)), split, "train")
    assert sorted(val + train) == list(range(len(records)))
    assert {patient_key(records[i]) for i in val} == set(split["val"])
    assert read_split(tmp_path / "split.json") == split
    # Reused as written, even with other settings; a new patient is refused.
    assert load_or_make_split(tmp_path, records, SimpleNamespace(val_fraction=0.2, seed=9)) == split
    with pytest.raises(DatasetError, match="not in this run's split"):
        load_or_make_split(tmp_path, records + rows(["Z"]), cfg)


def test_a_foreign_split_file_is_refused(tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"train": [], "val": []}))
    with pytest.raises(DatasetError, match="not an AloNet split file"):
        read_split(path)
    path.write_text("{")
    with pytest.raises(DatasetError, match="cannot read the split"):
        read_split(path)


def test_training_still_finds_the_split_where_it_was():
    from alonet.train import data

    assert data.make_split is make_split and data.load_or_make_split is load_or_make_split
