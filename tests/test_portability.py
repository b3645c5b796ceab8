"""Other systems and unusual names (a portability audit, 2026-12-07).

``python -m alonet`` exited 0 on every error; a console that cannot encode 中文 (Windows with
output redirected) ended commands with a traceback; a 240-character patient label made a plot
file name the disk refused; ``CON.png`` is a device on Windows; a 中文 patient's plot said
"Patient □□" under a hashed file name; a macOS (NFD) file name did not match a typed manifest;
``IMG_1.JPG`` and ``img_1.jpg`` overwrote each other's outputs on a case-insensitive disk; a
manifest with Windows ``\\`` paths found no photograph; a file still open on Windows failed a
web request whose database change had already succeeded.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from alonet.cli.main import main
from alonet.data.pairs import stem_key
from alonet.report.batch import MAX_NAME, PLOT_INDEX, output_name, write_plots
from alonet.report.batch.manifest import VisitEntry, read_batch_manifest
from alonet.report.plots import drawable
from alonet.views import VIEWS
from alonet.store.storage import Store

SRC = Path(__file__).resolve().parents[1] / "src"


def run_module(args, **env):
    environment = {**os.environ, "PYTHONPATH": str(SRC), **env}
    return subprocess.run([sys.executable, "-m", "alonet", *args], capture_output=True, env=environment, timeout=120)


def test_python_dash_m_gives_the_same_exit_status_as_the_command(tmp_path):
    views = [a for v in VIEWS for a in (f"--{v}", str(tmp_path / "nothere.jpg"))]
    done = run_module(["score", *views, "-o", str(tmp_path / "out")])
    assert done.returncode == 2
    assert done.stderr.decode().strip().startswith("error: ") and b"Traceback" not in done.stderr


def test_a_console_that_cannot_encode_a_name_gets_escapes_not_a_traceback(tmp_path):
    missing = tmp_path / "头顶 é.jpg"
    views = [a for v in VIEWS for a in (f"--{v}", str(missing))]
    done = run_module(["score", *views, "-o", str(tmp_path / "out")], PYTHONIOENCODING="cp1252")
    err = done.stderr.decode("cp1252")
    assert done.returncode == 2 and "Traceback" not in err
    assert "\\u5934\\u9876 \xe9.jpg: file not found" in err  # é exists in cp1252, 头顶 does not


def test_output_names_stay_short_and_avoid_windows_devices():
    assert output_name("A1") == "A1" and output_name("P" * MAX_NAME) == "P" * MAX_NAME
    long = output_name("P" * 240)
    assert len(long) == MAX_NAME and long.startswith("P" * 80) and long[-9] == "-"
    assert output_name("P" * 240) != output_name("P" * 241)  # the hash tells cut names apart
    assert len(output_name("P" * 300, "v" * 300)) == MAX_NAME
    for device in ("CON", "nul", "Com1", "LPT9", "aux.x"):
        name = output_name(device)
        assert name != device and name.split("-")[0].split(".")[0].casefold() == device.split(".")[0].casefold()
    assert output_name("CON", "1") == "CON_1"  # a folder CON_1 is an ordinary name on Windows


def test_plots_of_unusual_labels_are_findable_and_readable(tmp_path):
    views = {"top": Path("t.jpg")}
    entries = [VisitEntry("中文", "1", None, views), VisitEntry("P" * 240, "1", None, views),
               VisitEntry("CON", "1", None, views)]
    rows = {e.key: {"salt": "12.00"} for e in entries}
    written = write_plots(entries, rows, tmp_path)
    assert len(written) == 3 and all(len(p.name) <= MAX_NAME + 4 for p in written)
    with open(tmp_path / PLOT_INDEX, newline="", encoding="utf-8") as fh:
        index = list(csv.DictReader(fh))
    assert [(r["patient"], r["plot"]) for r in index] == [(e.patient, p.name) for e, p in zip(entries, written)]
    assert drawable("中文 P1") == "\\u4e2d\\u6587 P1" and drawable("Zoé-7") == "Zoé-7"


def test_file_stems_match_across_unicode_forms_and_case():
    typed = "Zoé_P0001_v01_top"
    macos = unicodedata.normalize("NFD", typed)
    assert macos != typed and stem_key(macos) == stem_key(typed) == stem_key(typed.upper())


def test_predict_refuses_names_that_differ_only_in_case(tmp_path, capsys):
    for folder, name in (("a", "IMG_1.JPG"), ("b", "img_1.jpg")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / name).write_bytes(b"x")
    code = main(["predict", str(tmp_path / "a" / "IMG_1.JPG"), str(tmp_path / "b" / "img_1.jpg"), "--view", "top",
                 "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "share the name 'IMG_1' (ignoring case)" in err
    assert not (tmp_path / "out").exists()


def test_manifest_with_windows_separators_finds_the_photographs(tmp_path):
    (tmp_path / "photos" / "v1").mkdir(parents=True)
    for view in VIEWS:
        (tmp_path / "photos" / "v1" / f"{view}.jpg").write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text("patient,visit,view,path\n" + "".join(f"A,1,{v},photos\\v1\\{v}.jpg\n" for v in VIEWS),
                        encoding="utf-8")
    (entry,) = read_batch_manifest(manifest)
    assert entry.views["top"] == tmp_path / "photos" / "v1" / "top.jpg" and entry.views["top"].is_file()


def test_a_file_that_cannot_be_deleted_does_not_fail_the_request(tmp_path, monkeypatch, caplog):
    kept = tmp_path / "in-use.jpg"
    kept.write_bytes(b"x")
    real_unlink = Path.unlink

    def busy(self, missing_ok=False):
        if self == kept:
            raise PermissionError(errno.EACCES, "The process cannot access the file", str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", busy)
    other = tmp_path / "other.jpg"
    other.write_bytes(b"x")
    with caplog.at_level(logging.WARNING, logger="alonet.store.storage"):
        Store._unlink([kept, other])
    assert kept.exists() and not other.exists()
    assert f"could not delete {kept}" in caplog.text


@pytest.mark.parametrize("code, words", [(errno.ENAMETOOLONG, "file name or path is too long"),
                                         (errno.EROFS, "the disk is read-only")])
def test_os_errors_say_what_to_do(code, words, tmp_path, capsys, monkeypatch):
    import alonet.cli.salt_cmd as salt_cmd

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / "x"))

    monkeypatch.setattr(salt_cmd, "_format_text", fail)
    assert main(["salt", "--top", "10", "--back", "10", "--left", "10", "--right", "10"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot access {tmp_path / 'x'}: ") and words in err and err.count("\n") == 1


def test_an_os_error_without_a_file_name_still_reads_as_a_sentence(capsys, monkeypatch):
    import alonet.cli.salt_cmd as salt_cmd

    def fail(*args, **kwargs):
        raise OSError(errno.EFBIG, "File too large")

    monkeypatch.setattr(salt_cmd, "_format_text", fail)
    assert main(["salt", "--top", "10", "--back", "10", "--left", "10", "--right", "10"]) == 2
    assert capsys.readouterr().err.startswith("error: a file could not be read or written: File too large (")

