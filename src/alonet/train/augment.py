"""Augmentation for training: albumentations pipelines plus predicted-like scalp masks.

``build_augmentation(cfg)`` returns an albumentations ``Compose`` that moves
the photograph and both masks together (geometric steps) and changes only the
photograph's appearance (photometric steps). ``imperfect_scalp(mask, rng)``
turns an annotated scalp into the kind of mask a scalp network predicts
(slightly too small or too large, shifted, with a wobbly border), used to
paint the hair-loss network's input as inference will.

Every random choice is drawn from a seed derived from (run seed, epoch,
sample index) -- see ``sample_seed`` -- so runs repeat exactly and a resumed
run sees the same augmented images as an uninterrupted one.
"""

from __future__ import annotations

import cv2
import numpy as np

from alonet.train.config import TrainConfig


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 32-bit seed for one sample in one epoch, independent of worker layout."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


def build_augmentation(cfg: TrainConfig, train: bool):
    """Albumentations pipeline for image + ``scalp`` + ``hairloss`` masks at network size.

    The inputs are already at the network's input size (``TaskDataset`` resizes
    them with ``prepare_input``/``prepare_mask``, the route inference uses), so
    validation (``train=False``) changes nothing.
    """
    import albumentations as A

    steps = []
    if train:
        if cfg.hflip:
            steps.append(A.HorizontalFlip(p=0.5))
        if cfg.scale_rotate:
            steps.append(A.Affine(scale=(0.85, 1.15), translate_percent=(-0.06, 0.06), rotate=(-15, 15),
                                  border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, p=0.6))
        if cfg.color:
            steps.append(A.ColorJitter(brightness=(0.7, 1.3), contrast=(0.7, 1.3), saturation=(0.7, 1.3),
                                       hue=(-0.04, 0.04), p=0.8))
            steps.append(A.RandomGamma(gamma_limit=(80, 125), p=0.3))
        if cfg.relight:
            steps.append(A.OneOf([
                A.Illumination(mode="linear", intensity_range=(0.05, 0.2), effect_type="both"),
                A.Illumination(mode="gaussian", intensity_range=(0.05, 0.2), effect_type="both",
                               sigma_range=(0.2, 0.6)),
                A.Illumination(mode="corner", intensity_range=(0.05, 0.2), effect_type="both"),
            ], p=cfg.relight_p))
        if cfg.blur:
            steps.append(A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.25))
        if cfg.noise:
            steps.append(A.GaussNoise(std_range=(0.01, 0.05), p=0.25))
        if cfg.jpeg:
            steps.append(A.ImageCompression(quality_range=(40, 95), p=0.35))
    return A.Compose(steps, additional_targets={"scalp": "mask", "hairloss": "mask"}, seed=cfg.seed)


def imperfect_scalp(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A predicted-like version of an annotated scalp mask (bool, same shape).

    One or more of: erosion or dilation by up to ~4 % of the image size, a
    shift of up to ~3 %, and a smooth random warp of the border. An empty mask
    stays empty.
    """
    mask = np.asarray(mask).astype(np.uint8)
    if not mask.any():
        return mask.astype(bool)
    h, w = mask.shape
    size = min(h, w)
    out = mask
    if rng.random() < 0.7:
        radius = int(rng.integers(1, max(2, round(0.04 * size)) + 1))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        out = cv2.erode(out, kernel) if rng.random() < 0.5 else cv2.dilate(out, kernel)
    if rng.random() < 0.5:
        limit = max(1, round(0.03 * size))
        dx, dy = (int(v) for v in rng.integers(-limit, limit + 1, size=2))
        matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        out = cv2.warpAffine(out, matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    if rng.random() < 0.5:
        # Smooth random displacement field: coarse noise upsampled, amplitude ~2 % of size.
        coarse = rng.normal(0.0, 1.0, size=(2, 6, 6)).astype(np.float32)
        amplitude = 0.02 * size
        dx = cv2.resize(coarse[0], (w, h), interpolation=cv2.INTER_CUBIC) * amplitude
        dy = cv2.resize(coarse[1], (w, h), interpolation=cv2.INTER_CUBIC) * amplitude
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        out = cv2.remap(out, grid_x + dx, grid_y + dy, interpolation=cv2.INTER_NEAREST,
                        borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.astype(bool)
