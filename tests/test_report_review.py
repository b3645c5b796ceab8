"""Reports for clinical review and big images (issue 10, defects 6 and 8).

Before: the hair-loss fill hid the skin (no plain photograph, no opacity
choice), no patient/visit/photo date/reviewer fields, thresholds only in the
JSON, the synthetic-training warning was grey footer text, captions showed local
paths; Pillow's own wording reached the user for big images and
``--max-pixels`` accepted negative values and could not lift Pillow's cap.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from test_infer import make_model_set, phantom_visit

from alonet.cli.main import main
from alonet.data.photo import read_photo
from alonet.errors import ImageTooLargeError, InvalidValueError
from alonet.report.html import SYNTHETIC_WARNING
from alonet.report.options import OVERLAY_STYLES
from alonet.report.overlay import render_overlay
from alonet.views import VIEWS


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("review-models"))


@pytest.fixture(scope="module")
def visit(tmp_path_factory):
    return phantom_visit(tmp_path_factory.mktemp("review-visit") / "PatientSmith", seed=6, out_size=320)


def score(models, visit, out, *extra):
    views = [a for v in VIEWS for a in (f"--{v}", str(visit[v]))]
    return main(["score", *views, "-o", str(out), "--model", str(models), "--backend", "torch", *extra])


def test_report_has_review_fields_thresholds_photo_beside_overlay_and_no_paths(models, visit, tmp_path, capsys):
    assert score(models, visit, tmp_path / "r", "--patient-code", "AA-017", "--visit-date", "2024-05-02",
                 "--photo-date", "2024-05-01", "--reviewer", "Dr Ng", "--hairloss-threshold", "0.4") == 0
    capsys.readouterr()
    html = (tmp_path / "r" / "report.html").read_text()
    document = json.loads((tmp_path / "r" / "report.json").read_text())
    assert document["review"] == {"patient_code": "AA-017", "visit_date": "2024-05-02",
                                  "photo_date": "2024-05-01", "reviewer": "Dr Ng"}
    for label, value in (("Patient code", "AA-017"), ("Visit date", "2024-05-02"),
                         ("Photograph date", "2024-05-01"), ("Reviewed by", "Dr Ng")):
        assert f"<dt>{label}</dt><dd>{value}</dd>" in html
    assert "thresholds: scalp 0.5, hairloss 0.4" in html
    assert html.count("view photograph\" src=\"data:image/jpeg;base64,") == 4  # the plain photographs
    assert "PatientSmith" not in html and "PatientSmith" not in json.dumps(document)
    assert all(v["source"] is None for v in document["views"].values())
    assert score(models, visit, tmp_path / "paths", "--show-paths") == 0
    capsys.readouterr()
    assert "PatientSmith" in (tmp_path / "paths" / "report.html").read_text()
    assert "PatientSmith" in json.loads((tmp_path / "paths" / "report.json").read_text())["views"]["top"]["source"]


def test_a_deidentified_report_leaves_out_the_patient_code_and_dates(models, visit, tmp_path, capsys):
    """Before: --deidentify kept the patient code and full dates beside "deidentified": true."""
    assert score(models, visit, tmp_path / "d", "--deidentify", "--show-paths", "--patient-code", "JANE-DOE-123",
                 "--visit-date", "2024-05-06", "--photo-date", "2024-05-05", "--reviewer", "Dr Ng") == 0
    capsys.readouterr()
    html = (tmp_path / "d" / "report.html").read_text()
    document = json.loads((tmp_path / "d" / "report.json").read_text())
    assert document["deidentified"] is True
    assert document["review"] == {"patient_code": None, "visit_date": None, "photo_date": None, "reviewer": "Dr Ng"}
    for text in ("JANE-DOE-123", "2024-05-06", "2024-05-05", "PatientSmith"):
        assert text not in html and text not in json.dumps(document), text
    assert "<dt>Reviewed by</dt><dd>Dr Ng</dd>" in html


def test_review_dates_must_be_dates(models, visit, tmp_path, capsys):
    assert score(models, visit, tmp_path / "bad", "--visit-date", "yesterday") == 2
    assert "yesterday" in capsys.readouterr().err


def test_synthetic_warning_stands_next_to_the_salt_only_for_the_bundled_model(models, visit, tmp_path, capsys):
    from alonet.infer import Pipeline
    from alonet.report import ReportOptions, render_report_html

    result = Pipeline(models, backend="torch").score_visit(visit)
    bundled = render_report_html(result, options=ReportOptions(meta={"model": "default"}))
    assert SYNTHETIC_WARNING in bundled
    assert bundled.index('id="salt"') < bundled.index('id="synthetic-warning"') < bundled.index('id="views"')
    assert SYNTHETIC_WARNING not in render_report_html(result, options=ReportOptions(meta={"model": str(models)}))


def test_a_report_written_from_the_python_api_records_the_pipeline_that_scored_it(models, visit, tmp_path):
    """An audit (thirty-third session): the README's Python example (write_report without meta)
    wrote a report with neither the bundled model's warning nor the model and backend."""
    from alonet.infer import Pipeline
    from alonet.report import write_report

    for spec, backend, bundled in (("default", "onnx", True), (str(models), "torch", False)):
        visit_result = Pipeline(spec, backend=backend).score_visit(visit)
        out = tmp_path / backend
        write_report(visit_result, out)
        document = json.loads((out / "report.json").read_text())
        assert (document["model"], document["backend"], document["synthetic_hair_loss"]) == (spec, backend, bundled)
        assert ("warning" in document) == bundled
        assert ('id="synthetic-warning"' in (out / "report.html").read_text()) == bundled
        assert "provenance" not in visit_result.to_dict()  # the shared JSON shape is unchanged


