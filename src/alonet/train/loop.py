"""The training loop: one task at a time, resumable, single-process or torchrun.

Run folder layout (``RUN_DIR``)::

    split.json                    patients in train / validation (shared by all tasks)
    <task>/train_config.json      the TrainConfig of this task
    <task>/history.csv            one row per finished epoch
    <task>/history.png            loss and validation IoU/Dice plot
    <task>/best.json|.safetensors the model with the best validation IoU so far
    <task>/last.pt                full state after the last finished epoch (for --resume)
    train.lock                    while a process trains into the folder (see alonet.train.lock)

All files are written atomically at the end of every epoch, so killing the
process loses at most the epoch in progress; ``resume=True`` continues from
``last.pt``. A task folder whose best model or history would be lost by
training from epoch 1 (no readable ``last.pt``) is refused, never replaced. Randomness (shuffling, dropout, augmentation) is re-seeded from
(seed, epoch) at every epoch, so a resumed run follows the same path as an
uninterrupted one.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Collection, Sequence

from alonet.data.split import load_or_make_split, split_rows
from alonet.errors import DatasetError, InvalidValueError, ModelError, OutputExistsError, RunInUseError
from alonet.model.io import check_model_set, load_model, resolve_model_set, save_model
from alonet.scoring.metrics import OverlapCounts
from alonet.train.checkpoint import (
    carry_over,
    drop_carried_over,
    is_carried_over,
    read_checkpoint,
    resolve_config,
    save_checkpoint,
    write_failed,
)
from alonet.train.config import ALL_TASKS, TrainConfig
from alonet.train.data import TaskDataset, open_source, subsample, task_rows
from alonet.train.distributed import setup
from alonet.train.history import plot_history, write_history_csv
from alonet.train.lock import LOCK_NAME, acquire, release
from alonet.train.style import check_style_photos

if TYPE_CHECKING:  # torch is imported where it is used (``import alonet`` stays light)
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    from alonet.model.config import ModelConfig
    from alonet.train.finetune import WeightedEpochSampler

LOG = logging.getLogger(__name__)


@dataclass
class EpochEnd:
    """What ``on_epoch_end`` callbacks receive (on every rank)."""

    task: str
    epoch: int  # 1-based number of the epoch just finished
    epochs: int
    row: dict
    model: object  # the (unwrapped) torch module
    rank: int
    task_dir: Path


def train(dataset, run_dir: str | Path, cfg: TrainConfig = TrainConfig(), *,
          tasks: str | Sequence[str] | None = None, resume: bool = False,
          on_epoch_end: Callable[[EpochEnd], None] | None = None, progress: bool = True,
          carry_rest: bool = True, explicit: Collection[str] | None = None) -> Path:
    """Train ``cfg.task`` (or each of ``tasks``; ``"all"`` = the three) on ``dataset``.

    ``dataset`` is a converted-dataset folder or a source object (see
    ``alonet.train.data``). Returns ``run_dir``, which can then be passed as
    a model set (``<task>/best.json``) to evaluation and inference. With
    ``cfg.init`` the tasks not trained are copied from it (``carry_over``) unless
    ``carry_rest`` is False (a caller training the tasks one by one copies them at the end);
    a resumed fine-tune copies them from the starting model its checkpoints saved (given
    ``init`` again or not, and whatever it names). ``explicit`` names the options the user set (the CLI's); on
    ``resume`` only those are reported as ignored (None: every option that differs).
    """
    if tasks is None:
        task_list = [cfg.task]
    elif tasks == "all":
        task_list = list(ALL_TASKS)
    else:
        task_list = [tasks] if isinstance(tasks, str) else list(tasks)
    run_dir = Path(run_dir)
    check_run_folder(run_dir)
    _check_task_folders(run_dir, task_list, resume)
    if cfg.init is not None:
        check_model_set(cfg.init)  # a missing, incomplete or damaged starting model fails now, not after training
        if any(run_dir.resolve() in Path(path).resolve().parents  # its carried-over networks would be dropped
               for path in resolve_model_set(cfg.init).values()):
            raise InvalidValueError(f"--init {cfg.init} is this run's own output folder",
                                    fix="start from another model set (the one this run was first fine-tuned from)")
    source = open_source(dataset)
    _check_inputs(source, cfg)
    if not resume:  # each task's split, before the first task trains (a resumed task keeps its saved options)
        where = str(getattr(source, "path", "the dataset"))
        for task in task_list[1:]:
            _split_task_rows(source, run_dir, replace(cfg, task=task), where)
    ctx = setup(cfg.device)
    try:
        unknown = sum(1 for r in source.records if not r.patient)
        if unknown:
            ctx.log(LOG.warning,
                    f"warning: {unknown} of {len(source.records)} photographs have no patient, so each is its own "
                    "unit of the train/validation split and views of one head can land on both sides "
                    "(validation IoU then flatters the model); convert with --manifest giving each photograph's patient")
        with _locked(run_dir, ctx):
            used = [_train_task(source, run_dir, replace(cfg, task=task), ctx, resume=resume,
                                on_epoch_end=on_epoch_end, progress=progress, explicit=explicit)
                    for task in task_list]
            # the starting model the tasks really used (a resumed task keeps its saved one, even
            # when --init names another), so the copied networks never come from elsewhere
            init = _used_init(used, ctx)
            if init is not None and carry_rest and ctx.is_main:
                copied = carry_over(run_dir, init)
                if copied:
                    ctx.log(LOG.info, f"carried over from {init} (not trained in this run): {', '.join(copied)}")
    finally:
        ctx.close()
    return run_dir


def _check_inputs(source, cfg: TrainConfig) -> None:
    """The options checked against the data before the run folder is written (a split.json left
    by a refused start would be reused by the next one, whatever --seed or --val-fraction it gives)."""
    from alonet.train.finetune import source_weights

    source_weights(source, cfg.dataset_weights)
    if cfg.style_images:
        check_style_photos(cfg.style_images)


def _used_init(used: list[TrainConfig], ctx) -> str | None:
    """The starting model the trained tasks used, as given or as their checkpoints saved
    (None: none, or several differing)."""
    inits = sorted({str(c.init) for c in used if c.init is not None})
    if len(inits) > 1:
        ctx.log(LOG.info, f"the tasks of this run started from different models ({', '.join(inits)}); the other "
                          "networks are not carried over: give --init MODEL to choose where they come from")
        return None
    if inits:
        try:
            resolve_model_set(inits[0])
        except ModelError as exc:
            ctx.log(LOG.info, f"the other networks cannot be carried over from this run's starting model: {exc}")
            return None
    return inits[0] if inits else None


@contextlib.contextmanager
def _locked(run_dir: Path, ctx):
    """Hold the run folder's lock file (rank 0 takes it; under torchrun every rank learns
    whether it got it, so that all stop together when another training holds the folder)."""
    held = error = None
    if ctx.is_main:
        try:
            held = acquire(run_dir)
        except Exception as exc:  # noqa: BLE001 - re-raised below, after the other ranks know
            error = exc
    if ctx.all_reduce_sum([0.0 if error is None else 1.0])[0]:
        raise error or RunInUseError(f"{run_dir}: rank 0 could not take the run folder's lock",
                                     fix="see the error of rank 0")
    try:
        yield
    finally:
        if held is not None:
            release(*held)


#: Files that only a training run writes: its split, and in each task folder its checkpoints and history.
RUN_FILES = ("split.json", LOCK_NAME)
TASK_RUN_FILES = ("last.pt", "best.json", "train_config.json", "history.csv")


def check_run_folder(run_dir: Path) -> None:
    """Refuse a run folder that exists and is not one: training writes task folders into it
    (a phantom folder's ``hairloss/`` annotations, say, would get checkpoints)."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise OutputExistsError(f"output {run_dir} is a file, not a run folder", fix="choose a new folder with -o")
    if not any(run_dir.iterdir()):
        return
    if any((run_dir / name).is_file() for name in RUN_FILES) or any(
            (run_dir / task / name).exists() for task in ALL_TASKS for name in TASK_RUN_FILES):
        return
    raise OutputExistsError(f"output {run_dir} exists and is not an AloNet training run (no split.json or "
                            "checkpoints in it)", fix="choose a new run folder with -o")


def _check_task_folders(run_dir: Path, tasks: Sequence[str], resume: bool) -> None:
    """Refuse, before any training, a task folder that cannot be trained as asked (so that
    ``--task all`` does not fail at its last task after training the others)."""
    for task in tasks:
        task_dir = run_dir / task
        if not is_carried_over(task_dir):
            read_checkpoint(task_dir, resume)


@dataclass
class TaskRun:
    """Everything one task's training needs between epochs (built by ``_setup_task``)."""

    cfg: TrainConfig
    model_cfg: ModelConfig
    task_dir: Path
    where: str
    model: nn.Module
    net: nn.Module  # ``model``, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    train_ds: TaskDataset
    sampler: DistributedSampler | WeightedEpochSampler
    train_loader: DataLoader
    val_loader: DataLoader
    device: torch.device
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format
    epochs: int
    n_train: int
    n_val: int
    start_epoch: int = 0
    best_iou: float = -1.0
    history: list = field(default_factory=list)
    warned_empty_truth: bool = False
    init_path: Path | None = None


def _train_task(source, run_dir: Path, cfg: TrainConfig, ctx, *, resume: bool,
                on_epoch_end, progress: bool, explicit: Collection[str] | None = None) -> TrainConfig:
    """Train one task; return the config it used (the saved one when resuming)."""
    run = _setup_task(source, run_dir, cfg, ctx, resume, explicit)
    if run.start_epoch >= run.epochs:
        if run.cfg.steps is not None:
            more = (f"its length is fixed by the run's {run.cfg.steps} steps; to train further, start a new "
                    f"run with --init {run_dir}")
        else:
            more = "rerun with --resume and more --epochs to continue"
        ctx.log(LOG.info, f"{cfg.task}: already trained for {run.start_epoch} epoch(s); nothing to do ({more})")
        return run.cfg
    cfg = run.cfg
    ctx.log(LOG.info, f"{cfg.task}: {run.n_train} training / {run.n_val} validation photographs, "
                      f"{cfg.input_size}px, {cfg.encoder} encoder, width {cfg.base_width}, depth {cfg.depth}, "
                      f"device {run.device}"
                      + (f" x {ctx.world_size} processes" if ctx.distributed else "")
                      + (f", from {run.init_path}" if run.init_path else "")
                      + (f", resuming after epoch {run.start_epoch}" if run.start_epoch else ""))
    if run.init_path is not None and run.start_epoch == 0 and not run.history:
        # Epoch 0: the starting model on the validation patients (the "before" of fine-tuning).
        val = _validate(run, ctx)
        row = {"epoch": 0, "lr": 0.0, "train_loss": float("nan"), **val, "seconds": 0.0, "best": True}
        run.history.append(row)
        run.best_iou = val["val_iou"]
        _checkpoint(run, ctx, row, improved=True)
        ctx.log(LOG.info, f"{cfg.task} before training: val loss {val['val_loss']:.4f}, val IoU {val['val_iou']:.4f}")
    stale = _epochs_since_best(run.history)
    for epoch in range(run.start_epoch, run.epochs):
        if cfg.patience is not None and stale >= cfg.patience:
            ctx.log(LOG.info, f"{cfg.task}: stopping early, no better validation IoU for {stale} epoch(s)")
            break
        started = time.perf_counter()
        lr = run.optimizer.param_groups[0]["lr"]
        train_loss = _train_epoch(run, epoch, ctx, progress)
        val = _validate(run, ctx)
        improved = val["val_iou"] > run.best_iou
        run.best_iou = max(run.best_iou, val["val_iou"])
        stale = 0 if improved else stale + 1
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": train_loss, **val,
               "seconds": time.perf_counter() - started, "best": improved}
        run.history.append(row)
        _checkpoint(run, ctx, row, improved or cfg.keep == "last")
        ctx.log(LOG.info, f"{cfg.task} epoch {epoch + 1}/{run.epochs}: train loss {train_loss:.4f}, "
                          f"val loss {val['val_loss']:.4f}, val IoU {val['val_iou']:.4f}, Dice {val['val_dice']:.4f}"
                          + (" (best)" if improved else "") + f" [{row['seconds']:.0f}s]")
        ctx.barrier()
        if on_epoch_end is not None:
            on_epoch_end(EpochEnd(cfg.task, epoch + 1, run.epochs, row, run.model, ctx.rank, run.task_dir))
    return cfg


