"""Fine-tuning from a model (--init), freezing, dataset weights, and one image route for train and use."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from alonet.errors import DatasetError
from alonet.model import ModelConfig, build_model, load_model, resolve_model_set, save_model
from alonet.model.config import TASKS
from alonet.model.preprocess import normalize_images, prepare_input
from alonet.train import TrainConfig, train
from alonet.train.data import ArraySource, ConcatSource, TaskDataset
from alonet.train.finetune import WeightedEpochSampler, encoder_levels
from alonet.train.history import read_history_csv
from test_train import tiny_arrays, tiny_source


def tiny_init_set(folder, encoder="unet"):
    """A small model set to fine-tune from (input 32; for the encoder model depth 3 -> stride 8)."""
    torch.manual_seed(5)
    depth = 2 if encoder == "unet" else 3
    for task in TASKS:
        cfg = ModelConfig(task=task, base_width=4, depth=depth, input_size=32, class_weights=(1.0, 5.0),
                          encoder=encoder)
        save_model(build_model(cfg), cfg, folder / task)
    return folder


def finetune_config(init, **kw):
    base = dict(task="hairloss", init=str(init), steps=2, batch_size=4, lr=2e-4, lr_step=10_000,
                lr_gamma=1.0, val_fraction=0.25, seed=3, hflip=False, color=False, blur=False, noise=False,
                jpeg=False, scale_rotate=False, imperfect_scalp_p=0.0)
    base.update(kw)
    return TrainConfig(**base)


def val_loss_of(model_path, source, cfg, rows):
    """The weighted cross-entropy of a saved model on ``rows`` (computed outside the training loop)."""
    model, model_cfg = load_model(model_path)
    ds = TaskDataset(source, rows, cfg.adopt(model_cfg), train=False)
    xs, ys = zip(*(ds[k] for k in range(len(ds))))
    with torch.no_grad():
        logits = model(torch.stack(xs))
    weights = torch.tensor(model_cfg.class_weights)
    return float(torch.nn.functional.cross_entropy(logits, torch.stack(ys), weight=weights))


@pytest.mark.parametrize("encoder", ["unet", "efficientnet-lite0"])
def test_init_starts_from_the_model_and_the_run_is_a_complete_model_set(tmp_path, encoder):
    init = tiny_init_set(tmp_path / "init", encoder)
    source = tiny_source()
    cfg = finetune_config(init)
    run = train(source, tmp_path / "run", cfg, progress=False)

    history = read_history_csv(run / "hairloss" / "history.csv")
    assert [r["epoch"] for r in history][0] == 0  # the "before" row
    split = json.loads((run / "split.json").read_text())
    val_rows = [r.index for r in source.records if r.patient in split["val"]]
    expected = val_loss_of(init / "hairloss", source, cfg, val_rows)
    assert history[0]["val_loss"] == pytest.approx(expected, rel=1e-5)

    # the architecture comes from the init model, whatever TrainConfig said
    saved = TrainConfig.load(run / "hairloss" / "train_config.json")
    assert (saved.encoder, saved.base_width, saved.input_size, saved.init) == (encoder, 4, 32, str(init))
    # untrained tasks are carried over unchanged, so RUN is a complete model set
    found = resolve_model_set(run)
    assert set(found) == set(TASKS)
    for task in ("scalp-temporal", "scalp-midline"):
        assert (run / task / "carried_over.json").is_file()
        assert (run / task / "best.safetensors").read_bytes() == (init / f"{task}.safetensors").read_bytes()
    # a later run of another task into the same folder replaces the carried-over copy
    train(source, run, finetune_config(init, task="scalp-midline"), progress=False)
    assert not (run / "scalp-midline" / "carried_over.json").exists()
    assert (run / "scalp-midline" / "last.pt").is_file()
    assert (run / "hairloss" / "last.pt").is_file()  # untouched


def test_steps_set_the_number_of_epochs_and_bn_is_frozen_on_few_images(tmp_path):
    init = tiny_init_set(tmp_path / "init")
    cfg = finetune_config(init, steps=5, batch_size=4)
    run = train(tiny_source(), tmp_path / "run", cfg, progress=False)
    # 3 training patients x 4 views = 12 photographs = 3 batches of 4 -> 5 steps need 2 epochs
    history = read_history_csv(run / "hairloss" / "history.csv")
    assert [r["epoch"] for r in history] == [0, 1, 2]
    before, _ = load_model(init / "hairloss")
    after = torch.load(run / "hairloss" / "last.pt", weights_only=True)["model"]
    bn = "stem.1.running_mean"
    assert torch.equal(after[bn], before.state_dict()[bn])  # statistics frozen ("auto" on < 200 images)
    assert not torch.equal(after["stem.0.weight"], before.state_dict()["stem.0.weight"])  # weights learn


def test_keep_last_saves_the_final_epoch_whatever_validation_says(tmp_path):
    init = tiny_init_set(tmp_path / "init")
    source = tiny_source()
    for keep in ("best", "last"):
        # a learning rate far too high: the epochs get worse than the start on validation
        cfg = finetune_config(init, steps=9, batch_size=4, lr=0.5, keep=keep)
        run = train(source, tmp_path / keep, cfg, progress=False)
        history = read_history_csv(run / "hairloss" / "history.csv")
        kept = json.loads((run / "hairloss" / "best.json").read_text())
        final = torch.load(run / "hairloss" / "last.pt", weights_only=True)["model"]
        model, _ = load_model(run / "hairloss" / "best")
        same = all(torch.allclose(model.state_dict()[k].float(), v.float()) for k, v in final.items())
        if keep == "last":
            assert kept["metadata"]["epoch"] == history[-1]["epoch"] == 3 and same
        else:
            best = max(history, key=lambda r: r["val_iou"])
            assert kept["metadata"]["epoch"] == best["epoch"]
            assert same == (best["epoch"] == history[-1]["epoch"])
    with pytest.raises(Exception, match="keep must be one of"):
        finetune_config(init, keep="first")


def test_freeze_keeps_the_encoder_fixed(tmp_path):
    """Frozen levels keep their weights and their BatchNorm statistics, even with freeze_bn
    "none" (the decoder's statistics then do move)."""
    init = tiny_init_set(tmp_path / "init", "efficientnet-lite0")
    run = train(tiny_source(), tmp_path / "run", finetune_config(init, freeze_levels=99, freeze_bn="none"),
                progress=False)
    before, _ = load_model(init / "hairloss")
    after = torch.load(run / "hairloss" / "last.pt", weights_only=True)["model"]
    enc = [k for k in after if k.startswith("encoder.")]
    dec = [k for k in after if k.startswith("up.") and k.endswith("weight")]
    assert any(k.endswith("running_mean") for k in enc)
    assert all(torch.equal(after[k], before.state_dict()[k]) for k in enc)
    assert any(not torch.equal(after[k], before.state_dict()[k]) for k in dec)
    dec_stats = [k for k in after if k.startswith("up.") and k.endswith("running_mean")]
    assert dec_stats and any(not torch.equal(after[k], before.state_dict()[k]) for k in dec_stats)
    assert len(encoder_levels(before)) == 3


def test_dataset_weights_draw_each_dataset_at_its_rate():
    a = ArraySource(*tiny_arrays(n_patients=4, seed=0))
    b = ArraySource(*tiny_arrays(n_patients=1, seed=1))
    source = ConcatSource([a, b])
    rows = list(range(len(source.records)))  # 16 from a, 4 from b
    sampler = WeightedEpochSampler(source, rows, (1.0, 1.0), seed=0, size=20_000)
    picks = np.array(list(sampler))
    from_b = np.isin(picks, np.arange(16, 20)).mean()
    assert from_b == pytest.approx(0.5, abs=0.02)  # equal weights: half the draws from the small set
    sampler.set_epoch(1)
    assert list(sampler)[:50] != list(picks[:50])


def test_cli_init_uses_the_finetuning_recipe(tmp_path):
    from alonet.cli.main import main
    from alonet.data.dataset import write_dataset

    images, scalp, hairloss, meta = tiny_arrays()
    write_dataset(tmp_path / "ds", [(images[i], scalp[i], hairloss[i], meta[i]) for i in range(len(meta))], size=32)
    init = tiny_init_set(tmp_path / "init")
    code = main(["train", str(tmp_path / "ds"), "-o", str(tmp_path / "run"), "--init", str(init),
                 "--task", "hairloss", "--steps", "2", "--quiet", "--val-fraction", "0.25"])
    assert code in (0, None)
    saved = TrainConfig.load(tmp_path / "run" / "hairloss" / "train_config.json")
    assert (saved.lr, saved.batch_size, saved.steps, saved.lr_gamma) == (2e-4, 8, 2, 1.0)
    assert saved.resolved_freeze_bn(12) == "all"


class SpyBackend:
    """An inference engine that keeps the first batch each network is given (scalp 160 px,
    hair loss 64 px) and answers "scalp, no hair loss" everywhere."""

    name = "spy"
    configs = {t: ModelConfig(task=t, base_width=4, depth=2, input_size=160 if t != "hairloss" else 64)
               for t in TASKS}

    def __init__(self):
        self.seen = {}

    def predict(self, task, batch):
        self.seen.setdefault(task, batch.copy())
        return np.full(batch.shape[:3], 0.9 if task != "hairloss" else 0.1, np.float32)


def test_a_photograph_reaches_the_network_as_the_same_array_in_training_and_in_use(tmp_path):
    from alonet.data.dataset import write_dataset
    from alonet.infer.pipeline import Pipeline

    rng = np.random.default_rng(4)
    photo = np.asarray(
        __import__("PIL.Image", fromlist=["Image"]).fromarray(
            rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)).resize((1200, 900)))
    scalp = np.zeros((900, 1200), bool)
    scalp[100:800, 200:1000] = True
    write_dataset(tmp_path / "ds", [(photo, scalp, scalp, {"stem": "a", "patient": "p", "visit": "1",
                                                           "view": "top"})], size=320)
    cfg = TrainConfig(task="scalp-midline", input_size=160, base_width=4, depth=2)
    from alonet.train.data import ConvertedSource

    ds = TaskDataset(ConvertedSource(tmp_path / "ds"), [0], cfg, train=False)
    trained_on, _ = ds.arrays(0)
    used = prepare_input(photo, 160)
    assert np.array_equal(trained_on, used)

    # ... and the pipeline feeds exactly that array to its scalp network
    spy = SpyBackend()
    Pipeline(None, backend=spy).predict_view(photo, "top")
    assert np.array_equal(spy.seen["scalp-midline"][0], used)
    assert np.array_equal(normalize_images(used, spy.configs["scalp-midline"])[0],
                          ds[0][0].numpy())


