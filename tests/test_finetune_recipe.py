"""The fine-tuning recipe: ``alonet train --init`` and ``alonet adapt`` build the TrainConfig
they did before the recipe became a dataclass (values recorded from the old code, field by field
where they differ from ``TrainConfig()``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alonet.adapt import AdaptConfig
from alonet.train import TrainConfig
from test_adapt import tiny_dataset

#: The recipe's fields as every fine-tune without options gets them.
RECIPE = {"batch_size": 8, "lr": 2e-4, "lr_step": 10_000, "lr_gamma": 1.0, "steps": 80}

#: ``alonet train DS -o RUN --init default --quiet ARGS`` -> TrainConfig fields unlike TrainConfig().
CLI_CASES = {
    "nothing given": ([], {**RECIPE, "relight_p": 0.0, "init": "default"}),
    "--epochs drops the step count": (["--epochs", "5"], {
        **{k: v for k, v in RECIPE.items() if k != "steps"}, "epochs": 5, "relight_p": 0.0, "init": "default"}),
    "--epochs and --steps": (["--epochs", "5", "--steps", "12"], {
        **RECIPE, "epochs": 5, "steps": 12, "relight_p": 0.0, "init": "default"}),
    "--lr and --batch win": (["--lr", "1e-3", "--batch", "4"], {
        **RECIPE, "lr": 1e-3, "batch_size": 4, "relight_p": 0.0, "init": "default"}),
    "--lr-step and --lr-gamma win": (["--lr-step", "3", "--lr-gamma", "0.5", "--task", "scalp-midline"], {
        **RECIPE, "lr_step": 3, "lr_gamma": 0.5, "task": "scalp-midline", "relight_p": 0.0, "init": "default"}),
    "--freeze-bn and --no-scale-rotate": (["--freeze-bn", "none", "--no-scale-rotate"], {
        **RECIPE, "freeze_bn": "none", "scale_rotate": False, "relight_p": 0.0, "init": "default"}),
    "the from-scratch values given": (["--batch", "24", "--lr", "5e-4", "--freeze-bn", "auto", "--scale-rotate"], {
        "lr_step": 10_000, "lr_gamma": 1.0, "steps": 80, "relight_p": 0.0, "init": "default"}),
}


def fields_unlike_default(cfg: TrainConfig) -> dict:
    default = TrainConfig().to_dict()
    return {k: v for k, v in cfg.to_dict().items() if v != default[k]}


@pytest.mark.parametrize("args, expected", CLI_CASES.values(), ids=list(CLI_CASES))
def test_train_init_builds_the_recorded_config(monkeypatch, args, expected):
    import alonet.train
    from alonet.cli.main import main

    seen = []
    monkeypatch.setattr(alonet.train, "train", lambda dataset, run_dir, cfg, **kw: seen.append(cfg) or run_dir)
    assert main(["train", "ds", "-o", "run", "--init", "default", "--quiet", *args]) in (0, None)
    assert fields_unlike_default(seen[0]) == expected


def test_train_without_init_keeps_the_from_scratch_recipe(monkeypatch):
    import alonet.train
    from alonet.cli.main import main

    seen = []
    monkeypatch.setattr(alonet.train, "train", lambda dataset, run_dir, cfg, **kw: seen.append(cfg) or run_dir)
    assert main(["train", "ds", "-o", "run", "--quiet"]) in (0, None)
    assert fields_unlike_default(seen[0]) == {"relight_p": 0.0}


def test_adapt_fine_tunes_each_task_with_the_recorded_config(tmp_path, monkeypatch):
    import alonet.adapt.run as run

    seen = []
    monkeypatch.setattr(run, "train", lambda source, run_dir, cfg, **kw: seen.append(cfg))
    monkeypatch.setattr(run, "carry_over", lambda run_dir, init: None)
    data = Path(tiny_dataset(tmp_path / "ds", n_patients=7))
    replay = tiny_dataset(tmp_path / "replay", n_patients=50)
    given = {"batch_size": 3, "lr": 1e-3, "lr_step": 10_000, "lr_gamma": 1.0, "val_fraction": 0.3, "seed": 4,
             "init": "x", "steps": 5, "keep": "last"}
    cases = [
        (AdaptConfig(), [{**RECIPE, "task": "scalp-temporal", "init": "default"},
                         {**RECIPE, "task": "scalp-midline", "init": "default"},
                         {**RECIPE, "init": "default"}]),
        (AdaptConfig(init="x", steps=5, batch_size=3, lr=1e-3, seed=4, val_fraction=0.3, keep="last",
                     tasks=("hairloss", "scalp-midline")), [given, {**given, "task": "scalp-midline"}]),
        (AdaptConfig(tasks=("hairloss",), replay=str(replay), replay_weight=0.5),
         [{**RECIPE, "init": "default", "freeze_bn": "all", "dataset_weights": [1.0, 0.5]}]),
    ]
    for n, (cfg, expected) in enumerate(cases):
        seen.clear()
        run._finetune(data, tmp_path / f"run{n}", cfg, False)
        assert [fields_unlike_default(c) for c in seen] == expected


def test_adapt_defaults_are_the_recipe():
    cfg = AdaptConfig()
    assert (cfg.steps, cfg.batch_size, cfg.lr) == (RECIPE["steps"], RECIPE["batch_size"], RECIPE["lr"])


def test_finetuning_takes_the_recipe_and_given_fields_win():
    from alonet.train.config import FinetuneRecipe

    cfg = TrainConfig.finetuning("default", task="scalp-midline", lr=1e-3)
    assert cfg == TrainConfig(task="scalp-midline", init="default", lr=1e-3, batch_size=FinetuneRecipe.batch_size,
                              steps=FinetuneRecipe.steps, lr_step=FinetuneRecipe.lr_step,
                              lr_gamma=FinetuneRecipe.lr_gamma)
    assert TrainConfig.finetuning("default", steps=None, epochs=3).steps is None
