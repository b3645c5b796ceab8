"""`alonet predict --masks/--npy`: the final masks and float32 probabilities, and
scoring them again with `alonet salt --masks`.

A tiny random model set stands in for the bundled model (see test_cli_infer.py):
these tests check that the files hold exactly the pipeline's arrays.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from test_image_encoding import pillow_jpeg, pillow_mask_png, pillow_png
from test_infer import make_model_set, phantom_visit

from alonet.cli.main import main
from alonet.data.annotation import read_annotation
from alonet.data.maskpairs import PROBABILITY_PNG_KEY, PROBABILITY_PNG_VALUE
from alonet.report.overlay import probability_to_uint8, render_overlay
from alonet.scoring.salt import salt_from_masks
from alonet.views import VIEWS


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return phantom_visit(tmp_path_factory.mktemp("visit"), seed=5, out_size=181)


@pytest.fixture(scope="module")
def predicted(models, visit, tmp_path_factory):
    """predict --masks --npy of the four photographs (named after their views)."""
    folder = tmp_path_factory.mktemp("pred")
    table = folder / "views.csv"
    table.write_text("file,view\n" + "".join(f"{visit[v]},{v}\n" for v in VIEWS))
    out = folder / "out"
    code = main(["predict", "--views-csv", str(table), "-o", str(out), "--masks", "--npy",
                 "--model", str(models), "--backend", "torch"])
    assert code == 0
    return out


@pytest.fixture(autouse=True)
def onnx_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ALONET_CACHE_DIR", str(tmp_path / "onnx-cache"))


def run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_written_masks_and_npy_are_the_pipelines_arrays(models, visit, predicted):
    from alonet.infer import Pipeline

    pipeline = Pipeline(models, backend="torch")
    for view in VIEWS:  # right is processed mirrored: its files are in the photograph's orientation
        result = pipeline.predict_view(visit[view], view)
        width, height = Image.open(visit[view]).size
        for kind in ("scalp", "hairloss"):
            png = np.asarray(Image.open(predicted / f"{view}_{kind}_mask.png"))
            assert png.dtype == np.uint8 and png.shape == (height, width)
            assert set(np.unique(png)) <= {0, 255}
            assert np.array_equal(png == 255, getattr(result, f"{kind}_mask"))
            prob = np.load(predicted / f"{view}_{kind}_prob.npy")
            assert prob.dtype == np.float32 and np.array_equal(prob, getattr(result, f"{kind}_prob"))
            # the 8-bit map is the same probability rounded, and says that it is one
            with Image.open(predicted / f"{view}_{kind}.png") as image:
                assert PROBABILITY_PNG_KEY in image.info
                assert np.array_equal(np.asarray(image), probability_to_uint8(prob))
            # byte for byte Pillow's encodings: the marked 8-bit map, the 0/255 mask
            marker = {PROBABILITY_PNG_KEY: PROBABILITY_PNG_VALUE}
            assert (predicted / f"{view}_{kind}.png").read_bytes() == pillow_png(probability_to_uint8(prob), marker)
            assert (predicted / f"{view}_{kind}_mask.png").read_bytes() == pillow_mask_png(png == 255)
        overlay = render_overlay(result.image, result.scalp_mask, result.hairloss_mask)
        assert (predicted / f"{view}_overlay.jpg").read_bytes() == pillow_jpeg(overlay, 90)
        assert result.scalp_mask.any()  # a real comparison, not two empty masks


def test_predict_thresholds_reach_the_masks(visit, tmp_path, capsys):
    """`predict --scalp-threshold/--hairloss-threshold` give the masks of a pipeline with those
    thresholds, each on its own network, and not those of the default thresholds (0.5)."""
    from alonet.infer import Pipeline, PipelineConfig, PostprocessConfig

    models = make_model_set(tmp_path / "models", scalp_bias=0.0)  # both networks near 0.5: thresholds matter
    out = tmp_path / "out"
    code, _, err = run(capsys, "predict", visit["top"], "--view", "top", "-o", out, "--masks",
                       "--scalp-threshold", 0.3, "--hairloss-threshold", 0.7, "--model", models, "--backend", "torch")
    assert code == 0, err
    config = PipelineConfig(postprocess=PostprocessConfig(scalp_threshold=0.3, hairloss_threshold=0.7))
    chosen = Pipeline(models, backend="torch", config=config).predict_view(visit["top"], "top")
    default = Pipeline(models, backend="torch").predict_view(visit["top"], "top")
    stem = visit["top"].stem
    for kind in ("scalp", "hairloss"):
        mask = np.asarray(Image.open(out / f"{stem}_{kind}_mask.png")) == 255
        assert np.array_equal(mask, getattr(chosen, f"{kind}_mask"))
        assert not np.array_equal(mask, getattr(default, f"{kind}_mask")), kind
    assert chosen.scalp_mask.sum() > default.scalp_mask.sum() and chosen.hairloss_mask.sum() < default.hairloss_mask.sum()


def test_predict_masks_equal_score_report_masks_and_rescore_alike(models, visit, predicted, tmp_path, capsys):
    report = tmp_path / "report"
    code, _, err = run(capsys, "score", *[a for v in VIEWS for a in (f"--{v}", visit[v])], "-o", report,
                       "--model", models, "--backend", "torch")
    assert code == 0, err
    masks = {}
    for view in VIEWS:
        for kind in ("scalp", "hairloss"):
            from_score = np.asarray(Image.open(report / f"{view}_{kind}.png"))
            assert np.array_equal(np.asarray(Image.open(predicted / f"{view}_{kind}_mask.png")), from_score)
        masks[view] = (read_annotation(report / f"{view}_hairloss.png"), read_annotation(report / f"{view}_scalp.png"))
    expected = salt_from_masks(masks)
    # salt --masks on predict's folder reads the *_mask.png files, not the probability maps beside them,
    # and gives the SALT of the report folder's masks
    document = json.loads((report / "report.json").read_text())
    for folder in (predicted, report):
        code, out, err = run(capsys, "salt", "--masks", folder, "--json")
        assert code == 0, err
        data = json.loads(out)
        assert data["salt"] == round(expected.salt, 2)
        assert data["per_view"] == {v: round(p, 2) for v, p in expected.per_view.items()}
        for view in VIEWS:  # the pixels report.json counted, all of the hair loss inside the scalp
            counted = data["masks"][view]
            assert counted["scalp_pixels"] == document["views"][view]["scalp_pixels"] > 0
            assert counted["hairloss_pixels"] == document["views"][view]["hairloss_pixels"]
            assert counted["hairloss_outside_scalp_pixels"] == 0
    # report.json's SALT itself is not compared: it is measured on the masks at network size (64 px
    # here), not on these files; with this tiny random model's ragged masks it was 77.34 against 78.83
    # (README: within 0.1 points per view for the bundled model)


def test_salt_refuses_predicts_probability_maps(models, visit, tmp_path, capsys):
    out = tmp_path / "pred"
    code, _, err = run(capsys, "predict", visit["top"], "--view", "top", "-o", out, "--model", models,
                       "--backend", "torch")
    assert code == 0, err
    code, stdout, err = run(capsys, "salt", "--masks", out, "--missing", "zero")
    assert code == 2 and stdout == "" and "Traceback" not in err
    assert "top_scalp.png: is a probability map written by alonet predict" in err and "--masks" in err


def test_existing_mask_or_npy_files_are_not_overwritten(models, visit, tmp_path, capsys):
    out = tmp_path / "pred"
    out.mkdir()
    (out / "left_hairloss_prob.npy").write_bytes(b"keep")
    code, _, err = run(capsys, "predict", visit["left"], "--view", "left", "-o", out, "--npy", "--model", models)
    assert code == 2 and "left_hairloss_prob.npy already exists" in err and "--overwrite" in err
    assert (out / "left_hairloss_prob.npy").read_bytes() == b"keep"
    code, _, err = run(capsys, "predict", visit["left"], "--view", "left", "-o", out, "--masks", "--model", models,
                       "--backend", "torch")
    assert code == 0, err  # without --npy that file is not an output
    assert (out / "left_scalp_mask.png").is_file() and (out / "left_hairloss_prob.npy").read_bytes() == b"keep"


def test_npy_space_estimate_reads_photograph_sizes(visit, tmp_path):
    from alonet.cli.predict_cmd import npy_bytes_estimate

    width, height = Image.open(visit["top"]).size
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    # two float32 maps per photograph; a file that cannot be read is left to the run to report
    assert npy_bytes_estimate([visit["top"], broken, tmp_path / "absent.jpg"]) == 2 * 4 * width * height
