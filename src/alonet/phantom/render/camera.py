"""The camera: framing jitter (scale, rotation, perspective) and the optics and
sensor of a clinic camera (focus and motion blur, white balance, exposure,
noise, JPEG compression).

The framing jitter is a homography from the *render canvas* (the canonical
scene plus a margin on every side) to the output frame. The scene is drawn in
canonical orientation on the canvas and warped once; the masks go through the
same homography with nearest-neighbour sampling, so the returned masks are the
exact regions that were rendered.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraConfig:
    """What the camera may do to a phantom photograph.

    ``geometric=False`` keeps the framing exact (the returned masks then equal
    the input masks resized to the output size); ``photometric=False`` turns
    off blur, colour casts, exposure errors and noise; ``jpeg=False`` skips the
    compression round trip. Ranges are the extremes of uniform draws.
    """

    geometric: bool = True
    photometric: bool = True
    jpeg: bool = True
    scale_range: tuple[float, float] = (0.86, 1.08)
    # now and then the camera stands further back: more face, neck and backdrop
    # around a smaller head (as in many side views taken outside a trial)
    zoom_out_prob: float = 0.2
    zoom_out_range: tuple[float, float] = (0.62, 0.86)
    max_rotation_deg: float = 10.0
    max_shift: float = 0.05  # fraction of the frame size
    max_perspective: float = 0.06  # corner displacement, fraction of the frame size
    focus_blur_sigma: tuple[float, float] = (0.0, 1.3)  # px at 320 px long side
    motion_blur_prob: float = 0.15
    vignette_prob: float = 0.5
    motion_blur_px: tuple[float, float] = (2.0, 6.0)  # at 320 px long side
    noise_sigma: tuple[float, float] = (0.0, 0.03)
    white_balance: float = 0.10  # max relative gain change per channel
    exposure_ev: float = 0.45
    jpeg_quality: tuple[int, int] = (50, 95)


@dataclass(frozen=True)
class Framing:
    """Where the canonical scene sits relative to the output frame.

    The scene is drawn on a canvas of ``canvas_size`` (width, height) whose
    pixel ``(offset[0], offset[1])`` is canonical pixel ``(0, 0)``;
    ``homography`` maps canvas pixels to output pixels.
    """

    homography: np.ndarray
    offset: tuple[int, int]
    canvas_size: tuple[int, int]


def sample_framing(height: int, width: int, cfg: CameraConfig, rng: np.random.Generator) -> Framing:
    """Draw the framing jitter and the canvas that the frame needs.

    The jitter zooms about the frame centre, rotates, shifts and pulls the
    corners a little (perspective). The canvas is the frame grown on each side
    just enough that the jittered frame never sees beyond it. Without
    geometric jitter the canvas is the frame itself and the homography is the
    identity.
    """
    if not cfg.geometric:
        return Framing(np.eye(3), (0, 0), (width, height))
    cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
    size = max(height, width)
    s = rng.uniform(*cfg.scale_range)
    if rng.random() < cfg.zoom_out_prob:
        s = rng.uniform(*cfg.zoom_out_range)
    a = np.deg2rad(rng.uniform(-cfg.max_rotation_deg, cfg.max_rotation_deg))
    tx, ty = rng.uniform(-cfg.max_shift, cfg.max_shift, 2) * size
    rot = np.array([[s * np.cos(a), -s * np.sin(a), 0], [s * np.sin(a), s * np.cos(a), 0], [0, 0, 1]])
    to_c = np.array([[1, 0, -cx], [0, 1, -cy], [0, 0, 1]], dtype=np.float64)
    back = np.array([[1, 0, cx + tx], [0, 1, cy + ty], [0, 0, 1]], dtype=np.float64)
    src = np.array([[0, 0], [width - 1, 0], [width - 1, height - 1], [0, height - 1]], np.float32)
    dst = src + rng.uniform(-cfg.max_perspective, cfg.max_perspective, (4, 2)).astype(np.float32) * size
    persp = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    jit = persp @ back @ rot @ to_c  # canonical frame -> output frame
    corners = cv2.perspectiveTransform(src[None], np.linalg.inv(jit))[0]
    left = int(np.ceil(max(0.0, -corners[:, 0].min()))) + 2
    top = int(np.ceil(max(0.0, -corners[:, 1].min()))) + 2
    right = int(np.ceil(max(0.0, corners[:, 0].max() - (width - 1)))) + 2
    bottom = int(np.ceil(max(0.0, corners[:, 1].max() - (height - 1)))) + 2
    shift = np.array([[1, 0, -left], [0, 1, -top], [0, 0, 1]], dtype=np.float64)
    return Framing(jit @ shift, (left, top), (width + left + right, height + top + bottom))


def warp_mask(mask: np.ndarray, hom: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Warp a bool mask with homography ``hom`` into a (width, height) frame
    (nearest neighbour, so it stays binary and aligned with the warped image)."""
    out = cv2.warpPerspective(mask.astype(np.uint8), hom, size, flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out > 0


def _motion_kernel(length: float, angle: float) -> np.ndarray:
    n = int(np.ceil(length)) | 1
    k = np.zeros((n, n), np.float32)
    c = (n - 1) / 2.0
    d = np.array([np.cos(angle), np.sin(angle)]) * (length - 1) / 2.0
    cv2.line(k, (int(round(c - d[0])), int(round(c - d[1]))), (int(round(c + d[0])), int(round(c + d[1]))), 1.0, 1)
    return k / max(k.sum(), 1e-6)


def apply_optics(img: np.ndarray, cfg: CameraConfig, rng: np.random.Generator) -> np.ndarray:
    """Focus and motion blur, white balance, exposure/gamma and sensor noise on
    an RGB uint8 image; returns uint8.

    Blur sizes are given for a 320-px long side and scale with the image.
    White balance, exposure and gamma are one lookup table per channel.
    """
    if not cfg.photometric:
        return img
    k = max(img.shape[:2]) / 320.0
    out = img
    lo, hi = cfg.focus_blur_sigma
    sigma = (lo + (hi - lo) * rng.random() ** 2) * k  # mostly sharp, sometimes soft
    if sigma > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if rng.random() < cfg.motion_blur_prob:
        length = rng.uniform(*cfg.motion_blur_px) * k
        out = cv2.filter2D(out, -1, _motion_kernel(length, rng.uniform(0, np.pi)))
    if rng.random() < cfg.vignette_prob:  # lens fall-off towards the corners
        hh, ww = out.shape[:2]
        yy, xx = np.mgrid[-1:1:17j, -1:1:17j].astype(np.float32)
        fall = 1.0 - rng.uniform(0.1, 0.35) * (xx**2 + yy**2) / 2.0
        fall = cv2.resize(fall, (ww, hh), interpolation=cv2.INTER_LINEAR)
        out = cv2.multiply(out, cv2.merge([fall, fall, fall]), dtype=cv2.CV_8U)
    gains = 1.0 + rng.uniform(-cfg.white_balance, cfg.white_balance, 3)
    gains /= gains.mean()
    ev = rng.normal(0.0, cfg.exposure_ev / 2.0)
    gamma = rng.uniform(0.85, 1.15)
    x = np.arange(256, dtype=np.float64) / 255.0
    table = np.stack([np.clip(x * g * 2.0**ev, 0, 1) ** gamma for g in gains], -1)
    sig = rng.uniform(*cfg.noise_sigma)
    if sig <= 0.002:
        return cv2.LUT(out, np.round(table * 255).astype(np.uint8).reshape(256, 1, 3))
    # shot plus read noise: std grows with the signal
    std = cv2.LUT(out, (255 * sig * (0.4 + 0.6 * np.sqrt(table))).astype(np.float32).reshape(256, 1, 3))
    noise = rng.standard_normal(out.shape, dtype=np.float32)
    if k > 1.5:  # demosaicked sensor noise is a little blotchy at full resolution
        noise = cv2.GaussianBlur(noise, (0, 0), 0.6 * np.sqrt(k)) * np.float32(1.5)
    noise *= std
    noise += cv2.LUT(out, (table * 255 + 0.5).astype(np.float32).reshape(256, 1, 3))
    np.maximum(noise, 0.0, out=noise)
    return cv2.convertScaleAbs(noise)  # saturates at 255


def jpeg_roundtrip(img: np.ndarray, quality: int) -> np.ndarray:
    """Compress an RGB uint8 image as JPEG in memory and decode it again."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV always encodes a valid uint8 image
        raise RuntimeError("JPEG encoding failed")
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if decoded is None:  # pragma: no cover - imdecode fails only on bytes it cannot decode, never on its own JPEG
        raise RuntimeError("JPEG decoding failed")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
