"""Property tests of the pure mask functions: the resizers (``area_resize_mask``,
``smooth_resize_mask``, ``maskshape.reduce_mask``), the view-shape rule (``analyse_shape``),
the label-map test of annotations (``label_map_levels``), the post-processing steps and the
overlap metrics (IoU, Dice, micro/macro summaries).

Each test states a rule the function's documentation gives or geometry implies and lets
hypothesis look for masks that break it; none recomputes the function it tests. Deterministic in
CI (the ``alonet-ci`` profile of ``tests/conftest.py``).
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alonet.data.annotation import label_map_levels
from alonet.data.maskshape import analyse_shape, reduce_mask
from alonet.data.resize import area_resize_mask
from alonet.infer.postprocess import (
    PostprocessConfig,
    confidence,
    fill_holes,
    largest_component,
    postprocess,
    remove_specks,
    smooth_edges,
    speck_area,
)
from alonet.infer.viewmaps import resize_prob, smooth_resize_mask
from alonet.scoring.metrics import OverlapCounts, dice, iou, macro_iou, micro_dice, micro_iou, summarize

#: See tests/test_properties_salt.py.
FAST = settings(max_examples=60, deadline=None)
SLOW = settings(max_examples=30, deadline=None)

side = st.integers(1, 24)
shapes = st.tuples(side, side)
sizes = st.tuples(side, side)  # (width, height), as the resizers take them
masks = shapes.flatmap(lambda shape: hnp.arrays(bool, shape))


@st.composite
def rectangles(draw, max_side=64):
    """A bool mask holding one axis-aligned rectangle (possibly empty)."""
    height, width = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    top, bottom = sorted(draw(st.integers(0, height)) for _ in range(2))
    left, right = sorted(draw(st.integers(0, width)) for _ in range(2))
    mask = np.zeros((height, width), bool)
    mask[top:bottom, left:right] = True
    return mask


def _centre_on_an_edge(source: int, target: int) -> bool:
    """True when, along one axis, a box resize must pick a side: shrinking, some source pixel
    centre lies exactly on the border of two output pixels; enlarging, some output pixel centre
    on the border of two source pixels."""
    if target < source:
        return any((2 * i + 1) * target % (2 * source) == 0 for i in range(source))
    return any((2 * j + 1) * source % (2 * target) == 0 for j in range(target))


# --------------------------------------------------------------------------- resizers

RESIZERS = (area_resize_mask, smooth_resize_mask)


@FAST
@given(shapes, sizes, st.booleans(), st.sampled_from([bool, np.uint8]))
def test_resizing_an_empty_or_full_mask_keeps_it_empty_or_full(shape, size, full, dtype):
    mask = np.full(shape, full).astype(dtype) * (255 if dtype is np.uint8 else 1)
    for resize in RESIZERS:
        out = resize(mask, size)
        assert out.dtype == bool and out.shape == (size[1], size[0])
        assert (out == full).all(), resize.__name__
    assert (reduce_mask(np.full(shape, full), max(1, max(shape) // 3)) == full).all()


@FAST
@given(masks)
def test_resizing_to_the_same_size_gives_an_equal_copy(mask):
    for resize in RESIZERS:
        out = resize(mask, (mask.shape[1], mask.shape[0]))
        assert out is not mask and np.array_equal(out, mask)


@FAST
@given(masks, st.integers(1, 4), st.integers(1, 4))
def test_area_resize_enlarging_by_whole_factors_and_back_gives_the_mask(mask, fx, fy):
    height, width = mask.shape
    big = area_resize_mask(mask, (width * fx, height * fy))
    assert big.sum() == mask.sum() * fx * fy  # each pixel becomes an fx x fy block
    assert np.array_equal(area_resize_mask(big, (width, height)), mask)


@FAST
@given(masks, sizes)
@example(np.array([[True, False, False, False, False]]), (2, 1))  # 5 -> 2: the middle pixel's centre is the border
def test_area_resize_commutes_with_mirroring_unless_a_pixel_centre_is_on_an_edge(mask, size):
    width, height = size
    h, w = mask.shape
    assert _centre_on_an_edge(5, 2) and not _centre_on_an_edge(4, 2)
    flip_x = not _centre_on_an_edge(w, width)
    flip_y = not _centre_on_an_edge(h, height)
    if flip_x:
        np.testing.assert_array_equal(area_resize_mask(mask[:, ::-1], size), area_resize_mask(mask, size)[:, ::-1])
    if flip_y:
        np.testing.assert_array_equal(area_resize_mask(mask[::-1], size), area_resize_mask(mask, size)[::-1])


def test_area_resize_counts_a_pixel_cut_by_an_output_border_for_one_side_only():
    # the rule its docstring gives (it once promised "at least half of the source area", which
    # would make this [[False, False, False]]: the inside pixel is 40 % of the first output pixel)
    np.testing.assert_array_equal(area_resize_mask(np.array([[0, 1, 0, 0, 0]], bool), (3, 1)), [[True, False, False]])


@FAST
@given(rectangles(), sizes)
def test_area_resize_keeps_a_rectangles_share_of_the_picture(mask, size):
    # Per axis, an interval of n source pixels becomes m output pixels with |m - n * out / in| <= 2
    # (half an output pixel's source at each end, plus the source pixels' own rounding); a
    # rectangle's count differs from the product of its sides only in its <= 2 edge rows and
    # columns. So |count - area * w * h / (W * H)| <= 4 (w + h) + 4.
    width, height = size
    out = area_resize_mask(mask, size)
    expected = mask.sum() * width * height / mask.size
    assert abs(int(out.sum()) - expected) <= 4 * (width + height) + 4


@FAST
@given(masks, sizes)
def test_smooth_resize_commutes_with_mirroring_except_at_exact_ties(mask, size):
    # bilinear interpolation is symmetric; only where the interpolated value is 0.5 up to float
    # noise may the >= 0.5 rule go either way
    values = resize_prob(mask.astype(np.float32), size)
    settled = np.abs(values - 0.5) > 1e-5
    mirrored = smooth_resize_mask(mask[:, ::-1], size)[:, ::-1]
    straight = smooth_resize_mask(mask, size)
    assert np.array_equal(mirrored[settled], straight[settled])


@SLOW
@given(shapes.flatmap(lambda s: hnp.arrays(bool, (s[0] * 11, s[1] * 11))), st.integers(4, 40))
def test_reduce_mask_gives_the_long_side_asked_for(mask, long_side):
    out = reduce_mask(mask, long_side)
    if max(mask.shape) <= long_side:
        assert out.shape == mask.shape and np.array_equal(out, mask)
    else:
        assert max(out.shape) == long_side and out.dtype == bool


# --------------------------------------------------------------------------- view shape


@st.composite
def arches(draw):
    """A side view's scalp as an arch (a block with a notch cut from below for the ear), its two
    legs of clearly different length; returns (mask, side of the shorter leg)."""
    height = draw(st.integers(80, 200))
    width = draw(st.integers(100, 240))
    mask = np.zeros((height + 40, width + 40), bool)
    mask[20:20 + height, 20:20 + width] = True
    notch_left = 20 + draw(st.integers(width // 4, width // 2 - 10))
    notch_right = notch_left + draw(st.integers(width // 5, width // 3))
    depth = draw(st.integers(int(0.3 * height), int(0.5 * height)))
    mask[20 + height - depth:20 + height, notch_left:notch_right] = False
    lift = draw(st.integers(int(0.15 * height), int(0.25 * depth) + int(0.15 * height)))
    short = draw(st.sampled_from(["left", "right"]))
    legs = slice(20 + height - lift, 20 + height)
    if short == "left":
        mask[legs, 20:notch_left] = False
    else:
        mask[legs, notch_right:20 + width] = False
    return mask, short


@settings(max_examples=25, deadline=None)
@given(arches())
def test_an_arch_is_temporal_facing_its_shorter_leg_and_its_mirror_faces_the_other_way(arch):
    mask, short = arch
    info = analyse_shape(mask)
    assert info.kind == "temporal" and info.facing == short
    mirrored = analyse_shape(mask[:, ::-1])
    assert mirrored.kind == "temporal" and mirrored.facing == {"left": "right", "right": "left"}[short]


@settings(max_examples=25, deadline=None)
@given(st.integers(20, 200), st.integers(20, 200))
def test_a_plain_block_is_midline(height, width):
    mask = np.zeros((height + 10, width + 10), bool)
    mask[5:5 + height, 5:5 + width] = True
    info = analyse_shape(mask)
    assert info.kind == "midline" and info.facing is None and not info.mirrored


# --------------------------------------------------------------------------- label maps


@st.composite
def region_maps(draw):
    """A label map: background 0 and up to three labelled rectangles, large enough to be regions."""
    height, width = draw(st.integers(40, 80)), draw(st.integers(40, 80))
    labels = np.zeros((height, width), np.uint8)
    for label in range(1, draw(st.integers(2, 3)) + 1):
        top, left = draw(st.integers(0, height - 20)), draw(st.integers(0, width - 20))
        labels[top:top + draw(st.integers(12, 20)), left:left + draw(st.integers(12, 20))] = label
    return labels


@FAST
@given(shapes.flatmap(lambda s: hnp.arrays(np.uint16, s, elements=st.sampled_from([0, 1, 255, 40000]))),
       st.integers(0, 3))
def test_a_mask_of_two_values_is_never_a_label_map(values, pick):
    levels = np.unique(values)
    assume(len(levels) <= 2)
    assert label_map_levels(values, 128) is None
    assert label_map_levels(values.astype(np.int64) * (pick + 1), 32768) is None


@FAST
@given(region_maps(), st.sampled_from([1, 60, 85, 1000, 2**20, 2**28]))
def test_a_label_maps_levels_scale_with_its_values(labels, factor):
    levels = label_map_levels(labels, 128)
    assume(levels is not None)
    scaled = labels.astype(np.int64) * factor
    assert label_map_levels(scaled, 128 * factor) == [v * factor for v in levels]


@FAST
@given(shapes.flatmap(lambda s: hnp.arrays(st.sampled_from([np.uint8, np.int16, np.int32, np.int64]), s)))
def test_label_map_levels_are_none_or_the_masks_distinct_values(values):
    levels = label_map_levels(values, 128)
    assert levels is None or levels == sorted(int(v) for v in np.unique(values))


@FAST
@given(st.lists(st.integers(0, 2**31 - 1), min_size=3, max_size=64))
@example([0, 2**31 - 1, 5])
def test_label_map_levels_needs_memory_for_the_mask_not_for_its_largest_value(values):
    # a 32-bit TIFF mask of 0 and 2**31 - 1 once made a table of 2**31 counts (16 GB, 7 s)
    mask = np.asarray(values, np.int32).reshape(1, -1)
    tracemalloc.start()
    try:
        label_map_levels(mask, 32768)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


# --------------------------------------------------------------------------- post-processing


@FAST
@given(masks)
def test_largest_component_is_one_connected_part_of_the_mask(mask):
    kept = largest_component(mask)
    assert not (kept & ~mask).any()
    assert kept.any() == mask.any()
    assert np.array_equal(largest_component(kept), kept)


@FAST
@given(masks)
def test_fill_holes_only_adds_and_leaves_nothing_to_fill(mask):
    filled = fill_holes(mask)
    assert not (mask & ~filled).any()
    assert np.array_equal(fill_holes(filled), filled)
    # what it added touches no image border
    added = filled & ~mask
    assert not (added[0].any() or added[-1].any() or added[:, 0].any() or added[:, -1].any())


@FAST
@given(masks, st.integers(0, 10))
def test_remove_specks_only_removes_and_is_idempotent(mask, min_area):
    kept = remove_specks(mask, min_area)
    assert not (kept & ~mask).any()
    assert np.array_equal(remove_specks(kept, min_area), kept)
    if min_area <= 1:
        assert np.array_equal(kept, mask)


@FAST
@given(shapes, st.booleans(), st.floats(0.0, 5.0))
def test_smoothing_a_full_or_empty_mask_changes_nothing(shape, full, sigma):
    mask = np.full(shape, full)
    assert np.array_equal(smooth_edges(mask, sigma), mask)


@SLOW
@given(shapes.flatmap(lambda s: st.tuples(hnp.arrays(np.float32, s, elements=st.floats(0, 1, width=32)),
                                          hnp.arrays(np.float32, s, elements=st.floats(0, 1, width=32)))),
       st.booleans())
def test_postprocess_gives_one_scalp_region_with_the_hair_loss_inside_it(maps, smooth):
    scalp_prob, loss_prob = maps
    config = PostprocessConfig(smooth_edges=smooth)
    scalp, loss = postprocess(scalp_prob, loss_prob, config)
    assert scalp.dtype == bool and loss.dtype == bool
    assert not (loss & ~scalp).any()
    assert np.array_equal(largest_component(scalp), scalp)  # one region (or none)
    assert np.array_equal(remove_specks(loss, speck_area(int(scalp.sum()), config)), loss)
    assert 0.0 <= confidence(scalp_prob, loss_prob, scalp, config) <= 1.0


# --------------------------------------------------------------------------- overlap metrics


@st.composite
def mask_pairs(draw):
    shape = draw(shapes)
    return draw(hnp.arrays(bool, shape)), draw(hnp.arrays(bool, shape))


@FAST
@given(mask_pairs())
def test_iou_and_dice_are_symmetric_bounded_and_1_on_identical_masks(pair):
    pred, true = pair
    value = iou(pred, true)
    assert 0.0 <= value <= 1.0 and value == iou(true, pred)
    assert dice(pred, true) == dice(true, pred)
    assert math.isclose(dice(pred, true), 2 * value / (1 + value), abs_tol=1e-12)
    assert iou(pred, pred) == dice(pred, pred) == 1.0
    assert iou(pred, ~pred) == 0.0
    assert (value == 1.0) == np.array_equal(pred, true)


@FAST
@given(st.lists(mask_pairs(), min_size=1, max_size=6))
def test_micro_scores_are_the_scores_of_all_masks_side_by_side(pairs):
    # micro = one big comparison: the masks laid out in one picture give the same counts
    pred = np.concatenate([p.ravel() for p, _ in pairs])
    true = np.concatenate([t.ravel() for _, t in pairs])
    assert sum((OverlapCounts.of(p, t) for p, t in pairs), OverlapCounts()) == OverlapCounts.of(pred, true)
    assert micro_iou(pairs) == iou(pred, true)
    assert micro_dice(pairs) == dice(pred, true)


@SLOW
@given(st.lists(mask_pairs(), min_size=1, max_size=6))
def test_summary_counts_empty_pairs_and_its_means_stay_in_0_to_1(pairs):
    summary = summarize(pairs)
    empty = sum(1 for p, t in pairs if not p.any() and not t.any())
    assert summary.count == len(pairs) and summary.both_empty == empty
    assert summary.iou_macro == macro_iou(pairs) and summary.iou_micro == micro_iou(pairs)
    for value in (summary.iou_micro, summary.iou_macro, summary.dice_micro, summary.dice_macro,
                  summary.pixel_accuracy):
        assert 0.0 <= value <= 1.0
    if empty == len(pairs):
        assert math.isnan(summary.iou_macro_nonempty)
    else:
        # leaving out pairs that score 1 can only lower the mean
        assert summary.iou_macro_nonempty <= summary.iou_macro + 1e-12
