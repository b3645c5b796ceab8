"""Training configuration (the study's recipe as defaults).

A ``TrainConfig`` is saved as ``RUN_DIR/<task>/train_config.json`` next to
the checkpoints, so every run records exactly how it was trained.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from types import MappingProxyType

from alonet.system.atomic import atomic_write_text
from alonet.errors import InvalidValueError, ModelError
from alonet.model.config import TASKS, ModelConfig
from alonet.views import VIEWS

#: ``--task all`` trains these in this order.
ALL_TASKS = TASKS
#: Pseudo-view for dataset rows whose view is empty or not one of VIEWS.
UNKNOWN_VIEW = "unknown"
#: Views each task uses by default.
DEFAULT_TASK_VIEWS = MappingProxyType({
    "scalp-temporal": ("left", "right"),
    "scalp-midline": ("top", "back"),
    "hairloss": (*VIEWS, UNKNOWN_VIEW),
})
DEVICES = ("auto", "cpu", "cuda", "mps")
#: ``freeze_bn`` choices: keep BatchNorm statistics of no layer / the pretrained
#: encoder / every layer fixed ("auto": "all" when fine-tuning on fewer than
#: ``FEW_IMAGES`` photographs, "encoder" for an ImageNet encoder, else "none").
FREEZE_BN = ("auto", "none", "encoder", "all")
FEW_IMAGES = 200
#: ``keep`` choices: which epoch's weights a task saves as ``best.*``.
KEEP = ("best", "last")
#: Encoder learning-rate factor used by ``encoder_lr_scale=None`` when an
#: encoder starts from ImageNet weights (keeps the real-image features).
PRETRAINED_ENCODER_LR_SCALE = 0.1


@dataclass(frozen=True)
class FinetuneRecipe:
    """What a fine-tuning run (``alonet train --init``, ``alonet adapt``) changes from
    ``TrainConfig``'s from-scratch defaults, for a clinic's own 10-200 photographs (the
    issue-13 probe on real clinical photographs: 80 steps of batch 8, Adam 2e-4 at a constant
    rate). The rest of that probe's recipe is ``TrainConfig``'s own default: BatchNorm
    statistics frozen (``freeze_bn="auto"`` under ``FEW_IMAGES``), flips, photometric jitter
    and scale/rotate. :meth:`TrainConfig.finetuning` builds a run from it."""

    lr: float = 2e-4
    batch_size: int = 8
    steps: int = 80
    lr_step: int = 10_000
    lr_gamma: float = 1.0  # the learning rate stays constant


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run.

    Recipe (study defaults): 320 x 320 input, Adam with learning rate 5e-4,
    StepLR (step 7 epochs, gamma 0.1), cross-entropy with class weights
    1:5 (background : region), horizontal flips, batch 24.

    Data: ``val_fraction`` of the *patients* go to validation (the split is
    stored in ``RUN_DIR/split.json`` and reused). ``views=None`` means the
    task's default views (temporal: left+right with right views mirrored to
    look like left; midline: top+back; hairloss: all rows). A scalp task
    refuses a dataset with rows of unknown view unless ``views`` is given.

    Augmentation (albumentations, applied jointly to image and masks):
    horizontal flips (``hflip``), photometric jitter (``color``: brightness,
    contrast, saturation, hue, gamma), ``blur``, ``noise``, ``jpeg``
    re-compression and ``scale_rotate`` (random affine). ``relight`` adds uneven
    light with probability ``relight_p``: a smooth brightness gradient across the
    picture, a soft spot of light or shade, or a lit or shaded corner
    (albumentations ``Illumination``), so that shading, sheen and shadows are not
    read as hair or skin (real failure mode: dense hair with strong highlights or clip
    shadows called loss). Hair-loss training
    paints the photograph outside a *predicted-like* scalp mask (the annotated
    one eroded/dilated/shifted/warped) with probability ``imperfect_scalp_p``
    so the network learns what it will see at inference; the target is always
    hair loss inside the scalp used for painting.

    Architecture: ``encoder`` ("unet": the study's encoder from scratch;
    "efficientnet-lite0": ImageNet-pretrained when ``pretrained``), with the
    encoder's learning rate scaled by ``encoder_lr_scale`` (None: 0.1 for an
    ImageNet encoder, else 1), ``freeze_levels`` encoder levels not trained at
    all and ``freeze_bn`` (see ``FREEZE_BN``).

    Fine-tuning (:meth:`finetuning` starts from :class:`FinetuneRecipe`): ``init``
    names a model ("default", a model-set folder or a run folder) whose
    weights and architecture each task starts from; its
    architecture replaces ``encoder``/``base_width``/``depth``/``dropout``/
    ``input_size``/``class_weights``. ``steps`` (if set) fixes the number of
    optimiser steps instead of ``epochs``; ``patience`` stops a task after
    that many epochs without a better validation IoU; ``keep`` says which
    epoch's weights become ``best.*``: ``"best"`` (highest validation IoU,
    the default) or ``"last"`` (the final epoch, for when the validation set
    favours the starting model, e.g. pseudo-labels that model made). ``dataset_weights``
    (one per dataset given) sets how often each dataset's photographs are
    drawn, e.g. (1, 0.3) to mix in phantoms so the model does not forget;
    ``epoch_size`` draws that many photographs (with replacement) per epoch,
    for short epochs (frequent checkpoints) on large datasets.

    Real-photograph style: with ``style_images`` (a folder of unlabelled real
    photographs), each training photograph takes, with probability
    ``style_p``, the low-frequency Fourier amplitudes (colour cast, light) of
    a random real photograph (``alonet.train.style``; ``style_beta`` = size of
    the swapped band); masks are unchanged.

    Precision: ``amp`` uses float16 autocast with gradient scaling on CUDA;
    ``cpu_bf16`` uses bfloat16 autocast (and channels-last tensors) on CPUs,
    1.1-4x faster (measured: README, Training) where the CPU has native bfloat16 (AVX512-BF16, AMX) and
    slower where it has not. Weights stay float32 in both cases.
    """

    task: str = "hairloss"
    epochs: int = 30
    batch_size: int = 24
    lr: float = 5e-4
    lr_step: int = 7
    lr_gamma: float = 0.1
    weight_decay: float = 0.0
    class_weights: tuple[float, float] = (1.0, 5.0)
    input_size: int = 320
    base_width: int = 64
    depth: int = 4
    dropout: float = 0.25
    val_fraction: float = 0.2
    seed: int = 0
    workers: int = 0
    max_train_images: int | None = None
    max_val_images: int | None = None
    views: tuple[str, ...] | None = None
    mirror_right: bool = True
    hflip: bool = True
    color: bool = True
    blur: bool = True
    noise: bool = True
    jpeg: bool = True
    relight: bool = False
    relight_p: float = 0.5
    scale_rotate: bool = True
    imperfect_scalp_p: float = 0.5
    device: str = "auto"
    amp: bool = True
    cpu_bf16: bool = False
    save_half: bool = False
    encoder: str = "unet"
    pretrained: bool = True
    encoder_lr_scale: float | None = None
    freeze_levels: int = 0
    freeze_bn: str = "auto"
    init: str | None = None
    steps: int | None = None
    patience: int | None = None
    keep: str = "best"
    dataset_weights: tuple[float, ...] | None = None
    epoch_size: int | None = None
    style_images: str | None = None
    style_p: float = 0.5
    style_beta: float = 0.01

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_weights", tuple(float(w) for w in self.class_weights))
        if self.dataset_weights is not None:
            object.__setattr__(self, "dataset_weights", tuple(float(w) for w in self.dataset_weights))
        if self.init is not None:
            object.__setattr__(self, "init", str(self.init))
        if self.views is not None:
            object.__setattr__(self, "views", tuple(str(v).strip().lower() for v in self.views))
        self.validate()

    def validate(self) -> None:
        """Raise InvalidValueError naming the first bad field and its allowed range."""
        if self.task not in TASKS:
            raise InvalidValueError(f"unknown task {self.task!r}", fix=f"use one of {', '.join(TASKS)}")
        if self.views is not None:
            bad = [v for v in self.views if v not in (*VIEWS, UNKNOWN_VIEW)]
            if bad or not self.views:
                raise InvalidValueError(
                    f"unknown view(s) {', '.join(bad) or '(none given)'} in --views",
                    fix=f"use a comma-separated list of {', '.join(VIEWS)}, {UNKNOWN_VIEW} or 'all'",
                )
        checks = [
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 1, "batch size must be >= 1"),
            (0 < self.lr < math.inf, "learning rate must be a positive number"),
            (self.lr_step >= 1, "lr step must be >= 1"),
            (0 < self.lr_gamma <= 1, "lr gamma must be in (0, 1]"),
            (self.weight_decay >= 0, "weight decay must be >= 0"),
            (len(self.class_weights) == 2 and all(w > 0 for w in self.class_weights),
             "class weights must be two positive numbers"),
            (0 < self.val_fraction < 1, "val fraction must be between 0 and 1"),
            (self.workers >= 0, "workers must be >= 0"),
            (self.max_train_images is None or self.max_train_images >= 1, "max train images must be >= 1"),
            (self.max_val_images is None or self.max_val_images >= 1, "max val images must be >= 1"),
            (0 <= self.imperfect_scalp_p <= 1, "imperfect scalp probability must be in [0, 1]"),
            (self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}"),
            (self.encoder_lr_scale is None or 0 <= self.encoder_lr_scale < math.inf,
             "encoder lr scale must be a number >= 0"),
            (self.freeze_levels >= 0, "freeze levels must be >= 0"),
            (self.freeze_bn in FREEZE_BN, f"freeze-bn must be one of {', '.join(FREEZE_BN)}"),
            (self.steps is None or self.steps >= 1, "steps must be >= 1"),
            (self.patience is None or self.patience >= 1, "patience must be >= 1"),
            (self.keep in KEEP, f"keep must be one of {', '.join(KEEP)}"),
            (self.epoch_size is None or self.epoch_size >= 1, "epoch size must be >= 1"),
            (0 <= self.style_p <= 1, "style probability must be in [0, 1]"),
            (0 <= self.relight_p <= 1, "relight probability must be in [0, 1]"),
            (0 < self.style_beta <= 0.5, "style beta must be in (0, 0.5]"),
            (self.dataset_weights is None or (self.dataset_weights and all(0 < w < math.inf for w in self.dataset_weights))
             and any(w > 0 for w in self.dataset_weights),
             "dataset weights must be positive numbers, one per dataset"),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidValueError(f"invalid training option: {message}",
                                        fix="correct that alonet train option (alonet train --help lists them)")
        divisor = self.model_config().divisor  # checks width, depth, input size
        if self.input_size < 2 * divisor:  # BatchNorm cannot train on one value per channel
            raise InvalidValueError(
                f"invalid training option: input size {self.input_size} leaves a 1x1 bottleneck at depth "
                f"{self.depth}, which cannot train on a batch of one photograph (a last batch may be one)",
                fix=f"use --input-size {2 * divisor} or more, or a smaller --depth")

    @property
    def task_views(self) -> tuple[str, ...]:
        """The views this run trains on (explicit ``views`` or the task default)."""
        return self.views if self.views is not None else DEFAULT_TASK_VIEWS[self.task]

    def model_config(self) -> ModelConfig:
        """The network this run trains."""
        try:
            return ModelConfig(task=self.task, base_width=self.base_width, depth=self.depth,
                               dropout=self.dropout, input_size=self.input_size,
                               class_weights=self.class_weights, encoder=self.encoder)
        except ModelError as exc:
            raise InvalidValueError(exc.reason, fix="check --encoder, --width, --depth and --input-size") from None

    @classmethod
    def finetuning(cls, init: str, **given) -> "TrainConfig":
        """A run fine-tuning from model ``init``: :class:`FinetuneRecipe`'s values, this class's
        defaults for every other field, and the ``given`` fields over both (``steps=None``:
        ``epochs`` sets the length)."""
        return cls(**{**asdict(FinetuneRecipe()), **given, "init": init})

    #: Options a fine-tuning run takes from its starting model (``adopt``), not from the user.
    ADOPTED = ("encoder", "base_width", "depth", "dropout", "input_size", "class_weights")

    def adopt(self, model_cfg: ModelConfig) -> "TrainConfig":
        """This config with the architecture of ``model_cfg`` (fine-tuning from it)."""
        return replace(self, encoder=model_cfg.encoder, base_width=model_cfg.base_width,
                       depth=model_cfg.depth, dropout=model_cfg.dropout,
                       input_size=model_cfg.input_size,
                       # two weights (mypy types a slice's tuple() tuple[float, ...]); not [0], [1]:
                       # a model with one weight must meet __post_init__'s message, not an IndexError
                       class_weights=tuple(model_cfg.class_weights[:2]))  # type: ignore[arg-type]

    def resolved_freeze_bn(self, train_images: int) -> str:
        """``freeze_bn`` with "auto" decided for a run of ``train_images`` photographs."""
        if self.freeze_bn != "auto":
            return self.freeze_bn
        if self.init is not None and train_images < FEW_IMAGES:
            return "all"
        if self.init is None and self.encoder != "unet" and self.pretrained:
            return "encoder"
        return "none"

    def resolved_encoder_lr_scale(self) -> float:
        if self.encoder_lr_scale is not None:
            return self.encoder_lr_scale
        if self.init is None and self.encoder != "unet" and self.pretrained:
            return PRETRAINED_ENCODER_LR_SCALE
        return 1.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["class_weights"] = list(self.class_weights)
        data["views"] = list(self.views) if self.views is not None else None
        data["dataset_weights"] = list(self.dataset_weights) if self.dataset_weights is not None else None
        return {"format": "alonet-train-config", "version": 1, **data}

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        data = {k: v for k, v in data.items() if k not in ("format", "version")}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidValueError(f"unknown training options in saved config: {', '.join(unknown)}",
                                    fix="the run was made by a newer AloNet: upgrade alonet, or start a new run folder")
        return cls(**data)

    def save(self, path: Path) -> None:

        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidValueError(f"{path}: cannot read training configuration ({exc})",
                                    fix="restore train_config.json, or start a new run folder (-o)") from None
