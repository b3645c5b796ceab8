"""Training: tiny runs on synthetic arrays; run-folder contents, resume, split, views."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from alonet.errors import DatasetError, InvalidValueError
from alonet.model import load_model, resolve_model_set
from alonet.train import TrainConfig, train
from alonet.train.augment import build_augmentation, imperfect_scalp, sample_seed
from alonet.data.split import make_split
from alonet.train.data import ArraySource, TaskDataset, task_rows
from alonet.train.history import read_history_csv

VIEWS4 = ("top", "back", "left", "right")


def tiny_arrays(n_patients=4, size=32, seed=0):
    """One visit (four views) per patient: a bright disc (scalp) whose right half is bare."""
    rng = np.random.default_rng(seed)
    n = 4 * n_patients
    yy, xx = np.mgrid[:size, :size]
    images = rng.integers(0, 60, (n, size, size, 3), dtype=np.uint8)
    scalp = np.zeros((n, size, size), np.uint8)
    hairloss = np.zeros((n, size, size), np.uint8)
    meta = []
    for i in range(n):
        r = size // 4 + i % 4
        scalp[i] = (yy - size // 2) ** 2 + (xx - size // 2) ** 2 < r * r
        hairloss[i] = scalp[i] & (xx > size // 2)
        images[i][scalp[i] > 0] = (120, 90, 70)
        images[i][hairloss[i] > 0] = (220, 180, 160)
        meta.append({"stem": f"p{i // 4}_{VIEWS4[i % 4]}", "patient": f"p{i // 4}", "visit": "v1",
                     "view": VIEWS4[i % 4]})
    return images, scalp, hairloss, meta


def tiny_source(**kw):
    return ArraySource(*tiny_arrays(**kw))


def tiny_config(**kw):
    base = dict(task="hairloss", epochs=1, batch_size=4, input_size=32, base_width=4, depth=2,
                val_fraction=0.25, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_one_epoch_writes_a_complete_run_folder(tmp_path):
    run = train(tiny_source(), tmp_path / "run", tiny_config(), tasks="all", progress=False)
    split = json.loads((run / "split.json").read_text())
    assert len(split["train"]) == 3 and len(split["val"]) == 1
    assert not set(split["train"]) & set(split["val"])
    for task in ("scalp-temporal", "scalp-midline", "hairloss"):
        files = {p.name for p in (run / task).iterdir()}
        assert files == {"train_config.json", "history.csv", "history.png", "best.json",
                         "best.safetensors", "last.pt"}
        rows = read_history_csv(run / task / "history.csv")
        assert [r["epoch"] for r in rows] == [1] and rows[0]["best"]
        assert np.isfinite(rows[0]["train_loss"]) and 0 <= rows[0]["val_iou"] <= 1
        assert (run / task / "history.png").read_bytes()[:4] == b"\x89PNG"
        saved = json.loads((run / task / "train_config.json").read_text())
        assert saved["task"] == task and saved["lr"] == 5e-4
        model, cfg = load_model(run / task / "best.json")
        assert cfg.task == task and cfg.base_width == 4
    # the run folder is a model set
    assert set(resolve_model_set(run)) == {"scalp-temporal", "scalp-midline", "hairloss"}


def test_defaults_are_the_study_recipe():
    cfg = TrainConfig()
    assert (cfg.input_size, cfg.lr, cfg.lr_step, cfg.lr_gamma, cfg.batch_size) == (320, 5e-4, 7, 0.1, 24)
    assert cfg.class_weights == (1.0, 5.0) and cfg.hflip
    assert (cfg.base_width, cfg.depth, cfg.dropout) == (64, 4, 0.25)


def test_learns_the_tiny_task(tmp_path):
    """A few epochs on the disc task: the loss falls and validation IoU becomes useful."""
    cfg = tiny_config(task="scalp-midline", epochs=6, base_width=8, lr=5e-3, batch_size=4,
                      color=False, blur=False, noise=False, jpeg=False, scale_rotate=False)
    train(tiny_source(n_patients=6), tmp_path / "run", cfg, progress=False)
    rows = read_history_csv(tmp_path / "run" / "scalp-midline" / "history.csv")
    assert len(rows) == 6
    assert rows[-1]["train_loss"] < 0.7 * rows[0]["train_loss"]
    assert max(r["val_iou"] for r in rows) > 0.5


def without_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_kill_and_resume_matches_an_uninterrupted_run(tmp_path, caplog):
    """A resumed run continues the epoch count, the weights and optimiser, the learning-rate
    schedule (halved after epoch 2 here) and the best validation IoU so far (the tiny model's
    IoU stays 0, so a resumed run that forgot it would call epoch 2 "best")."""
    cfg = tiny_config(epochs=2, lr_step=2, lr_gamma=0.5)

    class Killed(Exception):
        pass

    def kill_after_first(event):
        if event.epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(tiny_source(), tmp_path / "killed", cfg, on_epoch_end=kill_after_first, progress=False)
    assert len(read_history_csv(tmp_path / "killed" / "hairloss" / "history.csv")) == 1

    with pytest.raises(InvalidValueError, match="already holds a training run.*--resume"):
        train(tiny_source(), tmp_path / "killed", cfg, progress=False)

    epochs_seen = []
    train(tiny_source(), tmp_path / "killed", cfg, resume=True, progress=False,
          on_epoch_end=lambda e: epochs_seen.append(e.epoch))
    assert epochs_seen == [2]
    resumed = read_history_csv(tmp_path / "killed" / "hairloss" / "history.csv")
    assert [r["epoch"] for r in resumed] == [1, 2]

    train(tiny_source(), tmp_path / "straight", cfg, progress=False)
    straight = read_history_csv(tmp_path / "straight" / "hairloss" / "history.csv")
    assert without_seconds(resumed) == without_seconds(straight)
    assert [r["best"] for r in straight] == [True, False]  # IoU 0 twice: epoch 1 stays the best
    assert json.loads((tmp_path / "killed" / "hairloss" / "best.json").read_text())["metadata"]["epoch"] == 1
    a = torch.load(tmp_path / "killed" / "hairloss" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "straight" / "hairloss" / "last.pt", weights_only=True)
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["scheduler"] == b["scheduler"] and a["best_iou"] == b["best_iou"]

    # resuming a finished run does nothing; raising --epochs continues it, on the same schedule
    train(tiny_source(), tmp_path / "straight", cfg, resume=True, progress=False)
    assert len(read_history_csv(tmp_path / "straight" / "hairloss" / "history.csv")) == 2
    caplog.clear()
    with caplog.at_level("INFO", logger="alonet"):
        train(tiny_source(), tmp_path / "straight", replace(cfg, epochs=3, base_width=6), resume=True,
              progress=False)
    assert "ignoring the new value(s) of base_width" in caplog.text
    rows = read_history_csv(tmp_path / "straight" / "hairloss" / "history.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["lr"] for r in rows] == pytest.approx([5e-4, 5e-4, 2.5e-4])
    state = torch.load(tmp_path / "straight" / "hairloss" / "last.pt", weights_only=True)
    assert state["epoch"] == 3 and state["train_config"]["base_width"] == 4
    train(tiny_source(), tmp_path / "killed", replace(cfg, epochs=3), resume=True, progress=False)
    assert without_seconds(read_history_csv(tmp_path / "killed" / "hairloss" / "history.csv")) == \
        without_seconds(rows)


def test_split_is_by_patient_and_reused(tmp_path):
    source = tiny_source(n_patients=5)
    split = make_split(source.records, 0.4, seed=1)
    assert len(split["val"]) == 2 and len(split["train"]) == 3
    assert make_split(source.records, 0.4, seed=1) == split
    run = tmp_path / "run"
    run.mkdir()
    custom = {**split, "train": ["p0", "p1", "p2", "p3"], "val": ["p4"]}
    (run / "split.json").write_text(json.dumps(custom))
    seen = {}
    train(source, run, tiny_config(task="scalp-midline"), progress=False,
          on_epoch_end=lambda e: seen.update(e.row))
    assert json.loads((run / "split.json").read_text())["val"] == ["p4"]
    # a patient missing from the stored split is refused
    (run / "split.json").write_text(json.dumps({**custom, "train": ["p0", "p1", "p2"]}))
    with pytest.raises(DatasetError, match="not in this run's split"):
        train(source, run, tiny_config(task="scalp-temporal"), progress=False)
    with pytest.raises(DatasetError, match="at least 2"):
        make_split(tiny_source(n_patients=1).records, 0.2, 0)


def test_views_select_rows_mirror_right_and_refuse_unknown():
    images, scalp, hairloss, meta = tiny_arrays(n_patients=2)
    meta[0]["view"] = ""  # a top view whose view is unknown
    source = ArraySource(images, scalp, hairloss, meta)
    with pytest.raises(DatasetError, match="no known view.*--views"):
        task_rows(source.records, tiny_config(task="scalp-midline"))
    assert task_rows(source.records, tiny_config(task="scalp-midline", views=("top", "back"))) == [1, 4, 5]
    assert task_rows(source.records, tiny_config(task="hairloss")) == list(range(8))
    assert task_rows(source.records, tiny_config(task="scalp-temporal", views=("left", "right"))) == [2, 3, 6, 7]
    assert task_rows(source.records, tiny_config(task="scalp-midline", views=("top", "unknown"))) == [0, 4]

    # a right view is mirrored for the temporal network (no augmentation: compare exactly)
    plain = dict(hflip=False, color=False, blur=False, noise=False, jpeg=False, scale_rotate=False)
    images[3] = 0
    images[3][:, :5] = 255  # marker on the left edge of the right view
    source = ArraySource(images, scalp, hairloss, meta)
    ds = TaskDataset(source, [3], tiny_config(task="scalp-temporal", views=("left", "right"), **plain),
                     train=True)
    x, _ = ds.arrays(0)
    assert x[:, -5:].min() == 255 and x[:, :-5].max() == 0


def test_hairloss_input_is_painted_and_target_stays_inside_scalp():
    images, scalp, hairloss, meta = tiny_arrays(n_patients=2)
    hairloss[0] = 1  # loss marked everywhere, also outside the scalp
    source = ArraySource(images, scalp, hairloss, meta)
    plain = dict(hflip=False, color=False, blur=False, noise=False, jpeg=False, scale_rotate=False)
    ds = TaskDataset(source, [0], tiny_config(imperfect_scalp_p=0.0, **plain), train=True)
    x, target = ds.arrays(0)
    outside = scalp[0] == 0
    assert (x[outside] == (0, 255, 255)).all()
    assert np.array_equal(target, scalp[0] > 0)
    # with imperfect scalps the target follows the painted region
    ds = TaskDataset(source, [0], tiny_config(imperfect_scalp_p=1.0, **plain), train=True)
    changed = 0
    for epoch in range(4):
        ds.epoch = epoch
        x, target = ds.arrays(0)
        painted = (x == (0, 255, 255)).all(-1)
        assert np.array_equal(target, ~painted)
        changed += int(not np.array_equal(target, scalp[0] > 0))
    assert changed >= 2
    tensor_x, tensor_y = ds[0]
    assert tensor_x.shape == (3, 32, 32) and tensor_y.dtype == torch.int64


def test_relight_changes_light_smoothly_and_leaves_masks_alone():
    assert not TrainConfig().relight  # not part of the study's recipe
    only_light = dict(hflip=False, color=False, blur=False, noise=False, jpeg=False, scale_rotate=False)
    grey = np.full((64, 64, 3), 128, np.uint8)
    scalp = np.zeros((64, 64), np.uint8)
    scalp[16:48, 16:48] = 1
    loss = scalp.copy()
    loss[16:32] = 0
    changed = []
    for seed in range(6):
        aug = build_augmentation(TrainConfig(relight=True, relight_p=1.0, seed=seed, **only_light), train=True)
        out = aug(image=grey, scalp=scalp, hairloss=loss)
        assert np.array_equal(out["scalp"], scalp) and np.array_equal(out["hairloss"], loss)
        delta = out["image"].astype(float) - grey
        changed.append(np.abs(delta).mean())
        # uneven light is a smooth field: neighbouring pixels change almost alike
        assert np.abs(np.diff(delta[..., 0], axis=1)).mean() < 2.0
        again = build_augmentation(TrainConfig(relight=True, relight_p=1.0, seed=seed, **only_light), train=True)
        assert np.array_equal(again(image=grey, scalp=scalp, hairloss=loss)["image"], out["image"])
    assert min(changed) > 1.0  # every draw changes the light (grey levels)
    off = build_augmentation(TrainConfig(**only_light), train=True)
    assert np.array_equal(off(image=grey, scalp=scalp, hairloss=loss)["image"], grey)
    with pytest.raises(InvalidValueError, match="relight probability"):
        TrainConfig(relight=True, relight_p=1.5)


def test_each_augmentation_switch_turns_its_change_on_and_off():
    """hflip and scale_rotate move image and masks together; color, blur, noise and jpeg change
    the image only; a switch that is off changes nothing, and validation changes nothing."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    scalp = np.zeros((32, 32), np.uint8)
    scalp[8:24, 3:19] = 1  # off-centre: a flip moves it
    loss = scalp.copy()
    loss[:, 11:] = 0
    off = dict(hflip=False, color=False, blur=False, noise=False, jpeg=False, scale_rotate=False)
    for seed in range(3):
        out = build_augmentation(TrainConfig(seed=seed, **off), train=True)(image=image, scalp=scalp, hairloss=loss)
        assert np.array_equal(out["image"], image) and np.array_equal(out["scalp"], scalp)
    for flag, moves_masks in (("hflip", True), ("scale_rotate", True), ("color", False), ("blur", False),
                              ("noise", False), ("jpeg", False)):
        changed = moved = 0
        for seed in range(12):
            aug = build_augmentation(TrainConfig(seed=seed, **{**off, flag: True}), train=True)
            out = aug(image=image, scalp=scalp, hairloss=loss)
            changed += not np.array_equal(out["image"], image)
            moved += not np.array_equal(out["scalp"], scalp)
            if flag == "hflip" and not np.array_equal(out["scalp"], scalp):  # mirrored, all three alike
                assert np.array_equal(out["image"], image[:, ::-1]) and np.array_equal(out["hairloss"], loss[:, ::-1])
        assert changed > 0, flag
        assert (moved > 0) == moves_masks, flag
    everything = TrainConfig(seed=1, relight=True, relight_p=1.0)
    out = build_augmentation(everything, train=False)(image=image, scalp=scalp, hairloss=loss)
    assert np.array_equal(out["image"], image) and np.array_equal(out["scalp"], scalp)


