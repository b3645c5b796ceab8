"""Tests of the web application with Flask's test client and a tiny real model set.

The model set is three randomly initialised width-4 U-Nets whose scalp heads are
biased towards "scalp", so every photograph has a scalp and an undecided hair-loss
map: the numbers are arbitrary but deterministic, and every expected number
below is computed independently (``Pipeline.score_visit``, ``alonet.scoring.salt``).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import re
import sqlite3
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter
from test_image_encoding import pillow_jpeg, pillow_mask_png
from test_infer import make_model_set

from alonet.cli.main import main
from alonet.infer import Pipeline
from alonet.scoring.salt import aa_iga_band, response, salt_grade, salt_score
from alonet.views import VIEW_WEIGHTS, VIEWS
from alonet.web import WebConfig, create_app
from alonet.web.charts import salt_chart
from alonet.web.security import CONTENT_SECURITY_POLICY, UnsafeBindError, check_bind, is_loopback
from alonet.store.errors import StoreError
from alonet.store.responses import response_rows
from alonet.store.schema import SCHEMA_VERSION, migrate
from alonet.store.storage import Store

WEB_DIR = Path(__file__).resolve().parents[1] / "src" / "alonet" / "web"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_set(tmp_path_factory.mktemp("web-models"))


@pytest.fixture(scope="module")
def pipeline(model_dir) -> Pipeline:
    return Pipeline(model_dir, backend="torch")


@pytest.fixture
def make_app(model_dir, pipeline):
    """Build an app around the shared pipeline; keyword arguments go to WebConfig."""

    def build(**settings):
        config = WebConfig(models=str(model_dir), backend="torch", **settings)
        app = create_app(config, pipeline=pipeline)
        app.testing = True
        return app

    return build


def photo(seed: int, height: int = 120, width: int = 160) -> np.ndarray:
    """A smooth random colour picture."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    big = np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR))
    return np.clip(big.astype(int) + rng.integers(-30, 31, big.shape), 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    return {view: photo(i + 1) for i, view in enumerate(VIEWS)}


def files_for(images: dict[str, np.ndarray], views=VIEWS) -> dict:
    """Multipart fields for the test client (lossless PNG, so decoding is exact)."""
    return {v: (io.BytesIO(encode(images[v])), f"{v}.png") for v in views}


def csrf_token(client) -> str:
    page = client.get("/").get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)


def decode_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))) > 127


