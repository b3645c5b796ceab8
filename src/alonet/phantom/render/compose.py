"""Compose one phantom photograph from a scalp mask and a hair-loss mask.

Order of work (all on a canvas in the view's canonical orientation, at the
output resolution or at most ``CameraConfig.max_render_side``):

1. framing jitter is drawn first, and the canvas is the output frame grown
   just enough for it, so the final warp never runs out of picture;
2. backdrop, head shadow, clothes, neck, skull and face skin, ears;
3. hair (base layer and strands), then what grows in bald skin;
4. dome shading, specular highlights on bald skin and sheen on hair, stray
   shadows, then props (clips) and glasses;
5. the warp into the output frame, optics and sensor (blur, white balance,
   exposure, noise), resize to the output size and a JPEG round trip;
6. right views are rendered as left views and mirrored at the very end.

The masks returned are the input masks taken through the same resize and
warp (nearest neighbour), so they are exactly the regions that were drawn.

Labelling decisions (ground truth conventions):
- the hair-loss mask marks skin without terminal hair roots. Long strands
  from the surrounding hair may lie over a patch margin (a short overhang)
  and the patch stays loss there;
- patches that touch the scalp border continue a little beyond it (the
  patient's patch does not stop at the annotation line); that skin is outside
  the scalp region and so outside both returned masks' counting area;
- ``thinning`` lowers hair density but is *not* loss: it is a hard negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from alonet.errors import InvalidValueError
from alonet.phantom.render.background import render_background
from alonet.phantom.render.camera import (
    CameraConfig,
    Framing,
    apply_optics,
    jpeg_roundtrip,
    sample_framing,
    warp_mask,
)
from alonet.phantom.render.hair import HairRender, render_hair
from alonet.phantom.render.head import (
    HeadLayout,
    draw_glasses,
    layout_head,
    paint_body,
    paint_beard,
    paint_face,
)
from alonet.phantom.render.look import Look
from alonet.phantom.render.props import draw_clips, draw_fingers
from alonet.phantom.render.raster import smooth_noise
from alonet.phantom.render.skin import bald_details, lighting, paint_ears, paint_head_skin
from alonet.scoring.masks import as_bool_mask
from alonet.views import normalize_view

#: Longest side rendered directly; larger outputs are rendered at this size
#: and upscaled (noise and JPEG are still applied at the full output size).
MAX_RENDER_SIDE = 1280


@dataclass(frozen=True)
class RenderedView:
    """A phantom photograph and its exact ground truth."""

    image: np.ndarray  # (h, w, 3) uint8 RGB
    scalp: np.ndarray  # (h, w) bool
    hairloss: np.ndarray  # (h, w) bool


def _as_mask(a: np.ndarray, name: str) -> np.ndarray:
    """``a`` as a bool mask (``alonet.scoring.masks.as_bool_mask``) of at least 2x2 pixels."""
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise InvalidValueError(f"{name} mask must be a 2-D array of at least 2×2, got shape {a.shape}",
                                fix="pass a boolean (H, W) mask")
    return as_bool_mask(a, f"{name} mask")


def _area_or_nearest_resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a bool mask to ``size`` (width, height) (a new bool array).

    Rule: when either side shrinks, OpenCV's area average of the mask as 0/255,
    inside where it is ``>= 128`` (thin parts keep their fair share); when no side
    shrinks, nearest neighbour, so every enlarged pixel is one drawn pixel.
    """
    w, h = size
    if (mask.shape[1], mask.shape[0]) == (w, h):
        return mask.copy()
    if w < mask.shape[1] or h < mask.shape[0]:
        m8 = mask.view(np.uint8) * np.uint8(255) if mask.dtype == bool else mask.astype(np.uint8) * np.uint8(255)
        return cv2.resize(m8, (w, h), interpolation=cv2.INTER_AREA) >= 128
    return cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0


def _place(mask: np.ndarray, offset: tuple[int, int], canvas: tuple[int, int], dtype=bool) -> np.ndarray:
    out = np.zeros((canvas[1], canvas[0]), dtype)
    ox, oy = offset
    out[oy : oy + mask.shape[0], ox : ox + mask.shape[1]] = mask
    return out


