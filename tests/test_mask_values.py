"""Mask values that would train on wrong targets without a word (open questions of the
2026-12-07 bad-input audit).

A dataset whose ``scalp.npy``/``hairloss.npy`` hold 0/255 or 0..255 probabilities (written
by another tool, or edited) trained and evaluated as if every non-zero value were inside;
and ``convert`` thresholded a photograph given as an annotation at half range.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from test_convert_inputs import error_line, phantom_folder, run

from alonet.data.dataset import check_mask_values, open_dataset, write_dataset
from alonet.data.annotation import GREY_SHARE_MAX, grey_share, read_annotation
from alonet.errors import DatasetError, UnsupportedImageModeError


def small_dataset(path, count=4, size=8):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(count):
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        scalp = np.zeros((size, size), np.uint8)
        scalp[1:7, 1:7] = 1
        loss = np.zeros_like(scalp)
        loss[2:4, 2:5] = 1
        samples.append((image, scalp, loss, {"stem": f"s{i}", "patient": f"p{i}", "view": "top"}))
    return write_dataset(path, samples, size=size)


def rewrite(path, edit):
    array = np.load(path)
    edit(array)
    np.save(path, array)


# --------------------------------------------------------------------------- dataset masks


def test_a_dataset_written_with_0_255_masks_is_refused_naming_file_values_and_fix(tmp_path):
    ds = small_dataset(tmp_path / "ds")
    assert len(open_dataset(ds)) == 4  # convert's own 0/1 masks open
    rewrite(ds / "scalp.npy", lambda a: np.multiply(a, 255, out=a))
    with pytest.raises(DatasetError) as info:
        open_dataset(ds)
    message = str(info.value)
    assert f"{ds / 'scalp.npy'} holds values 0, 255 in sample 0, but dataset masks hold only 0 and 1" in message
    assert "as `alonet convert` writes them" in message and "(masks >= 128).astype(np.uint8)" in message
    assert "\n" not in message


def test_one_edited_sample_with_probabilities_is_found_and_named(tmp_path):
    ds = small_dataset(tmp_path / "ds")

    def probabilities(array):
        array[2] = np.linspace(0, 200, array[2].size).reshape(array[2].shape).astype(np.uint8)

    rewrite(ds / "hairloss.npy", probabilities)
    with pytest.raises(DatasetError, match=r"hairloss.npy holds values 0, 3, 6, 9, 12, 15, \.\.\. in sample 2"):
        open_dataset(ds)


def test_a_dataset_larger_than_the_budget_is_checked_on_evenly_spread_rows():
    masks = np.zeros((10, 4, 4), np.uint8)
    masks[5] = 7  # checked: rows 0 and 5 fit a budget of two rows
    with pytest.raises(DatasetError, match="holds values 7 in sample 5"):
        check_mask_values(masks, "m.npy", budget=2 * 16)
    masks[5], masks[6] = 0, 7  # row 6 is not read with that budget, but is with a full one
    check_mask_values(masks, "m.npy", budget=2 * 16)
    with pytest.raises(DatasetError, match="in sample 6"):
        check_mask_values(masks, "m.npy")


def test_evaluate_refuses_a_0_255_dataset_in_one_line(tmp_path, capsys):
    ds = small_dataset(tmp_path / "ds")
    rewrite(ds / "hairloss.npy", lambda a: np.multiply(a, 255, out=a))
    code, _, err = run(["evaluate", ds, "-o", tmp_path / "ev"], capsys)
    assert code == 2 and not (tmp_path / "ev").exists()
    assert "hairloss.npy holds values 0, 255 in sample 0" in error_line(err)


# --------------------------------------------------------------------------- annotations in convert


def photograph(size=(160, 120)):
    """A rendered phantom scalp photograph (the project's renderer), as an RGB array."""
    from alonet.phantom.render import render_view, sample_look

    rng = np.random.default_rng(3)
    scalp = np.zeros((240, 320), bool)
    scalp[40:200, 60:260] = True
    loss = np.zeros_like(scalp)
    loss[80:140, 100:180] = True
    image = render_view(scalp, loss, "top", sample_look(rng), rng, out_size=200).image
    return np.asarray(Image.fromarray(image).resize(size))


def real_annotation(shared_annotations, size=(160, 120)):
    """A real scalp annotation shrunk with Lanczos: anti-aliased edges, many grey levels."""
    path = sorted((shared_annotations / "mask").glob("*.gif"))[0]
    mask = read_annotation(path, refuse_pictures=True)
    shrunk = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.Resampling.LANCZOS))
    return path, shrunk


