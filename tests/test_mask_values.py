"""Mask values that would train on wrong targets without a word (open questions of the
2026-12-07 bad-input audit).

A dataset whose ``scalp.npy``/``hairloss.npy`` hold 0/255 or 0..255 probabilities (written
by another tool, or edited) trained and evaluated as if every non-zero value were inside.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_convert_inputs import error_line, run

from alonet.data.dataset import check_mask_values, open_dataset, write_dataset
from alonet.errors import DatasetError


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
    assert f"{ds / 'scalp.npy'} holds values 0, 255 in sample 0, but a dataset mask holds only 0 and 1" in message
    assert "alonet convert" in message and "(masks >= 128).astype(np.uint8)" in message
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
