"""Training survives bad states and interruptions: a meta.csv that is not UTF-8 is one line."""

from __future__ import annotations

import pytest

from alonet.cli.main import main
from alonet.data.dataset import open_dataset
from alonet.errors import DatasetError
from test_train import write_tiny_dataset


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