def test_imperfect_scalp_and_sample_seed():
    mask = np.zeros((100, 100), bool)
    mask[20:80, 20:80] = True
    ious = []
    for seed in range(10):
        out = imperfect_scalp(mask, np.random.default_rng(seed))
        ious.append((out & mask).sum() / (out | mask).sum())
    assert 0.6 < min(ious) and max(ious) <= 1.0 and np.mean(ious) < 0.97
    assert not imperfect_scalp(np.zeros((9, 9), bool), np.random.default_rng(0)).any()
    assert sample_seed(1, 2, 3) == sample_seed(1, 2, 3) != sample_seed(1, 3, 3)


def test_bad_options_are_clear_errors():
    with pytest.raises(InvalidValueError, match="val fraction"):
        TrainConfig(val_fraction=1.5)
    with pytest.raises(InvalidValueError, match="unknown view"):
        TrainConfig(views=("side",))
    with pytest.raises(InvalidValueError, match="multiple of 2\\*\\*depth=16"):
        TrainConfig(input_size=100)
    with pytest.raises(InvalidValueError, match="unknown task"):
        TrainConfig(task="beard")
    # infinite values used to pass: an infinite dataset weight ended training in a traceback
    # (probabilities contain NaN), an infinite encoder lr scale in a nan loss after an epoch
    with pytest.raises(InvalidValueError, match="dataset weights must be positive numbers"):
        TrainConfig(dataset_weights=(math.inf, 1.0))
    with pytest.raises(InvalidValueError, match="encoder lr scale must be a number >= 0"):
        TrainConfig(encoder_lr_scale=math.inf)


