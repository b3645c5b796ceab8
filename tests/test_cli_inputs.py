"""Bad command-line input found by an audit on 2026-12-06 (twenty-second session).

Before: a negative or too large --seed gave a traceback; ``-o .`` gave a
traceback (and with --overwrite could have replaced the current folder);
``phantom --overwrite`` replaced a file with a folder; ``export -o`` into an
existing model set replaced its weights; ``train -o`` wrote checkpoints into a
folder that was not a run (a phantom folder's ``hairloss/``); ``train --init``
found a missing starting model only after training, and ignored ``--epochs``;
``--lr inf`` was accepted; ``demo`` took any ``demo.json`` for its own and any size.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from test_finetune import tiny_init_set
from test_train import write_tiny_dataset

from alonet.cli.main import main
from alonet.train.config import TrainConfig

TINY = ["--width", "4", "--depth", "2", "--input-size", "32", "--batch", "4", "--quiet"]


def run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["phantom", "-o", "{tmp}/ph", "--patients", "1", "--seed", "-1"],
    ["phantom", "-o", "{tmp}/ph", "--patients", "1", "--seed", "99999999999999999999"],
    ["demo", "-o", "{tmp}/demo", "--seed", "-1"],
    ["train", "{tmp}", "-o", "{tmp}/run", "--seed", "99999999999999999999"],
    ["adapt", "{tmp}", "-o", "{tmp}/out", "--seed", "-1"],
])
def test_seeds_out_of_range_are_usage_errors(tmp_path, capsys, argv):
    code, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 2 and "Invalid value for '--seed'" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == []  # nothing was written


def test_the_current_folder_and_files_are_never_output_folders(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("keep me")
    for target in (".", "sub/..", str(tmp_path.parent)):
        code, err = run(capsys, "phantom", "-o", target, "--patients", "1", "--size", "64", "--overwrite")
        assert code == 2 and "is the current folder, a folder containing it" in err, target
    code, err = run(capsys, "phantom", "-o", "notes.txt", "--patients", "1", "--size", "64", "--overwrite")
    assert code == 2 and "notes.txt is a file, not a folder" in err
    assert (tmp_path / "notes.txt").read_text() == "keep me" and sorted(os.listdir(tmp_path)) == ["notes.txt"]


@pytest.mark.parametrize("argv,keep", [
    (["score", "--top", "{tmp}/visit/top.jpg", "--back", "{tmp}/visit/back.jpg", "--left", "{tmp}/visit/left.jpg",
      "--right", "{tmp}/visit/right.jpg", "-o", "{tmp}/visit"], "visit"),
    (["score", "--top", "{tmp}/visit/top.jpg", "--incomplete", "--model", "{tmp}/set", "-o", "{tmp}/set"], "set"),
    (["convert", "--from", "{tmp}/phantoms", "-o", "{tmp}/phantoms"], "phantoms"),
    (["convert", "{tmp}/phantoms/photographs", "{tmp}/phantoms/scalp", "{tmp}/phantoms/hairloss",
      "-o", "{tmp}/phantoms/photographs"], "phantoms"),
    (["evaluate", "{tmp}/ds", "-o", "{tmp}/ds", "--quiet"], "ds"),
    (["evaluate", "{tmp}/ds", "--model", "{tmp}/set", "-o", "{tmp}/set", "--quiet"], "set"),
    (["phantom", "--masks", "{tmp}/phantoms", "-o", "{tmp}/phantoms"], "phantoms"),
    (["adapt", "{tmp}/ds", "-o", "{tmp}/ds", "--quiet"], "ds"),
])
def test_overwrite_never_replaces_a_folder_that_holds_the_commands_own_input(tmp_path, capsys, argv, keep):
    """--overwrite replaced such a folder with the output: score -o the folder of the photographs
    deleted the photographs, convert -o the phantom folder its annotations, evaluate -o the
    dataset (or the model set) itself."""
    for name in ("visit/top.jpg", "visit/back.jpg", "visit/left.jpg", "visit/right.jpg", "phantoms/manifest.csv",
                 "phantoms/photographs/a.jpg", "phantoms/scalp/a.png", "phantoms/hairloss/a.png", "ds/dataset.json",
                 "set/hairloss.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"users' data")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv], "--overwrite")
    assert code == 2 and f"output {tmp_path / keep}" in err and "which this command reads" in err, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("argv", [
    ["score", "--top", "{tmp}/visit/top.jpg", "--back", "{tmp}/visit/back.jpg", "--left", "{tmp}/visit/left.jpg",
     "--right", "{tmp}/visit/right.jpg"],
    ["convert", "--from", "{tmp}/phantoms"],
    ["evaluate", "{tmp}/ds", "--quiet"],
    ["phantom", "--patients", "1", "--size", "64"],
    ["adapt", "{tmp}/ds", "--quiet"],
])
def test_overwrite_replaces_only_an_earlier_output_of_the_same_command(tmp_path, capsys, argv):
    """An audit (thirty-third session): score, convert, evaluate and phantom -o FOLDER --overwrite
    replaced any folder, e.g. one of a user's documents, with their output."""
    for name in ("visit/top.jpg", "visit/back.jpg", "visit/left.jpg", "visit/right.jpg", "phantoms/manifest.csv",
                 "phantoms/photographs/a.jpg", "phantoms/scalp/a.png", "phantoms/hairloss/a.png", "ds/dataset.json",
                 "precious/thesis.docx", "precious/sub/figure.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"users' data")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, err = run(capsys, *[a.format(tmp=tmp_path) for a in argv], "-o", str(tmp_path / "precious"), "--overwrite")
    assert code == 2 and f"output {tmp_path / 'precious'} holds files this command did not write" in err, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("header", ["file,patient,case,visit_date,photo_index",  # the annotation folder's
                                    "stem,patient,visit,view"])  # a user's convert --manifest
def test_phantom_overwrite_needs_a_manifest_of_its_own_not_any_manifest_csv(tmp_path, capsys, header):
    """An audit (thirty-fourth session): any folder holding a file named manifest.csv counted as
    phantom output, so `phantom -o annotations --overwrite` deleted an annotation folder."""
    (tmp_path / "data" / "mask").mkdir(parents=True)
    (tmp_path / "data" / "mask" / "a.gif").write_bytes(b"a drawn mask")
    (tmp_path / "data" / "manifest.csv").write_text(header + "\n")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, err = run(capsys, "phantom", "--patients", "1", "--size", "64", "-o", str(tmp_path / "data"), "--overwrite")
    assert code == 2 and "holds files this command did not write (no manifest.csv of its own)" in err, err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_overwrite_still_replaces_the_commands_own_output(tmp_path, capsys):
    out = tmp_path / "ph"
    for seed in ("1", "2"):
        code, err = run(capsys, "phantom", "-o", str(out), "--patients", "1", "--size", "64", "--seed", seed,
                        "--overwrite")
        assert code == 0, err
    assert "P0001" in (out / "manifest.csv").read_text()


def test_export_never_writes_over_an_existing_model_set(tmp_path, capsys):
    init = tiny_init_set(tmp_path / "set")
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in init.iterdir()}
    code, err = run(capsys, "export", "--onnx", "-o", str(init), "--model", "default", "--no-check")
    assert code == 2 and "already exists; -o makes a new model set" in err and f"--into {init}" in err
    assert {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in init.iterdir()} == before


