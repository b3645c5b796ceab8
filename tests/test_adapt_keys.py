"""alonet adapt's patient key: keyed digests in the model set, the key file, and refusals.

Before: the model set named patients by an unkeyed SHA-256 of their code, so anyone with a
list of a clinic's (guessable) codes could check whether a code was among them. The
conftest gives every test its own XDG_CONFIG_HOME, so no test touches the real ~/.config.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from alonet.adapt import AdaptConfig, adapt
from alonet.adapt.keys import (
    Learnt,
    default_key_path,
    key_id,
    learnt_by,
    load_patient_key,
    patient_digest,
    read_patient_key,
    unkeyed_digest,
)
from alonet.errors import DatasetError, KeyFileError
from test_adapt import tiny_dataset
from test_finetune import tiny_init_set

OTHER_KEY = bytes(range(32))


def fast(init, **kw) -> AdaptConfig:
    """One tiny network, so the view checks are not re-fitted: the fastest real adapt."""
    return AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3,
                       tasks=("hairloss",), **kw)


def cli(capsys, *args) -> tuple[int, str]:
    from alonet.cli.main import main

    code = main(["adapt", *map(str, args), "--quiet"])
    return code, capsys.readouterr().err


def shared_text(model_set: Path) -> str:
    """Everything readable in a model set, as it travels."""
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(model_set.rglob("*"))
                     if p.suffix in (".csv", ".json", ".md"))


def write_key(path: Path, key: bytes) -> Path:
    path.write_text(key.hex() + "\n", encoding="ascii")
    return path


def test_keyed_digests_differ_from_unkeyed_ones_and_between_keys():
    key = bytes(32)
    assert patient_digest(key, "AA-001") == patient_digest(key, "AA-001") and len(patient_digest(key, "AA-001")) == 16
    assert patient_digest(key, "AA-001") != unkeyed_digest("AA-001")
    assert patient_digest(key, "AA-001") != patient_digest(OTHER_KEY, "AA-001")
    assert unkeyed_digest("AA-001") == hashlib.sha256(b"AA-001").hexdigest()[:16]  # what older sets hold
    assert key_id(key) != key_id(OTHER_KEY) and len(key_id(key)) == 12
    assert key.hex()[:12] != key_id(key) and hashlib.sha256(key).hexdigest()[:12] != key_id(key)


def test_the_default_key_lives_in_the_users_config_folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setattr(Path, "home", staticmethod(lambda: home))
    assert default_key_path({"XDG_CONFIG_HOME": "/etc/xdg-me"}, windows=False) == Path("/etc/xdg-me/alonet/patient-key")
    assert default_key_path({"XDG_CONFIG_HOME": "relative"}, windows=False) == home / ".config/alonet/patient-key"
    assert default_key_path({}, windows=False) == home / ".config" / "alonet" / "patient-key"
    assert default_key_path({"APPDATA": str(tmp_path / "roaming")}, windows=True) == tmp_path / "roaming/alonet/patient-key"

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    with pytest.raises(KeyFileError, match="no home folder to keep the patient key in .pass --patient-key"):
        default_key_path({}, windows=False)


def test_adapt_names_patients_by_keyed_digests_under_a_key_made_once(tmp_path, own_config_folder):
    key_file = own_config_folder / "alonet" / "patient-key"
    assert default_key_path() == key_file and not key_file.exists()
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)  # patients p0 ... p6
    result = adapt(data, tmp_path / "v1", fast(init), progress=False, keep_work=True)

    if os.name == "posix":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    made = key_file.read_bytes()
    key = read_patient_key(key_file)
    assert (result.patient_key_file, result.patient_key_id) == (key_file, key_id(key))
    info = json.loads((tmp_path / "v1" / "adapt.json").read_text())
    held = json.loads((tmp_path / "v1.work" / "held_out.json").read_text())
    assert info["patient_key_id"] == key_id(key)
    assert info["learnt_patients"] == sorted(patient_digest(key, p) for p in held["learn"])
    assert "learnt_patients_unkeyed" not in info
    shared = shared_text(tmp_path / "v1")
    codes = [f"p{n}" for n in range(7)]
    assert [c for c in codes if unkeyed_digest(c) in shared] == []  # nobody can check a code without the key
    assert key.hex() not in shared and str(key_file) not in shared
    with open(tmp_path / "v1" / "after" / "per_image.csv", newline="") as handle:
        patients = {row["patient"] for row in csv.DictReader(handle)}
    assert patients == {patient_digest(key, p) for p in held["test"]}

    # a second run reuses the key (never made again) and recognises the first one's patients
    bigger = tiny_dataset(tmp_path / "ds2", n_patients=10)  # the same 7 patients and 3 new ones
    adapt(bigger, tmp_path / "v2", fast(tmp_path / "v1", seed=3), progress=False, keep_work=True)
    assert key_file.read_bytes() == made
    second = json.loads((tmp_path / "v2.work" / "held_out.json").read_text())
    assert not set(second["test"]) & set(held["learn"]) and second["kept_out_of_test"] == len(held["learn"])
    info2 = json.loads((tmp_path / "v2" / "adapt.json").read_text())
    assert info2["patient_key_id"] == key_id(key)
    assert set(info2["learnt_patients"]) == {patient_digest(key, p) for p in set(second["learn"]) | set(held["learn"])}

    # resuming the first work folder with another key is a changed option: refused, with a fresh --work
    other = write_key(tmp_path / "other-key", OTHER_KEY)
    with pytest.raises(DatasetError, match=f"patient key {key_id(key)} -> {key_id(OTHER_KEY)}") as refused:
        adapt(data, tmp_path / "v3", fast(init), work=tmp_path / "v1.work", patient_key=other, progress=False)
    assert f"--work {tmp_path / 'v1.work-2'}" in str(refused.value)
    assert not (tmp_path / "v3").exists()


def test_a_work_folder_made_with_another_key_starts_afresh_while_nothing_is_trained(tmp_path):
    from alonet.adapt.work import WORK_RECIPE, check_work_recipe, work_recipe

    data = tiny_dataset(tmp_path / "ds", n_patients=4)
    cfg = AdaptConfig(init="default", backend="torch")
    work = tmp_path / "model.work"
    work.mkdir()
    check_work_recipe(work, work_recipe(data, cfg, key_id(bytes(32))))
    (work / "held_out.json").write_text('{"learn": ["p0"], "test": ["p1"]}')
    check_work_recipe(work, work_recipe(data, cfg, key_id(OTHER_KEY)))
    assert not (work / "held_out.json").exists()  # split again: its patients were recognised with the old key
    assert json.loads((work / WORK_RECIPE).read_text())["patient_key_id"] == key_id(OTHER_KEY)


@pytest.mark.parametrize("how", ["default", "option", "env"])
def test_a_damaged_key_file_is_a_one_line_error_and_is_left_as_it_is(tmp_path, own_config_folder, capsys,
                                                                     monkeypatch, how):
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    path = {"default": default_key_path(), "option": tmp_path / "clinic.key", "env": tmp_path / "env.key"}[how]
    path.parent.mkdir(parents=True, exist_ok=True)
    damaged = {"default": b"not a key\n", "option": b"ab" * 31 + b"a\n", "env": b"zz" * 32 + b"\n"}[how]
    path.write_bytes(damaged)
    extra = ["--patient-key", path] if how == "option" else []
    if how == "env":
        monkeypatch.setenv("ALONET_PATIENT_KEY", str(path))
    code, err = cli(capsys, data, "-o", tmp_path / "out", *extra)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert f"{path} is not an AloNet patient key" in err and "restore it from a backup" in err
    assert path.read_bytes() == damaged
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.work").exists()


def test_a_missing_or_unreadable_key_file_is_refused_and_no_key_is_made(tmp_path, capsys):
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    code, err = cli(capsys, data, "-o", tmp_path / "out", "--patient-key", tmp_path / "nowhere.key")
    assert code == 2 and "the patient key file" in err and "does not exist" in err and "Traceback" not in err
    assert not default_key_path().exists()
    (tmp_path / "a-folder").mkdir()
    with pytest.raises(KeyFileError, match="the patient key cannot be read"):
        load_patient_key(tmp_path / "a-folder")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.work").exists()
    default_key_path().parent.write_text("a file where the key's folder belongs")
    code, err = cli(capsys, data, "-o", tmp_path / "out")
    assert code == 2 and "cannot make a patient key at" in err and "--patient-key FILE" in err
    assert "Traceback" not in err


def test_a_key_is_never_made_over_an_existing_file(tmp_path):
    from alonet.adapt.keys import create_patient_key

    path = write_key(tmp_path / "patient-key", OTHER_KEY)  # as another process made it meanwhile
    assert create_patient_key(path) == OTHER_KEY and read_patient_key(path) == OTHER_KEY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patient-key"]  # no temporary file left


def test_a_set_adapted_with_another_key_is_refused_before_training(tmp_path, capsys):
    init = tiny_init_set(tmp_path / "clinic-v1")
    (init / "adapt.json").write_text(json.dumps({"format": "alonet-adapt", "version": 2,
                                                 "patient_key_id": key_id(OTHER_KEY),
                                                 "learnt_patients": [patient_digest(OTHER_KEY, "p0")]}))
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    out = tmp_path / "clinic-v2"
    # this user has no key yet: refused, and no key is made (a new one could not be the right one)
    code, err = cli(capsys, data, "-o", out, "--init", init)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert f"adapted with the patient key {key_id(OTHER_KEY)}" in err and "--patient-key" in err
    assert not default_key_path().exists()
    # this user's own key is another one: refused, naming both
    mine, _, _ = load_patient_key(None)
    code, err = cli(capsys, data, "-o", out, "--init", init)
    assert code == 2 and f"the patient key {key_id(OTHER_KEY)}" in err and f"is {key_id(mine)}" in err
    assert "pass --patient-key with the key file that adapted it" in err
    assert not out.exists() and not (tmp_path / "clinic-v2.work").exists()
    # with the key file that adapted it, adapt goes on (this source is then too small to adapt)
    few = tiny_dataset(tmp_path / "few", n_patients=2)
    code, err = cli(capsys, few, "-o", out, "--init", init, "--patient-key", write_key(tmp_path / "k", OTHER_KEY))
    assert code == 2 and "too few to adapt" in err


def test_learnt_by_reads_keyed_unkeyed_and_unrecorded_patients(tmp_path):
    assert learnt_by("default") == Learnt()
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "adapt.json").write_text(json.dumps({"learnt_patients": [unkeyed_digest("a")]}))  # before keys
    assert learnt_by(str(folder)) == Learnt(unkeyed=frozenset({unkeyed_digest("a")}))
    (folder / "adapt.json").write_text(json.dumps({"learnt_patients": [patient_digest(OTHER_KEY, "b")],
                                                   "learnt_patients_unkeyed": [unkeyed_digest("a")],
                                                   "patient_key_id": key_id(OTHER_KEY)}))
    learnt = learnt_by(str(folder))
    assert learnt.key_id == key_id(OTHER_KEY)
    assert learnt.knows(OTHER_KEY, "a") and learnt.knows(OTHER_KEY, "b") and not learnt.knows(OTHER_KEY, "c")
    assert not learnt.knows(bytes(32), "b")
    (folder / "adapt.json").write_text(json.dumps({"format": "alonet-adapt"}))  # before 2026-12-06
    assert learnt_by(str(folder)) is None


def test_a_set_adapted_before_keys_still_keeps_its_patients_out_of_the_test(tmp_path, own_config_folder):
    init = tiny_init_set(tmp_path / "old-v1")
    learnt = ["p0", "p1", "p2", "p3", "gone"]  # "gone": a patient not in this source
    (init / "adapt.json").write_text(json.dumps({"format": "alonet-adapt", "version": 1,
                                                 "learnt_patients": sorted(unkeyed_digest(p) for p in learnt)}))
    data = tiny_dataset(tmp_path / "ds", n_patients=10)  # p0 ... p9
    result = adapt(data, tmp_path / "v2", fast(init), progress=False, keep_work=True)
    held = json.loads((tmp_path / "v2.work" / "held_out.json").read_text())
    assert not set(held["test"]) & set(learnt) and result.counts["patients_kept_out_of_test"] == 4
    key = read_patient_key(default_key_path())
    info = json.loads((tmp_path / "v2" / "adapt.json").read_text())
    assert info["patient_key_id"] == key_id(key)
    # the patients learnt again are named keyed now; only "gone" stays as the old set named it
    assert info["learnt_patients"] == sorted(patient_digest(key, p) for p in held["learn"])
    assert info["learnt_patients_unkeyed"] == [unkeyed_digest("gone")]
    assert [p for p in held["learn"] + held["test"] if unkeyed_digest(p) in shared_text(tmp_path / "v2")] == []
    # and a further adapt still recognises all of them
    seen = learnt_by(str(tmp_path / "v2"))
    assert all(seen.knows(key, p) for p in learnt + held["learn"]) and seen.key_id == key_id(key)


@pytest.mark.parametrize("content", ["{broken", '{"learnt_patients": 5}', '["a list"]',
                                     '{"learnt_patients": ["a"], "learnt_patients_unkeyed": [1]}'])
def test_a_damaged_adapt_json_of_the_start_is_a_one_line_error(tmp_path, capsys, content):
    init = tiny_init_set(tmp_path / "clinic-v1")
    (init / "adapt.json").write_text(content)
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    code, err = cli(capsys, data, "-o", tmp_path / "v2", "--init", init)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "adapt.json is damaged" in err and "restore" in err
    assert not (tmp_path / "v2").exists()


def test_a_key_write_that_fails_without_hard_links_leaves_no_empty_key(tmp_path, monkeypatch):
    """Where a file system has no hard links the key is written in place; a write that failed
    there (a full disk) left an empty file that every later run called a damaged key."""
    from alonet.adapt import keys

    def no_links(*args):
        raise PermissionError("no hard links here")

    real_fsync, calls = os.fsync, []

    def full_disk_the_second_time(fd):
        calls.append(fd)
        if len(calls) == 2:  # the temporary file's went through; the key file's fails
            raise OSError(28, "No space left on device")
        return real_fsync(fd)

    path = tmp_path / "alonet" / "patient-key"
    monkeypatch.setattr(keys.os, "link", no_links)
    monkeypatch.setattr(keys.os, "fsync", full_disk_the_second_time)
    with pytest.raises(KeyFileError, match="cannot make a patient key"):
        keys.create_patient_key(path)
    assert len(calls) == 2 and not path.exists() and list(path.parent.iterdir()) == []
    key = keys.create_patient_key(path)  # the next run makes one
    assert read_patient_key(path) == key