def test_history_csv_is_readable(tmp_path):
    train(tiny_source(), tmp_path / "run", tiny_config(task="scalp-temporal", epochs=2), progress=False)
    with open(tmp_path / "run" / "scalp-temporal" / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "val_loss", "val_iou", "val_dice", "seconds", "best"]
    assert [r["epoch"] for r in rows] == ["1", "2"]


def write_tiny_dataset(path, n_patients=4):
    from alonet.data.dataset import write_dataset

    images, scalp, hairloss, meta = tiny_arrays(n_patients=n_patients)
    return write_dataset(path, [(images[i], scalp[i], hairloss[i], meta[i]) for i in range(len(meta))], size=32)


def test_cli_trains_a_converted_dataset_and_reports_errors(tmp_path, capsys):
    from alonet.cli.main import main

    dataset = write_tiny_dataset(tmp_path / "ds")
    args = [str(dataset), "-o", str(tmp_path / "run"), "--task", "scalp-temporal", "--epochs", "1",
            "--width", "4", "--depth", "2", "--input-size", "32", "--batch", "4", "--quiet"]
    assert main(["train", *args]) == 0
    assert (tmp_path / "run" / "scalp-temporal" / "best.safetensors").is_file()
    capsys.readouterr()
    assert main(["train", *args]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert main(["train", *args[:-1], "--epochs", "2", "--resume", "--quiet"]) == 0
    assert len(read_history_csv(tmp_path / "run" / "scalp-temporal" / "history.csv")) == 2
    capsys.readouterr()
    assert main(["train", str(tmp_path / "nowhere"), "-o", str(tmp_path / "r2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not found" in err and "Traceback" not in err
    assert main(["train", str(dataset), "-o", str(tmp_path / "r3"), "--input-size", "100"]) == 2
    assert "multiple of 2**depth=16 (got 100)" in capsys.readouterr().err


def test_phantom_source_trains_without_a_dataset_folder(tmp_path):
    from alonet.phantom import render_patient
    from alonet.train.data import PhantomSource

    source = PhantomSource(patients=3, seed=5, size=64, cache=2)
    assert len(source) == 12 and source.records[6].view == "left" and source.records[6].patient == "phantom00001"
    image, scalp, hairloss = source.sample(7)
    truth = render_patient(5, visits=1, size=64, patient=1)[0].views["right"]
    assert np.array_equal(image, truth.image) and np.array_equal(scalp, truth.scalp)
    assert hairloss.dtype == bool and not (hairloss & ~scalp).any()
    train(source, tmp_path / "run", tiny_config(task="hairloss", input_size=32), progress=False)
    rows = read_history_csv(tmp_path / "run" / "hairloss" / "history.csv")
    assert len(rows) == 1 and np.isfinite(rows[0]["val_loss"])


def test_cpu_bfloat16_training_saves_a_float32_model(tmp_path):
    cfg = tiny_config(task="scalp-midline", epochs=2, cpu_bf16=True)
    train(tiny_source(), tmp_path / "run", cfg, progress=False)
    rows = read_history_csv(tmp_path / "run" / "scalp-midline" / "history.csv")
    assert len(rows) == 2 and all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in rows)
    model, _ = load_model(tmp_path / "run" / "scalp-midline" / "best.json")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2, 32, 32)


def test_several_datasets_train_as_one_with_patients_kept(tmp_path):
    from alonet.train.data import open_source

    a = ArraySource(*tiny_arrays(n_patients=2, seed=1))
    b = ArraySource(*tiny_arrays(n_patients=3, seed=2))
    both = open_source([a, b])
    assert len(both) == len(a) + len(b)
    # rows of the second source follow the first, with their own pixels and patients
    image, scalp, hairloss = both.sample(len(a) + 1)
    expected = b.sample(1)
    assert np.array_equal(image, expected[0]) and np.array_equal(scalp, expected[1])
    assert [r.patient for r in both.records[len(a):]] == [r.patient for r in b.records]
    # clashing stems are told apart, all stems unique
    assert len({r.stem for r in both.records}) == len(both)
    with pytest.raises(DatasetError):
        open_source([])


def test_patience_stops_a_task_early_and_a_resumed_run_remembers_why(tmp_path, caplog):
    """The tiny hair-loss model's validation IoU stays 0: epoch 1 is the best, epoch 2 is not,
    so patience 1 stops before epoch 3; resuming counts the stale epochs from the history."""
    cfg = tiny_config(epochs=4, patience=1)
    with caplog.at_level("INFO", logger="alonet"):
        train(tiny_source(), tmp_path / "run", cfg, progress=False)
    rows = read_history_csv(tmp_path / "run" / "hairloss" / "history.csv")
    assert [(r["epoch"], r["best"], r["val_iou"]) for r in rows] == [(1, True, 0.0), (2, False, 0.0)]
    assert "stopping early, no better validation IoU for 1 epoch(s)" in caplog.text
    caplog.clear()
    with caplog.at_level("INFO", logger="alonet"):
        train(tiny_source(), tmp_path / "run", cfg, resume=True, progress=False)
    assert len(read_history_csv(tmp_path / "run" / "hairloss" / "history.csv")) == 2
    assert "stopping early" in caplog.text
