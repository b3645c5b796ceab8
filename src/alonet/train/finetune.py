"""What fine-tuning and pretrained encoders need: encoder levels, freezing, learning-rate groups,
and drawing photographs from several datasets with chosen weights.

The *encoder levels* of a network, from the input down:

- the study's U-Net: the stem (full resolution) and each ``down`` block;
- the EfficientNet-Lite0 U-Net: the stem and blocks of each output stride
  (2, 4, 8, ...), as ``alonet.model.efficientnet.LEVEL_END`` groups them.

``freeze_levels=N`` keeps the first N levels' weights fixed (N at least the
number of levels: the whole encoder). ``freeze_bn`` keeps BatchNorm running
statistics fixed ("encoder" or "all" layers) -- with few photographs per batch,
re-estimated statistics are noisy and wash out what the model had learnt.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import nn

from alonet.errors import InvalidValueError


def encoder_levels(model: nn.Module) -> list[list[nn.Module]]:
    """The encoder of ``model`` as levels (lists of modules), from the input down."""
    encoder = getattr(model, "encoder", None)
    if encoder is not None:
        from alonet.model.efficientnet import LEVEL_END

        levels, start = [], 0
        for i, end in enumerate(LEVEL_END[: encoder.depth]):
            modules = list(encoder._blocks[start:end + 1])
            if i == 0:
                modules = [encoder._conv_stem, encoder._bn0, *modules]
            levels.append(modules)
            start = end + 1
        return levels
    # the UNet's own stem and down blocks (modules); torch types a module's attributes Tensor | Module
    return [[model.stem], *([block] for block in model.down)]  # type: ignore[list-item,union-attr]


def encoder_modules(model: nn.Module) -> list[nn.Module]:
    return [m for level in encoder_levels(model) for m in level]


def _params(modules: Sequence[nn.Module]) -> list[nn.Parameter]:
    return [p for m in modules for p in m.parameters()]


def apply_freezing(model: nn.Module, freeze_levels: int, freeze_bn: str) -> None:
    """Stop gradients to the first ``freeze_levels`` encoder levels; set BatchNorm modes."""
    for level in encoder_levels(model)[:freeze_levels]:
        for p in _params(level):
            p.requires_grad_(False)
    set_train_mode(model, freeze_levels, freeze_bn)


def set_train_mode(model: nn.Module, freeze_levels: int, freeze_bn: str) -> None:
    """``model.train()``, except frozen levels and frozen BatchNorm statistics stay in eval mode."""
    model.train()
    for level in encoder_levels(model)[:freeze_levels]:
        for m in level:
            m.eval()
    if freeze_bn == "all":
        scope = [model]
    elif freeze_bn == "encoder":
        scope = encoder_modules(model)
    else:
        scope = []
    for root in scope:
        for m in root.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def parameter_groups(model: nn.Module, lr: float, encoder_lr_scale: float) -> list[dict]:
    """Adam parameter groups: encoder at ``lr * encoder_lr_scale``, the rest at ``lr``."""
    enc = {id(p) for p in _params(encoder_modules(model))}
    encoder_params = [p for p in model.parameters() if p.requires_grad and id(p) in enc]
    other = [p for p in model.parameters() if p.requires_grad and id(p) not in enc]
    groups = [{"params": other, "lr": lr}]
    if encoder_params and encoder_lr_scale > 0:
        groups.append({"params": encoder_params, "lr": lr * encoder_lr_scale})
    elif encoder_params:
        for p in encoder_params:
            p.requires_grad_(False)
    if not any(g["params"] for g in groups):
        raise InvalidValueError("every layer is frozen; nothing would be trained",
                                fix="lower --freeze or raise --encoder-lr-scale")
    return [g for g in groups if g["params"]]


class WeightedEpochSampler:
    """Draws each epoch's photographs with replacement, dataset k with weight ``weights[k]``.

    Within a dataset every training photograph is equally likely; an epoch has
    ``size`` draws (default: as many as there are training photographs). Seeded by (seed, epoch),
    so a resumed run draws the same photographs.
    """

    def __init__(self, source, rows: Sequence[int], weights: Sequence[float] | None, seed: int,
                 size: int | None = None):
        owners = [source_of(source, r) for r in rows]
        n_sources = len(getattr(source, "sources", [source]))
        weights = source_weights(source, weights)
        counts = np.bincount(owners, minlength=n_sources).astype(float)
        w = np.array([weights[k] / counts[k] for k in owners], dtype=float)
        self.probabilities = w / w.sum()
        self.size = size or len(self.probabilities)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        picks = rng.choice(len(self.probabilities), size=self.size, p=self.probabilities)
        return iter(int(i) for i in picks)


def source_weights(source, weights: Sequence[float] | None) -> list[float]:
    """One draw weight per dataset of ``source`` (a ConcatSource has several): ``weights``, or
    1 each when None; InvalidValueError when their number differs from the datasets'."""
    n_sources = len(getattr(source, "sources", [source]))
    if weights is None:
        return [1.0] * n_sources
    if len(weights) != n_sources:
        raise InvalidValueError(
            f"{len(weights)} dataset weight(s) given for {n_sources} dataset(s)",
            fix="give one --dataset-weights value per dataset, e.g. 1,0.3")
    return list(weights)


def source_of(source, row: int) -> int:
    """Which of a ConcatSource's datasets row ``row`` comes from (0 for a single dataset)."""
    where = getattr(source, "_where", None)
    return 0 if where is None else int(where[row][0])
