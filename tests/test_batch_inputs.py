"""Bad input to ``alonet batch`` (audit of the batch command).

Before: an existing results.csv that is not UTF-8 text gave a traceback; a
results.csv that is a folder gave an error naming a hidden temporary file;
``X/1`` and ``X_1`` wrote their visit reports into the same folder (the second
overwrote the first); ``--deidentify`` without ``--reports`` was silently
ignored.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import os
import re
import shutil
import subprocess
import sys

import pytest
from test_batch_provenance import models, read  # noqa: F401 - a fixture (used by name) and a helper
from test_infer import phantom_visit
from test_report import write_manifest

from alonet.cli.main import main
from alonet.errors import DatasetError, InvalidValueError, OutputExistsError
from alonet.infer import Pipeline
from alonet.report import ReportOptions
from alonet.report.batch import RESULT_COLUMNS, output_name, run_batch
from alonet.report.batch.rows import read_results

VIEW_NAMES = ("top", "back", "left", "right")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs-photos")
    return {name: phantom_visit(root / name, seed=seed, out_size=200, loss_radius=radius)
            for name, seed, radius in (("a", 1, 25), ("b", 2, 70), ("c", 3, 45))}


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALONET_CACHE_DIR", str(tmp_path / "onnx-cache"))


def trial(tmp_path, photos, visits):
    """A manifest whose visits each get a copy of one phantom visit's photographs."""
    folder = tmp_path / "trial"
    rows = []
    for number, (patient, visit, name) in enumerate(visits):
        target = folder / f"visit{number}"
        shutil.copytree(photos[name]["top"].parent, target, dirs_exist_ok=True)
        rows += [(patient, visit, view, str(target / f"{view}.jpg"), "") for view in VIEW_NAMES]
    return write_manifest(folder / "manifest.csv", rows)


