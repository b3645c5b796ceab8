"""Networks: the study's U-Net, its configuration, save/load and model sets.

``import alonet.model`` does not import torch; ``build_model``, ``UNet``,
``probabilities`` and ``count_parameters`` load it on first use.
"""

from __future__ import annotations

from alonet.model.config import FILL_COLOR, TASKS, ModelConfig
from alonet.model.io import (
    default_model_dir,
    load_model,
    load_model_set,
    read_model_info,
    resolve_model_set,
    save_model,
)
from alonet.model.preprocess import normalize_images, paint_outside_scalp

_TORCH_NAMES = ("UNet", "build_model", "probabilities", "count_parameters")

__all__ = [
    "FILL_COLOR", "TASKS", "ModelConfig", "default_model_dir", "load_model", "load_model_set",
    "read_model_info", "resolve_model_set", "save_model", "normalize_images",
    "paint_outside_scalp", *_TORCH_NAMES,
]


def __getattr__(name: str):
    if name in _TORCH_NAMES:
        from alonet.model import unet

        return getattr(unet, name)
    raise AttributeError(f"module 'alonet.model' has no attribute {name!r}")
