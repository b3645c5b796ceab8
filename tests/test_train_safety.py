"""Training survives bad states and interruptions: a meta.csv that is not UTF-8 is one line; model
files get the mode of ordinary files; a failed checkpoint write is one line that says to
--resume; a lost or damaged last.pt never costs the best model; Ctrl-C says that the finished
epochs are kept and to --resume; one run folder has one trainer at a time (train.lock)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alonet.cli.main import main
from alonet.data.dataset import open_dataset
from alonet.errors import DatasetError, InvalidValueError, RunInUseError
from alonet.train import train
from alonet.train.history import read_history_csv
from alonet.system.processes import pid_alive
from alonet.train.lock import LOCK_NAME
from test_train import tiny_config, tiny_source, write_tiny_dataset

TORCH_WRITE_ERROR = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"


def cli_args(dataset, run, *extra):
    return ["train", str(dataset), "-o", str(run), "--width", "4", "--depth", "2", "--input-size", "32",
            "--batch", "4", "--quiet", *extra]


def one_error_line(err: str) -> str:
    """The error a command ended with: one line, the last on stderr (progress lines may come before)."""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in err, err
    assert [line for line in lines if line.startswith("error")] == lines[-1:], err
    return lines[-1]


def snapshot(folder, names=("best.json", "best.safetensors", "history.csv")):
    return {name: (folder / name).read_bytes() for name in names}


def test_a_lost_or_damaged_checkpoint_never_replaces_the_best_model(tmp_path):
    run = tmp_path / "run"
    train(tiny_source(), run, tiny_config(epochs=2), progress=False)
    task_dir = run / "hairloss"
    kept = snapshot(task_dir)
    best_epoch = json.loads(kept["best.json"])["metadata"]["epoch"]

    last = task_dir / "last.pt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # truncated, as by a full disk
    with pytest.raises(InvalidValueError) as caught:
        train(tiny_source(), run, tiny_config(epochs=3), resume=True, progress=False)
    message = str(caught.value)
    assert "checkpoint is unreadable" in message and f"a best model (epoch {best_epoch}," in message
    assert f"rename {task_dir}" in message and "delete it" not in message
    assert "--init" not in message  # the run holds one task: it is no model set to start from

    # following the old advice (delete last.pt) is refused too, and nothing is replaced
    last.unlink()
    with pytest.raises(InvalidValueError, match=r"holds a best model \(epoch \d, validation IoU [0-9.]+\) and "
                                                r"history.csv but no checkpoint \(last.pt\)"):
        train(tiny_source(), run, tiny_config(epochs=3), resume=True, progress=False)
    assert snapshot(task_dir) == kept

    # the advice given: rename the task folder, then --resume trains the task from epoch 1
    task_dir.rename(run / "hairloss.old")
    train(tiny_source(), run, tiny_config(epochs=1), resume=True, progress=False)
    assert [r["epoch"] for r in read_history_csv(task_dir / "history.csv")] == [1]
    assert snapshot(run / "hairloss.old") == kept


def test_a_complete_run_is_offered_as_init_and_that_advice_works(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    assert main(cli_args(dataset, run, "--task", "all", "--epochs", "1")) == 0
    (run / "hairloss" / "last.pt").unlink()
    (run / "hairloss" / "history.csv").unlink()  # a best model alone (epoch 1) ...
    (run / "hairloss" / "best.json").write_text(
        (run / "hairloss" / "best.json").read_text().replace('"epoch": 1,', '"epoch": 2,'))  # ... of a later epoch
    capsys.readouterr()
    assert main(cli_args(dataset, run, "--task", "all", "--epochs", "1", "--resume")) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "holds a best model (epoch 2," in line and f"--init {run} -o NEW_RUN" in line
    new = tmp_path / "new"
    assert main(cli_args(dataset, new, "--task", "hairloss", "--epochs", "1", "--init", str(run))) == 0
    assert json.loads((new / "hairloss" / "best.json").read_text())["metadata"]["init"].startswith(str(run))


def test_a_first_epoch_whose_checkpoint_failed_is_trained_again(tmp_path, monkeypatch, capsys):
    """best.* is written before last.pt: when the first last.pt fails, --resume starts over
    (that model is made again by the same epoch), after the error said to --resume."""
    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"

    def full_disk(*args, **kwargs):
        raise RuntimeError(TORCH_WRITE_ERROR)

    monkeypatch.setattr(torch, "save", full_disk)
    assert main(cli_args(dataset, run, "--task", "scalp-midline", "--epochs", "1")) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "--resume" in line
    task_dir = run / "scalp-midline"
    assert (task_dir / "best.json").is_file() and not (task_dir / "last.pt").exists()
    monkeypatch.undo()
    assert main(cli_args(dataset, run, "--task", "scalp-midline", "--epochs", "1", "--resume")) == 0
    assert [r["epoch"] for r in read_history_csv(task_dir / "history.csv")] == [1]


def test_weights_without_their_json_are_a_cut_first_save_and_trained_again(tmp_path):
    """An adapt check (2026-12-07): a kill between save_model's two moves at the first epoch left
    best.safetensors alone, and every rerun was refused as if a best model were kept."""
    run = tmp_path / "run"
    train(tiny_source(), run, tiny_config(epochs=1), progress=False)
    task_dir = run / "hairloss"
    for name in ("best.json", "last.pt", "history.csv"):
        (task_dir / name).unlink()
    assert (task_dir / "best.safetensors").is_file()
    train(tiny_source(), run, tiny_config(epochs=1), resume=True, progress=False)
    assert [r["epoch"] for r in read_history_csv(task_dir / "history.csv")] == [1]
    assert (task_dir / "best.json").is_file()


def test_a_failed_checkpoint_write_is_one_line_and_keeps_the_last_one(tmp_path, monkeypatch, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    args = cli_args(dataset, run, "--task", "scalp-temporal", "--keep", "last")
    assert main([*args, "--epochs", "1"]) == 0
    task_dir = run / "scalp-temporal"
    before = (task_dir / "last.pt").read_bytes()
    capsys.readouterr()

    def torch_full_disk(obj, file, *args, **kwargs):
        Path(file).write_bytes(b"PK\x03\x04 half a checkpoint")  # the disk filled part-way through
        raise RuntimeError(TORCH_WRITE_ERROR)

    monkeypatch.setattr(torch, "save", torch_full_disk)
    assert main([*args, "--epochs", "2", "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: cannot write {task_dir / 'last.pt'}: the write stopped part-way")
    assert "free some disk space" in line and "rerun the same command with --resume" in line
    assert (task_dir / "last.pt").read_bytes() == before
    assert sorted(p.name for p in task_dir.iterdir() if p.name.startswith(".")) == []  # no temp files left
    monkeypatch.undo()

    # safetensors reports a failed write as SafetensorError: it is the OSError it was
    import safetensors.torch
    from safetensors import SafetensorError

    def weights_full_disk(*args, **kwargs):
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_file", weights_full_disk)
    assert main([*args, "--epochs", "2", "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: cannot write {task_dir / 'best.safetensors'}: No space left on device")
    assert "--resume" in line
    monkeypatch.undo()
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    assert [r["epoch"] for r in read_history_csv(task_dir / "history.csv")] == [1, 2]


def test_ctrl_c_says_the_finished_epochs_are_kept_and_to_resume(tmp_path, monkeypatch, capsys):
    import alonet.train.loop as loop

    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    args = cli_args(dataset, run, "--task", "scalp-temporal", "--epochs", "2")
    real_epoch = loop._train_epoch

    def ctrl_c_in_second_epoch(train_run, epoch, ctx, progress):
        if epoch == 1:
            raise KeyboardInterrupt
        return real_epoch(train_run, epoch, ctx, progress)

    monkeypatch.setattr(loop, "_train_epoch", ctrl_c_in_second_epoch)
    assert main(args) == 130
    err = capsys.readouterr().err
    assert f"the epochs finished so far are kept in {run}" in err
    assert "rerun the same command with --resume" in err
    assert not (run / LOCK_NAME).exists()
    monkeypatch.undo()
    assert main([*args, "--resume"]) == 0
    assert [r["epoch"] for r in read_history_csv(run / "scalp-temporal" / "history.csv")] == [1, 2]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    return child.pid


def write_lock(run, pid, host=None, token=None):
    run.mkdir(parents=True, exist_ok=True)
    owner = {"pid": pid, "host": host or socket.gethostname(), "started": "2026-12-06T10:00:00+00:00"}
    if token is not None:
        owner["token"] = token
    (run / LOCK_NAME).write_text(json.dumps(owner) + "\n")


def test_a_second_trainer_of_one_run_folder_is_refused(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    args = cli_args(dataset, run, "--task", "scalp-midline", "--epochs", "1")
    assert main(args) == 0
    assert not (run / LOCK_NAME).exists()
    kept = snapshot(run / "scalp-midline")

    # another live process holds the folder (the test's parent stands in for it)
    other = os.getppid()
    assert pid_alive(other)
    write_lock(run, other)
    capsys.readouterr()
    assert main([*args[:-1], "2", "--resume"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"in use by another `alonet train` or `alonet adapt` (process {other} on {socket.gethostname()}" in line
    assert f"delete {run / LOCK_NAME}" in line
    assert snapshot(run / "scalp-midline") == kept and (run / LOCK_NAME).is_file()

    # a lock from another host cannot be checked: respected, with how to clear it
    write_lock(run, dead_pid(), host="elsewhere.example")
    with pytest.raises(RunInUseError, match="if no training runs on elsewhere.example"):
        train(dataset, run, tiny_config(task="scalp-midline", epochs=2), resume=True, progress=False)

    # a stale lock (dead process on this host) is taken over, held while training, removed after
    write_lock(run, dead_pid())
    held = []

    def during(event):
        held.append(json.loads((run / LOCK_NAME).read_text())["pid"])
        with pytest.raises(RunInUseError, match="another training in this process"):
            train(dataset, run, tiny_config(task="scalp-midline", epochs=2), resume=True, progress=False)

    train(dataset, run, tiny_config(task="scalp-midline", epochs=2), resume=True, progress=False,
          on_epoch_end=during)
    assert held == [os.getpid()] and not (run / LOCK_NAME).exists()
    assert [r["epoch"] for r in read_history_csv(run / "scalp-midline" / "history.csv")] == [1, 2]

    # this process's own id in a lock it does not hold: left by an earlier run (containers reuse ids)
    write_lock(run, os.getpid())
    train(dataset, run, tiny_config(task="scalp-midline", epochs=3), resume=True, progress=False)
    assert not (run / LOCK_NAME).exists()
    # ... also when that earlier run wrote its own token
    write_lock(run, os.getpid(), token="0" * 32)
    train(dataset, run, tiny_config(task="scalp-midline", epochs=4), resume=True, progress=False)
    assert not (run / LOCK_NAME).exists()


def test_a_folder_left_with_only_a_lock_is_still_a_run_folder(tmp_path):
    run = tmp_path / "run"
    write_lock(run, dead_pid())  # killed right after taking the lock
    train(tiny_source(), run, tiny_config(task="scalp-midline"), progress=False)
    assert (run / "scalp-midline" / "best.json").is_file()


def test_a_meta_csv_that_is_not_utf8_is_one_line(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    with open(dataset / "meta.csv", "ab") as handle:
        handle.write(b"\xff\xfe")
    with pytest.raises(DatasetError, match="meta.csv is not UTF-8 text"):
        open_dataset(dataset)
    assert main(cli_args(dataset, tmp_path / "run", "--task", "hairloss", "--epochs", "1")) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(dataset / "meta.csv") in line and "alonet convert" in line


@pytest.mark.skipif(os.name == "nt", reason="POSIX mode bits")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_model_files_get_the_same_ordinary_mode(tmp_path, umask):
    from alonet.model import save_model
    from alonet.model.config import ModelConfig
    from alonet.model.unet import build_model

    cfg = ModelConfig(task="hairloss", base_width=4, depth=2, input_size=32)
    old = os.umask(umask)
    try:
        json_path = save_model(build_model(cfg), cfg, tmp_path / "model")
        run = train(tiny_source(), tmp_path / "run", tiny_config(task="scalp-midline"), progress=False)
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for path in (json_path, json_path.with_suffix(".safetensors"), *(run / "scalp-midline").iterdir()):
        assert os.stat(path).st_mode & 0o777 == expected, path
    assert np.isfinite(read_history_csv(run / "scalp-midline" / "history.csv")[0]["val_iou"])


def test_a_resumed_fine_tune_carries_the_other_networks_over_without_init_again(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    start = train(dataset, tmp_path / "start", tiny_config(), tasks="all", progress=False)
    run = tmp_path / "ft"

    def stop(event):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):  # killed after its first epoch, as Ctrl-C does
        train(dataset, run, tiny_config(init=str(start), epochs=2, batch_size=8, lr=2e-4), progress=False,
              on_epoch_end=stop)
    assert sorted(p.name for p in run.iterdir() if p.is_dir()) == ["hairloss"]
    capsys.readouterr()
    # the Ctrl-C hint: the same command with --resume; here a user leaves out --init and the recipe
    assert main(cli_args(dataset, run, "--task", "hairloss", "--epochs", "2", "--batch", "8", "--resume")) == 0
    err = capsys.readouterr().err
    assert f"carried over from {start} (not trained in this run): scalp-temporal, scalp-midline" in err
    assert "ignoring" not in err  # nothing typed differs from the saved recipe (lr, init were not typed)
    for task in ("scalp-temporal", "scalp-midline"):
        assert (run / task / "best.json").is_file()
    from alonet.model.io import resolve_model_set
    assert sorted(resolve_model_set(str(run))) == ["hairloss", "scalp-midline", "scalp-temporal"]
    # a typed option that differs is named; nothing to do says how to go on
    assert main(cli_args(dataset, run, "--task", "hairloss", "--epochs", "2", "--batch", "8", "--lr", "0.1",
                         "--resume")) == 0
    err = capsys.readouterr().err
    assert "ignoring the new value(s) of lr (only" in err
    assert "already trained for 2 epoch(s); nothing to do (rerun with --resume and more --epochs" in err


def test_training_on_photographs_without_patients_warns_that_the_split_is_per_photograph(tmp_path, capsys):
    from alonet.data.dataset import write_dataset
    from test_train import tiny_arrays

    images, scalp, hairloss, meta = tiny_arrays(n_patients=3)
    meta = [{**m, "patient": "" if i < 5 else m["patient"]} for i, m in enumerate(meta)]
    dataset = write_dataset(tmp_path / "ds", [(images[i], scalp[i], hairloss[i], meta[i]) for i in range(12)], size=32)
    assert main(cli_args(dataset, tmp_path / "run", "--task", "hairloss", "--epochs", "1")) == 0
    assert "warning: 5 of 12 photographs have no patient" in capsys.readouterr().err
    assert main(cli_args(write_tiny_dataset(tmp_path / "ds2"), tmp_path / "run2", "--task", "hairloss",
                         "--epochs", "1")) == 0
    assert "have no patient" not in capsys.readouterr().err


def test_validation_photographs_without_hair_loss_are_warned_about(tmp_path, capsys):
    from alonet.data.dataset import write_dataset
    from test_train import tiny_arrays

    images, scalp, hairloss, meta = tiny_arrays(n_patients=4)
    hairloss[:] = False  # no patient has hair loss
    dataset = write_dataset(tmp_path / "ds", [(images[i], scalp[i], hairloss[i], meta[i]) for i in range(16)], size=32)
    assert main(cli_args(dataset, tmp_path / "run", "--task", "hairloss", "--epochs", "2")) == 0
    err = capsys.readouterr().err
    assert err.count("warning: hairloss: the validation photographs show no hair loss") == 1
    assert main(cli_args(write_tiny_dataset(tmp_path / "ds2"), tmp_path / "run2", "--task", "hairloss",
                         "--epochs", "1")) == 0
    assert "show no hair loss" not in capsys.readouterr().err


def test_a_resumed_fine_tune_given_another_init_still_copies_from_its_own_start(tmp_path, capsys):
    from alonet.model.io import read_model_info

    dataset = write_tiny_dataset(tmp_path / "ds")
    a = train(dataset, tmp_path / "a", tiny_config(seed=3), tasks="all", progress=False)
    b = train(dataset, tmp_path / "b", tiny_config(seed=4), tasks="all", progress=False)
    run = tmp_path / "ft"

    def stop(event):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(dataset, run, tiny_config(init=str(a), epochs=2), progress=False, on_epoch_end=stop)
    capsys.readouterr()
    assert main(cli_args(dataset, run, "--task", "hairloss", "--epochs", "2", "--init", str(b), "--resume")) == 0
    err = capsys.readouterr().err
    assert "ignoring the new value(s) of" in err and "init" in err
    assert f"carried over from {a} (not trained in this run)" in err

    def weights(folder, task):
        return read_model_info(folder / task / "best.json")["weights_sha256"]

    assert weights(a, "scalp-midline") != weights(b, "scalp-midline")
    assert weights(run, "scalp-midline") == weights(a, "scalp-midline")


@pytest.mark.parametrize("damage", ["weights", "json"])
def test_a_damaged_starting_network_is_refused_before_any_task_trains(tmp_path, capsys, damage):
    from test_finetune import tiny_init_set

    dataset = write_tiny_dataset(tmp_path / "ds")
    init = tiny_init_set(tmp_path / "init")
    # the last task of --task all is the damaged one: it used to be found after the others had trained
    if damage == "weights":
        weights = init / "hairloss.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    else:
        (init / "hairloss.json").write_text("{", encoding="utf-8")
    run = tmp_path / "run"
    assert main(cli_args(dataset, run, "--task", "all", "--epochs", "1", "--init", str(init))) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(init / "hairloss") in line
    assert not any(run.glob("*/best.json")) and not any(run.glob("*/last.pt"))


def test_dataset_weights_and_style_photographs_are_checked_before_the_run_folder_is_written(tmp_path, capsys):
    from PIL import Image

    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    # a refused start used to leave split.json behind, which the next start reused whatever its --seed
    assert main(cli_args(dataset, run, "--epochs", "1", "--dataset-weights", "1,0.3")) == 2
    assert "2 dataset weight(s) given for 1 dataset(s)" in one_error_line(capsys.readouterr().err)
    assert not run.exists()
    style = tmp_path / "style"
    style.mkdir()
    for k in range(3):
        Image.new("RGB", (48, 40), (90 + 40 * k, 70, 60)).save(style / f"real{k}.jpg")
    whole = (style / "real0.jpg").read_bytes()
    (style / "real3.jpg").write_bytes(whole[: len(whole) // 2])  # one cut short among good ones
    # it used to be found only when an epoch drew it (or never, in a short run)
    assert main(cli_args(dataset, run, "--task", "hairloss", "--epochs", "2", "--style-images", str(style))) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(style / "real3.jpg") in line and "truncated" in line
    assert not run.exists()


def test_a_training_loss_that_becomes_nan_is_one_line_without_a_torch_warning(tmp_path, capsys):
    import warnings

    dataset = write_tiny_dataset(tmp_path / "ds")
    with warnings.catch_warnings(record=True) as caught:  # a user's console shows them on stderr
        warnings.simplefilter("always")
        code = main(cli_args(dataset, tmp_path / "run", "--task", "hairloss", "--epochs", "3", "--lr", "1e30"))
    assert code == 2 and "the training loss became nan" in one_error_line(capsys.readouterr().err)
    # torch's "Converting a tensor with requires_grad=True to a scalar ..." came before the error line
    assert not [w for w in caught if "requires_grad" in str(w.message)]


def test_a_bare_resume_keeps_the_runs_own_epochs(tmp_path, capsys):
    """An audit (thirty-fourth session): --resume without --epochs took the default 30, so a
    finished 2-epoch run trained on to 30 (and a 40-epoch run stopped at 31 counted as done)."""
    from alonet.train.config import TrainConfig

    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    args = cli_args(dataset, run, "--task", "scalp-temporal", "--device", "cpu")
    assert main([*args, "--epochs", "2"]) == 0
    assert main([*args, "--resume"]) == 0
    task = run / "scalp-temporal"
    assert [r["epoch"] for r in read_history_csv(task / "history.csv")] == [1, 2]
    assert TrainConfig.from_dict(json.loads((task / "train_config.json").read_text())).epochs == 2
    assert main([*args, "--resume", "--epochs", "3"]) == 0  # a new --epochs still extends it
    assert [r["epoch"] for r in read_history_csv(task / "history.csv")] == [1, 2, 3]


def test_an_empty_validation_side_is_found_before_training_and_leaves_no_split(tmp_path, capsys):
    """An audit (thirty-fourth session): `--task all` trained the temporal network fully before
    finding that the midline one had no validation photographs, and the refused start left a
    split.json that the next run reused whatever --seed or --val-fraction it gave."""
    from test_train import tiny_arrays

    from alonet.data.dataset import write_dataset
    from alonet.data.split import make_split, patient_key

    images, scalp, hairloss, meta = tiny_arrays(n_patients=4)
    keep = [i for i, m in enumerate(meta) if not (m["patient"] == "p3" and m["view"] in ("top", "back"))]
    dataset = write_dataset(tmp_path / "ds", [(images[i], scalp[i], hairloss[i], meta[i]) for i in keep], size=32)
    from alonet.train.data import open_source

    records = open_source(dataset).records
    seed = next(s for s in range(200) if make_split(records, 0.25, s)["val"] == [patient_key(records[-1])])
    run = tmp_path / "run"
    code = main(cli_args(dataset, run, "--task", "all", "--epochs", "1", "--seed", str(seed)))
    assert code == 2
    assert "the scalp-midline task has 6 training and 0 validation photographs" in one_error_line(capsys.readouterr().err)
    assert not (run / "scalp-temporal").exists() and not (run / "split.json").exists()


def test_a_run_is_not_its_own_starting_model_and_a_bare_history_is_kept(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    run = tmp_path / "run"
    assert main(cli_args(dataset, run, "--task", "all", "--epochs", "1")) == 0
    before = sorted(p.relative_to(run) for p in run.rglob("*"))
    assert main(cli_args(dataset, run, "--init", str(run), "--task", "hairloss", "--epochs", "1", "--resume")) == 2
    assert f"--init {run} is this run's own output folder" in one_error_line(capsys.readouterr().err)
    assert sorted(p.relative_to(run) for p in run.rglob("*")) == before
    # a task folder holding only its history (the model files lost) is not trained over without --resume
    other = tmp_path / "other"
    (other / "hairloss").mkdir(parents=True)
    (other / "hairloss" / "history.csv").write_text("epoch,train_loss\n1,0.5\n")
    for resume in ([], ["--resume"]):  # the same words either way ("pass --resume" was wrong without it)
        assert main(cli_args(dataset, other, "--task", "hairloss", "--epochs", "1", *resume)) == 2
        assert "holds history.csv but no checkpoint (last.pt), so --resume cannot continue it" in one_error_line(
            capsys.readouterr().err)
    assert (other / "hairloss" / "history.csv").read_text() == "epoch,train_loss\n1,0.5\n"
    # a 1x1 bottleneck cannot train on a last batch of one photograph
    assert main(["train", str(dataset), "-o", str(tmp_path / "bn"), "--width", "4", "--depth", "2",
                 "--input-size", "4", "--quiet"]) == 2
    assert "leaves a 1x1 bottleneck at depth 2" in one_error_line(capsys.readouterr().err)
