"""Post-processing and quality checks on hand-made masks and synthetic photographs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from alonet.errors import InvalidValueError
from alonet.infer.postprocess import (
    PostprocessConfig,
    clean_hairloss,
    clean_scalp,
    confidence,
    fill_holes,
    largest_component,
    postprocess,
    remove_specks,
    smooth_edges,
    speck_area,
)
from alonet.infer.quality import (
    DARK_SKIN_CODE,
    QualityConfig,
    check_bald_skin,
    check_photo,
    check_scalp,
    exposure_stats,
    lightness,
    marked_lightness,
    needs_retake,
    sharpness,
)

# --------------------------------------------------------------------------- masks


def test_largest_component_keeps_the_biggest_region_exactly():
    mask = np.zeros((20, 30), bool)
    mask[2:8, 2:10] = True  # 48 pixels
    mask[10:19, 12:28] = True  # 144 pixels
    mask[0, 29] = True  # 1 pixel
    kept = largest_component(mask)
    assert kept.sum() == 144
    assert kept[10:19, 12:28].all() and not kept[2:8, 2:10].any()
    # diagonal neighbours are connected (8-connectivity)
    diagonal = np.eye(5, dtype=bool)
    assert largest_component(diagonal).sum() == 5
    assert largest_component(np.zeros((4, 4), bool)).sum() == 0


def test_fill_holes_fills_enclosed_background_only():
    mask = np.zeros((12, 12), bool)
    mask[1:11, 1:11] = True
    mask[4:7, 4:8] = False  # a 12-pixel hole
    mask[0:3, 5] = False  # a notch open to the border: not a hole
    filled = fill_holes(mask)
    assert filled.sum() == mask.sum() + 12
    assert filled[4:7, 4:8].all()
    assert not filled[1:3, 5].any()
    # a ring touching the border on one side still encloses its inside
    ring = np.zeros((9, 9), bool)
    ring[0:7, 0:7] = True
    ring[2:5, 2:5] = False
    assert fill_holes(ring).sum() == 49


def test_remove_specks_with_exact_counts():
    mask = np.zeros((30, 30), bool)
    mask[0:10, 0:10] = True  # 100
    mask[20:23, 20:23] = True  # 9
    mask[15, 15] = mask[15, 17] = True  # two single pixels
    out = remove_specks(mask, 9)
    assert out.sum() == 109
    assert remove_specks(mask, 10).sum() == 100
    assert remove_specks(mask, 101).sum() == 0
    assert remove_specks(mask, 1).sum() == 111


def test_speck_area_is_a_fraction_of_the_scalp():
    cfg = PostprocessConfig(min_speck_fraction=0.01, min_speck_pixels=3)
    assert speck_area(10_000, cfg) == 100
    assert speck_area(50, cfg) == 3  # floor


def test_smooth_edges_removes_spurs_and_keeps_straight_edges():
    mask = np.zeros((100, 100), bool)
    mask[20:80, 20:80] = True
    spurred = mask.copy()
    spurred[48:50, 80:95] = True  # a 2-pixel-thin spur
    spurred[30, 20] = False  # a one-pixel notch
    smooth = smooth_edges(spurred, 3.0)
    assert not smooth[48:50, 85:95].any()
    assert smooth[30, 20]
    # the square's straight edges stay put (only its corners round off)
    assert smooth[65, 20:80].all() and not smooth[65, 19] and not smooth[65, 80]
    assert smooth[20:80, 50].all()
    np.testing.assert_array_equal(smooth_edges(mask, 0), mask)


def test_clean_scalp_and_hairloss_pipeline_of_steps():
    scalp_prob = np.zeros((60, 60), np.float32)
    scalp_prob[10:50, 10:50] = 0.9
    scalp_prob[25:30, 25:30] = 0.2  # hole in the scalp (a bald patch fooled it)
    scalp_prob[0:4, 55:60] = 0.8  # a stray blob far away
    hair_prob = np.zeros((60, 60), np.float32)
    hair_prob[10:30, 10:30] = 0.7  # 400 pixels of hair loss
    hair_prob[45, 45] = 0.9  # a one-pixel speck inside the scalp
    hair_prob[0:10, 0:10] = 0.9  # outside the scalp
    cfg = PostprocessConfig(smooth_edges=False, min_speck_fraction=0.005)  # 1600 * 0.005 = 8 px
    scalp, hair = postprocess(scalp_prob, hair_prob, cfg)
    assert scalp.sum() == 1600
    assert not scalp[0:4, 55:60].any()
    assert hair.sum() == 400 and not hair[45, 45] and not hair[0:10, 0:10].any()
    # every step can be switched off
    raw = PostprocessConfig(largest_component=False, fill_holes=False, smooth_edges=False,
                            restrict_to_scalp=False, remove_specks=False)
    scalp_raw, hair_raw = postprocess(scalp_prob, hair_prob, raw)
    assert scalp_raw.sum() == 1600 - 25 + 20
    assert hair_raw.sum() == (hair_prob >= 0.5).sum()
    # thresholds are configurable
    assert clean_scalp(scalp_prob, PostprocessConfig(scalp_threshold=0.95)).sum() == 0
    assert clean_hairloss(hair_prob, scalp, PostprocessConfig(hairloss_threshold=0.8,
                                                              remove_specks=False)).sum() == 1


def test_confidence_counts_scalp_pixels_far_from_the_threshold():
    scalp = np.zeros((10, 10), bool)
    scalp[:, :5] = True  # 50 pixels
    scalp_prob = np.where(scalp, 0.95, 0.05).astype(np.float32)
    hair_prob = np.full((10, 10), 0.1, np.float32)
    hair_prob[:2, :5] = 0.6  # 10 undecided pixels
    hair_prob[:, 9] = 0.5  # outside the scalp: ignored
    assert confidence(scalp_prob, hair_prob, scalp) == pytest.approx(40 / 50)
    scalp_prob[9, 0] = 0.7  # undecided scalp pixel
    assert confidence(scalp_prob, hair_prob, scalp) == pytest.approx(39 / 50)
    assert confidence(scalp_prob, hair_prob, np.zeros_like(scalp)) == 0.0


def test_config_validation():
    with pytest.raises(InvalidValueError):
        PostprocessConfig(scalp_threshold=1.0)
    with pytest.raises(InvalidValueError):
        PostprocessConfig(confidence_margin=0.6)
    with pytest.raises(InvalidValueError):
        QualityConfig(min_scalp_fraction=2)


# --------------------------------------------------------------------------- quality


def textured(seed: int = 0, height: int = 480, width: int = 640, level: float = 128, spread: float = 60):
    """A sharp synthetic photograph: random blocks and fine noise around ``level``."""
    rng = np.random.default_rng(seed)
    blocks = rng.normal(0, 1, (height // 16, width // 16, 3))
    base = cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST)
    noise = rng.normal(0, 0.5, (height, width, 3))
    return np.clip(level + spread * (base + noise), 0, 255).astype(np.uint8)


def codes(flags):
    return [f["code"] for f in flags]


def test_a_good_photograph_passes():
    image = textured()
    assert check_photo(image) == []
    assert not needs_retake(check_photo(image))


def test_dark_photograph_is_flagged():
    image = (textured().astype(np.float32) * 0.15).astype(np.uint8)
    assert exposure_stats(image)["p95"] < 60
    flags = check_photo(image)
    assert codes(flags) == ["too_dark"] and needs_retake(flags)


def test_bright_photographs_are_flagged():
    washed = np.clip(textured(level=235, spread=12), 0, 255).astype(np.uint8)
    assert codes(check_photo(washed)) == ["too_bright"]
    # a normal picture whose scalp region is blown out white
    image = textured()
    scalp = np.zeros(image.shape[:2], bool)
    scalp[100:300, 200:500] = True
    image[scalp] = 255
    assert codes(check_photo(image, scalp)) == ["too_bright"]
    assert "too_bright" not in codes(check_photo(image, None))  # only 20% of the whole picture


def test_blurred_photograph_is_flagged_at_any_resolution():
    sharp_small, sharp_big = textured(1, 300, 400), textured(1, 1500, 2000)
    assert check_photo(sharp_small) == [] and check_photo(sharp_big) == []
    for image in (sharp_small, sharp_big):
        # the same blur relative to the picture size (1.25 %: photographs below the analysis
        # size are measured as they are, not enlarged, so the small one needs sigma 5 px)
        sigma = image.shape[1] / 80
        blurred = cv2.GaussianBlur(image, (0, 0), sigma)
        assert sharpness(blurred) < QualityConfig().min_sharpness < sharpness(image)
        assert codes(check_photo(blurred)) == ["blurred"]


def test_scalp_checks():
    empty = np.zeros((100, 100), bool)
    assert codes(check_scalp(empty)) == ["scalp_not_found"]
    tiny = empty.copy()
    tiny[:5, :5] = True  # 0.25 %
    assert codes(check_scalp(tiny)) == ["scalp_too_small"]
    fine = empty.copy()
    fine[:40, :40] = True
    assert check_scalp(fine) == []
    assert needs_retake(check_scalp(tiny))


def test_lightness_is_cie_lstar():
    pixels = np.array([[0, 0, 0], [255, 255, 255], [119, 119, 119], [255, 0, 0]], dtype=np.uint8)
    # black 0, white 100, sRGB grey 119 is L* 50, pure red L* 53.2 (CIE, D65)
    assert lightness(pixels) == pytest.approx([0.0, 100.0, 50.0, 53.24], abs=0.1)


def test_marked_lightness_reads_a_small_mask_against_the_shrunk_photograph():
    photo = np.full((400, 400, 3), 20, np.uint8)   # dark hair ...
    photo[:, :200] = 119                            # ... beside skin of L* 50
    small = np.zeros((100, 100), bool)
    small[:, :40] = True                            # the network-size mask marks only skin
    assert marked_lightness(photo, small) == pytest.approx(50.0, abs=0.1)
    assert marked_lightness(photo, np.zeros((100, 100), bool)) is None


def dark_patch(skin: int, marked_rows: int):
    """A 200x200 photograph, scalp = the whole picture, a hair-loss mask of ``marked_rows``
    rows of grey ``skin`` (the rest dark hair)."""
    photo = np.full((200, 200, 3), 30, np.uint8)
    photo[:marked_rows] = skin
    scalp = np.ones((200, 200), bool)
    loss = np.zeros((200, 200), bool)
    loss[:marked_rows] = True
    return photo, scalp, loss


def test_dark_bald_skin_is_flagged_and_light_skin_is_not():
    flags = check_bald_skin(*dark_patch(skin=90, marked_rows=100))       # L* 37.6
    assert codes(flags) == [DARK_SKIN_CODE] and not needs_retake(flags)
    assert "lightness 38 < 50" in flags[0]["message"]
    assert check_bald_skin(*dark_patch(skin=160, marked_rows=100)) == []   # L* 66.2
    # a speck of loss (4 % of the scalp < 5 %) says nothing about the skin
    assert check_bald_skin(*dark_patch(skin=90, marked_rows=8)) == []
    assert codes(check_bald_skin(*dark_patch(skin=90, marked_rows=10))) == [DARK_SKIN_CODE]  # 5 %
    # the threshold is a setting
    assert check_bald_skin(*dark_patch(skin=90, marked_rows=100), QualityConfig(dark_skin_lstar=35)) == []
    with pytest.raises(InvalidValueError, match="min_marked_share"):
        QualityConfig(min_marked_share=0)
