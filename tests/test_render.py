"""Tests of the phantom appearance renderer (alonet.phantom.render)."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from alonet.errors import InvalidValueError
from alonet.phantom.render import CameraConfig, Look, RenderedView, render_view, sample_look

NO_JITTER = CameraConfig(geometric=False)
CLEAN = CameraConfig(geometric=False, photometric=False, jpeg=False)


def midline_masks(h: int = 200, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """A rounded-square scalp with one big round patch on its left half."""
    scalp = np.zeros((h, w), np.uint8)
    cv2.ellipse(scalp, (w // 2, int(h * 0.48)), (int(w * 0.36), int(h * 0.34)), 0, 0, 360, 1, -1)
    loss = np.zeros((h, w), np.uint8)
    cv2.circle(loss, (int(w * 0.38), int(h * 0.45)), int(w * 0.17), 1, -1)
    return scalp > 0, (loss > 0) & (scalp > 0)


def temporal_masks(h: int = 200, w: int = 160) -> tuple[np.ndarray, np.ndarray]:
    """An arch with the ear notch at its lower edge, and a patch at the top."""
    scalp = np.zeros((h, w), np.uint8)
    cv2.ellipse(scalp, (w // 2, int(h * 0.6)), (int(w * 0.4), int(h * 0.45)), 0, 180, 360, 1, -1)
    cv2.rectangle(scalp, (int(w * 0.1), int(h * 0.6)), (int(w * 0.9), int(h * 0.8)), 1, -1)
    cv2.ellipse(scalp, (w // 2, int(h * 0.8)), (int(w * 0.18), int(h * 0.18)), 0, 0, 360, 0, -1)
    loss = np.zeros((h, w), np.uint8)
    cv2.circle(loss, (w // 2, int(h * 0.32)), int(w * 0.14), 1, -1)
    return scalp > 0, (loss > 0) & (scalp > 0)


def dark_haired_look(seed: int = 0) -> Look:
    """A look with black hair on fair skin: bald skin is much brighter than hair."""
    look = sample_look(np.random.default_rng(seed))
    return dataclasses.replace(
        look, hair_name="black", hair_rgb=(0.06, 0.05, 0.05), grey_fraction=0.0, hair_density=1.0,
        fitzpatrick=2, skin_rgb=(0.92, 0.77, 0.65), scalp_rgb=(0.93, 0.76, 0.68), hair_length=0.08,
        clip_count=0, glasses=False, cropped=False,
    )


def luminance(img: np.ndarray) -> np.ndarray:
    return img.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def erode(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) > 0


def test_same_seed_same_photo_and_masks():
    scalp, loss = midline_masks()
    look = sample_look(np.random.default_rng(3))
    a = render_view(scalp, loss, "top", look, np.random.default_rng(7))
    b = render_view(scalp, loss, "top", look, np.random.default_rng(7))
    c = render_view(scalp, loss, "top", look, np.random.default_rng(8))
    assert np.array_equal(a.image, b.image)
    assert np.array_equal(a.scalp, b.scalp) and np.array_equal(a.hairloss, b.hairloss)
    assert not np.array_equal(a.image, c.image)


def test_sample_look_is_deterministic_and_in_range():
    looks = [sample_look(np.random.default_rng(s)) for s in range(40)]
    assert sample_look(np.random.default_rng(5)) == looks[5]
    for lk in looks:
        assert 1 <= lk.fitzpatrick <= 6
        assert 0.25 <= lk.hair_density <= 1.0
        assert 0 <= lk.clip_count <= 4
        assert all(0.0 <= c <= 1.0 for c in lk.skin_rgb + lk.hair_rgb + lk.scalp_rgb + lk.background_rgb)
        assert abs(np.linalg.norm(lk.light_dir) - 1.0) < 1e-6
    # the population varies: several skin types, hair colours and backdrops
    assert len({lk.fitzpatrick for lk in looks}) >= 4
    assert len({lk.hair_name for lk in looks}) >= 5
    assert len({lk.background for lk in looks}) >= 4


@pytest.mark.parametrize("view", ["top", "back", "left", "right"])
def test_every_view_renders_with_binary_masks(view):
    scalp, loss = temporal_masks() if view in ("left", "right") else midline_masks()
    look = sample_look(np.random.default_rng(1))
    r = render_view(scalp, loss, view, look, np.random.default_rng(2), out_size=160)
    assert isinstance(r, RenderedView)
    assert r.image.dtype == np.uint8 and r.image.shape == (160, 128, 3)
    assert r.scalp.dtype == bool and r.hairloss.dtype == bool
    assert r.scalp.shape == r.hairloss.shape == (160, 128)
    # jitter moves the region but keeps its size within the zoom range
    ratio = r.scalp.sum() / (scalp.sum() * (160 / 200) ** 2)
    assert 0.6 < ratio < 1.35
    assert r.image.std() > 10  # a picture, not a flat fill


def test_masks_unchanged_without_geometric_jitter():
    scalp, loss = midline_masks()
    look = sample_look(np.random.default_rng(4))
    r = render_view(scalp, loss, "back", look, np.random.default_rng(0), camera=NO_JITTER)
    assert r.image.shape == (200, 160, 3)
    assert np.array_equal(r.scalp, scalp) and np.array_equal(r.hairloss, loss)


def test_out_size_sets_long_side_and_keeps_aspect():
    scalp, loss = midline_masks(200, 160)
    look = sample_look(np.random.default_rng(4))
    for size in (100, 320):
        r = render_view(scalp, loss, "top", look, np.random.default_rng(0), out_size=size, camera=NO_JITTER)
        assert r.image.shape == (size, int(round(size * 0.8)), 3)
        expect = cv2.resize(scalp.astype(np.float32), (int(round(size * 0.8)), size),
                            interpolation=cv2.INTER_AREA if size < 200 else cv2.INTER_NEAREST) >= 0.5
        assert np.mean(r.scalp != expect) < 0.002


def test_large_output_is_upscaled_from_a_capped_render():
    scalp, loss = midline_masks(120, 96)
    look = sample_look(np.random.default_rng(9))
    r = render_view(scalp, loss, "top", look, np.random.default_rng(0), out_size=1500)
    assert r.image.shape == (1500, 1200, 3)
    assert r.scalp.shape == (1500, 1200)
    assert 0.75 < r.scalp.mean() / scalp.mean() < 1.35


@pytest.mark.parametrize("camera", [CLEAN, CameraConfig()], ids=["clean", "full-camera"])
def test_bald_patch_is_where_the_mask_says(camera):
    """Bald skin is bright, black hair is dark: the returned loss mask must sit
    on the bright patch even after the camera's warp and blur."""
    scalp, loss = midline_masks()
    look = dark_haired_look()
    for seed in range(3):
        r = render_view(scalp, loss, "top", look, np.random.default_rng(seed), camera=camera)
        lum = luminance(r.image)
        patch = erode(r.hairloss, 4)
        near_patch = cv2.dilate(r.hairloss.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        hair = erode(r.scalp & ~r.hairloss, 4) & ~near_patch
        assert patch.sum() > 300 and hair.sum() > 1000
        assert np.median(lum[patch]) > np.median(lum[hair]) + 60


def test_right_view_is_the_mirrored_left_render():
    scalp, loss = temporal_masks()
    look = sample_look(np.random.default_rng(11))
    left = render_view(scalp, loss, "left", look, np.random.default_rng(5), out_size=120)
    right = render_view(scalp, loss, "right", look, np.random.default_rng(5), out_size=120)
    assert np.array_equal(right.image, left.image[:, ::-1])
    assert np.array_equal(right.scalp, left.scalp[:, ::-1])
    assert np.array_equal(right.hairloss, left.hairloss[:, ::-1])


def test_head_reaches_beyond_the_scalp_region():
    """Hair and head must extend beyond the annotated scalp on the sides and
    above (the boundary is learnt from hairline cues, not the head outline)."""
    scalp, loss = midline_masks()
    look = dataclasses.replace(dark_haired_look(), background="grey", background_rgb=(0.6, 0.6, 0.6),
                               background_rgb2=(0.6, 0.6, 0.6), hair_volume=0.15)
    r = render_view(scalp, np.zeros_like(loss), "back", look, np.random.default_rng(0), camera=CLEAN)
    lum = luminance(r.image)
    ring = cv2.dilate(scalp.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool) & ~scalp
    upper_ring = ring.copy()
    upper_ring[int(scalp.shape[0] * 0.5):] = False
    # just outside the scalp's upper edge is still dark hair, not grey backdrop
    assert np.median(lum[upper_ring]) < 60


def test_thinning_lets_the_scalp_show_but_is_not_loss():
    scalp, _ = midline_masks()
    none = np.zeros_like(scalp)
    thin = np.zeros(scalp.shape, np.float32)
    thin[:, : scalp.shape[1] // 2] = 1.0
    look = dark_haired_look(2)
    r = render_view(scalp, none, "top", look, np.random.default_rng(0), thinning=thin, camera=CLEAN)
    assert not r.hairloss.any()
    lum = luminance(r.image)
    core = erode(scalp, 10)
    left, right = core.copy(), core.copy()
    left[:, scalp.shape[1] // 2 - 4:] = False
    right[:, : scalp.shape[1] // 2 + 4] = False
    assert lum[left].mean() > lum[right].mean() + 15


def test_bad_masks_raise_clear_errors():
    scalp, loss = midline_masks()
    look = sample_look(np.random.default_rng(0))
    with pytest.raises(InvalidValueError, match="differ in size"):
        render_view(scalp, loss[:-1], "top", look, np.random.default_rng(0))
    with pytest.raises(InvalidValueError, match="2-D"):
        render_view(np.zeros(5, bool), np.zeros(5, bool), "top", look, np.random.default_rng(0))
    with pytest.raises(InvalidValueError):
        render_view(scalp, loss, "front", look, np.random.default_rng(0))


def test_empty_scalp_still_renders_a_head():
    z = np.zeros((100, 80), bool)
    r = render_view(z, z, "left", sample_look(np.random.default_rng(1)), np.random.default_rng(1), camera=NO_JITTER)
    assert r.image.shape == (100, 80, 3) and not r.scalp.any() and not r.hairloss.any()


def test_props_do_not_change_the_ground_truth():
    """Clips, fingers and glasses are drawn over the photo; the masks stay the
    input masks (they mark skin, not what lies on it)."""
    scalp, loss = temporal_masks()
    look = dataclasses.replace(sample_look(np.random.default_rng(6)), clip_count=4, hands=1.0, glasses=True)
    plain = dataclasses.replace(look, clip_count=0, hands=0.0, glasses=False)
    a = render_view(scalp, loss, "left", look, np.random.default_rng(3), camera=CLEAN)
    b = render_view(scalp, loss, "left", plain, np.random.default_rng(3), camera=CLEAN)
    assert np.array_equal(a.scalp, scalp) and np.array_equal(a.hairloss, loss)
    changed = np.any(a.image != b.image, axis=-1)
    assert changed.mean() > 0.01  # the props are visible


def test_time_views_reports_one_positive_figure_per_view():
    from alonet.phantom.render.timing import time_views

    scalp, loss = midline_masks(80, 64)
    times = time_views([(scalp, loss, "top", None), (scalp, loss, "back", None)], out_size=64, warmup=1)
    assert len(times) == 2 and all(t > 0 for t in times)


def test_visit_look_keeps_the_patient_and_changes_the_day():
    from alonet.phantom.render import visit_look

    base = sample_look(np.random.default_rng(12))
    later = visit_look(base, np.random.default_rng(1))
    assert visit_look(base, np.random.default_rng(1)) == later
    for name in ("fitzpatrick", "skin_rgb", "scalp_rgb", "hair_rgb", "hair_style", "background", "background_rgb"):
        assert getattr(later, name) == getattr(base, name)
    assert later.clothing_rgb != base.clothing_rgb
    assert abs(np.linalg.norm(later.light_dir) - 1.0) < 1e-6
