"""Web application reliability (issue 10, defects 1, 2, 5, 6 and 8 in the browser/API).

Before: Save clicked twice stored two identical visits; a 200 MB body got a
plain-text 413 that was not logged; 401s were not logged; the API and pages
showed a SALT for photographs that needed a retake.
"""

from __future__ import annotations

import io
import json
import logging
import re
import socket
import threading

import numpy as np
import pytest
from test_web import (  # noqa: F401
    csrf_token,
    encode,
    files_for,
    make_app,
    model_dir,
    photos,
    pipeline,
)

from alonet.views import VIEWS
from alonet.store.storage import Store


def score_page(client, images):
    data = files_for(images)
    data["csrf_token"] = csrf_token(client)
    response = client.post("/score", data=data, content_type="multipart/form-data")
    assert response.status_code == 303
    return response.headers["Location"]


def test_save_clicked_twice_stores_one_visit(make_app, photos, tmp_path):  # noqa: F811
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    url = score_page(client, photos)
    page = client.get(url).get_data(as_text=True)
    submission = re.search(r'name="submission" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf_token(client), "submission": submission, "patient": "new", "new_code": "AA-9",
            "visit_date": "2024-02-01"}
    first = client.post(f"{url}/save", data=form)
    second = client.post(f"{url}/save", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    store = Store(store_dir)
    patients = store.list_patients()
    assert len(patients) == 1  # the second click created no second patient either
    assert len(store.list_visits(patients[0].id)) == 1
    # a form from another scoring is refused instead of being stored
    other = client.post(f"{url}/save", data={**form, "submission": "not-this-one"})
    assert other.status_code == 400 and "reload the page" in other.get_data(as_text=True)


def test_concurrent_saves_store_one_visit(make_app, photos, tmp_path):  # noqa: F811
    store_dir = tmp_path / "store"
    app = make_app(store=store_dir)
    client = app.test_client()
    url = score_page(client, photos)
    app.config["WTF_CSRF_ENABLED"] = False  # four independent browsers post at once
    answers = []

    def save():
        response = app.test_client().post(f"{url}/save", data={"patient": "new", "new_code": "AA-1"})
        answers.append(response.status_code)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [303] * 4
    store = Store(store_dir)
    assert len(store.list_patients()) == 1
    assert len(store.list_visits(store.list_patients()[0].id)) == 1


def test_api_withholds_salt_for_a_retake_and_gives_a_provisional_one_on_request(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    images = dict(photos)
    images["top"] = (photos["top"] // 8).astype(np.uint8)  # far too dark
    data = files_for(images)
    answer = client.post("/api/score?masks=0", data=data, content_type="multipart/form-data").get_json()
    assert answer["salt"] is None and answer["grade"] is None and answer["withheld"] == ["top"]
    assert answer["withheld_reason"].startswith("no SALT: top view: photograph too dark")
    assert "withheld" in [f["code"] for f in answer["flags"]]
    provisional = client.post("/api/score?masks=0&provisional=1", data=files_for(images),
                              content_type="multipart/form-data").get_json()
    assert provisional["salt"] is not None and provisional["provisional"] is True
    # the page says so too
    page_client = make_app().test_client()
    url = score_page(page_client, images)
    page = page_client.get(url).get_data(as_text=True)
    assert '<span id="salt-value" class="salt-value">withheld</span>' in page
    assert "no SALT: top view: photograph too dark" in page
    report = page_client.get(f"{url}/report.json").get_json()
    assert report["salt"] is None and report["withheld"] == ["top"]


def test_api_refuses_a_tiny_photograph_and_duplicate_views(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    images = dict(photos)
    images["back"] = np.zeros((8, 8, 3), np.uint8) + 120
    answer = client.post("/api/score?masks=0", data=files_for(images), content_type="multipart/form-data").get_json()
    assert answer["salt"] is None and answer["views"]["back"]["loss_pct"] is None
    assert answer["views"]["back"]["flags"][0]["code"] == "too_small"
    same = {v: photos["top"] for v in VIEWS}
    refused = client.post("/api/score", data=files_for(same), content_type="multipart/form-data")
    assert refused.status_code == 400
    assert refused.get_json()["error"].startswith("the top and back photographs are the same picture")


def test_report_review_fields_and_no_paths(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    url = score_page(client, photos)
    token = csrf_token(client)
    document = client.post(f"{url}/report.json", data={"csrf_token": token, "patient_code": "AA-17",
                                                       "reviewer": "Dr K", "visit_date": "2024-03-01"}).get_json()
    assert document["review"] == {"patient_code": "AA-17", "visit_date": "2024-03-01", "photo_date": None,
                                  "reviewer": "Dr K"}
    html = client.post(f"{url}/report.html", data={"csrf_token": token, "patient_code": "AA-17",
                                                   "reviewer": "Dr K"}).get_data(as_text=True)
    assert "<dt>Patient code</dt><dd>AA-17</dd>" in html and "<dt>Reviewed by</dt><dd>Dr K</dd>" in html
    page = client.get(url).get_data(as_text=True)
    for field in ("patient_code", "visit_date", "photo_date", "reviewer"):
        assert f'name="{field}"' in page


def test_refused_requests_are_logged_401_included(make_app, photos, caplog):  # noqa: F811
    client = make_app(token="a-long-token-1").test_client()
    with caplog.at_level(logging.INFO, logger="alonet.web"):
        assert client.post("/api/score", data=files_for(photos)).status_code == 401
        assert client.get("/patients").status_code == 401
    lines = [r.getMessage() for r in caplog.records]
    assert any(re.fullmatch(r"POST /api/score 401 - ms \(refused, from .*\)", line) for line in lines), lines
    assert any(line.startswith("GET /patients 401") for line in lines)
    assert all(r.levelno == logging.WARNING for r in caplog.records if " 401 " in r.getMessage())


def test_a_huge_body_gets_json_413_from_the_server_and_is_logged(make_app, caplog):  # noqa: F811
    from alonet.cli.serve_cmd import waitress_settings
    from alonet.web.server import create_server

    app = make_app(max_file_bytes=1024 * 1024)
    settings = waitress_settings(app.extensions["alonet"].config.max_request_bytes, threads=1)
    server = create_server(app, host="127.0.0.1", port=0, **settings)
    stop = threading.Event()

    def serve():  # server.run() in steps, so the loop stops before the sockets close
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="alonet.web"), socket.create_connection(
                ("127.0.0.1", server.effective_port), timeout=30) as sock:
            size = settings["max_request_body_size"] + 10
            sock.sendall(f"POST /api/score HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                         f"Content-Length: {size}\r\n\r\n".encode() + b"x" * 4096)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        head, body = answer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 413")
        assert b"Content-Type: application/json" in head
        assert json.loads(body)["error"].startswith("upload refused: the request is larger than this server accepts")
        assert any("413" in r.getMessage() and "refused by the server" in r.getMessage() for r in caplog.records)
    finally:
        stop.set()
        thread.join(10)
        server.close()


def test_flask_413_is_json_and_logged(make_app, caplog):  # noqa: F811
    client = make_app(max_file_bytes=100_000).test_client()
    big = encode(np.random.default_rng(2).integers(0, 256, (400, 400, 3), dtype=np.uint8))
    with caplog.at_level(logging.INFO, logger="alonet.web"):
        response = client.post("/api/score", data={"top": (io.BytesIO(big), "t.png")},
                               content_type="multipart/form-data")
    assert response.status_code == 413 and response.is_json
    assert "upload refused" in response.get_json()["error"]
    assert any(r.getMessage().startswith("POST /api/score 413") for r in caplog.records)


@pytest.mark.parametrize("view", ["top"])
def test_index_offers_a_provisional_score(make_app, view):  # noqa: F811
    page = make_app().test_client().get("/").get_data(as_text=True)
    assert 'name="provisional"' in page


def test_look_at_the_overlay_flags_are_not_shown_as_retakes(make_app):  # noqa: F811
    """`check` and `dark_skin` ask for a look at the overlay; every other code (a retake) is red."""
    from flask import render_template

    from alonet.infer.quality import REVIEW_CODES

    flags = [{"code": "dark_skin", "message": "the bald skin looks dark"},
             {"code": "check", "message": "the networks are unsure"},
             {"code": "too_dark", "message": "photograph too dark"}]
    row = {"present": True, "loss_pct": 40.0, "contribution": 16.0, "confidence": 0.8, "corrected": False,
           "flags": flags}
    summary = {"salt": None, "withheld": True, "complete": False, "partial_salt": 16.0,
               "views": {"top": row}}
    app = make_app()
    with app.test_request_context("/"):
        html = render_template("_summary.html", summary=summary)
    assert re.findall(r'<span class="(flag[^"]*)">([^<]+)</span>', html) == [
        ("flag", "the bald skin looks dark"), ("flag", "the networks are unsure"), ("flag retake", "photograph too dark")]
    assert sorted(REVIEW_CODES) == ["check", "dark_skin"]
