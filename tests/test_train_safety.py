"""Training survives bad states and interruptions: a meta.csv that is not UTF-8 is one line; model
files get the mode of ordinary files."""

from __future__ import annotations

import os

import numpy as np
import pytest

from alonet.cli.main import main
from alonet.data.dataset import open_dataset
from alonet.errors import DatasetError
from alonet.train import train
from alonet.train.history import read_history_csv
from test_train import tiny_config, tiny_source, write_tiny_dataset


def cli_args(dataset, run, *extra):
    return ["train", str(dataset), "-o", str(run), "--width", "4", "--depth", "2", "--input-size", "32",
            "--batch", "4", "--quiet", *extra]


def one_error_line(err: str) -> str:
    """The error a command ended with: one line, the last on stderr (progress lines may come before)."""
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and "Traceback" not in err, err
    assert [line for line in lines if line.startswith("error")] == lines[-1:], err
    return lines[-1]


def test_a_meta_csv_that_is_not_utf8_is_one_line(tmp_path, capsys):
    dataset = write_tiny_dataset(tmp_path / "ds")
    with open(dataset / "meta.csv", "ab") as handle:
        handle.write(b"\xff\xfe")
    with pytest.raises(DatasetError, match="meta.csv is not UTF-8 text"):
        open_dataset(dataset)
    assert main(cli_args(dataset, tmp_path / "run", "--task", "hairloss", "--epochs", "1")) == 2
    line = one_error_line(capsys.readouterr().err)
    assert str(dataset / "meta.csv") in line and "alonet convert" in line


@pytest.mark.skipif(os.name == "nt", reason="POSIX mode bits")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_model_files_get_the_same_ordinary_mode(tmp_path, umask):
    from alonet.model import save_model
    from alonet.model.config import ModelConfig
    from alonet.model.unet import build_model

    cfg = ModelConfig(task="hairloss", base_width=4, depth=2, input_size=32)
    old = os.umask(umask)
    try:
        json_path = save_model(build_model(cfg), cfg, tmp_path / "model")
        run = train(tiny_source(), tmp_path / "run", tiny_config(task="scalp-midline"), progress=False)
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    for path in (json_path, json_path.with_suffix(".safetensors"), *(run / "scalp-midline").iterdir()):
        assert os.stat(path).st_mode & 0o777 == expected, path
    assert np.isfinite(read_history_csv(run / "scalp-midline" / "history.csv")[0]["val_iou"])
