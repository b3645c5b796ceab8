"""Real-photograph style for phantoms: Fourier amplitude mixing with unlabelled real photographs.

A photograph's low spatial frequencies (the centre of its Fourier amplitude
spectrum) carry its overall colour cast, illumination gradients and
large-scale contrast; the phases carry where things are. Replacing a
phantom's low-frequency amplitudes by a blend with those of a real photograph
("Fourier domain adaptation", Yang & Soatto, CVPR 2020) gives it a real
camera's colour and light while its geometry -- and so its masks -- stays
exactly where it was. The real photographs need no masks
(e.g. ``../shared/data/real-heads-cc-by``); they are read at training time and
never stored in a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alonet.data.photo import read_photo
from alonet.data.resize import resize_photo
from alonet.errors import DatasetError

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")


def low_frequency_mix(image: np.ndarray, style: np.ndarray, beta: float, weight: float) -> np.ndarray:
    """``image`` (H,W,3 uint8) with its lowest frequencies' amplitudes moved towards ``style``'s.

    ``beta``: half-size of the swapped centre block as a fraction of the image
    size (0.01-0.1); ``weight``: 0 keeps the image, 1 takes the style's
    amplitudes entirely. ``style`` must have the image's shape. Pure function.
    """
    if image.shape != style.shape:
        raise ValueError(f"style shape {style.shape} differs from image shape {image.shape}")
    src = np.fft.fft2(image.astype(np.float32), axes=(0, 1))
    ref = np.fft.fft2(style.astype(np.float32), axes=(0, 1))
    amp, phase = np.abs(src), np.angle(src)
    amp_ref = np.abs(ref)
    h, w = image.shape[:2]
    b = max(1, int(round(min(h, w) * beta)))
    # Low frequencies sit in the four corners of an unshifted spectrum.
    for ys in (slice(0, b), slice(h - b, h)):
        for xs in (slice(0, b), slice(w - b, w)):
            amp[ys, xs] = (1 - weight) * amp[ys, xs] + weight * amp_ref[ys, xs]
    out = np.fft.ifft2(amp * np.exp(1j * phase), axes=(0, 1)).real
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def list_style_photos(folder: str | Path) -> list[Path]:
    """Every photograph under ``folder`` (sorted); a clear error when there is none."""
    folder = Path(folder)
    photos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file())
    if not photos:
        raise DatasetError(f"{folder}: no photographs (.jpg/.png) for --style-images",
                           fix="point --style-images at a folder of real photographs")
    return photos


def check_style_photos(folder: str | Path) -> list[Path]:
    """:func:`list_style_photos`, each photograph read once: an unreadable one (truncated, not
    an image, too large) raises its one-line ImageReadError before training, not at the epoch
    that first draws it (inside a data-loading worker, whose traceback its message then carried)."""
    photos = list_style_photos(folder)
    for path in photos:
        read_photo(path)
    return photos


def read_style(path: Path, size: int) -> np.ndarray:
    """A style photograph at the network size (uint8 RGB)."""
    return resize_photo(read_photo(path), size)