def test_a_right_view_reaches_the_hair_loss_network_mirrored_in_training_as_in_use(tmp_path):
    """Before: inference mirrored right views for both networks, training only for the
    temporal one, so the hair-loss network trained on right views the other way round."""
    from alonet.data.dataset import write_dataset
    from alonet.infer.pipeline import Pipeline
    from alonet.train.data import ConvertedSource

    rng = np.random.default_rng(5)
    small = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    small[:, :10] = 255  # a marker at the left edge
    photo = np.asarray(__import__("PIL.Image", fromlist=["Image"]).fromarray(small).resize((1000, 750)))
    scalp = np.ones((750, 1000), bool)  # the whole picture is scalp: nothing painted either way
    write_dataset(tmp_path / "ds", [(photo, scalp, scalp, {"stem": "r", "patient": "p", "visit": "1",
                                                           "view": "right"})], size=320)
    spy = SpyBackend()
    Pipeline(None, backend=spy).predict_view(photo, "right")
    for task, size in (("scalp-temporal", 160), ("hairloss", 64)):
        cfg = TrainConfig(task=task, input_size=size, base_width=4, depth=2, views=("right",))
        trained_on, _ = TaskDataset(ConvertedSource(tmp_path / "ds"), [0], cfg, train=False).arrays(0)
        assert np.array_equal(trained_on, spy.seen[task][0]), task
        assert trained_on[:, -2:].min() == 255  # mirrored: the marker is at the right edge