def score_in_browser_form(client, images, views=VIEWS) -> str:
    """POST /score as the page does without JavaScript; return the result URL."""
    data = files_for(images, views)
    data["csrf_token"] = csrf_token(client)
    response = client.post("/score", data=data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def mask_png(mask: np.ndarray) -> bytes:
    return encode(np.where(mask, 255, 0).astype(np.uint8))


# --------------------------------------------------------------------------- pages and headers


def test_index_has_four_labelled_slots_and_strict_headers(make_app):
    client = make_app().test_client()
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for view in VIEWS:
        assert f'name="{view}"' in page and f'id="camera-{view}"' in page
    assert page.count('capture="environment"') == 4
    assert page.count('accept="image/*"') == 8
    csp = response.headers["Content-Security-Policy"]
    assert csp == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "img-src 'self' data: blob:" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    # Every script is a file from this server; nothing is loaded from elsewhere.
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts and all('src="/static/' in attrs for attrs in scripts)
    assert " style=" not in page


def test_templates_and_static_files_reference_no_external_resource():
    for path in list((WEB_DIR / "templates").glob("*.html")) + list((WEB_DIR / "static").iterdir()):
        # An SVG namespace name is an identifier, not a resource that is fetched.
        text = path.read_text(encoding="utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name
        assert "@import" not in text and "url(" not in text, path.name
        if path.suffix == ".html":
            assert "<script>" not in text and "onclick=" not in text and " style=" not in text, path.name


def test_static_files_are_served(make_app):
    client = make_app().test_client()
    for name, kind in [("editor.js", "javascript"), ("upload.js", "javascript"), ("common.js", "javascript"),
                       ("alonet.css", "css"), ("favicon.svg", "svg")]:
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.mimetype, name
        response.close()


def test_health(make_app, model_dir):
    body = make_app().test_client().get("/api/health").get_json()
    assert body["status"] == "ok" and body["store"] is False and body["token"] is False
    assert str(model_dir) in body["model"] and "torch" in body["model"]


# --------------------------------------------------------------------------- JSON API


def test_api_scores_four_views_like_the_pipeline(make_app, pipeline, photos):
    response = make_app().test_client().post("/api/score", data=files_for(photos),
                                             content_type="multipart/form-data")
    assert response.status_code == 200
    body = response.get_json()
    expected = pipeline.score_visit(photos)
    assert expected.salt is not None and 0 < expected.salt < 100
    assert body["complete"] is True and body["missing"] == []
    assert body["salt"] == pytest.approx(expected.salt, abs=0.006)
    assert body["grade"] == salt_grade(expected.salt) and body["band"] == aa_iga_band(expected.salt)
    for view in VIEWS:
        row, ref = body["views"][view], expected.views[view]
        assert row["loss_pct"] == pytest.approx(ref.loss_pct, abs=0.006)
        assert row["weight"] == VIEW_WEIGHTS[view]
        assert row["contribution"] == pytest.approx(VIEW_WEIGHTS[view] * ref.loss_pct, abs=0.006)
        assert (row["height"], row["width"]) == photos[view].shape[:2]
        np.testing.assert_array_equal(decode_data_url(row["scalp_mask"]), ref.scalp_mask)
        np.testing.assert_array_equal(decode_data_url(row["hairloss_mask"]), ref.hairloss_mask)
        assert row["flags"] == ref.flags
    no_masks = make_app().test_client().post("/api/score?masks=0", data=files_for(photos),
                                             content_type="multipart/form-data").get_json()
    assert "scalp_mask" not in no_masks["views"]["top"]
    assert no_masks["salt"] == body["salt"]
    # One JSON shape: the API answers VisitResult.to_dict() plus the model, version and provenance.
    shape = expected.to_dict()
    assert set(no_masks) == set(shape) | {"model", "version", "provenance"}
    made = no_masks["provenance"]  # what made the numbers: two thresholds give two SALTs, so it must say
    assert made["thresholds"] == {"scalp": 0.5, "hairloss": 0.5} and made["backend"] == "torch"
    assert len(made["model_sha256"]) == 64 and made["precision"] == "fp32" and made["view_checks"] is True
    assert set(no_masks["views"]["top"]) == set(shape["views"]["top"])
    assert set(body["views"]["top"]) == set(shape["views"]["top"]) | {"scalp_mask", "hairloss_mask"}


def test_api_scores_a_subset_and_names_the_missing_views(make_app, pipeline, photos):
    body = make_app().test_client().post("/api/score", data=files_for(photos, ("top", "back")),
                                         content_type="multipart/form-data").get_json()
    assert body["complete"] is False and body["salt"] is None and body["grade"] is None
    assert body["missing"] == ["left", "right"]
    assert sorted(body["views"]) == ["back", "top"]
    top = pipeline.predict_view(photos["top"], "top").loss_pct
    back = pipeline.predict_view(photos["back"], "back").loss_pct
    assert body["partial_salt"] == pytest.approx(0.40 * top + 0.24 * back, abs=0.006)
    assert any(f["code"] == "incomplete" and "left, right" in f["message"] for f in body["flags"])


def test_concurrent_api_requests_give_identical_answers(make_app, photos):
    app = make_app()
    payload = {v: encode(photos[v]) for v in VIEWS}
    results, errors = [], []

    def worker():
        try:
            client = app.test_client()
            data = {v: (io.BytesIO(payload[v]), f"{v}.png") for v in VIEWS}
            r = client.post("/api/score?masks=0", data=data, content_type="multipart/form-data")
            results.append((r.status_code, r.get_json()["salt"]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 6 and {code for code, _ in results} == {200}
    assert len({salt for _, salt in results}) == 1


# --------------------------------------------------------------------------- bad uploads


@pytest.fixture(scope="module")
def jpeg_bytes(photos) -> bytes:
    return encode(photos["top"], "JPEG", quality=90)


def bad_upload_cases(jpeg: bytes) -> list:
    huge = encode(np.zeros((1100, 1000, 3), np.uint8))  # 1.1 MP, a small file
    noise = np.random.default_rng(5).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    big_file = encode(noise)  # ~480 KB of incompressible pixels, 0.16 MP
    return [
        ("not an image", {"top": (io.BytesIO(b"%PDF-1.4 this is not a photograph"), "top.jpg")}, 400,
         "not an image"),
        ("truncated", {"top": (io.BytesIO(jpeg[: len(jpeg) // 2]), "top.jpg")}, 400, "truncated"),
        ("zero bytes", {"top": (io.BytesIO(b""), "top.jpg")}, 400, "empty file"),
        ("file too large", {"top": (io.BytesIO(big_file), "top.png")}, 413, "limit per file"),
        ("too many pixels", {"top": (io.BytesIO(huge), "top.png")}, 413, "megapixels"),
        ("wrong field", {"front": (io.BytesIO(jpeg), "front.jpg")}, 400, "unexpected upload field 'front'"),
        ("text instead of file", {"top": "hello"}, 400, "must be a file upload"),
        ("no photograph", {}, 400, "no photograph was uploaded"),
        ("same view twice", {"top": [(io.BytesIO(jpeg), "a.jpg"), (io.BytesIO(jpeg), "b.jpg")]}, 400,
         "more than one file"),
    ]


@pytest.mark.parametrize("case", range(9))
def test_bad_uploads_get_a_one_line_reason_and_the_server_keeps_serving(make_app, jpeg_bytes, photos, case):
    name, data, status, needle = bad_upload_cases(jpeg_bytes)[case]
    app = make_app(max_file_bytes=300_000, max_pixels=1_000_000)
    client = app.test_client()
    response = client.post("/api/score", data=data, content_type="multipart/form-data")
    assert response.status_code == status, (name, response.get_data(as_text=True))
    message = response.get_json()["error"]
    assert needle in message and "\n" not in message and len(message) < 300, (name, message)
    # The same upload through the page's form: the reason is shown in the page.
    form = bad_upload_cases(jpeg_bytes)[case][1]  # fresh streams
    form["csrf_token"] = csrf_token(client)
    page = client.post("/score", data=form, content_type="multipart/form-data")
    assert page.status_code == status
    html = page.get_data(as_text=True)
    shown = re.search(r'<p id="upload-error" class="error" role="alert">([^<]*)</p>', html)
    assert shown and needle in shown.group(1).replace("&#39;", "'"), (name, html[:500])
    # ... and the server keeps serving.
    assert client.get("/api/health").get_json()["status"] == "ok"


def test_request_over_the_total_cap_is_413(make_app, photos):
    app = make_app(max_file_bytes=200_000, max_request_bytes=250_000)
    noise = np.random.default_rng(9).integers(0, 256, (200, 250, 3), dtype=np.uint8)
    data = {v: (io.BytesIO(encode(noise)), f"{v}.png") for v in VIEWS}  # 4 x ~150 KB
    client = app.test_client()
    response = client.post("/api/score", data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "request is larger than" in response.get_json()["error"]
    ok = client.post("/api/score?masks=0", data=files_for(photos, ("top",)), content_type="multipart/form-data")
    assert ok.status_code == 200 and ok.get_json()["views"]["top"]["loss_pct"] is not None


@pytest.mark.parametrize("form, needle", [
    ({"provisional": "a" * 1_200_000}, "a text field is larger than 1 MiB"),  # MAX_FORM_MEMORY_SIZE
    ({f"f{i}": "x" for i in range(1100)}, "more than 1000 parts"),  # MAX_FORM_PARTS
])
def test_a_413_within_the_request_limit_names_the_form_limit(make_app, form, needle):
    """A small request refused for a long text field or too many parts used to be told that
    it was larger than the 81 MiB request limit."""
    response = make_app().test_client().post("/api/score", data=form, content_type="multipart/form-data")
    assert response.status_code == 413
    message = response.get_json()["error"]
    assert needle in message and "request is larger than" not in message, message


def test_upload_file_names_are_ignored(make_app, photos):
    data = {"top": (io.BytesIO(encode(photos["top"])), "../../../../etc/passwd")}
    response = make_app().test_client().post("/api/score", data=data, content_type="multipart/form-data")
    assert response.status_code == 200
    assert "passwd" not in response.get_data(as_text=True)


# --------------------------------------------------------------------------- result page and corrections


def test_result_page_images_and_masks(make_app, pipeline, photos):
    client = make_app().test_client()
    url = score_in_browser_form(client, photos, ("top", "left"))
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="salt-value" class="salt-value">incomplete<' in html
    assert "missing back, right" in html
    ref = pipeline.predict_view(photos["top"], "top")
    assert f"{ref.loss_pct:.1f}%" in html
    for view in ("top", "left"):
        jpg = client.get(f"{url}/photo/{view}.jpg")
        assert jpg.status_code == 200 and jpg.mimetype == "image/jpeg"
        img = Image.open(io.BytesIO(jpg.data))
        assert img.size == (160, 120) and not img.getexif()
        for layer in ("scalp", "hairloss"):
            png = client.get(f"{url}/mask/{view}/{layer}.png")
            assert png.status_code == 200 and png.mimetype == "image/png"
    served = np.asarray(Image.open(io.BytesIO(client.get(f"{url}/mask/top/hairloss.png").data))) > 127
    np.testing.assert_array_equal(served, ref.hairloss_mask)
    # the page's pictures, byte for byte: JPEG quality 92 at full chroma with optimised tables; 0/255 PNG
    assert client.get(f"{url}/photo/top.jpg").data == pillow_jpeg(photos["top"], 92, subsampling=0, optimize=True)
    assert client.get(f"{url}/mask/top/hairloss.png").data == pillow_mask_png(ref.hairloss_mask)
    assert client.get(f"{url}/photo/back.jpg").status_code == 404
    assert client.get(f"{url}/mask/top/other.png").status_code == 404
    assert client.get("/result/not-a-visit").status_code == 404
    assert "no longer in memory" in client.get("/result/not-a-visit").get_data(as_text=True)


def test_corrected_masks_change_the_numbers_report_and_json(make_app, pipeline, photos):
    client = make_app().test_client()
    url = score_in_browser_form(client, photos)
    token = csrf_token(client)
    ref = pipeline.score_visit(photos)
    scalp = ref.views["top"].scalp_mask
    corrected = np.zeros_like(scalp)
    corrected[:, :80] = True  # hair loss on the left half of the photograph
    data = {"scalp_top": (io.BytesIO(mask_png(scalp)), "s.png"),
            "hairloss_top": (io.BytesIO(mask_png(corrected)), "h.png")}
    response = client.post(f"{url}/masks", data=data, content_type="multipart/form-data",
                           headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    summary = response.get_json()["summary"]
    top = 100.0 * np.count_nonzero(corrected & scalp) / np.count_nonzero(scalp)
    percents = {v: ref.views[v].loss_pct for v in VIEWS} | {"top": top}
    assert summary["views"]["top"]["loss_pct"] == pytest.approx(top, abs=0.006)
    assert summary["views"]["top"]["corrected"] is True and summary["views"]["back"]["corrected"] is False
    assert summary["salt"] == pytest.approx(salt_score(percents), abs=0.006)
    assert summary["salt"] != pytest.approx(ref.salt, abs=0.1)
    assert summary["grade"] == salt_grade(salt_score(percents))
    # The report and the page use the corrected masks.
    report = client.get(f"{url}/report.json")
    assert report.status_code == 200 and "attachment" in report.headers["Content-Disposition"]
    doc = report.get_json()
    assert doc["salt"] == pytest.approx(salt_score(percents), abs=0.006)
    assert doc["views"]["top"]["loss_pct"] == pytest.approx(top, abs=0.006)
    assert doc["corrected_views"] == ["top"] and doc["deidentified"] is False
    html = client.get(f"{url}/report.html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert f"{salt_score(percents):.1f}" in html.get_data(as_text=True)
    assert f"{salt_score(percents):.1f}" in client.get(url).get_data(as_text=True)
    deid = client.get(f"{url}/report.html?deidentify=1")
    assert deid.status_code == 200 and deid.data != html.data
    assert "deidentified" in deid.headers["Content-Disposition"]
    assert client.get(f"{url}/report.json?deidentify=1").get_json()["deidentified"] is True
    assert client.get(f"{url}/report.pdf").status_code == 404


def test_bad_corrections_are_refused(make_app, pipeline, photos):
    client = make_app().test_client()
    url = score_in_browser_form(client, photos, ("top",))
    headers = {"X-CSRFToken": csrf_token(client), "Accept": "application/json"}
    good = mask_png(np.ones((120, 160), bool))
    cases = [
        ({"scalp_top": (io.BytesIO(good), "s.png")}, "send both"),
        ({"scalp_top": (io.BytesIO(mask_png(np.ones((60, 80), bool))), "s.png"),
          "hairloss_top": (io.BytesIO(good), "h.png")}, "expected 160x120"),
        ({"scalp_top": (io.BytesIO(b"garbage"), "s.png"), "hairloss_top": (io.BytesIO(good), "h.png")},
         "not an image"),
        ({"scalp_back": (io.BytesIO(good), "s.png")}, "unexpected mask field"),
        ({}, "no corrected mask"),
        # the photograph itself chosen as the hair-loss mask in the files form
        ({"scalp_top": (io.BytesIO(good), "s.png"), "hairloss_top": (io.BytesIO(encode(photos["top"])), "h.png")},
         "corrected hairloss (top) mask: "),
    ]
    for data, needle in cases:
        r = client.post(f"{url}/masks", data=data, content_type="multipart/form-data", headers=headers)
        assert r.status_code == 400 and needle in r.get_json()["error"], (needle, r.get_json())
    assert "like a photograph" in r.get_json()["error"] and client.get(f"{url}/report.json").get_json()[
        "corrected_views"] == []
    # a mask drawn elsewhere with anti-aliased edges (grey only along its outline) is read
    soft = np.zeros((120, 160), np.uint8)
    soft[30:90, 40:120] = 255
    soft = np.asarray(Image.fromarray(soft).filter(ImageFilter.GaussianBlur(1.5)))
    assert 0 < np.mean((soft > 16) & (soft < 239)) < 0.25
    r = client.post(f"{url}/masks", data={"scalp_top": (io.BytesIO(good), "s.png"),
                                          "hairloss_top": (io.BytesIO(encode(soft)), "h.png")},
                    content_type="multipart/form-data", headers=headers)
    assert r.status_code == 200, r.get_json()
    assert client.get(f"{url}/report.json").get_json()["views"]["top"]["loss_pct"] == pytest.approx(25.0, abs=0.5)
    # Without the CSRF token the change is refused.
    r = client.post(f"{url}/masks", data={"scalp_top": (io.BytesIO(good), "s.png"),
                                          "hairloss_top": (io.BytesIO(good), "h.png")},
                    content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 400 and "CSRF" in r.get_json()["error"]


def test_large_photographs_are_edited_at_a_smaller_size(make_app, pipeline, photos):
    client = make_app(edit_max_side=80).test_client()
    url = score_in_browser_form(client, photos, ("top",))
    served = Image.open(io.BytesIO(client.get(f"{url}/mask/top/scalp.png").data))
    assert served.size == (80, 60)
    assert Image.open(io.BytesIO(client.get(f"{url}/photo/top.jpg").data)).size == (80, 60)
    small_loss = np.zeros((60, 80), bool)
    small_loss[:, :20] = True
    data = {"scalp_top": (io.BytesIO(mask_png(np.ones((60, 80), bool))), "s.png"),
            "hairloss_top": (io.BytesIO(mask_png(small_loss)), "h.png")}
    r = client.post(f"{url}/masks", data=data, content_type="multipart/form-data",
                    headers={"X-CSRFToken": csrf_token(client), "Accept": "application/json"})
    # Brought back to 160x120: the left quarter of the photograph, 25 %.
    assert r.get_json()["summary"]["views"]["top"]["loss_pct"] == pytest.approx(25.0, abs=0.01)


def test_score_form_requires_csrf_but_the_api_does_not(make_app, photos):
    client = make_app().test_client()
    r = client.post("/score", data=files_for(photos, ("top",)), content_type="multipart/form-data")
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    r = client.post("/api/score", data=files_for(photos, ("top",)), content_type="multipart/form-data")
    assert r.status_code == 200


def test_the_page_gets_json_when_it_asks_for_it(make_app, photos):
    client = make_app().test_client()
    data = files_for(photos, ("top",))
    data["csrf_token"] = csrf_token(client)
    r = client.post("/score", data=data, content_type="multipart/form-data", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.get_json()["url"].startswith("/result/")
    assert r.get_json()["summary"]["views"]["top"]["present"] is True


# --------------------------------------------------------------------------- token


def test_serve_refuses_a_public_host_without_token(capsys, model_dir):
    assert main(["serve", "--host", "0.0.0.0", "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: refusing to listen on 0.0.0.0 without an access token") and "--token" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert main(["serve", "--host", "127.0.0.1", "--token", "short", "--model", str(model_dir)]) == 2
    assert "shorter than 8 characters" in capsys.readouterr().err


@pytest.mark.parametrize("args, needle", [
    (["--host", "not..valid"], "'not..valid' is not an address or a name this machine can resolve"),
    (["--max-file-mb", "nan"], "Invalid value for '--max-file-mb': must be a number"),
])
def test_serve_options_that_used_to_end_in_a_traceback_are_usage_errors(capsys, model_dir, args, needle):
    """An audit (thirty-third session): an empty label in --host raised UnicodeError from the
    loopback check, and --max-file-mb nan passed FloatRange and failed in int()."""
    assert main(["serve", "--port", "0", "--model", str(model_dir), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    from alonet.web.security import is_loopback

    assert not is_loopback("not..valid")


def test_bind_rule():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"):
        assert is_loopback(host), host
        check_bind(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.10", "10.0.0.1"):
        assert not is_loopback(host), host
        with pytest.raises(UnsafeBindError):
            check_bind(host, None)
        check_bind(host, "a-long-enough-token")


def test_token_is_required_on_every_route_when_set(make_app, photos):
    token = "s3cret-token-for-tests"
    client = make_app(token=token).test_client()
    page = client.get("/")
    assert page.status_code == 401 and 'name="token"' in page.get_data(as_text=True)
    for path in ("/patients", "/result/xyz", "/api/health"):
        assert client.get(path).status_code == 401, path
    r = client.post("/api/score", data=files_for(photos, ("top",)), content_type="multipart/form-data")
    assert r.status_code == 401 and "token" in r.get_json()["error"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/api/health", headers={"Authorization": "Bearer wrong-token-xx"})
    assert wrong.status_code == 401
    assert client.get("/api/health", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/health", headers={"X-AloNet-Token": token}).status_code == 200
    r = client.post("/api/score?masks=0", data=files_for(photos, ("top",)), content_type="multipart/form-data",
                    headers={"X-AloNet-Token": token})
    assert r.status_code == 200
    assert client.get("/static/alonet.css").status_code == 200  # static files are public
    # Login page: the token once, then a session cookie.
    login = client.get("/login")
    assert login.status_code == 200
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login.get_data(as_text=True)).group(1)
    bad = client.post("/login", data={"token": "nope-nope-nope", "csrf_token": csrf})
    assert bad.status_code == 401 and "wrong access token" in bad.get_data(as_text=True)
    good = client.post("/login", data={"token": token, "csrf_token": csrf, "next": "/api/health"})
    assert good.status_code == 303 and good.headers["Location"] == "/api/health"
    assert client.get("/").status_code == 200
    assert client.get("/api/health").status_code == 200
    csrf = csrf_token(client)  # login starts a fresh session
    evil = client.post("/login", data={"token": token, "csrf_token": csrf, "next": "//evil.example/"})
    assert evil.headers["Location"] == "/"
    csrf = csrf_token(client)
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/").status_code == 401


def test_login_without_token_configured_redirects_home(make_app):
    r = make_app().test_client().get("/login")
    assert r.status_code == 302 and r.headers["Location"] == "/"


# --------------------------------------------------------------------------- storage off / on


def spy_on_temporary_files(monkeypatch) -> list[str]:
    """Record every creation of a temporary file (anonymous ones never show in a folder)."""
    import werkzeug.formparser

    calls: list[str] = []
    targets = [(tempfile, name) for name in ("TemporaryFile", "NamedTemporaryFile", "SpooledTemporaryFile",
                                              "mkstemp", "mkdtemp")]
    targets += [(werkzeug.formparser, name) for name in ("SpooledTemporaryFile", "TemporaryFile")
                if hasattr(werkzeug.formparser, name)]
    for module, name in targets:
        def spy(*args, _original=getattr(module, name), _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)
    return calls


def test_nothing_is_written_to_disk_without_store(make_app, photos, tmp_path, monkeypatch):
    spool = tmp_path / "tmp"
    cwd = tmp_path / "cwd"
    spool.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    monkeypatch.setenv("TMPDIR", str(spool))
    monkeypatch.chdir(cwd)
    client = make_app().test_client()
    temporary_files = spy_on_temporary_files(monkeypatch)
    # Over 500 KB: werkzeug's default would spool this upload to a temporary file.
    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    data = {"top": (io.BytesIO(encode(big)), "top.png"), "csrf_token": csrf_token(client)}
    assert len(data["top"][0].getvalue()) > 600_000
    r = client.post("/score", data=data, content_type="multipart/form-data")
    assert r.status_code == 303
    url = r.headers["Location"]
    assert client.get(url).status_code == 200
    assert client.get(f"{url}/report.html").status_code == 200
    assert client.post("/api/score", data=files_for(photos), content_type="multipart/form-data").status_code == 200
    assert list(spool.iterdir()) == [] and list(cwd.iterdir()) == []
    assert temporary_files == []
    # The patient pages say why they are not there; saving is impossible.
    r = client.get("/patients")
    assert r.status_code == 404 and "--store" in r.get_data(as_text=True)
    r = client.post(f"{url}/save", data={"csrf_token": csrf_token(client), "new_code": "P1"})
    assert r.status_code == 404
    for path in ("/patients/1", "/visits/1", "/visits/1/photo/top.jpg", "/visits/1/report.json"):
        assert client.get(path).status_code == 404, path
    assert "Patients</a>" not in client.get("/").get_data(as_text=True)


def test_waitress_keeps_large_uploads_in_memory(make_app, monkeypatch):
    """waitress spools bodies over 512 KB to a temporary file by default; `alonet serve`'s
    settings keep them in memory (checked with a real waitress server on loopback)."""
    import urllib.request

    from waitress.server import create_server

    from alonet.cli.serve_cmd import waitress_settings

    app = make_app()
    settings = waitress_settings(app.extensions["alonet"].config.max_request_bytes, threads=2)
    assert settings["inbuf_overflow"] > settings["max_request_body_size"] > app.config["MAX_CONTENT_LENGTH"]
    server = create_server(app, host="127.0.0.1", port=0, **settings)
    stop = threading.Event()

    def serve():  # server.run() in steps, so the loop stops before the sockets close
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    temporary_files = spy_on_temporary_files(monkeypatch)
    try:
        noise = np.random.default_rng(1).integers(0, 256, (900, 800, 3), dtype=np.uint8)
        body = (b'--b0undary\r\nContent-Disposition: form-data; name="top"; filename="t.png"\r\n'
                b"Content-Type: image/png\r\n\r\n" + encode(noise) + b"\r\n--b0undary--\r\n")
        assert len(body) > 2_000_000
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.effective_port}/api/score?masks=0", data=body, method="POST",
            headers={"Content-Type": "multipart/form-data; boundary=b0undary"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
            top = json.loads(answer.read())["views"]["top"]
            # random noise passed through memory to the gate, which refuses it (issue 10)
            assert top["loss_pct"] is None and top["flags"][0]["code"] == "noise"
    finally:
        stop.set()
        thread.join(10)
        server.close()
    assert temporary_files == []


def jpeg_with_exif(image: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "PhoneModel X"  # Model
    exif[0x0132] = "2024:01:02 03:04:05"  # DateTime
    exif[0x8825] = {1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 18.0)}  # GPS
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=95, exif=exif)
    return buf.getvalue()


def save_visit(client, url, **form):
    form["csrf_token"] = csrf_token(client)
    r = client.post(f"{url}/save", data=form)
    assert r.status_code == 303, r.get_data(as_text=True)[:400]
    return r.headers["Location"]


def test_patients_and_visits_are_stored_charted_and_really_deleted(make_app, pipeline, photos, tmp_path):
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    assert (store_dir / "alonet.sqlite3").is_file()
    assert Store(store_dir).schema_version() == SCHEMA_VERSION
    images = store_dir / "images"
    assert client.get("/patients").status_code == 200

    # Visit 1 from JPEGs carrying EXIF (GPS, device, date).
    data = {v: (io.BytesIO(jpeg_with_exif(photos[v])), f"IMG_{v}.jpg") for v in VIEWS}
    data["csrf_token"] = csrf_token(client)
    url1 = client.post("/score", data=data, content_type="multipart/form-data").headers["Location"]
    salt1 = client.get(f"{url1}/report.json").get_json()["salt"]
    visit_url = save_visit(client, url1, patient="new", new_code="AA-001", visit_date="2024-01-10")
    assert re.fullmatch(r"/visits/\d+", visit_url)
    stored = sorted(p.name for p in images.iterdir())
    assert len(stored) == 12 and all(re.fullmatch(r"[0-9a-f]{32}\.(jpg|png)", n) for n in stored)
    for name in stored:
        with Image.open(images / name) as img:
            assert not img.getexif(), name
            assert "exif" not in img.info and "GPS" not in str(img.info)
        assert b"PhoneMaker" not in (images / name).read_bytes()
    page = client.get(visit_url)
    assert page.status_code == 200 and f"{salt1:.1f}" in page.get_data(as_text=True)
    assert client.get(f"{visit_url}/photo/top.jpg").mimetype == "image/jpeg"
    mask = client.get(f"{visit_url}/mask/top/hairloss.png")
    assert mask.status_code == 200
    mask.close()
    stored_report = client.get(f"{visit_url}/report.json").get_json()
    assert stored_report["salt"] == pytest.approx(salt1, abs=0.006)
    assert client.get(f"{visit_url}/report.html").status_code == 200

    # Visit 2: the same photographs with hair loss erased on top -> lower SALT.
    url2 = score_in_browser_form(client, photos)
    scalp = pipeline.predict_view(photos["top"], "top").scalp_mask
    client.post(f"{url2}/masks", data={"scalp_top": (io.BytesIO(mask_png(scalp)), "s.png"),
                                       "hairloss_top": (io.BytesIO(mask_png(np.zeros_like(scalp))), "h.png")},
                content_type="multipart/form-data", headers={"X-CSRFToken": csrf_token(client)})
    salt2 = client.get(f"{url2}/report.json").get_json()["salt"]
    assert salt2 < salt1
    patient_id = int(re.search(r'<a href="/patients/(\d+)">AA-001', client.get(visit_url).get_data(as_text=True)).group(1))
    visit2_url = save_visit(client, url2, patient=str(patient_id), visit_date="2024-04-10")
    assert len(list(images.iterdir())) == 24

    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert page.count('<circle class="point"') == 2 and "<polyline" in page
    assert "2024-01-10" in page and "2024-04-10" in page and "baseline" in page
    expected = response(salt1, salt2)
    assert f"{expected.absolute_change:+.2f} points" in page
    for flag in expected.flags:
        assert flag.replace("<", "&lt;") in page
    listing = client.get("/patients").get_data(as_text=True)
    assert "AA-001" in listing and f"{salt2:.1f}" in listing

    # Duplicate codes and bad dates are refused with a reason, nothing half-written.
    url3 = score_in_browser_form(client, photos, ("top",))
    r = client.post(f"{url3}/save", data={"csrf_token": csrf_token(client), "patient": "new", "new_code": "AA-001"})
    assert r.status_code == 400 and "already exists" in r.get_data(as_text=True)
    r = client.post(f"{url3}/save", data={"csrf_token": csrf_token(client), "patient": "new",
                                          "new_code": "AA-002", "visit_date": "10/01/2024"})
    assert r.status_code == 400 and "YYYY-MM-DD" in r.get_data(as_text=True)
    r = client.post("/patients", data={"csrf_token": csrf_token(client), "code": "../x"})
    assert r.status_code == 400 and "not valid" in r.get_data(as_text=True)
    assert len(Store(store_dir).list_patients()) == 1 and len(list(images.iterdir())) == 24

    # Delete visit 2: its rows and its 12 files go.
    visit2_id = int(visit2_url.rsplit("/", 1)[1])
    r = client.post(f"/visits/{visit2_id}/delete", data={"csrf_token": csrf_token(client)})
    assert r.status_code == 303 and r.headers["Location"] == f"/patients/{patient_id}"
    assert len(list(images.iterdir())) == 12
    assert client.get(visit2_url).status_code == 404
    # Delete the patient: everything goes.
    r = client.post(f"/patients/{patient_id}/delete", data={"csrf_token": csrf_token(client)})
    assert r.status_code == 303
    assert list(images.iterdir()) == []
    with sqlite3.connect(store_dir / "alonet.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM visits").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM view_images").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM patients").fetchone()[0] == 0
    assert client.get(f"/patients/{patient_id}").status_code == 404
    # Deleting needs the CSRF token.
    pid = Store(store_dir).create_patient("AA-009")
    assert client.post(f"/patients/{pid}/delete").status_code == 400
    assert Store(store_dir).get_patient(pid) is not None
    r = client.post("/patients", data={"csrf_token": csrf_token(client), "code": "AA-010"})
    assert r.status_code == 303 and client.get(r.headers["Location"]).status_code == 200


def test_schema_is_created_and_migrated(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    with sqlite3.connect(folder / "alonet.sqlite3", isolation_level=None) as conn:
        assert migrate(conn, target=1) == 0
        conn.execute("INSERT INTO patients (code, created_at) VALUES ('P1', '2024-01-01')")
        conn.execute("INSERT INTO visits (patient_id, visit_date, created_at, salt, summary) "
                     "VALUES (1, '2024-01-02', '2024-01-02', 12.5, '{}')")
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    store = Store(folder)
    assert store.schema_version() == SCHEMA_VERSION >= 2
    visits = store.list_visits(1)
    assert len(visits) == 1 and visits[0].salt == 12.5 and visits[0].model == ""
    assert store.list_patients()[0].last_salt == 12.5
    with sqlite3.connect(folder / "alonet.sqlite3") as conn:
        indexes = {row[1] for row in conn.execute("PRAGMA index_list('visits')")}
        assert "visits_by_patient" in indexes
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer than this AloNet"):
        Store(folder)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "alonet.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match=r"the database is damaged \(file is not a database\).*restore"):
        Store(tmp_path / "bad")


def test_stored_image_names_are_checked(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(StoreError):
        store.image_file("../alonet.sqlite3")
    assert store.image_file("0" * 32 + ".png") == tmp_path / "s" / "images" / ("0" * 32 + ".png")


# --------------------------------------------------------------------------- pure helpers and logs


def test_salt_chart_geometry():
    chart = salt_chart([("2024-01-01", 80.0), ("2024-01-31", 40.0), ("2024-03-01", 0.0)], width=600, height=260)
    xs = [p.x for p in chart.points]
    assert xs[0] == chart.left and xs[-1] == chart.right
    assert xs[1] == pytest.approx(chart.left + (chart.right - chart.left) * 30 / 60)
    assert chart.points[2].y == chart.bottom
    assert chart.points[0].y == pytest.approx(chart.bottom - 0.8 * (chart.bottom - chart.top))
    assert chart.baseline_y == chart.points[0].y
    assert chart.x_ticks == ((chart.left, "2024-01-01", "start"), (chart.right, "2024-03-01", "end"))
    assert [v for _, v in chart.y_ticks] == [0, 10, 20, 50, 75, 100]
    single = salt_chart([("2024-01-01", 50.0)])
    assert single.points[0].x == (single.left + single.right) / 2
    assert single.x_ticks == ((single.points[0].x, "2024-01-01", "middle"),)
    assert salt_chart([]).points == ()


def test_response_rows_use_the_first_complete_visit_as_baseline():
    from alonet.store.records import Visit

    def v(i, date, salt):
        return Visit(id=i, patient_id=1, visit_date=date, created_at="", salt=salt, grade=None, band=None,
                     missing=(), summary={}, model="")

    rows = response_rows([v(1, "2024-01-01", None), v(2, "2024-02-01", 60.0), v(3, "2024-03-01", 12.0),
                          v(4, "2024-04-01", None)])
    assert [r["baseline"] for r in rows] == [False, True, False, False]
    assert rows[0]["response"] is None and rows[1]["response"] is None and rows[3]["response"] is None
    assert rows[2]["response"].flags == ("SALT50", "SALT75", "SALT<=20")  # 80 % better


def test_logs_hold_no_image_data(make_app, photos, caplog):
    client = make_app().test_client()
    with caplog.at_level(logging.DEBUG):
        url = score_in_browser_form(client, photos)
        client.get(f"{url}/mask/top/scalp.png")
        client.post("/api/score", data=files_for(photos), content_type="multipart/form-data")
    lines = [record.getMessage() for record in caplog.records]
    assert any(re.fullmatch(r"POST /api/score 200 \d+ ms", line) for line in lines)
    for line in lines:
        assert len(line) < 300 and "base64" not in line and "\x89PNG" not in line


def test_the_summary_renders_new_and_previously_stored_shapes(make_app, pipeline, photos):
    """Visits stored before the one JSON shape list absent views with "present": false."""
    from flask import render_template

    app = make_app()
    new = pipeline.score_visit({"top": photos["top"]}, missing="incomplete").to_dict()
    old = {"complete": False, "missing": ["back", "left", "right"], "unscorable": [], "salt": None,
           "grade": None, "band": None, "band_level": None, "partial_salt": 4.0,
           "views": {v: {"present": v == "top", "weight": VIEW_WEIGHTS[v],
                         "loss_pct": 10.0 if v == "top" else None,
                         "contribution": 4.0 if v == "top" else None, "confidence": 0.9,
                         "flags": [], "retake": False, "corrected": False} for v in VIEWS}}
    with app.test_request_context():
        pages = [render_template("_summary.html", summary=s) for s in (new, old)]
    for html in pages:
        for view in ("back", "left", "right"):
            assert f'<td id="loss-{view}">missing</td>' in html
        assert '<td>40%</td>' in html and '<td>18%</td>' in html
    assert f'<td id="loss-top">{new["views"]["top"]["loss_pct"]:.1f}%</td>' in pages[0]
    assert '<td id="loss-top">10.0%</td>' in pages[1] and '<td id="contrib-top">4.00</td>' in pages[1]


def test_serve_thresholds_reach_the_pipeline_and_the_report(model_dir, photos, monkeypatch):
    """`alonet serve --scalp-threshold/--hairloss-threshold` -> WebConfig.pipeline -> Pipeline:
    the config `serve` itself builds (caught where it would start the app) scores with them."""
    import alonet.web
    from alonet.errors import AloNetError

    def served_config(*args):
        seen = []

        def fake_create_app(config):
            seen.append(config)
            raise AloNetError("stop here")  # no server starts

        monkeypatch.setattr(alonet.web, "create_app", fake_create_app)
        assert main(["serve", "--model", str(model_dir), "--backend", "torch", *args]) == 2
        return seen[0]

    default = served_config().pipeline.postprocess
    assert (default.scalp_threshold, default.hairloss_threshold) == (0.5, 0.5)
    config = served_config("--scalp-threshold", "0.3", "--hairloss-threshold", "0.7")
    app = create_app(config)  # the real one (imported before the patch)
    post = app.extensions["alonet"].scorer.pipeline.config.postprocess
    assert (post.scalp_threshold, post.hairloss_threshold) == (0.3, 0.7)
    client = app.test_client()
    url = score_in_browser_form(client, photos, ("top",))
    assert client.get(f"{url}/report.json").get_json()["thresholds"] == {"scalp": 0.3, "hairloss": 0.7}