def batch(manifest, out, models, capsys, *extra):
    code = main(["batch", str(manifest), "-o", str(out), "--model", str(models), "--backend", "torch",
                 "--workers", "1", *map(str, extra)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def hidden_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# --------------------------------------------------------------------------- defect 1


def test_results_csv_that_is_not_utf8_is_a_one_line_error_and_is_kept(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos, [("P1", "1", "a")])
    out = tmp_path / "out"
    out.mkdir()
    garbage = b"id,x\n\xff" + bytes(random.Random(7).randrange(256) for _ in range(500)) + b"\n"
    (out / "results.csv").write_bytes(garbage)
    code, stdout, stderr = batch(manifest, out, models, capsys)
    assert code == 2 and stdout == ""
    assert stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr == (f"error: {out / 'results.csv'} is not a results table of alonet batch (not UTF-8 text "
                      f"at byte offset 5) (move it out of the way or choose another output folder with -o/--output)\n")
    assert (out / "results.csv").read_bytes() == garbage  # nothing was deleted or rewritten
    assert sorted(p.name for p in out.iterdir()) == ["results.csv"]  # and nothing else written

    # bytes without any line end are not a torn results table either: refused, not replaced
    (out / "results.csv").write_bytes(b"\x89PNG\x00\x01 no line end")
    code, _, stderr = batch(manifest, out, models, capsys)
    assert code == 2 and "(no complete line)" in stderr and stderr.count("\n") == 1
    assert (out / "results.csv").read_bytes() == b"\x89PNG\x00\x01 no line end"

    # moved out of the way, as the message says: the run works
    (out / "results.csv").rename(tmp_path / "old.csv")
    code, _, stderr = batch(manifest, out, models, capsys)
    assert code in (0, 3), stderr
    assert [r["patient"] for r in read(out / "results.csv")] == ["P1"]


def test_unreadable_results_csv_raises_before_anything_is_written(tmp_path):
    path = tmp_path / "results.csv"
    path.write_bytes(b"patient,visit\n\xc3\x28broken\n")
    with pytest.raises(OutputExistsError, match=r"at byte offset 14\)"):
        read_results(path)
    huge = ",".join(RESULT_COLUMNS) + "\n\"" + "x" * 200_000 + "\",1\n"  # a field csv refuses to read
    path.write_text(huge, encoding="utf-8")
    with pytest.raises(OutputExistsError, match="field larger than field limit"):
        read_results(path)
    assert path.read_text(encoding="utf-8") == huge


def test_a_line_torn_inside_a_multibyte_character_is_dropped_and_the_rest_kept(models, photos, tmp_path):
    manifest = trial(tmp_path, photos, [("Müller", "1", "a"), ("Zoë", "1", "b")])
    out = tmp_path / "out"
    pipeline = Pipeline(models, backend="torch")
    first = run_batch(manifest, out, pipeline, progress=False, plots=False)
    assert (first.scored, first.errors) == (2, 0)
    rows = read(out / "results.csv")
    data = (out / "results.csv").read_bytes()
    last = data.rindex("Zoë".encode())
    torn = data[: last + len("Zo".encode()) + 1]  # ends with the first byte of "ë" (0xc3)
    assert torn[-1] == 0xC3
    (out / "results.csv").write_bytes(torn)
    again = run_batch(manifest, out, pipeline, progress=False, plots=False)
    assert (again.scored, again.skipped, again.errors) == (1, 1, 0)
    assert read(out / "results.csv") == rows


# --------------------------------------------------------------------------- defect 2


def test_output_names_are_unique_and_depend_on_the_key_alone():
    def short(*parts):
        return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:8]

    assert output_name("P1", "1") == "P1_1" and output_name("P1") == "P1"
    assert output_name("P_01", "2024-01-05") == "P_01_2024-01-05"
    assert output_name("X/1", "1") == f"X_1_1-{short('X/1', '1')}"
    assert output_name("X_1", "1") == "X_1_1"
    assert output_name("X/1") == f"X_1-{short('X/1')}" and output_name("X_1") == "X_1"
    # both labels already safe, but the "_" join is ambiguous: the visit with "_" gets a hash
    assert output_name("A_B", "1") == "A_B_1"
    assert output_name("A", "B_1") == f"A_B_1-{short('A', 'B_1')}"
    assert output_name("患者", "訪問") == f"patient_visit-{short('患者', '訪問')}"
    keys = [("X/1", "1"), ("X_1", "1"), ("X 1", "1"), ("X_1_", "1"), ("X", "1_1"), ("X_1", "1_"),
            ("A_B", "1"), ("A", "B_1"), ("a", "b"), (".a", "b"), ("a.", "b"), ("患者", "訪問"), ("病人", "訪問")]
    assert len({output_name(*key) for key in keys}) == len(keys)


def test_reports_of_colliding_labels_get_separate_stable_folders(models, photos, tmp_path, capsys):
    visits = [("X/1", "1", "a"), ("X_1", "1", "b"), ("A_B", "1", "c"), ("A", "B_1", "a")]
    manifest = trial(tmp_path, photos, visits)
    out = tmp_path / "out"
    code, _, stderr = batch(manifest, out, models, capsys, "--reports")
    assert code in (0, 3), stderr
    rows = {(r["patient"], r["visit"]): r for r in read(out / "results.csv")}
    folders = {key: out / "reports" / output_name(*key) for key in rows}
    assert len(rows) == 4 and len(set(folders.values())) == 4
    assert sorted(p.name for p in (out / "reports").iterdir()) == sorted(p.name for p in folders.values())
    for key, folder in folders.items():
        document = json.loads((folder / "report.json").read_text())
        assert f"{document['salt']:.2f}" == rows[key]["salt"]
        assert f"patient {key[0]}, visit {key[1]}" in (folder / "report.html").read_text()
    # the X/1 and X_1 visits have different photographs, so different numbers, each in its own folder
    assert rows[("X/1", "1")]["salt"] != rows[("X_1", "1")]["salt"]
    assert sorted(p.name for p in (out / "plots").iterdir()) == sorted(
        [f"{output_name(patient)}.png" for patient in ("X/1", "X_1", "A_B", "A")] + ["index.csv"])

    # rerun after X_1's photographs change: only it is rescored, into the same folder; X/1's report is untouched
    kept = (folders[("X/1", "1")] / "report.json").read_bytes()
    for view in VIEW_NAMES:
        shutil.copy(photos["c"][view], tmp_path / "trial" / "visit1" / f"{view}.jpg")
    code, stdout, stderr = batch(manifest, out, models, capsys, "--reports")
    assert code in (0, 3), stderr
    assert "recomputed patient X_1 visit 1: photographs changed" in stdout
    current = sorted(p.name for p in (out / "reports").iterdir())
    assert current == sorted(p.name for p in folders.values())
    (aside,) = (out / "superseded-reports").glob("*.superseded-*")  # X_1's old report, kept out of reports/
    assert aside.name.startswith(folders[("X_1", "1")].name + ".superseded-")
    assert (folders[("X/1", "1")] / "report.json").read_bytes() == kept
    new = {(r["patient"], r["visit"]): r for r in read(out / "results.csv")}
    assert f"{json.loads((folders[('X_1', '1')] / 'report.json').read_text())['salt']:.2f}" \
        == new[("X_1", "1")]["salt"] == rows[("A_B", "1")]["salt"]  # the same photographs as A_B's visit


def test_a_contrived_name_clash_is_refused_before_anything_is_written(models, photos, tmp_path, capsys):
    clash = output_name("X/1", "1").removeprefix("X_1_")  # a visit label that spells out X/1's hash
    manifest = trial(tmp_path, photos, [("X/1", "1", "a"), ("X_1", clash, "b")])
    out = tmp_path / "out"
    code, _, stderr = batch(manifest, out, models, capsys, "--reports")
    assert code == 2 and stderr.count("\n") == 1
    assert stderr == (f"error: patient X/1 visit 1 and patient X_1 visit {clash} would share the report folder "
                      f"name '{output_name('X/1', '1')}' (rename one of them in the manifest)\n")
    assert not out.exists()
    code, _, stderr = batch(manifest, out, models, capsys, "--no-plots")  # without reports there is no clash
    assert code in (0, 3), stderr
    with pytest.raises(DatasetError, match="would share the plot name"):
        run_batch(trial(tmp_path / "p", photos, [("X/1", "1", "a"), (output_name("X/1"), "1", "b")]),
                  tmp_path / "p-out", Pipeline(models, backend="torch"), progress=False)


def test_labels_differing_only_in_case_are_refused(models, photos, tmp_path, capsys):
    """AA-1 and aa-1 would be one report folder on macOS and Windows disks."""
    manifest = trial(tmp_path, photos, [("AA-1", "1", "a"), ("aa-1", "1", "b")])
    code, _, stderr = batch(manifest, tmp_path / "out", models, capsys, "--reports")
    assert code == 2 and "patient AA-1 and patient aa-1 would share the plot name" in stderr
    assert not (tmp_path / "out").exists()
    code, _, stderr = batch(manifest, tmp_path / "out", models, capsys, "--reports", "--no-plots")
    assert code == 2 and "would share the report folder name" in stderr


# --------------------------------------------------------------------------- defect 3


def test_deidentify_without_reports_is_an_error(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos, [("P1", "1", "a")])
    out = tmp_path / "out"
    code, stdout, stderr = batch(manifest, out, models, capsys, "--deidentify")
    assert code == 2 and stdout == ""
    assert stderr == ("error: --deidentify only blurs the pictures of the report folders, and without --reports "
                      "none are written (add --reports, or leave out --deidentify)\n")
    assert not out.exists()
    # the Python API cannot say it (de-identification is an option of the reports: reports=None has
    # none); it refuses what it cannot honour before writing anything
    pipeline = Pipeline(models, backend="torch")
    with pytest.raises(TypeError, match=r"reports takes a ReportOptions or None, not True \(.*reports=ReportOptions\(\)"):
        run_batch(manifest, out, pipeline, reports=True, progress=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="run_batch sets each report's review, title from its visit"):
        run_batch(manifest, out, pipeline, reports=ReportOptions(review={"reviewer": "R"}, title="T"), progress=False)
    assert not out.exists()
    # reports=False, the old spelling of the default, still means no reports
    assert run_batch(manifest, out, pipeline, reports=False, progress=False, plots=False).scored == 1  # type: ignore[arg-type]
    assert not (out / "reports").exists()
    shutil.rmtree(out)
    code, _, stderr = batch(manifest, out, models, capsys, "--deidentify", "--reports", "--no-plots")
    assert code in (0, 3), stderr
    (folder,) = (out / "reports").iterdir()
    assert json.loads((folder / "report.json").read_text())["deidentified"] is True


def test_deidentified_batch_reports_name_no_patient_and_replace_identified_ones(models, photos, tmp_path, capsys):
    """The privacy audit: a de-identified report's title and folder held the patient label, and
    a rerun with --deidentify kept the identified reports of an earlier run in reports/."""
    label = "Müller, Anna (1961-04-02)"
    manifest = trial(tmp_path, photos, [(label, "1", "a")])
    out = tmp_path / "out"
    code, _, stderr = batch(manifest, out, models, capsys, "--reports", "--no-plots")  # identified first
    assert code in (0, 3), stderr
    (identified,) = (out / "reports").iterdir()
    assert "M_ller" in identified.name
    code, stdout, stderr = batch(manifest, out, models, capsys, "--reports", "--deidentify", "--no-plots")
    assert code in (0, 3), stderr
    assert f"recomputed patient {label} visit 1: report de-identification changed" in stdout
    (folder,) = (out / "reports").iterdir()  # only the de-identified report is left in reports/
    assert re.fullmatch(r"visit-[0-9a-f]{16}", folder.name)
    document = json.loads((folder / "report.json").read_text())
    html = (folder / "report.html").read_text()
    assert document["deidentified"] is True and "Müller" not in html and "1961" not in html
    assert "<title>AloNet SALT report</title>" in html
    (aside,) = (out / "superseded-reports").iterdir()
    assert aside.name.startswith(identified.name + ".superseded-")
    with open(out / "reports_index.csv", newline="", encoding="utf-8") as handle:
        assert list(csv.DictReader(handle)) == [{"patient": label, "visit": "1", "folder": folder.name}]
    assert oct((out / ".report-key").stat().st_mode & 0o777) == "0o600"
    # the same run again keeps it; without --deidentify it is identified again, the other moved aside
    code, stdout, _ = batch(manifest, out, models, capsys, "--reports", "--deidentify", "--no-plots")
    assert "(0 recomputed)" in stdout and [p.name for p in (out / "reports").iterdir()] == [folder.name]
    code, stdout, _ = batch(manifest, out, models, capsys, "--reports", "--no-plots")
    assert "report de-identification changed" in stdout
    assert [p.name for p in (out / "reports").iterdir()] == [identified.name]
    assert len(list((out / "superseded-reports").iterdir())) == 2


def test_deidentified_folders_follow_their_rows_and_the_key(models, photos, tmp_path, capsys):
    """The second review: a rerun without --reports left stale de-identified reports in reports/;
    yesterday's *.superseded-* folders stayed in reports/; a damaged key was silently replaced
    and a deleted one left unmappable folders; the index named folders that do not exist."""
    manifest = trial(tmp_path, photos, [("P1", "1", "a"), ("P2", "1", "b")])
    out = tmp_path / "out"
    (out / "reports" / "P1_1.superseded-20261206T000000Z").mkdir(parents=True)  # as an older AloNet left it
    code, _, stderr = batch(manifest, out, models, capsys, "--reports", "--deidentify", "--no-plots")
    assert code in (0, 3), stderr
    assert (out / "superseded-reports" / "P1_1.superseded-20261206T000000Z").is_dir()
    first = sorted(p.name for p in (out / "reports").iterdir())
    assert len(first) == 2 and all(name.startswith("visit-") for name in first)
    # a rerun without --reports that recomputes the rows moves their reports out of reports/
    code, stdout, _ = batch(manifest, out, models, capsys, "--no-plots", "--hairloss-threshold", "0.4")
    assert "hair-loss threshold changed" in stdout and not any((out / "reports").iterdir())
    # a deleted key: the next de-identified run cannot map the old folders, so they move aside
    code, _, _ = batch(manifest, out, models, capsys, "--reports", "--deidentify", "--no-plots")
    (out / ".report-key").unlink()
    code, _, stderr = batch(manifest, out, models, capsys, "--reports", "--deidentify", "--no-plots")
    assert code in (0, 3), stderr
    current = sorted(p.name for p in (out / "reports").iterdir())
    assert len(current) == 2 and set(current).isdisjoint(first)
    with open(out / "reports_index.csv", newline="") as handle:
        assert sorted(row["folder"] for row in csv.DictReader(handle)) == current
    # a damaged key is one line, and nothing is rewritten
    (out / ".report-key").write_text("not a key\n")
    code, _, stderr = batch(manifest, out, models, capsys, "--reports", "--deidentify", "--no-plots")
    assert code == 2 and stderr.startswith("error: ") and ".report-key is damaged" in stderr
    assert "Traceback" not in stderr
    assert sorted(p.name for p in (out / "reports").iterdir()) == current


# --------------------------------------------------------------------------- defect 4


def test_results_csv_that_is_a_folder_is_named_in_the_error(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos, [("P1", "1", "a")])
    out = tmp_path / "out"
    (out / "results.csv").mkdir(parents=True)
    (out / "results.csv" / "notes.txt").write_text("keep me")
    code, _, stderr = batch(manifest, out, models, capsys)
    assert code == 2 and ".tmp" not in stderr and stderr.count("\n") == 1
    assert stderr == (f"error: {out / 'results.csv'} is a folder, so the results table cannot be written there "
                      f"(move it out of the way or choose another output folder with -o/--output)\n")
    assert (out / "results.csv" / "notes.txt").read_text() == "keep me"
    assert hidden_files(out) == [] and sorted(p.name for p in out.iterdir()) == ["results.csv"]


def test_precision_is_recorded_and_a_change_recomputes_but_a_new_version_alone_does_not():
    """Before: results.csv had no precision column, so an int8 rerun kept the fp32 rows."""
    from alonet import __version__
    from alonet.report.provenance import PROVENANCE_COLUMNS, stale_reason

    assert PROVENANCE_COLUMNS[-2:] == ("precision", "alonet_version")
    current = {"inputs_sha256": "a", "model_sha256": "m", "precision": "int8", "alonet_version": __version__}
    assert stale_reason({**current, "precision": "fp32"}, current) == "precision changed"
    older_table_row = {"inputs_sha256": "a", "model_sha256": "m"}  # written before the columns existed
    assert stale_reason(older_table_row, {**current, "precision": "fp32"}) is None
    assert stale_reason({**current, "alonet_version": "0.0.9"}, current) is None


def test_a_recomputed_row_is_kept_in_superseded_csv_and_its_old_report_moved_aside(models, photos, tmp_path,
                                                                                   capsys):
    """Before: a rerun with another threshold overwrote rows with no trace, and the old report
    folders kept showing the old numbers beside the new table."""
    manifest = trial(tmp_path, photos, [("P1", "1", "a")])
    out = tmp_path / "out"
    code, _, stderr = batch(manifest, out, models, capsys, "--reports", "--no-plots")
    assert code in (0, 3), stderr
    first = list(csv.DictReader(open(out / "results.csv")))[0]
    assert not (out / "superseded.csv").exists()
    code, stdout, stderr = batch(manifest, out, models, capsys, "--no-plots", "--hairloss-threshold", "0.4")
    assert code in (0, 3), stderr
    assert "hair-loss threshold changed" in stdout
    kept = list(csv.DictReader(open(out / "superseded.csv")))
    assert len(kept) == 1 and kept[0]["reason"] == "hair-loss threshold changed"
    assert kept[0]["salt"] == first["salt"] and kept[0]["hairloss_threshold"] == "0.5" and kept[0]["superseded_at"]
    (aside,) = (out / "superseded-reports").glob("P1_1.superseded-*")
    assert (aside / "report.json").is_file() and not (out / "reports" / "P1_1").exists()
    # a second recompute keeps the first superseded folder too (it was replaced), and with --reports
    # the old folder is moved aside as well before the new report is written
    code, _, stderr = batch(manifest, out, models, capsys, "--reports", "--no-plots", "--hairloss-threshold", "0.3")
    assert code in (0, 3), stderr
    assert len(list((out / "superseded-reports").glob("P1_1.superseded-*"))) == 1  # P1_1 was gone: nothing to move
    assert (out / "reports" / "P1_1" / "report.json").is_file()
    code, _, stderr = batch(manifest, out, models, capsys, "--reports", "--no-plots", "--hairloss-threshold", "0.35")
    assert code in (0, 3), stderr
    assert len(list((out / "superseded-reports").glob("P1_1.superseded-*"))) == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_named_as_a_photograph_is_an_error_row_not_a_hang(models, photos, tmp_path):  # noqa: F811
    manifest = trial(tmp_path, photos, [("P1", "1", "a")])
    right = tmp_path / "trial" / "visit0" / "right.jpg"
    right.unlink()
    os.mkfifo(right)  # nothing ever writes to it: the photographs' checksum used to wait on it for ever
    run = subprocess.run([sys.executable, "-m", "alonet", "batch", str(manifest), "-o", str(tmp_path / "out"),
                          "--model", str(models), "--backend", "torch", "--workers", "1", "--no-plots"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    (row,) = read(tmp_path / "out" / "results.csv")
    assert "right.jpg is not a regular file" in row["error"]


@pytest.mark.parametrize("text, line, needle", [
    ("patient,visit,view,path\n\n\nP0001,1,top,a.jpg\nP0001,1,top,b.jpg\n", 5, "listed twice"),
    ("patient,visit,view,path\r\nP0001,1,top,a.jpg\r\n\r\nP0001,1,bottom,b.jpg\r\n", 4, "unknown view 'bottom'"),
    ("sep=;\npatient;visit;view;path\n\nP0001;1;top;a.jpg\nP0001;1;xx;b.jpg\n", 5, "unknown view 'xx'"),
])
def test_manifest_errors_name_the_file_line_after_blank_lines(tmp_path, text, line, needle):
    """An audit (thirty-third session): DictReader skips blank lines, and rows were counted, so
    the line after two blank lines was called line 3."""
    from alonet.report.batch.manifest import read_batch_manifest

    path = tmp_path / "m.csv"
    path.write_bytes(text.encode())
    with pytest.raises(DatasetError, match=rf"m\.csv:{line}: .*{needle}"):
        read_batch_manifest(path)


def test_a_convert_manifest_names_the_file_line_after_blank_lines(tmp_path):
    from alonet.data.manifest import load_manifest

    path = tmp_path / "manifest.csv"
    path.write_text("stem,patient\n\na,P1\n\n\na,P2\n")
    with pytest.raises(DatasetError, match=r"line 6: stem 'a' appears twice"):
        load_manifest(path)
    path.write_text("stem,patient\n\na,P1\n\nb,P2\n")
    assert {row.stem: row.line for row in load_manifest(path).rows.values()} == {"a": 3, "b": 5}


# --------------------------------------------------------------------------- one run per output folder


def test_a_second_batch_run_into_a_folder_in_use_is_refused_and_the_first_runs_rows_are_kept(
        models, photos, tmp_path, capsys):
    """Before: two runs into one folder both read results.csv at the start and each rewrote it
    whole at the end, so the rows only one of them scored were lost (and a report folder could
    come from the other run's model)."""
    import socket

    manifest = trial(tmp_path, photos, [("P1", "1", "a")])
    out = tmp_path / "out"
    assert batch(manifest, out, models, capsys)[0] == 0
    kept = (out / "results.csv").read_bytes()
    busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # another run, alive
    try:
        (out / "batch.lock").write_text(json.dumps({"pid": busy.pid, "host": socket.gethostname(),
                                                    "token": "x", "started": "2026-12-08T05:00:00+00:00"}))
        code, printed, err = batch(manifest, out, models, capsys, "--only", "P1", "1")
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert f"is in use by another `alonet batch` (process {busy.pid} on" in lines[0]
        assert f"wait for process {busy.pid} to finish or stop it" in lines[0]
        assert (out / "results.csv").read_bytes() == kept and (out / "batch.lock").exists()
    finally:
        busy.kill()
        busy.wait()
    # the process that held it has ended: its lock is stale, taken over, and gone after the run
    code, printed, err = batch(manifest, out, models, capsys, "--only", "P1", "1")
    assert code == 0, err
    assert not (out / "batch.lock").exists() and len(read(out / "results.csv")) == 1
