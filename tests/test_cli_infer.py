"""End-to-end tests of the inference verbs on phantom photographs.

A tiny, randomly initialised model set stands in for the bundled model, so
these tests check the plumbing (files, sizes, numbers agree, errors), not the
accuracy of a trained network.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_infer import make_model_set, phantom_visit

from alonet.cli.main import main
from alonet.scoring.salt import salt_result
from alonet.views import VIEWS


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return phantom_visit(tmp_path_factory.mktemp("visit"), seed=5, out_size=181)


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALONET_CACHE_DIR", str(tmp_path / "onnx-cache"))


def run(argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_predict_writes_probability_maps_and_overlays(models, visit, tmp_path, capsys):
    out = tmp_path / "pred"
    code, stdout, stderr = run(["predict", visit["left"], visit["top"], "--view", "left", "-o", out,
                                "--model", models, "--backend", "torch"], capsys)
    assert code == 0, stderr
    assert "left.jpg" in stdout and "% hair loss" in stdout
    width, height = Image.open(visit["left"]).size
    for stem in ("left", "top"):
        for kind in ("scalp", "hairloss"):
            prob = np.asarray(Image.open(out / f"{stem}_{kind}.png"))
            assert prob.shape == (height, width) and prob.dtype == np.uint8
        assert Image.open(out / f"{stem}_overlay.jpg").size == (width, height)
    # the written map is the pipeline's probability (0..1 -> 0..255)
    from alonet.infer import Pipeline

    result = Pipeline(models, backend="torch").predict_view(visit["left"], "left")
    for kind, prob in (("scalp", result.scalp_prob), ("hairloss", result.hairloss_prob)):
        written = np.asarray(Image.open(out / f"left_{kind}.png")).astype(int)
        assert np.abs(written - np.round(prob * 255)).max() <= 1
    # refusing to overwrite, then --overwrite
    code, _, stderr = run(["predict", visit["left"], "--view", "left", "-o", out, "--model", models], capsys)
    assert code == 2 and stderr.startswith("error: output") and "--overwrite" in stderr
    assert "Traceback" not in stderr


def test_predict_with_views_csv_and_a_bad_file(models, visit, tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg at all")
    table = tmp_path / "views.csv"
    table.write_text(f"file,view\n{visit['right']},right\n{bad.name},top\n{visit['back']},BACK\n")
    out = tmp_path / "pred"
    code, stdout, stderr = run(["predict", "--views-csv", table, "-o", out, "--model", models,
                                "--backend", "torch"], capsys)
    assert code == 2  # one input failed ...
    assert "broken.jpg" in stderr and "not an image" in stderr and "Traceback" not in stderr
    assert (out / "right_overlay.jpg").is_file() and (out / "back_overlay.jpg").is_file()  # ... the others ran
    assert not (out / "broken_overlay.jpg").exists()
    code, _, stderr = run(["predict", visit["top"], "-o", out, "--model", models], capsys)
    assert code == 2 and "--view is required" in stderr


def test_score_writes_report_and_prints_salt(models, visit, tmp_path, capsys):
    report = tmp_path / "report"
    code, stdout, stderr = run(["score", "--top", visit["top"], "--back", visit["back"], "--left", visit["left"],
                                "--right", visit["right"], "-o", report, "--model", models, "--deidentify"],
                               capsys)
    assert code == 0, stderr
    document = json.loads((report / "report.json").read_text())
    assert document["deidentified"] is True and document["backend"] == "onnx"  # auto picked ONNX Runtime
    percents = {}
    for view in VIEWS:
        scalp = np.asarray(Image.open(report / f"{view}_scalp.png")) == 255
        loss = np.asarray(Image.open(report / f"{view}_hairloss.png")) == 255
        summary = document["views"][view]
        assert scalp.shape == (summary["height"], summary["width"])  # masks at the photograph's size
        assert summary["scalp_pixels"] == scalp.sum() and summary["hairloss_pixels"] == (loss & scalp).sum()
        assert f"{view:<6}" in stdout
        percents[view] = summary["loss_pct"]  # measured at network size (see test_bundled_model)
    expected = salt_result(percents)
    assert document["salt"] == pytest.approx(expected.salt, abs=0.006)
    assert f"SALT {expected.salt:.1f}   grade {expected.grade}" in stdout
    html = (report / "report.html").read_text()
    assert "http://" not in html and "https://" not in html
    assert html.count("data:image/jpeg;base64,") == 8  # photograph and overlay per view


def test_score_thresholds_change_the_masks_and_are_recorded(models, visit, tmp_path, capsys):
    views = ["--top", visit["top"], "--back", visit["back"], "--left", visit["left"], "--right", visit["right"]]
    documents = {}
    for threshold in (0.05, 0.95):
        report = tmp_path / f"t{threshold}"
        code, _, stderr = run(["score", *views, "-o", report, "--model", models, "--backend", "torch",
                               "--hairloss-threshold", threshold], capsys)
        assert code == 0, stderr
        documents[threshold] = json.loads((report / "report.json").read_text())
        assert documents[threshold]["thresholds"] == {"scalp": 0.5, "hairloss": threshold}
    low, high = documents[0.05], documents[0.95]
    for view in VIEWS:  # the scalp does not move; a lower bar finds at least as much hair loss
        assert low["views"][view]["scalp_pixels"] == high["views"][view]["scalp_pixels"]
        assert low["views"][view]["loss_pct"] >= high["views"][view]["loss_pct"]
    assert low["salt"] > high["salt"]
    code, _, stderr = run(["score", *views, "-o", tmp_path / "bad", "--model", models,
                           "--scalp-threshold", "1.5"], capsys)
    assert code == 2 and "--scalp-threshold" in stderr and not (tmp_path / "bad").exists()


def test_score_errors(models, visit, tmp_path, capsys):
    code, _, stderr = run(["score", "--top", visit["top"], "-o", tmp_path / "r", "--model", models], capsys)
    assert code == 2 and "missing view(s) back, left, right" in stderr
    code, stdout, stderr = run(["score", "--top", visit["top"], "--left", visit["left"], "-o", tmp_path / "r",
                                "--model", models, "--incomplete", "--backend", "torch"], capsys)
    assert code == 0 and "SALT n/a" in stdout and "back   missing" in stdout
    assert json.loads((tmp_path / "r" / "report.json").read_text())["salt"] is None
    code, _, stderr = run(["score", "--top", tmp_path / "nope.jpg", "--back", visit["back"], "--left",
                           visit["left"], "--right", visit["right"], "-o", tmp_path / "r2", "--model", models,
                           "--backend", "torch"], capsys)
    assert code == 2 and "nope.jpg: file not found" in stderr
    assert not (tmp_path / "r2").exists()
    code, _, stderr = run(["score", "--top", visit["top"], "-o", tmp_path / "r3", "--model",
                           tmp_path / "no-models"], capsys)
    assert code == 2 and "model folder" in stderr
    code, _, stderr = run(["score", "--top", visit["top"], "--back", visit["back"], "--left", visit["left"],
                           "--right", visit["right"], "-o", tmp_path / "r4", "--model", models,
                           "--backend", "torch", "--max-pixels", 5000], capsys)
    assert code == 2 and "more than the limit" in stderr and "top.jpg" in stderr


def test_batch_on_a_phantom_trial(models, visit, tmp_path, capsys):
    manifest = tmp_path / "trial.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["patient", "visit", "view", "path"])
        for number in (1, 2):
            for view, path in visit.items():
                writer.writerow(["P1", number, view, path])
        for view, path in visit.items():
            writer.writerow(["P2", 1, view, "missing.jpg" if view == "top" else path])
    out = tmp_path / "out"
    code, stdout, stderr = run(["batch", manifest, "-o", out, "--model", models, "--backend", "torch"], capsys)
    assert code == 3, stderr  # a visit failed: the run finishes, but says so in its exit status
    assert "scored 2 visit(s) (0 recomputed), 1 error(s), 0 unchanged and kept" in stdout
    assert stderr.rstrip().splitlines()[-1].startswith("error: 1 visit(s) failed, 0 visit(s) have no SALT")
    assert "visit/s" in stderr or "visit]" in stderr  # the tqdm bar
    rows = list(csv.DictReader(open(out / "results.csv", newline="")))
    assert [r["visit"] for r in rows] == ["1", "2", "1"]
    assert rows[0]["salt"] == rows[1]["salt"] != ""  # the same photographs, the same SALT
    assert rows[1]["change"] == "0.00" and rows[1]["salt50"] == "0"
    assert "missing.jpg: file not found" in rows[2]["error"] and rows[2]["salt"] == ""
    assert (out / "plots" / "P1.png").is_file()
    code, stdout, _ = run(["batch", manifest, "-o", out, "--model", models, "--backend", "torch"], capsys)
    assert code == 3 and "scored 0 visit(s) (0 recomputed), 1 error(s), 2 unchanged" in stdout
    code, _, stderr = run(["batch", tmp_path / "none.csv", "-o", out, "--model", models], capsys)
    assert code == 2 and "none.csv not found" in stderr
    # per-visit reports record how their numbers were made
    code, _, stderr = run(["batch", manifest, "-o", tmp_path / "with-reports", "--model", models,
                           "--backend", "torch", "--reports", "--hairloss-threshold", "0.3"], capsys)
    assert code == 3, stderr  # the missing.jpg visit is an error row
    document = json.loads((tmp_path / "with-reports" / "reports" / "P1_1" / "report.json").read_text())
    assert document["model"] == str(models) and document["backend"] == "torch"
    assert document["thresholds"] == {"scalp": 0.5, "hairloss": 0.3}


def test_export_onnx_model_set(models, visit, tmp_path, capsys):
    out = tmp_path / "exported"
    code, stdout, stderr = run(["export", "--onnx", "--model", models, "-o", out], capsys)
    assert code == 0, stderr
    for task in ("scalp-temporal", "scalp-midline", "hairloss"):
        assert (out / f"{task}.onnx").is_file() and (out / f"{task}.json").is_file()
    from alonet.infer import Pipeline

    onnx = Pipeline(out, backend="onnx")
    assert all(p.parent == out for p in onnx.backend.paths.values())  # the exported files are used
    torch_result = Pipeline(models, backend="torch").predict_view(visit["right"], "right")
    onnx_result = onnx.predict_view(visit["right"], "right")
    np.testing.assert_allclose(onnx_result.hairloss_prob, torch_result.hairloss_prob, atol=1e-4)
    code, _, stderr = run(["export", "--model", models, "-o", out], capsys)
    assert code == 2 and "--onnx" in stderr


def test_damaged_weights_beside_a_working_export_stop_the_score(models, visit, tmp_path, capsys):
    """An audit (thirty-third session): with ONNX files beside it, a zero-byte or foreign
    .safetensors scored on (the ONNX files ran) and the report's model_sha256 named files that
    did not; --backend torch already refused."""
    import shutil

    out = tmp_path / "exported"
    assert run(["export", "--onnx", "--model", models, "-o", out], capsys)[0] == 0
    (out / "hairloss.safetensors").write_bytes(b"")
    report = tmp_path / "report"
    code, _, stderr = run(["score", "--top", visit["top"], "--back", visit["back"], "--left", visit["left"],
                           "--right", visit["right"], "-o", report, "--model", out], capsys)
    assert code == 2 and "hairloss.safetensors does not match hairloss.json (checksum differs" in stderr
    assert not report.exists()
    shutil.copyfile(Path(models) / "hairloss.safetensors", out / "hairloss.safetensors")
    code, _, stderr = run(["score", "--top", visit["top"], "--back", visit["back"], "--left", visit["left"],
                           "--right", visit["right"], "-o", report, "--model", out], capsys)
    assert code == 0, stderr
    assert json.loads((report / "report.json").read_text())["backend"] == "onnx"


def test_demo_renders_scores_and_reports_a_phantom_patient(models, tmp_path, capsys):
    import re

    from alonet.phantom import render_patient

    out = tmp_path / "demo"
    code, stdout, stderr = run(["demo", "-o", out, "--seed", 3, "--size", 320, "--model", models,
                                "--backend", "torch"], capsys)
    assert code == 0, stderr
    last = stdout.strip().splitlines()[-1]
    match = re.fullmatch(r"SALT predicted (\d+\.\d) true (\d+\.\d)", last)
    assert match, last
    truth = render_patient(seed=3, visits=1, size=320)[0]
    assert match.group(2) == f"{truth.salt:.1f}"
    document = json.loads((out / "report" / "report.json").read_text())
    assert abs(float(match.group(1)) - document["salt"]) <= 0.051
    assert document["true_salt"] == round(truth.salt, 2)
    assert len(document["model_sha256"]) == 64 and len(document["inputs_sha256"]) == 64  # what made it
    for view in VIEWS:
        photo = np.asarray(Image.open(out / "photographs" / f"{view}.jpg"))
        assert photo.shape == truth.views[view].image.shape
        true_scalp = np.asarray(Image.open(out / "truth" / f"{view}_scalp.png")) == 255
        np.testing.assert_array_equal(true_scalp, truth.views[view].scalp)
    assert (out / "report" / "report.html").is_file()
    assert f"its true SALT is {truth.salt:.1f}" in (out / "report" / "report.html").read_text()
    # a rerun replaces its own folder; a foreign folder is refused
    code, _, stderr = run(["demo", "-o", out, "--seed", 3, "--size", 320, "--model", models,
                           "--backend", "torch"], capsys)
    assert code == 0, stderr
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    code, _, stderr = run(["demo", "-o", foreign, "--model", models], capsys)
    assert code == 2 and "not written by alonet demo" in stderr
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_pipeline_options_keep_the_config_defaults():
    from alonet.cli.options import pipeline_config
    from alonet.infer import PipelineConfig

    assert pipeline_config() == PipelineConfig()
    config = pipeline_config(1000, scalp_threshold=0.3)
    assert config.max_pixels == 1000 and config.postprocess.scalp_threshold == 0.3
    assert config.postprocess.hairloss_threshold == PipelineConfig().postprocess.hairloss_threshold == 0.5