def _epochs_since_best(history: list[dict]) -> int:
    stale = 0
    for row in history:
        stale = 0 if row.get("best") else stale + 1
    return stale


def _split_task_rows(source, run_dir: Path, cfg: TrainConfig, where: str) -> tuple[list[int], list[int]]:
    """The task's training and validation rows after the patient split (the run's split.json, or
    the one this config makes, not written here); DatasetError when a side is empty."""
    rows = task_rows(source.records, cfg, where)
    split = load_or_make_split(run_dir, source.records, cfg, write=False)
    train_rows = subsample(split_rows(source.records, rows, split, "train"), cfg.max_train_images, cfg.seed)
    val_rows = subsample(split_rows(source.records, rows, split, "val"), cfg.max_val_images, cfg.seed)
    if not train_rows or not val_rows:
        raise DatasetError(
            f"{where}: the {cfg.task} task has {len(train_rows)} training and {len(val_rows)} "
            "validation photographs after the patient split",
            fix="use a dataset with more patients or change --val-fraction",
        )
    return train_rows, val_rows


def _setup_task(source, run_dir: Path, cfg: TrainConfig, ctx, resume: bool,
                explicit: Collection[str] | None = None) -> TaskRun:
    """Resolve the config, split the patients, build model, optimiser and loaders."""
    import torch
    from torch import nn

    task_dir = run_dir / cfg.task
    drop_carried_over(task_dir)
    cfg, state = resolve_config(task_dir, cfg, resume, ctx, explicit)
    init_model = init_path = None
    if cfg.init is not None:
        init_path = resolve_model_set(cfg.init, [cfg.task])[cfg.task]
        init_model, init_cfg = load_model(init_path)
        cfg = cfg.adopt(init_cfg)
    where = str(getattr(source, "path", "the dataset"))
    train_rows, val_rows = _split_task_rows(source, run_dir, cfg, where)
    if ctx.is_main:  # written only once both sides have photographs: a refused start leaves none
        load_or_make_split(run_dir, source.records, cfg, write=True)
    ctx.barrier()
    if not ctx.is_main:  # every process trains on the split the main one wrote
        train_rows, val_rows = _split_task_rows(source, run_dir, cfg, where)
    if ctx.is_main:
        task_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(task_dir / "train_config.json")

    device = ctx.device
    parts = _build_model_and_optimiser(cfg, state, init_model, device, n_train=len(train_rows))
    net = parts.model
    if ctx.distributed:
        net = nn.parallel.DistributedDataParallel(
            parts.model, device_ids=[device.index] if device.type == "cuda" else None)

    weights = torch.tensor(cfg.class_weights, dtype=torch.float32, device=device)
    criterion = nn.CrossEntropyLoss(weight=weights)
    loaders = _build_loaders(source, train_rows, val_rows, cfg, ctx, device)
    epochs = cfg.epochs
    if cfg.steps is not None:
        epochs = max(1, math.ceil(cfg.steps / max(1, len(loaders.train_loader))))
    return TaskRun(cfg=cfg, model_cfg=parts.model_cfg, task_dir=task_dir, where=where, model=parts.model, net=net,
                   optimizer=parts.optimizer, scheduler=parts.scheduler, scaler=parts.scaler, criterion=criterion,
                   train_ds=loaders.train_ds, sampler=loaders.sampler, train_loader=loaders.train_loader,
                   val_loader=loaders.val_loader, device=device, amp_dtype=parts.amp_dtype,
                   memory_format=parts.memory_format, epochs=epochs, n_train=len(train_rows), n_val=len(val_rows),
                   start_epoch=parts.start_epoch, best_iou=parts.best_iou, history=parts.history,
                   init_path=init_path)


