"""Failing before the work (issue 10, defect 4).

Before, an unwritable output folder or a full disk gave a Python traceback from
predict, score, convert and batch after the model had run, and ``alonet serve``
on a busy port gave a traceback.
"""

from __future__ import annotations

import errno
import socket
from collections import namedtuple

import pytest
from test_infer import make_model_set, phantom_visit

from alonet.cli.main import main
from alonet.system import preflight
from alonet.system.preflight import check_output_folder
from alonet.errors import OutputNotWritableError
from alonet.views import VIEWS

Usage = namedtuple("Usage", "total used free")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("pre-models"))


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return phantom_visit(tmp_path_factory.mktemp("pre-visit"), seed=4, out_size=320)


@pytest.fixture
def no_model_loading(monkeypatch):
    """Fail the test if a command gets as far as loading networks."""
    import alonet.infer.pipeline as pipeline_module

    def refuse(*args, **kwargs):
        raise AssertionError("the networks were loaded before the output was checked")

    monkeypatch.setattr(pipeline_module.Pipeline, "__init__", refuse)


def test_check_output_folder_accepts_new_and_existing_folders(tmp_path):
    assert check_output_folder(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()  # nothing is created by the check
    assert check_output_folder(tmp_path) == tmp_path


def test_check_output_folder_refuses_files_in_the_way_and_full_disks(tmp_path, monkeypatch):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(OutputNotWritableError, match="is a file, not a folder"):
        check_output_folder(blocker)
    with pytest.raises(OutputNotWritableError, match=f"cannot create output folder {blocker / 'out'}: .* is a file"):
        check_output_folder(blocker / "out")
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    with pytest.raises(OutputNotWritableError, match=r"only 5 MB free .* needs about 120 MB"):
        check_output_folder(tmp_path / "new", 100_000_000)


def test_score_predict_batch_refuse_unwritable_output_before_loading_models(
        models, visit, tmp_path, capsys, no_model_loading):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    views = [a for v in VIEWS for a in (f"--{v}", str(visit[v]))]
    assert main(["score", *views, "-o", str(blocker / "report"), "--model", str(models)]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot create report folder {blocker / 'report'}")
    assert main(["predict", str(visit["top"]), "--view", "top", "-o", str(blocker / "p"),
                 "--model", str(models)]) == 2
    assert "is a file" in capsys.readouterr().err
    manifest = tmp_path / "m.csv"
    manifest.write_text("patient,visit,view,path\n" + "".join(f"P,1,{v},{visit[v]}\n" for v in VIEWS))
    assert main(["batch", str(manifest), "-o", str(blocker / "b"), "--model", str(models)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_a_full_disk_before_the_work_is_one_line(models, visit, tmp_path, capsys, monkeypatch, no_model_loading):
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 10**6, 10**6))
    views = [a for v in VIEWS for a in (f"--{v}", str(visit[v]))]
    assert main(["score", *views, "-o", str(tmp_path / "report"), "--model", str(models)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: only 1 MB free on the disk of") and err.count("\n") == 1


def test_a_write_error_during_the_work_is_one_line(models, visit, tmp_path, capsys, monkeypatch):
    from alonet.report import writer

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "report" / "report.html"))

    monkeypatch.setattr(writer, "render_report_html", full)
    views = [a for v in VIEWS for a in (f"--{v}", str(visit[v]))]
    code = main(["score", *views, "-o", str(tmp_path / "report"), "--model", str(models), "--backend", "torch"])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"error: cannot access {tmp_path / 'report' / 'report.html'}: No space left on device "
                   "(the disk is full: free some space, then run the command again)\n")
    assert not (tmp_path / "report").exists()  # the atomic writer left nothing half-written
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report")]


def test_serve_on_a_busy_port_says_which_and_how_to_pick_another(models, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port), "--model", str(models), "--backend", "torch"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    assert f"--port {port + 1}" in err and "--port 0" in err and "Traceback" not in err


def test_convert_refuses_an_unwritable_output_before_reading(tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code = main(["convert", "--from", str(tmp_path / "nothing"), "-o", str(blocker / "ds")])
    err = capsys.readouterr().err
    assert code == 2 and "is a file" in err
