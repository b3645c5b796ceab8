"""What the web app leaks about patients (privacy audit F5, F6, F8, F12, F13).

Before: the result page's Report form was a GET, so the patient code, visit and
photograph dates and the reviewer went into the address (browser history, proxy
logs); a de-identified report's download name carried today's date (usually the
visit's); a new store's database and folders were readable by every local user
under umask 022; a patient code that was plainly a name or held a date of birth
was accepted without a word.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import stat

import pytest
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
from alonet.web.storage import DB_NAME, Store

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
