"""A task folder's checkpoint (``last.pt``): reading it to resume, writing it each epoch,
and the task folders copied from the starting model instead of trained.

Resuming reads ``last.pt`` back with the options it saved (only ``RESUME_OVERRIDES`` may
change). A folder whose best model or history training from epoch 1 would replace, with no
readable ``last.pt``, is refused with a message that says how to keep them. The run-folder
layout is described in ``alonet.train.loop``.
"""

from __future__ import annotations

import errno
import functools
import json
import logging
import re
import shutil
from dataclasses import fields, replace
from pathlib import Path
from typing import Collection

from alonet.system.atomic import atomic_save, atomic_write_text
from alonet.errors import InvalidValueError, ModelError, OutputNotWritableError
from alonet.model.config import TASKS
from alonet.model.io import read_model_info, resolve_model_set
from alonet.train.config import TrainConfig

LOG = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "alonet-checkpoint"
#: What ``save_checkpoint`` writes and resuming reads.
CHECKPOINT_KEYS = frozenset({"epoch", "best_iou", "history", "train_config", "model", "optimizer", "scheduler"})
#: Options that may differ when resuming (they do not change the result).
RESUME_OVERRIDES = ("epochs", "workers", "device")
#: File marking a task folder copied from the init model rather than trained.
CARRIED_MARKER = "carried_over.json"


