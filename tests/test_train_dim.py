"""scripts/dev/train_dim.py: training with dim, warm light added to the augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from devscripts import load_dev_script
from test_train import write_tiny_dataset

import alonet.train.data as train_data
from alonet.train.augment import build_augmentation
from alonet.train.config import TrainConfig


@pytest.fixture(scope="module")
def dim():
    return load_dev_script("train_dim")


def test_dim_light_darkens_and_warms_training_photographs_only(dim):
    cfg = TrainConfig(task="hairloss")
    train = dim.with_dim_light(build_augmentation, 1.0)(cfg, True)
    grey = np.full((64, 64, 3), 180, np.uint8)
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 1
    means = []
    for seed in range(30):
        train.set_random_seed(seed)
        means.append(train(image=grey, scalp=mask, hairloss=mask)["image"].reshape(-1, 3).astype(float).mean(0))
    red, green, blue = np.mean(means, axis=0)
    # brightness times 0.4-0.7 (mean 0.55, before the other steps' own 0.7-1.3) and a warm shift
    assert 0.4 * 180 < (red + green + blue) / 3 < 0.7 * 180
    assert red > green > blue
    assert dim.with_dim_light(build_augmentation, 1.0)(cfg, False).transforms == []  # validation untouched


def test_dim_light_changes_the_photograph_and_never_the_masks(dim):
    import albumentations as A

    step = A.Compose([dim.dim_light(1.0)], additional_targets={"scalp": "mask", "hairloss": "mask"}, seed=5)
    photo = np.random.default_rng(0).integers(60, 255, (32, 32, 3), dtype=np.uint8)
    mask = (np.arange(32 * 32).reshape(32, 32) % 7 == 0).astype(np.uint8)
    out = step(image=photo, scalp=mask, hairloss=1 - mask)
    assert out["image"].mean() < 0.75 * photo.mean()
    assert np.array_equal(out["scalp"], mask) and np.array_equal(out["hairloss"], 1 - mask)


def test_the_script_trains_with_dim_light_then_restores_the_augmentation(dim, tmp_path, monkeypatch):
    used = []
    real_dim_light = dim.dim_light
    monkeypatch.setattr(dim, "dim_light", lambda p: used.append(p) or real_dim_light(p))
    dataset = write_tiny_dataset(tmp_path / "ds")
    args = [str(dataset), "-o", str(tmp_path / "run"), "--task", "hairloss", "--epochs", "1", "--width", "4",
            "--depth", "2", "--input-size", "32", "--batch", "4", "--quiet"]
    assert dim.main(["--dim-p", "0.5", *args]) == 0
    assert (tmp_path / "run" / "hairloss" / "best.safetensors").is_file()
    assert used and set(used) == {0.5}                        # the training pipeline had the step
    assert train_data.build_augmentation is build_augmentation  # and the module is as it was


@pytest.mark.parametrize("bad", [["--dim-p", "0"], ["--dim-p", "1.5"], ["--dim-p", "0.3", "--workers", "2"]])
def test_bad_options_are_usage_errors(dim, bad, capsys):
    with pytest.raises(SystemExit) as stop:
        dim.main([*bad, "somewhere", "-o", "run"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert ("give --workers 0" in err) if bad[-1] == "2" else ("--dim-p must be in (0, 1]" in err)