def test_overlay_styles_let_the_skin_show(visit):
    photo = read_photo(visit["top"])
    scalp = np.zeros(photo.shape[:2], bool)
    scalp[40:200, 60:260] = True
    loss = np.zeros_like(scalp)
    loss[80:160, 100:200] = True
    inside = np.zeros_like(scalp)
    inside[100:140, 120:180] = True  # well inside the patch, away from its outline
    change = {name: np.abs(render_overlay(photo, scalp, loss, style).astype(int) - photo.astype(int))[inside].mean()
              for name, style in OVERLAY_STYLES.items()}
    assert change["outline"] == 0 < change["light"] < change["fill"]
    ring = loss & ~inside
    outlined = render_overlay(photo, scalp, loss, OVERLAY_STYLES["outline"])
    assert (outlined[ring] != photo[ring]).any()  # the patch's border is drawn


def test_score_overlay_option_is_applied(models, visit, tmp_path, capsys):
    assert score(models, visit, tmp_path / "o", "--overlay", "outline") == 0
    assert score(models, visit, tmp_path / "f") == 0
    capsys.readouterr()
    a = np.asarray(Image.open(tmp_path / "o" / "top_overlay.jpg")).astype(int)
    b = np.asarray(Image.open(tmp_path / "f" / "top_overlay.jpg")).astype(int)
    photo = read_photo(visit["top"]).astype(int)
    assert np.abs(a - photo).mean() < np.abs(b - photo).mean()


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 90, 70)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_max_pixels_must_be_positive(models, visit, tmp_path, capsys):
    with pytest.raises(InvalidValueError, match="positive"):
        read_photo(png(10, 10), max_pixels=-1)
    assert score(models, visit, tmp_path / "neg", "--max-pixels", "-1") == 2
    err = capsys.readouterr().err
    assert "-1" in err and "x>=1" in err.replace(" ", "")
    assert main(["predict", str(visit["top"]), "--view", "top", "-o", str(tmp_path / "p"),
                 "--max-pixels", "0"]) == 2


def test_max_pixels_really_lifts_pillows_guard_and_messages_are_ours(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses above 2000 pixels now
    data = png(100, 100)  # 10 000 pixels
    with pytest.raises(ImageTooLargeError) as refused:
        read_photo(data, max_pixels=None)
    message = str(refused.value)
    assert "image has 10000 pixels (0 megapixels), too many to decode safely" in message
    assert "--max-pixels" in message
    assert "decompression bomb" not in message.lower() and "DOS" not in message
    assert read_photo(data, max_pixels=20_000).shape == (100, 100, 3)  # lifted for this read ...
    assert Image.MAX_IMAGE_PIXELS == 1000  # ... and restored afterwards
    with pytest.raises(ImageTooLargeError, match=r"100x100 = 10000 pixels, more than the limit of 5000 pixels"):
        read_photo(data, max_pixels=5_000)


def test_the_synthetic_warning_follows_the_hair_loss_weights_not_the_model_name(models, tmp_path):
    import shutil

    from alonet.infer import Pipeline
    from alonet.model.io import default_model_dir, has_bundled_network
    from alonet.report.html import uses_bundled_model

    copy = tmp_path / "my-copy"
    shutil.copytree(default_model_dir(), copy)  # the bundled set under another name
    assert has_bundled_network(copy, "hairloss") and not has_bundled_network(models, "hairloss")
    assert uses_bundled_model(Pipeline(str(copy), backend="torch").provenance())
    assert not uses_bundled_model(Pipeline(models, backend="torch").provenance())
    # a record from before the checksum was recorded: by name, as before
    assert uses_bundled_model({"model": "default (onnx)"}) and not uses_bundled_model({"model": str(copy)})