def test_real_annotations_with_anti_aliased_edges_are_read_and_photographs_refused(tmp_path, shared_annotations):
    path, shrunk = real_annotation(shared_annotations)
    assert len(np.unique(shrunk)) > 8 and 0 < grey_share(shrunk, 128) < GREY_SHARE_MAX
    Image.fromarray(shrunk).save(tmp_path / "aa.png")
    np.testing.assert_array_equal(read_annotation(tmp_path / "aa.png", refuse_pictures=True), shrunk >= 128)
    for name, picture in (("photo.png", photograph()),
                          ("grey.png", np.asarray(Image.fromarray(photograph()).convert("L"))),
                          ("gradient.png", np.tile(np.linspace(0, 255, 160).astype(np.uint8), (120, 1)))):
        Image.fromarray(picture).save(tmp_path / name)
        with pytest.raises(UnsupportedImageModeError, match=rf"{name}: \d+% of its pixels are shades between "
                                                            "black and white, like a photograph"):
            read_annotation(tmp_path / name, refuse_pictures=True)
        read_annotation(tmp_path / name)  # elsewhere the half-range rule still reads it, as before


def test_convert_refuses_a_photograph_given_as_annotation_and_accepts_real_ones(tmp_path, capsys,
                                                                                shared_annotations):
    root = phantom_folder(tmp_path / "in")
    _, shrunk = real_annotation(shared_annotations, size=(20, 16))
    assert len(np.unique(shrunk)) > 2  # anti-aliased edges
    Image.fromarray(shrunk).save(root / "scalp" / "P1_v1_top.png")
    args = [root / "photographs", root / "scalp", root / "hairloss", "--manifest", root / "manifest.csv",
            "--size", 8]
    code, _, err = run(["convert", *args, "-o", tmp_path / "ok"], capsys)
    assert code == 0, err
    Image.fromarray(photograph(size=(20, 16))).save(root / "scalp" / "P2_v1_back.png")
    code, _, err = run(["convert", *args, "-o", tmp_path / "bad"], capsys)
    assert code == 2 and not (tmp_path / "bad").exists()
    assert (f"{root / 'scalp' / 'P2_v1_back.png'}: " in err
            and "of its pixels are shades between black and white, like a photograph" in err)


def test_a_training_worker_reopening_the_dataset_does_not_read_its_masks_again(tmp_path, monkeypatch):
    # spawn workers (macOS, Windows) unpickle the source and reopen the memory maps: the parent
    # checked the masks already, and up to 512 MiB per array would be read again in every worker
    import pickle

    import alonet.data.dataset as dataset_module
    from alonet.train.data import ConvertedSource

    small_dataset(tmp_path / "ds")
    checked = []
    real_check = dataset_module.check_mask_values
    monkeypatch.setattr(dataset_module, "check_mask_values", lambda array, path, *a: checked.append(path)
                        or real_check(array, path, *a))
    source = ConvertedSource(tmp_path / "ds")
    assert len(checked) == 2
    copy = pickle.loads(pickle.dumps(source))
    assert len(checked) == 2 and len(copy) == len(source) == 4
    assert np.array_equal(copy.sample(1)[1], source.sample(1)[1])
