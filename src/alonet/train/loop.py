"""The training loop: one task at a time, resumable, single-process or torchrun.

Run folder layout (``RUN_DIR``)::

    split.json                    patients in train / validation (shared by all tasks)
    <task>/train_config.json      the TrainConfig of this task
    <task>/history.csv            one row per finished epoch
    <task>/history.png            loss and validation IoU/Dice plot
    <task>/best.json|.safetensors the model with the best validation IoU so far
    <task>/last.pt                full state after the last finished epoch (for --resume)

All files are written atomically at the end of every epoch, so killing the
process loses at most the epoch in progress; ``resume=True`` continues from
``last.pt``. Randomness (shuffling, dropout, augmentation) is re-seeded from
(seed, epoch) at every epoch, so a resumed run follows the same path as an
uninterrupted one.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Callable, Sequence

from alonet.errors import DatasetError, InvalidValueError
from alonet.train.config import ALL_TASKS, TrainConfig

CHECKPOINT_FORMAT = "alonet-checkpoint"
#: Options that may differ when resuming (they do not change the result).
RESUME_OVERRIDES = ("epochs", "workers", "device")


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


def _log(ctx, message: str) -> None:
    if ctx.is_main:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr)


def train(dataset, run_dir: str | Path, cfg: TrainConfig = TrainConfig(), *,
          tasks: str | Sequence[str] | None = None, resume: bool = False,
          on_epoch_end: Callable[[EpochEnd], None] | None = None, progress: bool = True) -> Path:
    """Train ``cfg.task`` (or each of ``tasks``; ``"all"`` = the three) on ``dataset``.

    ``dataset`` is a converted-dataset folder or a source object (see
    ``alonet.train.data``). Returns ``run_dir``, which can then be passed as
    a model set (``<task>/best.json``) to evaluation and inference.
    """
    from alonet.train.data import open_source
    from alonet.train.distributed import setup

    if tasks is None:
        task_list = [cfg.task]
    elif tasks == "all":
        task_list = list(ALL_TASKS)
    else:
        task_list = [tasks] if isinstance(tasks, str) else list(tasks)
    run_dir = Path(run_dir)
    source = open_source(dataset)
    ctx = setup(cfg.device)
    try:
        for task in task_list:
            _train_task(source, run_dir, replace(cfg, task=task), ctx, resume=resume,
                        on_epoch_end=on_epoch_end, progress=progress)
    finally:
        ctx.close()
    return run_dir


def _resolve_config(task_dir: Path, cfg: TrainConfig, resume: bool, ctx):
    """Return (config to use, checkpoint dict or None)."""
    import torch

    last = task_dir / "last.pt"
    if not resume:
        if last.exists() or (task_dir / "best.json").exists():
            raise InvalidValueError(
                f"{task_dir} already holds a training run",
                fix="pass --resume to continue it, or choose a new output folder with -o",
            )
        return cfg, None
    if not last.is_file():
        _log(ctx, f"{cfg.task}: no checkpoint in {task_dir}; starting from epoch 1")
        return cfg, None
    try:
        state = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise InvalidValueError(f"{last}: checkpoint is unreadable ({exc.__class__.__name__})",
                                fix="delete it to restart the task from its last best model") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InvalidValueError(f"{last}: not an AloNet training checkpoint")
    saved = TrainConfig.from_dict(state["train_config"])
    ignored = [f.name for f in fields(TrainConfig)
               if f.name not in (*RESUME_OVERRIDES, "task") and getattr(cfg, f.name) != getattr(saved, f.name)]
    if ignored:
        _log(ctx, f"{cfg.task}: resuming with the run's saved options; ignoring the new value(s) of "
                  f"{', '.join(ignored)} (only {', '.join(RESUME_OVERRIDES)} may change on --resume)")
    merged = replace(saved, **{k: getattr(cfg, k) for k in RESUME_OVERRIDES})
    return merged, state


def _train_task(source, run_dir: Path, cfg: TrainConfig, ctx, *, resume: bool,
                on_epoch_end, progress: bool) -> None:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from torch.utils.data.distributed import DistributedSampler
    from tqdm import tqdm

    from alonet.model.io import save_model
    from alonet.model.unet import build_model
    from alonet.train.data import TaskDataset, load_or_make_split, split_rows, subsample, task_rows
    from alonet.train.history import plot_history, write_history_csv

    task_dir = run_dir / cfg.task
    cfg, state = _resolve_config(task_dir, cfg, resume, ctx)
    where = str(getattr(source, "path", "the dataset"))
    rows = task_rows(source.records, cfg, where)
    if ctx.is_main:
        split = load_or_make_split(run_dir, source.records, cfg, write=True)
    ctx.barrier()
    if not ctx.is_main:
        split = load_or_make_split(run_dir, source.records, cfg, write=False)
    train_rows = subsample(split_rows(source.records, rows, split, "train"), cfg.max_train_images, cfg.seed)
    val_rows = subsample(split_rows(source.records, rows, split, "val"), cfg.max_val_images, cfg.seed)
    if not train_rows or not val_rows:
        raise DatasetError(
            f"{where}: the {cfg.task} task has {len(train_rows)} training and {len(val_rows)} "
            "validation photographs after the patient split",
            fix="use a dataset with more patients or change --val-fraction",
        )
    if ctx.is_main:
        task_dir.mkdir(parents=True, exist_ok=True)
        cfg.save(task_dir / "train_config.json")

    device = ctx.device
    model_cfg = cfg.model_config()
    torch.manual_seed(cfg.seed)
    model = build_model(model_cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.lr_step, gamma=cfg.lr_gamma)
    amp_dtype = autocast_dtype(cfg, device)
    use_amp = amp_dtype == torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    memory_format = torch.channels_last if amp_dtype == torch.bfloat16 else torch.contiguous_format
    model.to(memory_format=memory_format)
    start_epoch, best_iou, history = 0, -1.0, []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if use_amp and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, best_iou, history = int(state["epoch"]), float(state["best_iou"]), list(state["history"])
        history = [dict(r) for r in history]
    net = model
    if ctx.distributed:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    weights = torch.tensor(cfg.class_weights, dtype=torch.float32, device=device)
    criterion = nn.CrossEntropyLoss(weight=weights)
    train_ds = TaskDataset(source, train_rows, cfg, train=True)
    val_ds = TaskDataset(source, val_rows[ctx.rank::ctx.world_size], cfg, train=False)
    per_rank_batch = max(1, cfg.batch_size // ctx.world_size)
    sampler = DistributedSampler(train_ds, num_replicas=ctx.world_size, rank=ctx.rank,
                                 shuffle=True, seed=cfg.seed, drop_last=False)
    loader_kw = {"num_workers": cfg.workers, "pin_memory": device.type == "cuda",
                 "worker_init_fn": _init_data_worker if cfg.workers > 0 else None}
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    train_loader = DataLoader(train_ds, batch_size=per_rank_batch, sampler=sampler, **loader_kw)
    val_loader = DataLoader(val_ds, batch_size=per_rank_batch, shuffle=False, **loader_kw)

    if start_epoch >= cfg.epochs:
        _log(ctx, f"{cfg.task}: already trained for {start_epoch} epoch(s); nothing to do "
                  "(raise --epochs to continue)")
        return
    _log(ctx, f"{cfg.task}: {len(train_rows)} training / {len(val_rows)} validation photographs, "
              f"{cfg.input_size}px, width {cfg.base_width}, depth {cfg.depth}, device {device}"
              + (f" x {ctx.world_size} processes" if ctx.distributed else "")
              + (f", resuming after epoch {start_epoch}" if start_epoch else ""))

    for epoch in range(start_epoch, cfg.epochs):
        started = time.perf_counter()
        torch.manual_seed(cfg.seed * 100_003 + epoch * 101 + ctx.rank)
        sampler.set_epoch(epoch)
        train_ds.epoch = epoch
        lr = optimizer.param_groups[0]["lr"]
        net.train()
        loss_sum, seen = 0.0, 0
        bar = tqdm(train_loader, desc=f"{cfg.task} {epoch + 1}/{cfg.epochs}", unit="batch",
                   file=sys.stderr, leave=False, dynamic_ncols=True,
                   disable=not (progress and ctx.is_main))
        for x, y in bar:
            x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            y = y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32,
                                enabled=amp_dtype is not None):
                logits = net(x)
            loss = criterion(logits.float(), y)
            if not torch.isfinite(loss):
                raise InvalidValueError(
                    f"{cfg.task}: the training loss became {float(loss)} in epoch {epoch + 1}",
                    fix="lower --lr, or train without mixed precision (--no-amp, no --cpu-bf16)")
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += float(loss.detach()) * len(x)
            seen += len(x)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}")
        bar.close()
        scheduler.step()
        ctx.broadcast_buffers(model)
        loss_sum, seen = ctx.all_reduce_sum([loss_sum, seen])
        val = evaluate_loader(model, val_loader, cfg.class_weights, device, amp_dtype, memory_format)
        val_sums = ctx.all_reduce_sum([val[k] for k in ("loss_sum", "weight_sum", "tp", "fp", "fn")])
        v_loss, v_weight, tp, fp, fn = val_sums
        iou = 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)
        dice = 1.0 if 2 * tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
        improved = iou > best_iou
        best_iou = max(best_iou, iou)
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": loss_sum / max(seen, 1),
               "val_loss": v_loss / max(v_weight, 1e-12), "val_iou": iou, "val_dice": dice,
               "seconds": time.perf_counter() - started, "best": improved}
        history.append(row)
        if ctx.is_main:
            if improved:
                save_model(model, model_cfg, task_dir / "best", half=cfg.save_half, metadata={
                    "epoch": epoch + 1, "val_iou": iou, "val_dice": dice,
                    "dataset": where, "train_config": cfg.to_dict()})
            _save_checkpoint(task_dir / "last.pt", model, optimizer, scheduler, scaler, cfg,
                             epoch + 1, best_iou, history)
            write_history_csv(task_dir / "history.csv", history)
            plot_history(task_dir / "history.png", history,
                         f"{cfg.task}: width {cfg.base_width}, depth {cfg.depth}, {cfg.input_size}px")
            _log(ctx, f"{cfg.task} epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, "
                      f"val loss {row['val_loss']:.4f}, val IoU {iou:.4f}, Dice {dice:.4f}"
                      + (" (best)" if improved else "") + f" [{row['seconds']:.0f}s]")
        ctx.barrier()
        if on_epoch_end is not None:
            on_epoch_end(EpochEnd(cfg.task, epoch + 1, cfg.epochs, row, model, ctx.rank, task_dir))


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


def evaluate_loader(model, loader, class_weights, device, amp_dtype=None, memory_format=None) -> dict:
    """Weighted-CE loss sums and foreground pixel counts of ``model`` over ``loader``.

    Returns ``loss_sum``/``weight_sum`` (their ratio is the mean weighted loss,
    as ``nn.CrossEntropyLoss`` computes it) and tp/fp/fn counts for micro IoU
    and Dice (prediction = argmax, i.e. confidence > 0.5).
    """
    import torch
    import torch.nn.functional as F

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
            pred = logits.argmax(1) == 1
            true = y == 1
            totals["tp"] += float((pred & true).sum())
            totals["fp"] += float((pred & ~true).sum())
            totals["fn"] += float((~pred & true).sum())
    return totals


def _save_checkpoint(path: Path, model, optimizer, scheduler, scaler, cfg: TrainConfig,
                     epoch: int, best_iou: float, history: list[dict]) -> None:
    import torch

    from alonet.data.atomic import atomic_save

    state = {
        "format": CHECKPOINT_FORMAT,
        "version": 1,
        "epoch": epoch,
        "best_iou": best_iou,
        "history": [dict(r) for r in history],
        "train_config": cfg.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler.is_enabled() else {},
    }
    atomic_save(path, lambda temp: torch.save(state, temp))