def test_low_frequency_mix_takes_the_real_photographs_colour_and_keeps_the_layout():
    from alonet.train.style import low_frequency_mix

    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    image[16:48, 16:48] = (200, 150, 120)  # a "head" on black
    style = np.clip(rng.normal((40, 90, 160), 20, (64, 64, 3)), 0, 255).astype(np.uint8)  # bluish photograph
    assert np.array_equal(low_frequency_mix(image, style, 0.05, 0.0), image)
    mixed = low_frequency_mix(image, style, 0.05, 1.0)
    # the colour cast (mean, the zero frequency) moves to the style's ...
    assert np.abs(mixed.reshape(-1, 3).mean(0) - style.reshape(-1, 3).mean(0)).max() < 12
    # ... while the edges stay where they were (phases untouched)
    grad = np.abs(np.diff(mixed.astype(float).mean(2), axis=1))
    assert grad[:, 14:17].mean() > 3 * grad[:, 24:40].mean()


def test_style_images_change_training_photographs_but_not_their_masks(tmp_path):
    from PIL import Image

    (tmp_path / "real").mkdir()
    Image.fromarray(np.full((40, 40, 3), (30, 60, 200), np.uint8)).save(tmp_path / "real" / "a.jpg")
    plain = dict(hflip=False, color=False, blur=False, noise=False, jpeg=False, scale_rotate=False,
                 imperfect_scalp_p=0.0, input_size=32, base_width=4, depth=2)
    source = tiny_source()
    without = TaskDataset(source, [0, 1, 2], TrainConfig(**plain), train=True)
    with_style = TaskDataset(source, [0, 1, 2], TrainConfig(**plain, style_images=str(tmp_path / "real"),
                                                            style_p=1.0), train=True)
    for k in range(3):
        (x0, t0), (x1, t1) = without.arrays(k), with_style.arrays(k)
        assert np.array_equal(t0, t1)
        assert not np.array_equal(x0, x1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no photographs"):
        TaskDataset(source, [0], TrainConfig(**plain, style_images=str(tmp_path / "empty")), train=True)


def test_resuming_a_fine_tune_names_only_options_the_user_changed(tmp_path, caplog):
    """The run saved the architecture it adopted from its starting model; resuming with the
    same command must not report those as ignored changes, but a changed option still is."""
    init = tiny_init_set(tmp_path / "init")
    source = tiny_source()
    cfg = finetune_config(init)
    caplog.set_level("INFO", logger="alonet")
    train(source, tmp_path / "run", cfg, progress=False)
    caplog.clear()
    train(source, tmp_path / "run", cfg, resume=True, progress=False)
    assert "ignoring" not in caplog.text
    caplog.clear()
    train(source, tmp_path / "run", finetune_config(init, lr=1e-3), resume=True, progress=False)
    err = caplog.text
    assert "ignoring the new value(s) of lr (" in err


def test_the_encoder_learning_rate_scale_reaches_the_optimiser(tmp_path):
    """``encoder_lr_scale`` trains the encoder at lr x scale: the checkpoint's optimiser holds
    the encoder's parameters in a group of their own at that rate; ``weight_decay`` reaches both."""
    from alonet.train.finetune import encoder_modules

    init = tiny_init_set(tmp_path / "init")
    run = train(tiny_source(), tmp_path / "run", finetune_config(init, encoder_lr_scale=0.1, weight_decay=1e-3),
                progress=False)
    state = torch.load(run / "hairloss" / "last.pt", weights_only=True)
    assert [g["weight_decay"] for g in state["optimizer"]["param_groups"]] == [1e-3, 1e-3]
    model, _ = load_model(init / "hairloss")
    n_encoder = sum(1 for m in encoder_modules(model) for _ in m.parameters())
    n_all = len(list(model.parameters()))
    groups = sorted((g["lr"], len(g["params"])) for g in state["optimizer"]["param_groups"])
    assert groups == [(pytest.approx(2e-5), n_encoder), (pytest.approx(2e-4), n_all - n_encoder)]

    # the default scale: 0.1 only for an ImageNet encoder trained from scratch, else 1; given wins
    assert TrainConfig(encoder="efficientnet-lite0").resolved_encoder_lr_scale() == 0.1
    assert TrainConfig(encoder="efficientnet-lite0", pretrained=False).resolved_encoder_lr_scale() == 1.0
    assert TrainConfig(encoder="efficientnet-lite0", init="default").resolved_encoder_lr_scale() == 1.0
    assert TrainConfig().resolved_encoder_lr_scale() == 1.0
    assert TrainConfig(encoder_lr_scale=0.5).resolved_encoder_lr_scale() == 0.5


def test_freeze_bn_keeps_the_named_batchnorm_layers_in_eval_mode_and_auto_decides_by_size():
    from torch import nn

    from alonet.train.config import FEW_IMAGES
    from alonet.train.finetune import encoder_modules, set_train_mode

    cfg = ModelConfig(task="hairloss", base_width=4, depth=3, input_size=32, encoder="efficientnet-lite0")
    model = build_model(cfg)
    encoder_bn = {id(m) for root in encoder_modules(model) for m in root.modules()
                  if isinstance(m, nn.modules.batchnorm._BatchNorm)}
    all_bn = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert encoder_bn and len(encoder_bn) < len(all_bn)
    for freeze_bn, frozen in (("none", set()), ("encoder", encoder_bn), ("all", {id(m) for m in all_bn})):
        model.eval()
        set_train_mode(model, 0, freeze_bn)
        assert {id(m) for m in all_bn if not m.training} == frozen, freeze_bn
        assert model.training

    # "auto": fine-tuning on fewer than FEW_IMAGES photographs freezes all, on more none;
    # an ImageNet encoder trained from scratch keeps its own statistics
    finetune = TrainConfig(init="default")
    assert (finetune.resolved_freeze_bn(FEW_IMAGES - 1), finetune.resolved_freeze_bn(FEW_IMAGES)) == ("all", "none")
    assert TrainConfig(encoder="efficientnet-lite0").resolved_freeze_bn(10) == "encoder"
    assert TrainConfig().resolved_freeze_bn(10) == "none"
    assert TrainConfig(init="default", freeze_bn="none").resolved_freeze_bn(10) == "none"
