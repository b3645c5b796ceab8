"""What the web app leaks about patients (privacy audit F5, F6, F8, F12, F13).

Before: the result page's Report form was a GET, so the patient code, visit and
photograph dates and the reviewer went into the address (browser history, proxy
logs); a de-identified report's download name carried today's date (usually the
visit's); a new store's database and folders were readable by every local user
under umask 022; a patient code that was plainly a name or held a date of birth
was accepted without a word.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import sqlite3
import stat
import subprocess

import numpy as np
import pytest
from PIL import Image
from test_web import (  # noqa: F401
    csrf_token,
    make_app,
    model_dir,
    photos,
    pipeline,
    save_visit,
    score_in_browser_form,
)

from alonet.web.reports import report_file_name
from alonet.store.checks import CODE_DATE_PATTERN, identifying_code_reason
from alonet.store.storage import DB_NAME, Store

REVIEW = {"patient_code": "AA-17", "visit_date": "2024-03-01", "photo_date": "2024-03-01", "reviewer": "Dr K"}


# --------------------------------------------------------------- F6: no review fields in addresses


def test_the_report_form_posts_with_the_csrf_token(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    url = score_in_browser_form(client, photos)
    page = client.get(url).get_data(as_text=True)
    form = re.search(r'<form [^>]*id="report-form"[^>]*>(.*?)</form>', page, re.S)
    assert form is not None and 'method="post"' in form.group(0)
    assert 'name="csrf_token"' in form.group(1) and 'name="patient_code"' in form.group(1)


def test_review_fields_in_the_address_are_refused(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    url = score_in_browser_form(client, photos)
    for field, value in REVIEW.items():
        r = client.get(f"{url}/report.json?deidentify=1&{field}={value}")
        text = r.get_data(as_text=True)
        assert r.status_code == 400, field
        assert f"review fields ({field}) are not taken from the address" in text and "POST" in text
        assert value not in text  # the refusal does not echo the value either
    # also in a POST's address: only the body counts
    r = client.post(f"{url}/report.json?patient_code=AA-17", data={"csrf_token": csrf_token(client)})
    assert r.status_code == 400
    # empty fields (a page from before this change submits them) and a plain GET still work
    assert client.get(f"{url}/report.json?deidentify=1&patient_code=&reviewer=").status_code == 200
    assert client.get(f"{url}/report.json").get_json()["review"]["patient_code"] is None


def test_review_fields_come_from_the_post_body(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    url = score_in_browser_form(client, photos)
    r = client.post(f"{url}/report.json", data={"csrf_token": csrf_token(client), **REVIEW})
    assert r.status_code == 200 and r.get_json()["review"] == REVIEW
    assert r.headers["Content-Disposition"] == 'attachment; filename="alonet-report-AA-17-2024-03-01.json"'
    hidden = client.post(f"{url}/report.html", data={"csrf_token": csrf_token(client), "deidentify": "1", **REVIEW})
    assert hidden.status_code == 200
    assert hidden.headers["Content-Disposition"] == 'attachment; filename="alonet-report-deidentified.html"'
    assert "AA-17" not in hidden.get_data(as_text=True) and "2024-03-01" not in hidden.get_data(as_text=True)
    # like every form, the POST needs the session's CSRF token
    refused = client.post(f"{url}/report.json", data=REVIEW)
    assert refused.status_code == 400 and "refused" in refused.get_data(as_text=True)


# --------------------------------------------------------------- F5: a dateless de-identified name


@pytest.mark.parametrize("kind", ["html", "json"])
def test_a_deidentified_report_file_name_has_no_date(kind):
    name = report_file_name(REVIEW, True, kind, "2026-12-07")
    assert name == f"alonet-report-deidentified.{kind}"
    assert report_file_name(None, True, kind, "2026-12-07") == f"alonet-report-deidentified.{kind}"
    # identified reports keep their code and visit date (today's date only without one)
    assert report_file_name(REVIEW, False, kind, "2026-12-07") == f"alonet-report-AA-17-2024-03-01.{kind}"
    assert report_file_name(None, False, kind, "2026-12-07") == f"alonet-report-2026-12-07.{kind}"


# --------------------------------------------------------------- F12: a private store


needs_posix = pytest.mark.skipif(os.name == "nt", reason="file modes are POSIX")


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@needs_posix
def test_a_new_store_is_private_under_umask_022(tmp_path, umask_022):
    store = Store(tmp_path / "clinic" / "store")
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(store.root) == 0o700 and mode(store.images) == 0o700
    assert mode(store.db_path) == 0o600
    assert mode(tmp_path / "clinic") == 0o755  # a parent it had to make is the user's as usual
    store.create_patient("AA-1")
    # while a connection is open SQLite keeps -wal and -shm beside the database: 0600 too
    conn = sqlite3.connect(store.db_path)
    try:
        conn.execute("SELECT COUNT(*) FROM patients").fetchone()
        side = [store.root / f"{DB_NAME}-{s}" for s in ("wal", "shm")]
        assert all(p.is_file() for p in side)
        assert [mode(p) for p in side] == [0o600, 0o600]
    finally:
        conn.close()
    assert store.open_to_others() == []


@needs_posix
def test_an_existing_open_store_keeps_its_modes_and_serve_warns(make_app, tmp_path, umask_022, caplog):  # noqa: F811
    root = tmp_path / "store"
    (root / "images").mkdir(parents=True)
    sqlite3.connect(root / DB_NAME).close()  # as an AloNet before this change made it: 0644
    assert stat.S_IMODE((root / DB_NAME).stat().st_mode) == 0o644
    with caplog.at_level(logging.WARNING, logger="alonet.web"):
        make_app(store=root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755  # not changed behind the owner's back
    assert stat.S_IMODE((root / DB_NAME).stat().st_mode) == 0o644
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "can be read by other users" in warning and f"chmod -R go-rwx {root}" in warning
    assert f"{DB_NAME} (644)" in warning
    os.chmod(root, 0o700)
    os.chmod(root / "images", 0o700)
    os.chmod(root / DB_NAME, 0o600)
    assert Store(root).open_to_others() == []


# --------------------------------------------------------------- F13: names and birth dates as codes

IDENTIFYING = ["Mueller Anna 1961-04-02", "Schmidt_Hans_1955-12-24", "Erika Mustermann", "PATNAME Weber",
               "Mustermann.Erika", "1961-04-02", "AA-02.04.1961", "P 02.04.61", "02_04_1961", "Anna Mueller-Lang",
               "Berlin Site Erika Weber"]
#: Every code the tests use, and other study-code shapes: never flagged.
PSEUDONYMOUS = ["AA-001", "AA 002", "AA-SECRET-7", "P1", "P9", "aa-77", "AA 101", "PAT-OLD", "OTHER-9",
                "AA-015-" + "x" * 40, "01-002", "SITE3-0042", "AA-2024", "CTRL PLAC 7", "Ab", "AA-1-2-003",
                "AA-01-02-03", "S1-12-05-21", "Site A Patient 3", "Study Subject 7", "Berlin Site 03"]


def test_codes_that_look_like_names_or_birth_dates_are_told_apart():
    for code in IDENTIFYING:
        assert identifying_code_reason(code) is not None, code
    for code in PSEUDONYMOUS:
        assert identifying_code_reason(code) is None, code
    assert "a date" in identifying_code_reason("Schmidt_Hans_1955-12-24")
    assert "a name" in identifying_code_reason("Erika Mustermann")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_the_page_flags_the_same_dates_as_the_server():
    """common.js runs CODE_DATE_PATTERN (from the template) in the browser: same answers in JavaScript."""
    script = ("const re = new RegExp(process.argv[1]);"
              "console.log(JSON.stringify(JSON.parse(process.argv[2]).map(c => re.test(c))));")
    codes = IDENTIFYING + PSEUDONYMOUS
    done = subprocess.run(["node", "-e", script, CODE_DATE_PATTERN, json.dumps(codes)], capture_output=True,
                          text=True, timeout=60, check=True)
    assert json.loads(done.stdout) == [bool(re.search(CODE_DATE_PATTERN, c)) for c in codes]


def test_a_new_patient_named_like_a_person_needs_the_tick(make_app, tmp_path):  # noqa: F811
    client = make_app(store=tmp_path / "store").test_client()
    page = client.get("/patients").get_data(as_text=True)
    assert 'name="code_is_pseudonymous"' in page and "data-date-pattern=" in page
    for code in ("Erika Mustermann", "Schmidt_Hans_1955-12-24"):
        r = client.post("/patients", data={"csrf_token": csrf_token(client), "code": code})
        text = r.get_data(as_text=True)
        assert r.status_code == 400 and "use a pseudonymous study code" in text
        assert "tick &#34;this code is pseudonymous&#34;" in text or 'tick "this code is pseudonymous"' in text
    assert Store(tmp_path / "store").list_patients() == []
    r = client.post("/patients", data={"csrf_token": csrf_token(client), "code": "Erika Mustermann",
                                       "code_is_pseudonymous": "1"})
    assert r.status_code == 303
    r = client.post("/patients", data={"csrf_token": csrf_token(client), "code": "AA-017"})
    assert r.status_code == 303  # a study code needs no tick
    assert [p.code for p in Store(tmp_path / "store").list_patients()] == ["AA-017", "Erika Mustermann"]


def test_saving_a_visit_for_a_new_patient_checks_the_code_too(make_app, photos, tmp_path):  # noqa: F811
    client = make_app(store=tmp_path / "store").test_client()
    url = score_in_browser_form(client, photos, ["top"])
    assert 'name="code_is_pseudonymous"' in client.get(url).get_data(as_text=True)
    form = {"csrf_token": csrf_token(client), "patient": "new", "new_code": "Mueller Anna 1961-04-02",
            "visit_date": "2024-05-06"}
    r = client.post(f"{url}/save", data=form)
    assert r.status_code == 400 and "holds a date (a date of birth?)" in r.get_data(as_text=True)
    store = Store(tmp_path / "store")
    assert store.list_patients() == [] and store.visit_ids() == []
    visit_url = save_visit(client, url, patient="new", new_code="Mueller Anna 1961-04-02",
                           visit_date="2024-05-06", code_is_pseudonymous="1")
    patient = store.list_patients()[0]
    assert patient.code == "Mueller Anna 1961-04-02"
    # an existing patient is never asked again (saving again, or another visit of theirs)
    assert save_visit(client, url, patient=str(patient.id), visit_date="2024-05-06") == visit_url


# --------------------------------------------------------------- stored photographs: metadata out, pixels kept


def test_a_stored_jpeg_is_the_upload_without_metadata_and_scores_the_same(make_app, photos, tmp_path):  # noqa: F811
    from test_jpegmeta import SECRETS, camera_jpeg

    from alonet.data.jpegmeta import strip_jpeg_metadata
    from alonet.data.photo import read_photo

    store_dir = tmp_path / "store"
    app = make_app(store=store_dir)
    client = app.test_client()
    uploads = {"top": camera_jpeg(photos["top"]), "back": camera_jpeg(photos["back"]),
               "left": camera_jpeg(photos["left"], orientation=6)}
    data = {v: (io.BytesIO(b), f"IMG_{v}.jpg") for v, b in uploads.items()}
    data["csrf_token"] = csrf_token(client)
    url = client.post("/score", data=data, content_type="multipart/form-data").headers["Location"]
    scored = client.get(f"{url}/report.json").get_json()
    visit_url = save_visit(client, url, patient="new", new_code="AA-101", visit_date="2024-01-10")

    store = Store(store_dir)
    visit = store.get_visit(int(visit_url.rsplit("/", 1)[1]))
    stored = {v: store.image_file(visit.views[v].photo_file).read_bytes() for v in uploads}
    for view, upload in uploads.items():
        assert np.array_equal(read_photo(stored[view]), read_photo(upload)) or view == "left"
        assert not any(secret in stored[view] for secret in SECRETS)
        assert client.get(f"{visit_url}/photo/{view}.jpg").get_data() == stored[view]
        with Image.open(io.BytesIO(stored[view])) as img:
            assert not img.getexif()
            # stored upright: raw pixels and the upright masks line up in store exports too
            assert img.size == read_photo(upload).shape[1::-1]
    for view in ("top", "back"):
        assert stored[view] == strip_jpeg_metadata(uploads[view])
    assert stored["left"] != strip_jpeg_metadata(uploads["left"])  # a turned photograph is encoded upright

    # Scoring the downloaded photographs again gives the saved numbers exactly.
    again = {v: (io.BytesIO(client.get(f"{visit_url}/photo/{v}.jpg").get_data()), f"{v}.jpg") for v in ("top", "back")}
    body = client.post("/api/score?masks=0", data=again, content_type="multipart/form-data").get_json()
    for view in ("top", "back"):
        assert body["views"][view]["loss_pct"] == scored["views"][view]["loss_pct"]


def test_uploaded_files_are_kept_in_memory_only_where_a_save_can_store_them(make_app, photos, tmp_path):  # noqa: F811
    from test_jpegmeta import camera_jpeg

    for store in (None, tmp_path / "store"):
        app = make_app(store=store)
        client = app.test_client()
        data = {"top": (io.BytesIO(camera_jpeg(photos["top"])), "top.jpg"), "csrf_token": csrf_token(client)}
        url = client.post("/score", data=data, content_type="multipart/form-data").headers["Location"]
        visit = app.extensions["alonet"].cache.get(url.rsplit("/", 1)[1])
        assert (visit.views["top"].upload_jpeg is not None) == (store is not None)


def test_a_png_upload_is_stored_as_a_jpeg_of_its_pixels(make_app, photos, tmp_path):  # noqa: F811
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    url = score_in_browser_form(client, photos, ("top",))
    visit_url = save_visit(client, url, patient="new", new_code="AA-102", visit_date="2024-01-10")
    store = Store(store_dir)
    visit = store.get_visit(int(visit_url.rsplit("/", 1)[1]))
    stored = store.image_file(visit.views["top"].photo_file).read_bytes()
    with Image.open(io.BytesIO(stored)) as img:
        assert img.format == "JPEG" and img.size == photos["top"].shape[1::-1]