def test_train_refuses_a_folder_that_is_not_a_run_and_checks_init_first(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    phantom_like = tmp_path / "ph"
    (phantom_like / "hairloss").mkdir(parents=True)
    (phantom_like / "hairloss" / "P1_top.png").write_bytes(b"mask")
    args = [str(dataset), "--task", "hairloss", "--epochs", "1", *TINY]
    for resume in ([], ["--resume"]):
        code, err = run(capsys, "train", *args, "-o", str(phantom_like), *resume)
        assert code == 2 and "exists and is not an AloNet training run" in err
    assert sorted(p.name for p in (phantom_like / "hairloss").iterdir()) == ["P1_top.png"]

    partial = tiny_init_set(tmp_path / "init")
    (partial / "scalp-midline.json").unlink()
    code, err = run(capsys, "train", *args, "-o", str(tmp_path / "run"), "--init", str(partial))
    assert code == 2 and "scalp-midline" in err
    assert not (tmp_path / "run").exists()  # refused before any training

    code, err = run(capsys, "train", *args, "-o", str(tmp_path / "run"), "--lr", "inf")
    assert code == 2 and "learning rate must be a positive number" in err and "Warning" not in err


def test_epochs_given_with_init_set_the_length_instead_of_the_recipes_steps(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    init = tiny_init_set(tmp_path / "init")
    code, err = run(capsys, "train", str(dataset), "-o", str(tmp_path / "run"), "--init", str(init),
                    "--task", "hairloss", "--epochs", "1", "--val-fraction", "0.25", "--quiet")
    assert code == 0, err
    saved = TrainConfig.load(tmp_path / "run" / "hairloss" / "train_config.json")
    assert (saved.epochs, saved.steps, saved.lr, saved.batch_size) == (1, None, 2e-4, 8)  # the rest of the recipe


def test_demo_replaces_only_its_own_folder_and_caps_the_size(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "demo.json").write_text(json.dumps({"my": "notes"}))
    code, err = run(capsys, "demo", "-o", str(mine), "--size", "64")
    assert code == 2 and "was not written by alonet demo" in err
    assert json.loads((mine / "demo.json").read_text()) == {"my": "notes"}
    code, err = run(capsys, "demo", "-o", str(tmp_path / "big"), "--size", "100000")
    assert code == 2 and "Invalid value for '--size'" in err and not (tmp_path / "big").exists()


def test_output_folders_are_checked_without_a_home_folder(tmp_path, monkeypatch):
    """Before: with HOME unset and no passwd entry, every output command crashed in Path.home()."""
    from pathlib import Path

    from alonet.system.atomic import check_can_write_directory

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert check_can_write_directory(tmp_path / "out") == tmp_path / "out"


def test_a_demo_that_fails_part_way_leaves_the_folder_as_it_was(tmp_path, capsys, monkeypatch):
    """An audit (thirty-third session): a stopped demo left photographs/ and truth/ without its
    demo.json, and every rerun was then refused as "not written by alonet demo"."""
    import alonet.report

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    out = tmp_path / "demo"
    code, err = run(capsys, "demo", "-o", str(out), "--size", "64")
    assert code == 0, err
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    monkeypatch.setattr(alonet.report, "write_report", disk_full)
    code, err = run(capsys, "demo", "-o", str(out), "--size", "64", "--seed", "3")
    assert code != 0 and "No space left on device" in err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    code, err = run(capsys, "demo", "-o", str(tmp_path / "new"), "--size", "64")
    assert code != 0 and not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no temporary folder left
    monkeypatch.undo()
    code, err = run(capsys, "demo", "-o", str(tmp_path / "new"), "--size", "64")
    assert code == 0 and (tmp_path / "new" / "demo.json").is_file()