@dataclass(frozen=True)
class ModelParts:
    """The network of one task, its optimiser, and where its checkpoint left them
    (made by ``_build_model_and_optimiser``)."""

    model_cfg: ModelConfig
    model: nn.Module  # on the device (not wrapped for torchrun)
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    amp_dtype: torch.dtype | None
    memory_format: torch.memory_format
    start_epoch: int
    best_iou: float
    history: list


def _build_model_and_optimiser(cfg: TrainConfig, state: dict | None, init_model, device, *,
                               n_train: int) -> ModelParts:
    """The network (``init_model`` when fine-tuning, else a new one) with its frozen parts,
    optimiser, learning-rate schedule and loss scaler, restored from ``state`` when resuming.
    ``n_train`` (training photographs) decides whether BatchNorm is frozen."""
    import torch

    from alonet.model.unet import build_model
    from alonet.train.finetune import apply_freezing, parameter_groups

    model_cfg = cfg.model_config()
    torch.manual_seed(cfg.seed)
    if init_model is not None:
        model = init_model
        model.train()
    else:
        model = build_model(model_cfg, pretrained=cfg.pretrained and cfg.encoder != "unet" and state is None)
    model = model.to(device)
    freeze_bn = cfg.resolved_freeze_bn(n_train)
    apply_freezing(model, cfg.freeze_levels, freeze_bn)
    optimizer = torch.optim.Adam(parameter_groups(model, cfg.lr, cfg.resolved_encoder_lr_scale()),
                                 lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    amp_dtype = autocast_dtype(cfg, device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    memory_format = torch.channels_last if amp_dtype == torch.bfloat16 else torch.contiguous_format
    model.to(memory_format=memory_format)
    start_epoch, best_iou, history = 0, -1.0, []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler.is_enabled() and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, best_iou = int(state["epoch"]), float(state["best_iou"])
        history = [dict(r) for r in state["history"]]
    return ModelParts(model_cfg=model_cfg, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
                      amp_dtype=amp_dtype, memory_format=memory_format, start_epoch=start_epoch,
                      best_iou=best_iou, history=history)


@dataclass(frozen=True)
class Loaders:
    """The data of one task's training (made by ``_build_loaders``)."""

    train_ds: TaskDataset  # its ``epoch`` is set before each epoch
    sampler: DistributedSampler | WeightedEpochSampler  # ``set_epoch`` before each epoch
    train_loader: DataLoader
    val_loader: DataLoader


def _build_loaders(source, train_rows: Sequence[int], val_rows: Sequence[int], cfg: TrainConfig, ctx,
                   device) -> Loaders:
    """Training and validation loaders; under torchrun each rank gets its shard of both."""
    import torch
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler

    from alonet.train.finetune import WeightedEpochSampler

    train_ds = TaskDataset(source, train_rows, cfg, train=True)
    val_ds = TaskDataset(source, val_rows[ctx.rank::ctx.world_size], cfg, train=False)
    per_rank_batch = max(1, cfg.batch_size // ctx.world_size)
    sampler: DistributedSampler | WeightedEpochSampler
    if cfg.dataset_weights is not None or cfg.epoch_size is not None:
        if ctx.distributed:
            raise InvalidValueError("--dataset-weights and --epoch-size are not supported under torchrun",
                                    fix="train in one process, or leave them out")
        sampler = WeightedEpochSampler(source, train_rows, cfg.dataset_weights, cfg.seed, cfg.epoch_size)
    else:
        # the ignores here and below: TaskDataset is a map-style dataset by its methods
        # (__getitem__, __len__), which is all torch uses, not by class, which its stubs ask for
        sampler = DistributedSampler(train_ds, num_replicas=ctx.world_size, rank=ctx.rank,  # type: ignore[arg-type]
                                     shuffle=True, seed=cfg.seed, drop_last=False)
    loader_kw = {"num_workers": cfg.workers, "pin_memory": device.type == "cuda",
                 "worker_init_fn": _init_data_worker if cfg.workers > 0 else None}
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    train_loader: DataLoader = DataLoader(train_ds, batch_size=per_rank_batch, sampler=sampler,  # type: ignore[arg-type]
                                          **loader_kw)
    val_loader: DataLoader = DataLoader(val_ds, batch_size=per_rank_batch, shuffle=False,  # type: ignore[arg-type]
                                        **loader_kw)
    return Loaders(train_ds=train_ds, sampler=sampler, train_loader=train_loader, val_loader=val_loader)


def _train_epoch(run: TaskRun, epoch: int, ctx, progress: bool) -> float:
    """One pass over the training photographs; returns the mean training loss."""
    import torch
    from tqdm import tqdm

    from alonet.train.finetune import set_train_mode

    cfg = run.cfg
    torch.manual_seed(cfg.seed * 100_003 + epoch * 101 + ctx.rank)
    run.sampler.set_epoch(epoch)
    run.train_ds.epoch = epoch
    set_train_mode(run.model, cfg.freeze_levels, cfg.resolved_freeze_bn(run.n_train))
    loss_sum, seen = 0.0, 0
    bar = tqdm(run.train_loader, desc=f"{cfg.task} {epoch + 1}/{run.epochs}", unit="batch",
               file=sys.stderr, leave=False, dynamic_ncols=True, disable=not (progress and ctx.is_main))
    for x, y in bar:
        x = x.to(run.device, non_blocking=True).contiguous(memory_format=run.memory_format)
        y = y.to(run.device, non_blocking=True)
        run.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=run.device.type, dtype=run.amp_dtype or torch.float32,
                            enabled=run.amp_dtype is not None):
            logits = run.net(x)
        loss = run.criterion(logits.float(), y)
        if not torch.isfinite(loss):
            raise InvalidValueError(
                f"{cfg.task}: the training loss became {float(loss.detach())} in epoch {epoch + 1}",
                fix="lower --lr, or train without mixed precision (--no-amp, no --cpu-bf16)")
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
        loss_sum += float(loss.detach()) * len(x)
        seen += len(x)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
    bar.close()
    run.scheduler.step()
    ctx.broadcast_buffers(run.model)
    loss_sum, seen = ctx.all_reduce_sum([loss_sum, seen])
    return loss_sum / max(seen, 1)


def _validate(run: TaskRun, ctx) -> dict:
    """Validation loss, IoU and Dice (masks = calibrated confidence >= 0.5, as inference).

    Warns (once per task and process) when the validation photographs hold no pixel of the
    task's region: IoU is then 0 or 1 whatever the model does and cannot choose an epoch."""
    val = evaluate_loader(run.model, run.val_loader, run.cfg.class_weights, run.device, run.amp_dtype,
                          run.memory_format, model_cfg=run.model_cfg)
    v_loss, v_weight, tp, fp, fn = ctx.all_reduce_sum([val[k] for k in ("loss_sum", "weight_sum", "tp", "fp", "fn")])
    counts = OverlapCounts(tp=int(tp), fp=int(fp), fn=int(fn))
    if counts.tp + counts.fn == 0 and not run.warned_empty_truth:
        run.warned_empty_truth = True
        what = "hair loss" if run.cfg.task == "hairloss" else "scalp region"
        ctx.log(LOG.warning,
                f"warning: {run.cfg.task}: the validation photographs show no {what}, so validation IoU is 1 "
                "for a model that marks none and 0 for any other and cannot choose an epoch fairly; add "
                "patients with it to the data, or choose another --seed for the split")
    return {"val_loss": v_loss / max(v_weight, 1e-12), "val_iou": counts.iou, "val_dice": counts.dice}


def _checkpoint(run: TaskRun, ctx, row: dict, improved: bool) -> None:
    """Write the kept model ``best.*`` (if ``improved``: a better validation IoU, or every
    epoch with ``keep="last"``), last.pt, history.csv/png; atomic, main process only."""
    if not ctx.is_main:
        return

    cfg = run.cfg
    # best.* first: a failure before last.pt is written leaves the previous last.pt, and
    # --resume then trains this epoch again (and saves its best model again)
    try:
        if improved:
            save_model(run.model, run.model_cfg, run.task_dir / "best", half=cfg.save_half, metadata={
                "epoch": row["epoch"], "val_iou": row["val_iou"], "val_dice": row["val_dice"],
                "dataset": run.where, "train_config": cfg.to_dict(),
                **({"init": str(run.init_path)} if run.init_path else {})})
        save_checkpoint(run.task_dir / "last.pt", run.model, run.optimizer, run.scheduler, run.scaler, cfg,
                         row["epoch"], run.best_iou, run.history)
        write_history_csv(run.task_dir / "history.csv", run.history)
        plot_history(run.task_dir / "history.png", run.history,
                     f"{cfg.task}: {cfg.encoder} width {cfg.base_width}, depth {cfg.depth}, {cfg.input_size}px")
    except OSError as exc:
        where = exc.filename or run.task_dir
        raise write_failed(where, exc.strerror or str(exc) or exc.__class__.__name__, exc.errno) from None


def _init_data_worker(worker_id: int) -> None:
    """Data-loading workers run one OpenCV thread each (the workers are the parallelism)."""
    import cv2

    cv2.setNumThreads(1)


def autocast_dtype(cfg: TrainConfig, device):
    """Mixed-precision type: float16 on CUDA (``amp``), bfloat16 on CPU (``cpu_bf16``), else None."""
    import torch

    if device.type == "cuda" and cfg.amp:
        return torch.float16
    if device.type == "cpu" and cfg.cpu_bf16:
        return torch.bfloat16
    return None


def evaluate_loader(model, loader, class_weights, device, amp_dtype=None, memory_format=None,
                    model_cfg=None) -> dict:
    """Weighted-CE loss sums and foreground pixel counts of ``model`` over ``loader``.

    Returns ``loss_sum``/``weight_sum`` (their ratio is the mean weighted loss,
    as ``nn.CrossEntropyLoss`` computes it) and tp/fp/fn counts for micro IoU
    and Dice. With ``model_cfg`` the prediction is the calibrated confidence
    >= 0.5 (what inference thresholds); without it, the argmax of the logits.
    """
    import torch
    import torch.nn.functional as F

    from alonet.model.unet import probabilities

    weights = torch.tensor(class_weights, dtype=torch.float32, device=device)
    totals = {"loss_sum": 0.0, "weight_sum": 0.0, "tp": 0.0, "fp": 0.0, "fn": 0.0}
    model.eval()
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            if memory_format is not None:
                x = x.contiguous(memory_format=memory_format)
            with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                logits = model(x)
            logits = logits.float()
            totals["loss_sum"] += float(F.cross_entropy(logits, y, weight=weights, reduction="sum"))
            totals["weight_sum"] += float(weights[y].sum())
            pred = probabilities(logits, model_cfg) >= 0.5 if model_cfg is not None else logits.argmax(1) == 1
            true = y == 1
            totals["tp"] += float((pred & true).sum())
            totals["fp"] += float((pred & ~true).sum())
            totals["fn"] += float((~pred & true).sum())
    return totals
