"""Masks from other tools (a researcher's audit, 2026-12-07).

A label map as nnU-Net writes it (0 background, 1 scalp, 2 hair loss) was read as an empty
hair-loss mask without a word (every level under 128), and an 8-bit probability PNG passed to
the scoring functions counted every pixel above 0 as inside (76.8 % loss instead of 11.7 %).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from alonet.data.annotation import read_annotation
from alonet.errors import InvalidValueError, UnsupportedImageModeError
from alonet.scoring.metrics import iou
from alonet.scoring.salt import view_loss_percent


def disc(size=96, radius=30, centre=(48, 48)):
    yy, xx = np.mgrid[:size, :size]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def save(tmp_path, name, array):
    path = tmp_path / name
    Image.fromarray(array).save(path)
    return path


@pytest.fixture()
def labels():
    """0 background, 1 scalp with hair, 2 hair loss (a patch inside the scalp)."""
    label = disc().astype(np.uint8)
    label[disc(radius=12, centre=(40, 40))] = 2
    return label


def test_label_maps_are_refused_naming_their_levels(tmp_path, labels):
    with pytest.raises(UnsupportedImageModeError, match=r"holds 3 levels \(0, 1, 2\), like a label map.*"
                                                        r"hair loss = label == 2"):
        read_annotation(save(tmp_path, "labels.png", labels))
    with pytest.raises(UnsupportedImageModeError, match=r"\(0, 50, 100\)"):  # every level under half the range
        read_annotation(save(tmp_path, "grey.png", (labels * 50).astype(np.uint8)))
    with pytest.raises(UnsupportedImageModeError, match=r"\(0, 128, 255\)"):  # scalp 128, loss 255
        read_annotation(save(tmp_path, "mid.png", np.choose(labels, [0, 128, 255]).astype(np.uint8)))


def test_anti_aliased_masks_are_still_read_by_the_half_range_rule(tmp_path):
    sharp = disc() * np.uint8(255)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(1.5)))
    assert len(np.unique(blurred)) > 8
    np.testing.assert_array_equal(read_annotation(save(tmp_path, "blur.png", blurred)), blurred >= 128)
    # a one-pixel edge band of a single grey level: few levels, but a thin band, not a region
    ring = sharp.copy()
    ring[disc(radius=31) & ~disc(radius=30)] = 128
    np.testing.assert_array_equal(read_annotation(save(tmp_path, "ring.png", ring)), ring >= 128)
    # patchy hair loss shrunk 2x by area averaging: 5 levels, edges of 25 patches hold 14 % of the marked
    # pixels, yet none of them is a region (a review of 2026-12-07: this was refused as a label map)
    import cv2

    patches = np.zeros((400, 400), np.uint8)
    for cy in range(40, 400, 80):
        for cx in range(40, 400, 80):
            patches[disc(400, 18, (cy, cx))] = 255
    small = cv2.resize(patches, (200, 200), interpolation=cv2.INTER_AREA)
    assert 3 <= len(np.unique(small)) <= 8
    np.testing.assert_array_equal(read_annotation(save(tmp_path, "patches.png", small)), small >= 128)
    for mode in ("LA", "RGBA"):  # the same mask with an (opaque) alpha channel reads the same
        path = tmp_path / f"patches-{mode}.png"
        Image.fromarray(small).convert(mode).save(path)
        np.testing.assert_array_equal(read_annotation(path), small >= 128)
    two = disc() * np.uint8(1)  # 0/1 stays every non-zero pixel inside
    np.testing.assert_array_equal(read_annotation(save(tmp_path, "01.png", two)), disc())


def test_scoring_refuses_probability_and_label_maps(labels):
    scalp = disc() * np.uint8(255)
    loss = disc(radius=12, centre=(40, 40)) * np.uint8(255)
    expected = 100.0 * loss.astype(bool).sum() / scalp.astype(bool).sum()
    assert view_loss_percent(loss, scalp) == pytest.approx(expected)
    assert view_loss_percent(loss // 255, scalp // 255) == pytest.approx(expected)
    probability = (np.clip(np.random.default_rng(0).normal(40, 20, scalp.shape), 0, 100)).astype(np.uint8)
    probability[loss > 0] = 230
    with pytest.raises(InvalidValueError, match="a probability or label map, not a mask"):
        view_loss_percent(probability, scalp)
    with pytest.raises(InvalidValueError, match=r"scalp mask holds 3 values \(0, 1, 2\)"):
        view_loss_percent(loss, labels)
    with pytest.raises(InvalidValueError, match=r"prediction holds 3 values \(0, 1, 2\)"):
        iou(labels, scalp)
    assert iou(probability >= 128, loss) == pytest.approx(iou(loss, loss))


def test_evaluate_predictions_refuses_label_maps_too(labels):
    """A docs check (2026-12-07): evaluate_predictions read a label map as "non-zero is inside"."""
    from alonet.evaluate.evaluate import evaluate_predictions

    scalp = disc() * np.uint8(255)
    meta = [{"patient": "P", "visit": "1", "view": "top"}]
    with pytest.raises(InvalidValueError, match=r"predicted scalp mask holds 3 values \(0, 1, 2\)"):
        evaluate_predictions([labels], [scalp], [scalp], [scalp], meta)
    result = evaluate_predictions([scalp], [scalp // 255], [scalp], [scalp > 0], meta)
    assert result.summary["scalp"]["iou_micro"] == 1.0