def read_checkpoint(task_dir: Path, resume: bool) -> dict | None:
    """The task's last.pt to resume from, or None to train from epoch 1. Raises when the folder
    must not be trained as asked: a run without --resume, or a best model or history that
    training from epoch 1 would replace (last.pt missing, unreadable or not a checkpoint)."""
    import torch

    last = task_dir / "last.pt"
    if not resume and last.exists():
        raise InvalidValueError(
            f"{task_dir} already holds a training run",
            fix="pass --resume to continue it, or choose a new output folder with -o",
        )
    if not last.is_file():  # with or without --resume: nothing to continue, and maybe work to keep
        kept = _kept_work(task_dir)
        if kept:
            raise InvalidValueError(
                f"{task_dir} holds {kept} but no checkpoint (last.pt), so --resume cannot continue it "
                "and training from epoch 1 would replace them", fix=_restart_fix(task_dir))
        return None
    try:
        state = torch.load(last, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise _bad_checkpoint(last, f"checkpoint is unreadable ({exc.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise _bad_checkpoint(last, "not an AloNet training checkpoint")
    if not CHECKPOINT_KEYS <= set(state):
        raise _bad_checkpoint(last, f"checkpoint lacks {', '.join(sorted(CHECKPOINT_KEYS - set(state)))}")
    return state


def resolve_config(task_dir: Path, cfg: TrainConfig, resume: bool, ctx,
                   explicit: Collection[str] | None = None):
    """Return (config to use, checkpoint dict or None)."""
    state = read_checkpoint(task_dir, resume)
    if state is None:
        if resume:
            ctx.log(LOG.info, f"{cfg.task}: no checkpoint in {task_dir}; starting from epoch 1")
        return cfg, None
    saved = TrainConfig.from_dict(state["train_config"])
    # a fine-tune saved the architecture it adopted from its starting model: not a user's change
    adopted = TrainConfig.ADOPTED if saved.init is not None else ()
    ignored = [f.name for f in fields(TrainConfig)
               if f.name not in (*RESUME_OVERRIDES, "task", *adopted) and getattr(cfg, f.name) != getattr(saved, f.name)
               and (explicit is None or f.name in explicit)]
    if ignored:
        ctx.log(LOG.info, f"{cfg.task}: resuming with the run's saved options; ignoring the new value(s) of "
                          f"{', '.join(ignored)} (only {', '.join(RESUME_OVERRIDES)} may change on --resume)")
    # only what the user set changes: a bare --resume took the defaults (30 epochs, device auto)
    # and so trained a 2-epoch run to 30, or stopped a 40-epoch run at 31 as finished
    changed = [k for k in RESUME_OVERRIDES if explicit is None or k in explicit]
    merged = replace(saved, **{k: getattr(cfg, k) for k in changed})
    return merged, state


def _kept_work(task_dir: Path) -> str | None:
    """What a task folder without a usable last.pt holds that training from epoch 1 would
    replace, in words (None: nothing). Only a first epoch's model with no history is not
    kept: the first checkpoint failed after it was saved, and training makes it again. Nor
    is weights without their JSON and no history: the first save was cut between its two
    files (``save_model`` moves the weights into place first), so no model was finished."""
    history = (task_dir / "history.csv").is_file()
    best = (task_dir / "best.json").is_file()
    if not (history or best):
        return None
    epoch = iou = None
    try:
        metadata = read_model_info(task_dir / "best.json")["metadata"]
        epoch, iou = int(metadata["epoch"]), float(metadata["val_iou"])
    except (ModelError, KeyError, TypeError, ValueError):
        pass
    if not history and epoch is not None and epoch <= 1:
        return None
    parts = []
    if best:
        parts.append("a best model" + (f" (epoch {epoch}, validation IoU {iou:.3f})" if epoch is not None else ""))
    if history:
        parts.append("history.csv")
    return " and ".join(parts)


def _restart_fix(task_dir: Path) -> str:
    """How to go on without a usable last.pt, keeping the task's best model and history."""
    run_dir = task_dir.parent
    fix = (f"to keep them, rename {task_dir} (e.g. to {task_dir.name}.old) first; then --resume trains "
           "the task again from epoch 1")
    try:
        resolve_model_set(run_dir)
    except ModelError:
        return fix
    return fix + f"; or fine-tune a new run from this run's best models with --init {run_dir} -o NEW_RUN"


def _bad_checkpoint(last: Path, problem: str) -> InvalidValueError:
    kept = _kept_work(last.parent)
    if kept:
        fix = f"the run cannot continue from it; the folder also holds {kept}: " + _restart_fix(last.parent)
    else:
        fix = "delete it, then --resume trains the task again from epoch 1"
    return InvalidValueError(f"{last}: {problem}", fix=fix)


def save_checkpoint(path: Path, model, optimizer, scheduler, scaler, cfg: TrainConfig,
                    epoch: int, best_iou: float, history: list[dict]) -> None:
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
    atomic_save(path, functools.partial(_torch_save, state, path))


#: How torch.save words a failed write (its C++ writer raises RuntimeError, not OSError).
_TORCH_WRITE_FAILED = re.compile(r"unexpected pos|write failed|failed writing", re.IGNORECASE)


def _torch_save(state: dict, shown: Path, temp: Path) -> None:
    import torch

    try:
        torch.save(state, temp)
    except RuntimeError as exc:
        if not _TORCH_WRITE_FAILED.search(str(exc)):
            raise
        detail = " ".join(str(exc).split())[:120]
        raise write_failed(shown, f"the write stopped part-way (full disk or file-size limit? torch: {detail})") \
            from None


def write_failed(path, reason: str, code: int | None = None) -> OutputNotWritableError:
    """A checkpoint write that failed part-way (full disk, file-size limit, lost permission)."""
    if code in (errno.EACCES, errno.EPERM, errno.EROFS):
        todo = f"make {Path(path).parent} writable again"
    else:
        todo = "free some disk space or raise the file-size limit"
    return OutputNotWritableError(
        f"cannot write {path}: {reason}",
        fix=f"{todo}, then rerun the same command with --resume; the epochs finished before are kept")


def is_carried_over(task_dir: Path) -> bool:
    """Whether the task folder holds a model copied from the init model (see ``carry_over``)."""
    return (task_dir / CARRIED_MARKER).is_file() and not (task_dir / "last.pt").exists()


def drop_carried_over(task_dir: Path) -> None:
    """A task copied from the init model (see ``carry_over``) makes way for real training."""
    if is_carried_over(task_dir):
        for name in ("best.json", "best.safetensors", CARRIED_MARKER):
            (task_dir / name).unlink(missing_ok=True)


def carry_over(run_dir: str | Path, init: str) -> list[str]:
    """Copy the ``init`` model of every task the run has not trained into the run folder.

    The run folder then is a complete model set (``--model RUN`` works) even
    when only some tasks were fine-tuned. Returns the tasks copied.
    """
    run_dir = Path(run_dir)
    copied = []
    sources = resolve_model_set(init, TASKS)
    for task in TASKS:
        task_dir = run_dir / task
        if (task_dir / "best.json").is_file():
            continue
        task_dir.mkdir(parents=True, exist_ok=True)
        src = sources[task]
        for source, name in ((src.with_suffix(".safetensors"), "best.safetensors"), (src, "best.json")):
            atomic_save(task_dir / name, functools.partial(shutil.copyfile, source))
        atomic_write_text(task_dir / CARRIED_MARKER,
                          json.dumps({"carried_over_from": str(src), "init": str(init)}, indent=2) + "\n")
        copied.append(task)
    return copied
