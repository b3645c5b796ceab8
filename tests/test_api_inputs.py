"""Library misuse found by an audit on 2026-12-06 (twenty-second session).

Before: a probability map passed as a mask counted every pixel above 0 (SALT 100 for a view
scored 32); duplicate view keys in ``salt_from_masks`` kept the last; malformed arguments gave
raw ValueError/TypeError/AttributeError; a bad byte string in a visit did not say which view;
``max_pixels`` applied to files but not to arrays; a file given as a model set was "not found".
"""

from __future__ import annotations

import numpy as np
import pytest
from test_infer import make_model_set, photo

from alonet.errors import AloNetError, ImageTooLargeError, InvalidValueError, ModelError, NotAnImageError
from alonet.infer import Pipeline, PipelineConfig
from alonet.scoring.salt import salt_from_masks, salt_score, view_loss_percent
from alonet.views import VIEWS


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return Pipeline(make_model_set(tmp_path_factory.mktemp("api-models")), backend="torch")


def test_masks_must_be_masks_not_probability_maps():
    scalp = np.zeros((10, 10), np.float32)
    scalp[:, :5] = 1.0
    loss = np.zeros_like(scalp)
    loss[:, :2] = 1.0
    assert view_loss_percent(loss, scalp) == pytest.approx(40.0)  # 0/1 floats are masks
    assert view_loss_percent(loss.astype(np.uint8) * 255, scalp.astype(np.uint8)) == pytest.approx(40.0)
    with pytest.raises(InvalidValueError, match="probability map"):
        view_loss_percent(loss * 0.3, scalp)
    with pytest.raises(InvalidValueError, match="probability map"):
        view_loss_percent(np.full((10, 10), np.nan), scalp)


def test_salt_from_masks_checks_its_argument_like_salt_score():
    scalp = np.ones((4, 4), bool)
    full = {v: (np.zeros_like(scalp), scalp) for v in VIEWS}
    with pytest.raises(InvalidValueError, match="'top' is given twice"):
        salt_from_masks({**full, "Top": (scalp, scalp)})
    with pytest.raises(InvalidValueError, match="needs a \\(hairloss, scalp\\) pair"):
        salt_from_masks({**full, "top": scalp})
    assert salt_from_masks({**full, "top": None}, missing="zero").missing == ("top",)
    for bad in ([1, 2], None):
        with pytest.raises(InvalidValueError, match="mapping"):
            salt_from_masks(bad)
        with pytest.raises(InvalidValueError, match="mapping"):
            salt_score(bad)


def test_pipeline_arguments_are_checked_with_sentences(tmp_path):
    with pytest.raises(ModelError, match="not NoneType"):
        Pipeline(None)
    (tmp_path / "t.jpg").write_bytes(b"x")
    with pytest.raises(ModelError, match="is a file; a model set is a folder"):
        Pipeline(str(tmp_path / "t.jpg"))
    with pytest.raises(InvalidValueError, match="backend must be"):
        Pipeline("default", backend=None)


def test_visit_errors_name_the_view_and_arrays_obey_the_pixel_cap(pipeline):
    images = {v: photo(i + 1, 120, 160) for i, v in enumerate(VIEWS)}
    with pytest.raises(InvalidValueError, match="a visit is a mapping"):
        pipeline.score_visit(list(images.values()))
    with pytest.raises(NotAnImageError, match="the back photograph"):
        pipeline.score_visit({**images, "back": b"not a picture"})
    with pytest.raises(InvalidValueError, match="the left photograph: expected an RGB photograph"):
        pipeline.score_visit({**images, "left": images["left"][..., 0]})
    capped = Pipeline(pipeline.models_spec, backend="torch",
                      config=PipelineConfig(max_pixels=10_000))
    with pytest.raises(ImageTooLargeError, match="the top photograph: image is 160x120 = 19200 pixels"):
        capped.predict_view(images["top"], "top")
    assert issubclass(ImageTooLargeError, AloNetError)


@pytest.mark.parametrize("size, words", [("320", "whole number"), (None, "whole number"), (100_000, "outside 8..4096"),
                                         (4, "outside 8..4096")])
def test_convert_folders_checks_the_size_before_reading_anything(tmp_path, size, words):
    from alonet.data.convert import ConvertOptions, convert_folders

    with pytest.raises(InvalidValueError, match=words):
        convert_folders(tmp_path / "p", tmp_path / "s", tmp_path / "h", tmp_path / "out", ConvertOptions(size=size))
    assert not (tmp_path / "out").exists()
    with pytest.raises(InvalidValueError, match="out must be a folder path"):
        convert_folders(tmp_path / "p", tmp_path / "s", tmp_path / "h", None)


def test_an_object_that_is_no_photograph_names_its_view_and_the_array_way(pipeline, tmp_path):
    """An audit (thirty-third session): a PIL image (or None, or a list) in a visit gave
    "<uploaded image>: cannot read an image from a JpegImageFile (pass a path, bytes or a binary
    file object)": no view, and not the array that is one line away."""
    import io

    from PIL import Image

    rgb = photo(7)
    Image.fromarray(rgb).save(tmp_path / "p.jpg")
    for bad in (Image.open(tmp_path / "p.jpg"), [1, 2]):
        with pytest.raises(NotAnImageError, match=r"^the back photograph: cannot read an image from a "
                                                  rf"{type(bad).__name__} .*numpy\.asarray\(image\.convert\('RGB'\)\)"):
            pipeline.score_visit({"top": rgb, "back": bad, "left": rgb, "right": rgb})
    with pytest.raises(NotAnImageError, match=r"^the left photograph"):  # a file object without a name
        pipeline.predict_view(io.BufferedReader(io.BytesIO(b"not a photograph")), "left")
