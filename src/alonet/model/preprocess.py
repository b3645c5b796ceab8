"""Turning photographs into network input (numpy only, no torch).

Training, evaluation and both inference backends (torch and ONNX Runtime) use
these functions so that every stage feeds the networks the same numbers.

One route from photograph to network pixels (:func:`prepare_input`): the
photograph is resized to the working size (``WORKING_SIZE``, the size
``alonet convert`` stores) and from there to the network's input size, both
times with ``resize_photo`` (anti-aliased Lanczos). ``alonet convert`` performs
the first step and training the second, so a photograph reaches a network as
the same array in training as in use. Masks go the same way with
``area_resize_mask``.
"""

from __future__ import annotations

import numpy as np

from alonet.data.photo import as_rgb_photo
from alonet.data.resize import area_resize_mask, resize_photo
from alonet.errors import InvalidValueError
from alonet.model.config import FILL_COLOR, ModelConfig

#: Size (square) that photographs are brought to before the network size;
#: ``alonet convert`` stores datasets at this size by default.
WORKING_SIZE = 320


def to_working_size(photo: np.ndarray, working_size: int = WORKING_SIZE) -> np.ndarray:
    """First step of :func:`prepare_input`: the photograph at the working size (uint8).

    Only photographs at least as large as the working size on both sides are
    resized; smaller ones are passed on unchanged (upsampling them first would
    only add ringing before the next step).
    """
    photo = np.asarray(photo)
    if min(photo.shape[:2]) < working_size:
        return photo
    return resize_photo(photo, working_size)


def prepare_input(photo: np.ndarray, size: int, working_size: int = WORKING_SIZE) -> np.ndarray:
    """uint8 RGB photograph (H,W,3) -> uint8 (size, size, 3) network input.

    Photograph -> working size -> ``size`` (both anti-aliased Lanczos). Used by
    inference on photographs and by training on converted datasets (which
    hold the working-size step already), so both feed the same pixels.
    """
    return np.ascontiguousarray(resize_photo(to_working_size(photo, working_size), size), dtype=np.uint8)


def prepare_mask(mask: np.ndarray, size: int, working_size: int = WORKING_SIZE) -> np.ndarray:
    """The mask counterpart of :func:`prepare_input` (bool, exactly binary)."""
    mask = np.asarray(mask)
    if min(mask.shape[:2]) >= working_size:
        mask = area_resize_mask(mask, working_size)
    return area_resize_mask(mask, size)


def paint_outside_scalp(image: np.ndarray, scalp: np.ndarray,
                        color: tuple[int, int, int] = FILL_COLOR) -> np.ndarray:
    """Return a copy of ``image`` (H,W,3 uint8) with pixels outside ``scalp`` set to ``color``.

    This is the hair-loss network's input: the photograph restricted to the
    scalp region, everything else one fixed colour (cyan in the study).
    ``image`` may also be a batch (N,H,W,3) with ``scalp`` (N,H,W).
    """
    image = as_rgb_photo(image, "the photograph to paint", batch=True)
    scalp = np.asarray(scalp).astype(bool)
    if image.shape[:-1] != scalp.shape:
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