def _bald_skin(scalp: np.ndarray, loss: np.ndarray, layout: HeadLayout, rng: np.random.Generator) -> np.ndarray:
    """Skin without terminal hair on the canvas: the hair-loss mask, plus the
    continuation beyond the scalp border of patches that reach it (far beyond
    it in near-total loss, where the whole head is bald)."""
    inside = loss & scalp
    if not inside.any():
        return loss.copy()
    # max() of an int and a numpy integer is a number; mypy joins the two into a comparison protocol.
    # Not int(...) instead: frac must stay a numpy float, or ``dist < reach`` compares in float32 (NEP 50)
    frac = float(np.count_nonzero(inside)) / max(1, np.count_nonzero(scalp))  # type: ignore[operator]
    reach = layout.size * (rng.uniform(0.02, 0.12) + 0.8 * max(0.0, frac - 0.6) / 0.4)
    dist = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 3)
    return loss | (~scalp & (dist < reach))


def render_view(
    scalp: np.ndarray,
    hairloss: np.ndarray,
    view: str,
    look: Look,
    rng: np.random.Generator,
    out_size: int | None = None,
    thinning: np.ndarray | None = None,
    camera: CameraConfig | None = None,
) -> RenderedView:
    """Render one phantom photograph.

    ``scalp`` and ``hairloss`` are canonical bool masks (H, W) of any size:
    temporal views in left-view orientation (face towards image-left, ear
    notch at the lower edge), ``top`` with the face towards the image bottom,
    ``back`` with the nape at the bottom. ``view="right"`` renders the left
    scene and mirrors image and masks. ``out_size`` is the long side of the
    output (None keeps the mask size). ``thinning`` is an optional (H, W)
    float 0..1 (or bool) map of diffuse thinning: hair density there drops by
    up to half (it stays visibly hairy), and it is not hair loss. ``camera``
    switches camera effects (``CameraConfig(geometric=False)`` keeps the
    masks exactly as given).
    Deterministic for a given ``rng`` state.
    """
    cfg = camera or CameraConfig()
    view = normalize_view(view)
    scalp, hairloss = _checked_masks(scalp, hairloss, thinning)
    sizes = _render_sizes(scalp.shape, out_size)
    canvas = _canvas(scalp, hairloss, thinning, sizes, cfg, rng)
    n_scalp = int(np.count_nonzero(canvas.scalp))
    hair_left = 1.0 - (np.count_nonzero(canvas.loss & canvas.scalp) / n_scalp if n_scalp else 0.0)
    canon = "left" if view in ("left", "right") else view
    layout = layout_head(canvas.scalp, canon, look, rng, sizes.detail, hair_left)
    density = canvas.density
    # the hairline: hair thins out over a few px towards the face
    face_only = layout.face_mask & ~layout.hair_region
    if face_only.any():
        dist_face = cv2.distanceTransform((~face_only).astype(np.uint8), cv2.DIST_L2, 3)
        density *= np.clip(dist_face / (layout.size * rng.uniform(0.01, 0.05)), 0.15, 1.0)
    bald = _bald_skin(canvas.scalp, canvas.loss, layout, rng)
    img = _render_scene(layout, look, bald, density, rng, sizes.detail)
    out = _through_camera(img, canvas.framing, sizes, cfg, rng)
    scalp_o, loss_o = _output_masks(scalp, hairloss, canvas, sizes, cfg)
    if view == "right":
        out, scalp_o, loss_o = out[:, ::-1], scalp_o[:, ::-1], loss_o[:, ::-1]
    return RenderedView(np.ascontiguousarray(out), np.ascontiguousarray(scalp_o), np.ascontiguousarray(loss_o))


