"""Batch provenance and exit status (issue 10, defect 3).

Before, a rerun after the photographs, the model or a threshold changed said
"2 already done" and kept the old numbers, results.csv did not say which model
or thresholds made a row, and ``alonet batch`` exited 0 when visits failed.
"""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from test_infer import make_model_set, phantom_visit
from test_report import write_manifest

from alonet.cli.main import main
from alonet.infer import Pipeline, PipelineConfig
from alonet.infer.postprocess import PostprocessConfig
from alonet.report import ReportOptions
from alonet.report.batch import RESULT_COLUMNS, run_batch
from alonet.report.provenance import (
    PROVENANCE_COLUMNS,
    file_sha256,
    inputs_sha256,
    stale_reason,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("prov-models"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("prov-photos")
    return {name: phantom_visit(root / name, seed=seed, out_size=320, loss_radius=radius)
            for name, seed, radius in (("a", 1, 40), ("b", 2, 60), ("c", 3, 30))}


def trial(tmp_path, photos, visits=(("P1", "v1", "a"), ("P1", "v2", "b"))):
    folder = tmp_path / "trial"
    rows = []
    for patient, visit, name in visits:
        target = folder / f"{patient}_{visit}"
        shutil.copytree(photos[name]["top"].parent, target, dirs_exist_ok=True)
        rows += [(patient, visit, view, str(target / f"{view}.jpg"), "") for view in ("top", "back", "left", "right")]
    return write_manifest(folder / "manifest.csv", rows, header=("patient", "visit", "view", "path", "date"))


def read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def pipeline_with(models, hairloss=0.5):
    return Pipeline(models, backend="torch",
                    config=PipelineConfig(postprocess=PostprocessConfig(hairloss_threshold=hairloss)))


def test_rows_record_model_backend_thresholds_and_inputs(models, photos, tmp_path):
    manifest = trial(tmp_path, photos)
    summary = run_batch(manifest, tmp_path / "out", pipeline_with(models), progress=False, plots=False)
    assert (summary.scored, summary.errors, summary.withheld) == (2, 0, 0)
    rows = read(tmp_path / "out" / "results.csv")
    assert set(PROVENANCE_COLUMNS) <= set(RESULT_COLUMNS) and tuple(rows[0]) == RESULT_COLUMNS
    for row in rows:
        assert row["model"] == str(models) and len(row["model_sha256"]) == 64
        assert row["backend"] == "torch" and row["scalp_threshold"] == "0.5" and row["hairloss_threshold"] == "0.5"
        assert len(row["inputs_sha256"]) == 64 and row["provisional"] == "0"
    assert rows[0]["inputs_sha256"] != rows[1]["inputs_sha256"]
    # the model checksum covers the files: the same folder re-saved with other weights differs
    other = make_model_set(tmp_path / "other", seed=5)
    again = run_batch(manifest, tmp_path / "out2", pipeline_with(other), progress=False, plots=False)
    assert again.scored == 2
    assert read(tmp_path / "out2" / "results.csv")[0]["model_sha256"] != rows[0]["model_sha256"]


def test_rerun_recomputes_changed_photographs_settings_and_dependent_visits(models, photos, tmp_path):
    manifest = trial(tmp_path, photos)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    first = read(out / "results.csv")
    unchanged = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert (unchanged.scored, unchanged.skipped, unchanged.recomputed) == (0, 2, [])
    assert read(out / "results.csv") == first
    # a photograph of the follow-up visit is replaced: only that visit is recomputed
    follow_up = tmp_path / "trial" / "P1_v2"
    shutil.copy(photos["c"]["top"], follow_up / "top.jpg")
    changed = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert changed.recomputed == [("P1", "v2", "photographs changed")] and changed.skipped == 1
    rows = read(out / "results.csv")
    assert [r["visit"] for r in rows] == ["v1", "v2"]
    assert rows[1]["inputs_sha256"] != first[1]["inputs_sha256"] and rows[1]["top_pct"] != first[1]["top_pct"]
    # the baseline's photograph changes: the follow-up's response columns depend on it
    shutil.copy(photos["b"]["back"], tmp_path / "trial" / "P1_v1" / "back.jpg")
    base = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert base.recomputed == [("P1", "v1", "photographs changed"), ("P1", "v2", "baseline visit changed")]
    rows = read(out / "results.csv")
    assert rows[1]["baseline_salt"] == rows[0]["salt"] != first[0]["salt"]
    # a threshold changes: every row is recomputed and says why
    lower = run_batch(manifest, out, pipeline_with(models, hairloss=0.3), progress=False, plots=False)
    assert [r for _, _, r in lower.recomputed] == ["hair-loss threshold changed"] * 2
    assert {r["hairloss_threshold"] for r in read(out / "results.csv")} == {"0.3"}


def test_stale_reason_and_hashes(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert file_sha256(a) != file_sha256(b)
    assert inputs_sha256({"top": a, "back": b}) != inputs_sha256({"top": b, "back": a})
    # a photograph relabelled (a side view given as left, now as right: mirrored for the temporal
    # network) is another input, though no file changed
    assert inputs_sha256({"top": a, "left": b}) != inputs_sha256({"top": a, "right": b})
    assert inputs_sha256({"top": tmp_path / "gone.jpg"}) == inputs_sha256({"top": tmp_path / "gone2.jpg"})
    row = {"inputs_sha256": "x", "model_sha256": "m", "backend": "torch", "scalp_threshold": "0.5",
           "hairloss_threshold": "0.5", "provisional": "0"}
    assert stale_reason(row, row) is None
    assert stale_reason(row, {**row, "model_sha256": "n", "backend": "onnx"}) == "model changed, backend changed"


def test_batch_command_exit_status_and_recompute_message(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos)
    out = tmp_path / "out"
    argv = ["batch", str(manifest), "-o", str(out), "--model", str(models), "--backend", "torch", "--no-plots"]
    assert main(argv) == 0
    capsys.readouterr()
    shutil.copy(photos["c"]["left"], tmp_path / "trial" / "P1_v2" / "left.jpg")
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "recomputed patient P1 visit v2: photographs changed" in stdout
    assert "scored 1 visit(s) (1 recomputed, reasons above), 0 error(s), 1 unchanged" in stdout
    (tmp_path / "trial" / "P1_v2" / "back.jpg").write_bytes(b"not a picture")
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 3
    assert captured.err.strip().splitlines()[-1] == (
        f"error: 1 visit(s) failed, 0 visit(s) have no SALT (a photograph needs a retake) "
        f"(see the status, error, withheld and flags columns of {out / 'results.csv'})")


def test_withheld_rows_say_why_and_provisional_is_a_setting(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos)
    dark = tmp_path / "trial" / "P1_v2" / "back.jpg"
    from PIL import Image

    Image.fromarray((np.asarray(Image.open(dark)) // 8).astype(np.uint8)).save(dark, quality=92)
    out = tmp_path / "out"
    argv = ["batch", str(manifest), "-o", str(out), "--model", str(models), "--backend", "torch", "--no-plots"]
    assert main(argv) == 3
    assert "error: 0 visit(s) failed, 1 visit(s) have no SALT (a photograph needs a retake) (see" in capsys.readouterr().err
    rows = read(out / "results.csv")
    assert rows[1]["salt"] == "" and rows[1]["withheld"].startswith("no SALT: back view: photograph too dark")
    assert rows[0]["withheld"] == "" and rows[0]["salt"] != ""
    assert main([*argv, "--provisional"]) == 0
    stdout = capsys.readouterr().out
    assert "recomputed patient P1 visit v2: --provisional changed" in stdout
    rows = read(out / "results.csv")
    assert rows[1]["salt"] != "" and rows[1]["provisional"] == "1"
    assert rows[1]["withheld"].startswith("provisional SALT (asked for)")
    # a provisional SALT is not compared with the baseline (as on the web app's patient page)
    assert rows[1]["baseline_visit"] == "v1" and rows[1]["baseline_salt"] == rows[0]["salt"] != ""
    assert [rows[1][c] for c in ("change", "percent_change", "salt50", "worsening_20")] == ["", "", "", ""]
    # a view the gate refuses is never measured: --provisional leaves that visit without a SALT,
    # and the run says so with exit 3 (it said "0 error(s)" and exited 0)
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(dark)
    assert main([*argv, "--provisional"]) == 3
    assert ("error: 0 visit(s) failed, 0 visit(s) have no SALT (a photograph needs a retake), 1 visit(s) have "
            "no SALT (a view could not be measured, which --provisional cannot change)") in capsys.readouterr().err
    assert [r["status"] for r in read(out / "results.csv")] == ["scored", "incomplete"]


def test_a_provisional_baseline_gives_no_responses(models, photos, tmp_path, capsys):
    """The first visit is the baseline, but a provisional SALT (its photographs need a retake)
    is never one: the later visit names it and its SALT, with empty response columns."""
    from PIL import Image

    manifest = trial(tmp_path, photos)
    dark = tmp_path / "trial" / "P1_v1" / "back.jpg"
    Image.fromarray((np.asarray(Image.open(dark)) // 8).astype(np.uint8)).save(dark, quality=92)
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", str(out), "--model", str(models), "--backend", "torch",
                 "--provisional"]) == 0
    rows = read(out / "results.csv")
    assert [r["status"] for r in rows] == ["provisional", "scored"]
    assert rows[1]["baseline_visit"] == "v1" and rows[1]["baseline_salt"] == rows[0]["salt"] != ""
    assert [rows[1][c] for c in ("change", "percent_change", "salt50", "salt_le_20")] == ["", "", "", ""]
    assert (out / "plots" / "P1.png").is_file()  # drawn without the baseline's guide lines


def test_view_checks_can_be_switched_off_and_are_recorded(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos, visits=(("P1", "v1", "a"),))
    out = tmp_path / "out"
    assert main(["batch", str(manifest), "-o", str(out), "--model", str(models), "--backend", "torch",
                 "--no-plots", "--workers", "1", "--no-view-checks"]) in (0, 3)
    assert read(out / "results.csv")[0]["view_checks"] == "0"
    capsys.readouterr()
    main(["batch", str(manifest), "-o", str(out), "--model", str(models), "--backend", "torch",
          "--no-plots", "--workers", "1"])
    assert "recomputed patient P1 visit v1: view checks switched on or off" in capsys.readouterr().out
    assert read(out / "results.csv")[0]["view_checks"] == "1"
    # results.csv written before the column existed: its rows ran the checks and are kept
    rows = read(out / "results.csv")
    older = [c for c in RESULT_COLUMNS if c != "view_checks"]
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=older, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    summary = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert (summary.scored, summary.skipped, summary.recomputed) == (0, 1, [])
    assert read(out / "results.csv")[0]["view_checks"] == "1"


def test_a_visit_scored_without_view_checks_keeps_swapped_labels_unflagged(models, photos):
    pipeline = Pipeline(models, backend="torch", config=PipelineConfig(check_views=False))
    views = photos["a"]
    same = pipeline.score_visit({**views, "back": views["top"]})  # the duplicate check is off too
    assert same.salt is not None and pipeline.provenance()["view_checks"] is False
    assert not [f for f in same.flags if f["code"] in ("view_mismatch", "side_mismatch")]


def test_reports_record_the_same_model_and_photograph_checksums_as_the_rows(models, photos, tmp_path, capsys):
    """report.json said only ``model: default``: two retrainings of the bundled weights gave the
    same record and different SALTs (a reproducibility audit, 2026-12-07)."""
    import json

    manifest = trial(tmp_path, photos)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, reports=ReportOptions())
    rows = read(out / "results.csv")
    for row in rows:
        document = json.loads((out / "reports" / f"P1_{row['visit']}" / "report.json").read_text())
        assert document["model_sha256"] == row["model_sha256"] and len(row["model_sha256"]) == 64
        assert document["inputs_sha256"] == row["inputs_sha256"]
        html = (out / "reports" / f"P1_{row['visit']}" / "report.html").read_text()
        assert f"(checksum {row['model_sha256'][:12]})" in html
    visit = photos["a"]
    argv = ["score", *[a for v in ("top", "back", "left", "right") for a in (f"--{v}", str(visit[v]))],
            "--model", str(models), "--backend", "torch"]
    assert main([*argv, "-o", str(tmp_path / "one")]) in (0, 3)
    document = json.loads((tmp_path / "one" / "report.json").read_text())
    assert document["model_sha256"] == rows[0]["model_sha256"]
    assert document["inputs_sha256"] == inputs_sha256({v: visit[v] for v in ("top", "back", "left", "right")})
    assert main([*argv, "-o", str(tmp_path / "anon"), "--deidentify"]) in (0, 3)
    anonymous = json.loads((tmp_path / "anon" / "report.json").read_text())
    assert "inputs_sha256" not in anonymous and anonymous["model_sha256"] == rows[0]["model_sha256"]


def test_a_rerun_reads_only_the_photographs_that_changed(models, photos, tmp_path, monkeypatch):
    """Before: every run read every photograph of the manifest to checksum it (the auditor: about
    17 s of a 20 s rerun of 4,000 unchanged visits, tens of GB for a real trial), also with --only."""
    import os

    import alonet.report.batch.run as batch_run
    from alonet.report.batch import hashes
    from alonet.report.batch.hashes import HASH_FILE
    from alonet.report.provenance import file_sha256

    read_files = []

    def counting(path):
        read_files.append(os.path.basename(path))
        return file_sha256(path)

    monkeypatch.setattr(batch_run, "file_sha256", counting)
    monkeypatch.setattr(hashes, "SETTLED_S", 0.0)  # the photographs were copied a moment ago
    manifest = trial(tmp_path, photos)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert len(read_files) == 8  # two visits of four photographs, each read once
    first = read(out / "results.csv")
    cache = (out / HASH_FILE).read_text()
    assert str(tmp_path) not in cache and "P1_v1" not in cache  # paths may hold names: none kept
    read_files.clear()
    unchanged = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert read_files == [] and (unchanged.scored, unchanged.skipped) == (0, 2)
    assert read(out / "results.csv") == first
    # a photograph rewritten in place with other bytes of the same size is read again and rescored
    top = tmp_path / "trial" / "P1_v2" / "top.jpg"
    data = bytearray(top.read_bytes())
    data[-3] ^= 0xFF  # inside the entropy-coded data, before the end marker
    top.write_bytes(bytes(data))
    changed = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert read_files == ["top.jpg"] and changed.recomputed == [("P1", "v2", "photographs changed")]
    assert (out / HASH_FILE).stat().st_mode & 0o777 == 0o600
    # a damaged checksum file only costs reading every photograph again
    (out / HASH_FILE).write_text("{not json")
    read_files.clear()
    again = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert len(read_files) == 8 and (again.scored, again.skipped) == (0, 2)
    # a checksum taken within SETTLED_S of the file's last write is not trusted the next time
    # (where file times are whole seconds, a rewrite in the same second would keep them all)
    monkeypatch.setattr(hashes, "SETTLED_S", 3600.0)
    (out / HASH_FILE).unlink()
    for expected in (8, 8):  # read, and read again: every file was written "just before"
        read_files.clear()
        run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
        assert len(read_files) == expected


def test_a_photographs_stamp_samples_its_first_and_last_bytes(tmp_path):
    """Where the status-change time is the creation time (Windows) or a copy of the modification
    time, a same-size rewrite that restores the modification time keeps every time: the bytes
    sampled at both ends (camera metadata is at the start) still tell."""
    import os

    from alonet.report.batch.hashes import SAMPLE_BYTES, file_stamp

    photo = tmp_path / "p.jpg"
    data = bytes(range(256)) * (3 * SAMPLE_BYTES // 256)
    photo.write_bytes(data)
    before, _ = file_stamp(photo)
    times = photo.stat()
    for offset in (10, len(data) - 10):  # the EXIF orientation tag sits near the start
        changed = bytearray(data)
        changed[offset] ^= 1
        photo.write_bytes(bytes(changed))
        os.utime(photo, ns=(times.st_atime_ns, times.st_mtime_ns))
        after, _ = file_stamp(photo)
        assert after[2:4] == before[2:4] and after[5] != before[5]
