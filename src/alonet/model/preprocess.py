"""Turning photographs into network input (numpy only, no torch).

Training, evaluation and both inference backends (torch and ONNX Runtime) use
these functions so that every stage feeds the networks the same numbers.
"""

from __future__ import annotations

import numpy as np

from alonet.errors import InvalidValueError
from alonet.model.config import FILL_COLOR, ModelConfig


def paint_outside_scalp(image: np.ndarray, scalp: np.ndarray,
                        color: tuple[int, int, int] = FILL_COLOR) -> np.ndarray:
    """Return a copy of ``image`` (H,W,3 uint8) with pixels outside ``scalp`` set to ``color``.

    This is the hair-loss network's input: the photograph restricted to the
    scalp region, everything else one fixed colour (cyan in the study).
    ``image`` may also be a batch (N,H,W,3) with ``scalp`` (N,H,W).
    """
    image = np.asarray(image)
    scalp = np.asarray(scalp).astype(bool)
    if image.shape[:-1] != scalp.shape or image.shape[-1] != 3:
        raise InvalidValueError(
            f"scalp mask shape {scalp.shape} does not match image shape {image.shape}"
        )
    out = image.copy()
    out[~scalp] = np.asarray(color, dtype=image.dtype)
    return out


def normalize_images(images: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    """uint8 RGB (H,W,3) or (N,H,W,3) -> float32 (N,3,H,W): ``(x/255 - mean) / std``."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != cfg.in_channels:
        raise InvalidValueError(
            f"expected images of shape (N, H, W, {cfg.in_channels}); got {images.shape}"
        )
    mean = np.asarray(cfg.mean, dtype=np.float32) * 255.0
    scale = 1.0 / (np.asarray(cfg.std, dtype=np.float32) * 255.0)
    x = (images.astype(np.float32) - mean) * scale
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