def _checked_masks(scalp: np.ndarray, hairloss: np.ndarray,
                   thinning: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Scalp and hair-loss masks as bool arrays of one size (and a thinning
    map of that size), or an error that says what to pass."""
    scalp = _as_mask(scalp, "scalp")
    hairloss = _as_mask(hairloss, "hair-loss")
    if hairloss.shape != scalp.shape:
        raise InvalidValueError(f"scalp mask {scalp.shape} and hair-loss mask {hairloss.shape} differ in size",
                                fix="pass masks of the same size")
    if thinning is not None and np.shape(thinning) != scalp.shape:
        raise InvalidValueError(f"thinning map {np.shape(thinning)} differs from the masks {scalp.shape}",
                                fix="pass a thinning map of the masks' size")
    return scalp, hairloss


@dataclass(frozen=True)
class _Sizes:
    """Output size (``oh``, ``ow``), the size the scene is drawn at (``wh``,
    ``ww``; at most :data:`MAX_RENDER_SIDE`) and ``detail``, that size's
    scale relative to a 320-px image."""

    oh: int
    ow: int
    wh: int
    ww: int
    detail: float


def _render_sizes(shape: tuple[int, int], out_size: int | None) -> _Sizes:
    """Output and drawing sizes for masks of ``shape`` and a long side ``out_size``."""
    h0, w0 = shape
    if out_size is None:
        oh, ow = h0, w0
    else:
        if int(out_size) < 16:
            raise InvalidValueError(f"out_size {out_size} is too small", fix="use at least 16 px")
        s = int(out_size) / max(h0, w0)
        oh, ow = max(2, int(round(h0 * s))), max(2, int(round(w0 * s)))
    ws = min(1.0, MAX_RENDER_SIDE / max(oh, ow))
    wh, ww = max(2, int(round(oh * ws))), max(2, int(round(ow * ws)))
    return _Sizes(oh, ow, wh, ww, max(wh, ww) / 320.0)


@dataclass(frozen=True)
class _Canvas:
    """The masks at drawing size (``scalp_w``, ``loss_w``), the framing jitter,
    and masks and hair density (float32) placed on the canvas it needs."""

    scalp_w: np.ndarray
    loss_w: np.ndarray
    framing: Framing
    scalp: np.ndarray
    loss: np.ndarray
    density: np.ndarray


def _canvas(scalp: np.ndarray, hairloss: np.ndarray, thinning: np.ndarray | None, sizes: _Sizes,
            cfg: CameraConfig, rng: np.random.Generator) -> _Canvas:
    """Draw the framing and place the resized masks and thinning on its canvas."""
    ww, wh = sizes.ww, sizes.wh
    scalp_w = _area_or_nearest_resize_mask(scalp, (ww, wh))
    loss_w = _area_or_nearest_resize_mask(hairloss, (ww, wh))
    framing = sample_framing(wh, ww, cfg, rng)
    csize, off = framing.canvas_size, framing.offset
    density: np.ndarray = np.ones((csize[1], csize[0]), np.float32)
    if thinning is not None:
        t = cv2.resize(np.asarray(thinning, np.float32), (ww, wh), interpolation=cv2.INTER_AREA)
        density = 1.0 - 0.5 * _place(np.clip(t, 0, 1), off, csize, np.float32)
    return _Canvas(scalp_w, loss_w, framing, _place(scalp_w, off, csize), _place(loss_w, off, csize), density)


def _through_camera(img: np.ndarray, framing: Framing, sizes: _Sizes, cfg: CameraConfig,
                    rng: np.random.Generator) -> np.ndarray:
    """The canvas scene as the camera sees it: framing warp, optics, output
    size (with fine sensor noise at the full output resolution) and JPEG."""
    ww, wh, ow, oh = sizes.ww, sizes.wh, sizes.ow, sizes.oh
    if cfg.geometric:
        img = cv2.warpPerspective(img, framing.homography, (ww, wh), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    out = apply_optics(img, cfg, rng)
    if (ww, wh) != (ow, oh):
        out = cv2.resize(out, (ow, oh), interpolation=cv2.INTER_CUBIC)
        if cfg.photometric:
            noise = rng.standard_normal(out.shape, dtype=np.float32) * np.float32(rng.uniform(0.5, 3.0))
            out = np.clip(out + noise + 0.5, 0, 255).astype(np.uint8)
    if cfg.jpeg:
        out = jpeg_roundtrip(out, int(rng.integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1)))
    return out


def _output_masks(scalp: np.ndarray, hairloss: np.ndarray, canvas: _Canvas, sizes: _Sizes,
                  cfg: CameraConfig) -> tuple[np.ndarray, np.ndarray]:
    """Scalp and hair-loss masks taken through the same resize and warp as the
    photograph (nearest neighbour): exactly the regions that were drawn."""
    ww, wh, ow, oh = sizes.ww, sizes.wh, sizes.ow, sizes.oh
    hom = canvas.framing.homography
    if (ww, wh) == (ow, oh):
        scalp_o = warp_mask(canvas.scalp, hom, (ow, oh)) if cfg.geometric else canvas.scalp_w
        loss_o = warp_mask(canvas.loss, hom, (ow, oh)) if cfg.geometric else canvas.loss_w
        return scalp_o, loss_o
    scalp_o = _area_or_nearest_resize_mask(scalp, (ow, oh))
    loss_o = _area_or_nearest_resize_mask(hairloss, (ow, oh))
    if cfg.geometric:  # the canvas warp, at the output size
        off = canvas.framing.offset
        k = np.diag([ow / ww, oh / wh, 1.0])
        jit = hom @ np.array([[1, 0, off[0]], [0, 1, off[1]], [0, 0, 1]], np.float64)
        out_hom = k @ jit @ np.linalg.inv(k)
        scalp_o = warp_mask(scalp_o, out_hom, (ow, oh))
        loss_o = warp_mask(loss_o, out_hom, (ow, oh))
    return scalp_o, loss_o


def _render_scene(
    layout: HeadLayout, look: Look, bald: np.ndarray, density: np.ndarray, rng: np.random.Generator, detail: float
) -> np.ndarray:
    """The canvas scene (uint8 RGB) before the camera."""
    h, w = layout.shape
    img = render_background((h, w), look, rng)
    if look.head_shadow > 0.05:
        _cast_head_shadow(img, layout, look, rng)
    paint_body(img, layout, look, rng, detail)
    paint_head_skin(img, layout, look, detail)
    paint_face(img, layout, look, detail)
    paint_beard(img, layout, look, rng, detail)
    ears_over_hair = look.hair_length < 0.2
    if not ears_over_hair:
        paint_ears(img, layout, look, detail)
    face_only = layout.face_mask & ~layout.hair_region
    clip = _strand_clip(face_only, bald, layout, look, rng, detail)
    hair = render_hair(img, layout, look, bald, density, clip.astype(np.float32), rng, detail)
    canvas = hair.canvas
    bald_skin = bald & (layout.hair_region | layout.skull_mask) & ~face_only
    bald_details(canvas, bald_skin, layout.hair_region & ~bald, layout, look, rng, detail)
    img = canvas.astype(np.float32)
    img *= np.float32(1 / 255)
    if ears_over_hair:
        paint_ears(img, layout, look, detail)
    _light(img, layout, look, hair, rng, detail)
    canvas = cv2.convertScaleAbs(img, alpha=255.0)
    _add_props(canvas, layout, look, bald, rng, detail)
    return canvas


def _cast_head_shadow(img: np.ndarray, layout: HeadLayout, look: Look, rng: np.random.Generator) -> None:
    """The head's soft shadow on the backdrop (in place on the float32 canvas)."""
    h, w = layout.shape
    sil = np.zeros((h, w), np.uint8)
    layout.skull.fill(sil)
    for poly in layout.body or []:
        cv2.fillPoly(sil, [np.round(poly).astype(np.int32)], 1)
    small = cv2.resize(sil.astype(np.float32), (max(2, w // 4), max(2, h // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(1.0, 0.015 * layout.size))
    dx, dy = rng.uniform(-0.02, 0.02, 2) * layout.size
    shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    small = cv2.warpAffine(small, shift, (small.shape[1], small.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    sh = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    img *= (1.0 - look.head_shadow * 0.55 * sh)[..., None]


def _strand_clip(face_only: np.ndarray, bald: np.ndarray, layout: HeadLayout, look: Look,
                 rng: np.random.Generator, detail: float) -> np.ndarray:
    """Where strands may show (0..1): not on the face, only a short overhang into bald skin."""
    clip = 1.0 - cv2.GaussianBlur(face_only.astype(np.float32), (0, 0), max(0.7, 1.2 * detail))
    overhang = max(1.0, look.hair_length * layout.size * rng.uniform(0.1, 0.45))
    dist_in = cv2.distanceTransform(bald.astype(np.uint8), cv2.DIST_L2, 3)
    clip *= np.clip(1.0 - dist_in / overhang, 0.0, 1.0)
    return clip


def _light(img: np.ndarray, layout: HeadLayout, look: Look, hair: HairRender, rng: np.random.Generator,
           detail: float) -> None:
    """Light the float32 canvas in place: dome shading, contact shadow of the
    hair, stray shadows (one multiplier), then shine on bald skin and sheen on
    hair (one addend)."""
    h, w = layout.shape
    shade, spec = lighting(layout, look, rng)
    occl = cv2.GaussianBlur(hair.cover, (0, 0), max(1.0, 1.5 * detail))
    mult = shade * (1.0 - rng.uniform(0.15, 0.35) * occl * (1.0 - hair.cover))
    if rng.random() < 0.3:  # a stray soft shadow across part of the head (hand, camera, lamp)
        blob = np.clip(smooth_noise((h, w), 3, rng) - rng.uniform(0.3, 1.0), 0, 1)
        mult *= 1.0 - rng.uniform(0.2, 0.45) * np.clip(blob * 2, 0, 1)
    warm = look.light_warmth * 0.04
    img *= mult[..., None] * np.array([1 + warm, 1.0, 1 - warm], np.float32)
    skin_vis = np.clip(1.0 - hair.cover, 0, 1) * layout.skull_mask
    # skin shine, broken up a little by the skin's fine relief
    grain = cv2.resize(rng.random((max(2, h // 3), max(2, w // 3)), dtype=np.float32), (w, h))
    add = look.skin_shine * 0.6 * spec * skin_vis * (0.65 + 0.35 * grain)
    if look.skin_gloss > 0:  # broad soft highlight: the same lobe widened (spec ** 0.12), no draw
        add += look.skin_gloss * 0.6 * np.power(spec, 0.12) * skin_vis * (0.8 + 0.2 * grain)
    # sheen on hair: the light's anisotropic band across the flow, broken into
    # glints along it (strong on some heads: a hard negative on dark hair)
    sheen = (0.06 + 0.7 * look.sheen) * rng.uniform(0.7, 1.2) * (1.0 - 0.6 * float(np.mean(look.hair_rgb)))
    add += sheen * (0.7 * hair.band + 0.3 * np.sqrt(np.sqrt(spec))) * (0.4 * hair.cover + 0.6 * hair.gloss)
    img += add[..., None] * np.array([1.0, 0.97, 0.97], np.float32)


def _add_props(canvas: np.ndarray, layout: HeadLayout, look: Look, bald: np.ndarray, rng: np.random.Generator,
               detail: float) -> None:
    """Hair clips, now and then fingers holding the hair aside, and glasses (in place on the uint8 canvas)."""
    hair_only = layout.hair_region & ~bald
    draw_clips(canvas, layout, hair_only, look.clip_count if rng.random() < 0.8 else 0, rng, detail)
    if look.hands > 0 and rng.random() < look.hands:
        margin = cv2.dilate(layout.scalp.view(np.uint8), np.ones((3, 3), np.uint8),
                            iterations=max(1, int(0.04 * layout.size))) > 0
        draw_fingers(canvas, layout, hair_only & ~margin, look.glove_rgb, rng, detail)
    draw_glasses(canvas, layout, look, detail)
