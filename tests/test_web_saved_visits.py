"""A saved visit says what its page said (audit of a clinic day over HTTP, twenty-third session).

Before: a visit whose SALT the page withheld (a mislabelled view) had a SALT in its
stored report; a provisional SALT lost its mark once saved and became the baseline;
a stored report stated the thresholds of the server running now; the SALT was
rounded twice (20.452 -> 20.45 -> "20.4" on the page, 20.5 in the report); a
stored report had no patient code or visit date.
"""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from test_web import (  # noqa: F401
    csrf_token,
    files_for,
    make_app,
    mask_png,
    model_dir,
    photos,
    pipeline,
    save_visit,
    score_in_browser_form,
)

from alonet.infer.viewcheck import MISMATCH_CODE
from alonet.views import VIEWS
from alonet.web.state import get_state
from alonet.store.storage import Store

WEB_DIR = Path(__file__).resolve().parents[1] / "src" / "alonet" / "web"


def mislabel_top(app) -> None:
    """Make the app's view checks flag the top photograph as a left view (as a swapped top/left does
    with the bundled model; the tests' tiny model cannot tell views apart)."""
    scorer = get_state(app).scorer
    checked = scorer.pipeline.predict_checked

    def predict_checked(items):
        results = checked(items)
        from dataclasses import replace
        top = results["top"]
        flag = {"code": MISMATCH_CODE, "message": "the photograph given as top looks like a left view"}
        results["top"] = replace(top, flags=[*top.flags, flag])
        return results

    scorer._predict_and_check = predict_checked


def visit_id_of(url: str) -> int:
    return int(url.rsplit("/", 1)[1])


def test_a_withheld_salt_stays_withheld_once_saved(make_app, photos, tmp_path):  # noqa: F811
    app = make_app(store=tmp_path / "store")
    mislabel_top(app)
    client = app.test_client()
    url = score_in_browser_form(client, photos)
    live = client.get(f"{url}/report.json").get_json()
    assert live["salt"] is None and live["withheld"] == ["top"]
    visit_url = save_visit(client, url, patient="new", new_code="AA-101", visit_date="2024-05-02")
    stored = client.get(f"{visit_url}/report.json").get_json()
    assert stored["salt"] is None and stored["grade"] is None and stored["withheld"] == ["top"]
    assert "looks like a left view" in stored["withheld_reason"]
    html = client.get(f"{visit_url}/report.html").get_data(as_text=True)
    assert '<div class="big" id="salt">withheld</div>' in html
    page = client.get(visit_url).get_data(as_text=True)
    assert '<span id="salt-value" class="salt-value">withheld</span>' in page


def score_form(client, images, **fields) -> str:
    data = files_for(images)
    data.update(fields, csrf_token=csrf_token(client))
    response = client.post("/score", data=data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return response.headers["Location"]


def test_a_provisional_salt_stays_marked_once_saved_and_is_never_the_baseline(make_app, photos, tmp_path):  # noqa: F811
    client = make_app(store=tmp_path / "store").test_client()
    dark = {**photos, "back": (photos["back"] // 8).astype(np.uint8)}  # far too dark: a retake
    url = score_form(client, dark, provisional="1")
    live = client.get(f"{url}/report.json").get_json()
    assert live["provisional"] is True and live["salt"] is not None
    first = save_visit(client, url, patient="new", new_code="AA-7", visit_date="2024-01-10")
    stored = client.get(f"{first}/report.json").get_json()
    assert stored["provisional"] is True and stored["withheld"] == []
    assert stored["salt"] == pytest.approx(live["salt"], abs=1e-9) and stored["grade"] == live["grade"]
    assert "PROVISIONAL" in client.get(f"{first}/report.html").get_data(as_text=True)
    assert 'id="provisional-mark"' in client.get(first).get_data(as_text=True)

    store = Store(tmp_path / "store")
    pid = store.get_visit(visit_id_of(first)).patient_id
    second = save_visit(client, score_form(client, photos), patient=str(pid), visit_date="2024-02-10")
    page = client.get(f"/patients/{pid}").get_data(as_text=True)
    rows = re.findall(r'<tr data-visit="(\d+)">(.*?)</tr>', page, re.S)
    by_id = {int(i): body for i, body in rows}
    provisional_row, normal_row = by_id[visit_id_of(first)], by_id[visit_id_of(second)]
    assert "provisional" in provisional_row and "baseline" not in provisional_row
    assert "baseline" in normal_row and "provisional" not in normal_row  # the first non-provisional visit
    assert page.count('class="point provisional"') == 1 and "(provisional)" in page
    listing = client.get("/patients").get_data(as_text=True)
    aa7 = re.search(r'>AA-7</a>.*?</tr>', listing, re.S).group(0)
    assert "provisional" not in aa7  # the latest visit (2024-02-10) is not provisional
    store.delete_visit(visit_id_of(second))
    aa7 = re.search(r'>AA-7</a>.*?</tr>', client.get("/patients").get_data(as_text=True), re.S).group(0)
    assert "provisional" in aa7


def test_response_rows_and_chart_skip_a_provisional_baseline():
    from alonet.web.charts import salt_chart
    from alonet.store.records import Visit, salt_status
    from alonet.store.responses import response_rows

    def visit(i, salt, provisional=False, withheld=()):
        summary = {"salt": salt, "provisional": provisional, "withheld": list(withheld)}
        return Visit(id=i, patient_id=1, visit_date=f"2024-0{i}-01", created_at="", salt=salt, grade=None,
                     band=None, missing=(), summary=summary, model="")

    visits = [visit(1, 60.0, provisional=True), visit(2, None, withheld=["top"]), visit(3, 40.0), visit(4, 10.0)]
    rows = response_rows(visits)
    assert [r["baseline"] for r in rows] == [False, False, True, False]
    assert rows[0]["response"] is None and rows[3]["response"].absolute_change == pytest.approx(-30.0)
    assert [salt_status(v.summary) for v in visits] == ["provisional", "withheld", "scored", "scored"]
    chart = salt_chart([("2024-01-01", 60.0), ("2024-03-01", 40.0)], provisional=[True, False])
    assert chart.points[0].provisional and chart.points[0].label == "2024-01-01: SALT 60.0 (provisional)"
    assert chart.baseline_y == chart.points[1].y  # the dashed baseline is the first non-provisional SALT


def test_a_stored_report_states_what_scored_the_visit_not_the_server_now(make_app, model_dir, photos, tmp_path):  # noqa: F811, E501
    from alonet.infer import Pipeline, PipelineConfig
    from alonet.infer.postprocess import PostprocessConfig
    from alonet.report.provenance import model_sha256
    from alonet.web import WebConfig, create_app

    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    visit_url = save_visit(client, score_form(client, photos), patient="new", new_code="AA-3",
                           visit_date="2024-04-01")
    # the server restarted with --hairloss-threshold 0.35
    other = Pipeline(model_dir, backend="torch", config=PipelineConfig(postprocess=PostprocessConfig(
        hairloss_threshold=0.35)))
    restarted = create_app(WebConfig(models=str(model_dir), backend="torch", store=store_dir), pipeline=other)
    report = restarted.test_client().get(f"{visit_url}/report.json").get_json()
    assert report["thresholds"] == {"scalp": 0.5, "hairloss": 0.5}
    assert report["model_sha256"] == model_sha256(other) and len(report["model_sha256"]) == 64
    assert report["backend"] == "torch"
    html = restarted.test_client().get(f"{visit_url}/report.html").get_data(as_text=True)
    assert "hairloss 0.5" in html and "hairloss 0.35" not in html
    stored = Store(store_dir).get_visit(visit_id_of(visit_url))
    assert stored.scored_with["thresholds"]["hairloss"] == 0.5


def test_a_visit_saved_before_schema_5_reports_only_its_model(tmp_path):
    import sqlite3

    from alonet.web.reports import scored_with_meta
    from alonet.store.schema import SCHEMA_VERSION, migrate

    folder = tmp_path / "v4"
    folder.mkdir()
    with sqlite3.connect(folder / "alonet.sqlite3", isolation_level=None) as conn:
        assert migrate(conn, target=4) == 0
        conn.execute("INSERT INTO patients (id, code, created_at) VALUES (1, 'P1', '2024-01-01')")
        conn.execute("INSERT INTO visits (id, patient_id, visit_date, created_at, salt, summary, model) "
                     "VALUES (1, 1, '2024-01-02', '2024-01-02', 12.5, '{}', 'old-model (torch)')")
    store = Store(folder)
    assert store.schema_version() == SCHEMA_VERSION >= 5
    visit = store.get_visit(1)
    assert visit.scored_with == {} and visit.salt == 12.5
    assert scored_with_meta(visit.model, visit.scored_with) == {"model": "old-model (torch)"}  # no current thresholds


def test_a_stored_report_names_the_patient_code_and_visit_date(make_app, photos, tmp_path):  # noqa: F811
    client = make_app(store=tmp_path / "store").test_client()
    visit_url = save_visit(client, score_form(client, photos), patient="new", new_code="AA 101",
                           visit_date="2024-04-03")
    response = client.get(f"{visit_url}/report.json")
    assert response.get_json()["review"]["patient_code"] == "AA 101"
    assert response.get_json()["review"]["visit_date"] == "2024-04-03"
    assert response.headers["Content-Disposition"] == 'attachment; filename="alonet-report-AA-101-2024-04-03.json"'
    html = client.get(f"{visit_url}/report.html")
    assert "AA 101" in html.get_data(as_text=True) and "2024-04-03" in html.get_data(as_text=True)
    assert html.headers["Content-Disposition"].endswith('alonet-report-AA-101-2024-04-03.html"')
    hidden = client.get(f"{visit_url}/report.json?deidentify=1")
    assert hidden.get_json()["review"]["patient_code"] is None
    assert "AA-101" not in hidden.headers["Content-Disposition"] and "2024-04-03" not in hidden.headers[
        "Content-Disposition"]
    # no date at all: the day a report is made is usually the visit's (privacy audit F5)
    assert hidden.headers["Content-Disposition"] == 'attachment; filename="alonet-report-deidentified.json"'


def correct_all(client, url, masks: dict) -> dict:
    import io

    data = {}
    for view, (scalp, loss) in masks.items():
        data[f"scalp_{view}"] = (io.BytesIO(mask_png(scalp)), "s.png")
        data[f"hairloss_{view}"] = (io.BytesIO(mask_png(loss)), "h.png")
    r = client.post(f"{url}/masks", data=data, content_type="multipart/form-data",
                    headers={"X-CSRFToken": csrf_token(client)})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()["summary"]


def test_the_salt_is_shown_once_rounded_everywhere(make_app, photos, tmp_path):  # noqa: F811
    from alonet.scoring.salt import category_value, shown_salt

    client = make_app(store=tmp_path / "store").test_client()
    url = score_form(client, photos)
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)
    loss = np.zeros(height * width, bool)
    loss[:9817] = True  # top: 100 * 9817 / 19200 % -> SALT = 0.4 * that = 20.4521 (others 0)
    masks = {v: (full, np.zeros_like(full)) for v in VIEWS}
    masks["top"] = (full, loss.reshape(height, width))
    summary = correct_all(client, url, masks)
    exact = 0.4 * 100 * 9817 / (height * width)
    assert exact == pytest.approx(20.45208, abs=1e-5)
    assert summary["salt"] == 20.45 and "%.1f" % summary["salt"] == "20.4"  # why formatting it is wrong
    assert summary["salt_shown"] == shown_salt(exact) == "20.5" and category_value(exact) == 21
    assert summary["grade"] == "S1" and summary["band"] == "moderate"  # 21: not SALT <= 20
    assert '<span id="salt-value" class="salt-value">20.5</span>' in client.get(url).get_data(as_text=True)
    assert '<div class="big" id="salt">20.5</div>' in client.get(f"{url}/report.html").get_data(as_text=True)

    visit_url = save_visit(client, url, patient="new", new_code="AA-20", visit_date="2024-06-01")
    store = Store(tmp_path / "store")
    stored = store.get_visit(visit_id_of(visit_url))
    assert stored.salt == pytest.approx(exact, abs=1e-9)  # unrounded, so its category is the page's
    assert '<span id="salt-value" class="salt-value">20.5</span>' in client.get(visit_url).get_data(as_text=True)
    report = client.get(f"{visit_url}/report.json").get_json()
    assert report["salt_shown"] == "20.5" and report["salt"] == 20.45 and report["band"] == "moderate"
    assert '<div class="big" id="salt">20.5</div>' in client.get(f"{visit_url}/report.html").get_data(as_text=True)
    page = client.get(f"/patients/{stored.patient_id}").get_data(as_text=True)
    row = re.search(r'<tr data-visit="\d+">(.*?)</tr>', page, re.S).group(1)
    assert re.search(r'<td class="salt">20\.5</td>\s*<td>S1</td><td>moderate</td>', row)
    assert "2024-06-01: SALT 20.5" in page
    listing = client.get("/patients").get_data(as_text=True)
    assert '<td class="salt">20.5</td>' in listing


def test_a_correction_from_a_stale_page_is_refused_with_409(make_app, photos):  # noqa: F811
    import io

    client = make_app().test_client()
    url = score_form(client, photos)
    page = client.get(url).get_data(as_text=True)
    assert 'data-revision="0"' in page
    height, width = photos["top"].shape[:2]
    full, empty = np.ones((height, width), bool), np.zeros((height, width), bool)

    def send(revision, loss):
        data = {"revision": str(revision), "scalp_top": (io.BytesIO(mask_png(full)), "s.png"),
                "hairloss_top": (io.BytesIO(mask_png(loss)), "h.png")}
        return client.post(f"{url}/masks", data=data, content_type="multipart/form-data",
                           headers={"X-CSRFToken": csrf_token(client), "Accept": "application/json"})

    first = send(0, full)  # user A: all of the top is hair loss
    assert first.status_code == 200 and first.get_json()["revision"] == 1
    assert first.get_json()["summary"]["views"]["top"]["loss_pct"] == 100.0
    second = send(0, empty)  # user B's page also started at revision 0
    assert second.status_code == 409
    assert "reload the page" in second.get_json()["error"] and "corrected elsewhere" in second.get_json()["error"]
    report = client.get(f"{url}/report.json").get_json()
    assert report["views"]["top"]["loss_pct"] == 100.0  # user A's stroke is kept
    assert send(1, empty).status_code == 200  # after a reload B builds on revision 1
    # that the page sends its revision (a stale tab's stroke is refused): test_web_browser.py


def test_mask_files_from_a_page_older_than_a_save_are_refused_and_the_save_stands(make_app, photos, tmp_path):  # noqa: F811
    """Two pages on one result: A corrects the top view and saves the visit; B, loaded before
    that, then sends its "correct the masks from files" form, posted without JavaScript
    (``then=page``) and as the page's script sends it (``source=files``). Both are refused (409)
    in words that fit files chosen in a form (not "stroke"), with the way on; the store and the
    result keep A's masks. (In a browser, two tabs: test_web_browser.py.)"""
    import io

    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    url = score_form(client, photos)
    form_b = client.get(url).get_data(as_text=True).split('id="mask-files-form"', 1)[1].split("</form>", 1)[0]
    revision_b = re.search(r'name="revision" value="(\d+)"', form_b).group(1)
    assert revision_b == "0" and 'name="then" value="page"' in form_b
    height, width = photos["top"].shape[:2]
    full, empty = np.ones((height, width), bool), np.zeros((height, width), bool)

    def top_files(loss, **fields) -> dict:
        return {"scalp_top": (io.BytesIO(mask_png(full)), "top_scalp.png"),
                "hairloss_top": (io.BytesIO(mask_png(loss)), "top_hairloss.png"), **fields}

    json_headers = {"X-CSRFToken": csrf_token(client), "Accept": "application/json"}
    first = client.post(f"{url}/masks", data=top_files(full, revision="0", source="files"),
                        content_type="multipart/form-data", headers=json_headers)
    assert first.status_code == 200 and first.get_json()["revision"] == 1
    vid = visit_id_of(save_visit(client, url, patient="new", new_code="AA-90", visit_date="2024-09-01"))
    store = Store(store_dir)
    saved, stamp = store.get_visit(vid), store.visit_stamp(vid)
    assert saved.views["top"].loss_pct == 100.0
    saved_files = {name: store.image_file(name).read_bytes()
                   for name in (saved.views["top"].scalp_file, saved.views["top"].hairloss_file)}

    # without JavaScript: B's form posts itself and is answered with a page of its own
    answer = client.post(f"{url}/masks", data=top_files(empty, csrf_token=csrf_token(client), revision=revision_b,
                                                         then="page"), content_type="multipart/form-data")
    text = answer.get_data(as_text=True)
    assert answer.status_code == 409 and "this page is out of date" in text and "choose the files again" in text
    assert "stroke" not in text and "Traceback" not in text
    assert f'href="{url}"' in text and "Back to the result" in text
    # B's page script: the message shows in the form's status, on the page itself
    answer = client.post(f"{url}/masks", data=top_files(empty, revision=revision_b, source="files"),
                         content_type="multipart/form-data", headers=json_headers)
    error = answer.get_json()["error"]
    assert answer.status_code == 409 and "this page is out of date" in error, error
    assert "reload the page" in error and "choose the files again" in error and "stroke" not in error, error
    # a painted stroke from B's page is still said as a stroke
    answer = client.post(f"{url}/masks", data=top_files(empty, revision=revision_b),
                         content_type="multipart/form-data", headers=json_headers)
    assert answer.status_code == 409 and "the strokes made here since were not applied" in answer.get_json()["error"]

    # nothing of A's is lost: the stored visit, its mask files, and the result in memory
    assert store.visit_stamp(vid) == stamp
    kept = store.get_visit(vid).views["top"]
    assert kept.loss_pct == 100.0 and (kept.scalp_file, kept.hairloss_file) == tuple(saved_files)
    assert {name: store.image_file(name).read_bytes() for name in saved_files} == saved_files
    assert client.get(f"{url}/report.json").get_json()["views"]["top"]["loss_pct"] == 100.0
    assert 'id="unsaved-note" class="warning" hidden' in client.get(url).get_data(as_text=True)


def test_the_result_page_says_when_corrections_since_the_save_are_unsaved(make_app, photos, tmp_path):  # noqa: F811
    client = make_app(store=tmp_path / "store").test_client()
    url = score_form(client, photos)
    save_visit(client, url, patient="new", new_code="AA-8", visit_date="2024-06-02")
    note = re.compile(r'<p id="unsaved-note" class="warning"( hidden)?>')
    assert note.search(client.get(url).get_data(as_text=True)).group(1) == " hidden"
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)
    answer = correct_all(client, url, {"top": (full, full)})
    assert note.search(client.get(url).get_data(as_text=True)).group(1) is None  # shown
    save_visit(client, url, patient="new", new_code="AA-8")
    assert note.search(client.get(url).get_data(as_text=True)).group(1) == " hidden"
    assert answer["views"]["top"]["loss_pct"] == 100.0


def test_the_report_says_its_rounded_view_points_need_not_add_up(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    url = score_form(client, photos)
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)

    def loss(count):
        flat = np.zeros(height * width, bool)
        flat[:count] = True
        return flat.reshape(height, width)

    # top 4750 / 19200 px = 24.74 % -> 9.90 points, left 15.30 % -> 2.75, right 4.80 % -> 0.86
    summary = correct_all(client, url, {"top": (full, loss(4750)), "back": (full, loss(0)),
                                        "left": (full, loss(2938)), "right": (full, loss(922))})
    assert summary["salt_shown"] == "13.5"
    html = client.get(f"{url}/report.html").get_data(as_text=True)
    points = re.findall(r'<td class="num">(\d+\.\d)</td>\s*<td class="num">(?:\d+%|corrected)</td>', html)
    assert points == ["9.9", "0.0", "2.8", "0.9"]
    assert "SALT points are rounded to 0.1, so they add up to 13.6; the SALT 13.5 is the sum of the unrounded" in html


def test_a_correction_after_the_session_ended_says_to_log_in_again(make_app, photos):  # noqa: F811
    app = make_app()
    client = app.test_client()
    url = score_form(client, photos)
    token = csrf_token(client)
    stranger = app.test_client()  # logged out in another tab / server restarted: no session cookie
    r = stranger.post(f"{url}/masks", data={"revert": "top"}, headers={"X-CSRFToken": token,
                                                                       "Accept": "application/json"})
    assert r.status_code == 400
    error = r.get_json()["error"]
    assert error.startswith("your session has ended") and "log in again" in error and "CSRF" not in error


def test_a_withheld_visit_is_listed_as_withheld(make_app, photos, tmp_path):  # noqa: F811
    app = make_app(store=tmp_path / "store")
    mislabel_top(app)
    client = app.test_client()
    visit_url = save_visit(client, score_form(client, photos), patient="new", new_code="AA-55",
                           visit_date="2024-05-05")
    pid = Store(tmp_path / "store").get_visit(visit_id_of(visit_url)).patient_id
    page = client.get(f"/patients/{pid}").get_data(as_text=True)
    assert '<td class="salt">withheld</td>' in page and "incomplete" not in page
    listing = client.get("/patients").get_data(as_text=True)
    assert re.search(r'>AA-55</a>.*?<td class="salt">withheld</td>', listing, re.S)


def test_patient_codes_differing_only_in_case_are_one_patient(tmp_path):
    from alonet.errors import InvalidValueError

    store = Store(tmp_path / "store")
    store.create_patient("AA-101")
    with pytest.raises(InvalidValueError, match="patient 'AA-101' already exists") as caught:
        store.create_patient("aa-101")
    assert "choose AA-101 from the list" in str(caught.value)
    with pytest.raises(InvalidValueError, match="already exists"):
        store.create_patient("AA-101")
    assert [p.code for p in store.list_patients()] == ["AA-101"]


def test_a_change_of_49_6_or_49_97_percent_is_not_shown_as_50(make_app, tmp_path):  # noqa: F811
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    store = Store(store_dir)
    pid = store.create_patient("AA-49")
    for date, salt in (("2024-01-01", 40.0), ("2024-03-01", 20.16)):
        store.add_visit(pid, date, {"salt": salt, "grade": "S1", "band": "limited", "withheld": []}, [])
    page = client.get(f"/patients/{pid}").get_data(as_text=True)
    assert "-19.84 points (-49.60%)" in page and "SALT50" not in page
    # two decimals, as results.csv and the salt command: with one, -19.99 from 40 showed "-50.0%"
    # beside no SALT50
    store.add_visit(pid, "2024-05-01", {"salt": 20.01, "grade": "S1", "band": "limited", "withheld": []}, [])
    page = client.get(f"/patients/{pid}").get_data(as_text=True)
    assert "-19.99 points (-49.97%)" in page and "SALT50" not in page


def test_a_photograph_refused_by_the_gate_is_said_to_be_refused(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    blank = {**photos, "back": np.full_like(photos["back"], 128)}
    url = score_form(client, blank)
    page = client.get(url).get_data(as_text=True)
    reason = re.search(r'<span id="incomplete-reason">(.*?)</span>', page, re.S).group(1)
    assert reason.startswith("the back photograph was refused (") and "no scalp found" not in reason


def test_a_second_visit_the_same_day_needs_the_form_to_say_so(make_app, photos, tmp_path):  # noqa: F811
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    first = save_visit(client, score_form(client, photos), patient="new", new_code="AA-12", visit_date="2024-07-01")
    pid = Store(store_dir).get_visit(visit_id_of(first)).patient_id
    url = score_form(client, photos)
    twice = client.post(f"{url}/save", data={"csrf_token": csrf_token(client), "patient": str(pid),
                                             "visit_date": "2024-07-01"})
    assert twice.status_code == 409
    message = twice.get_data(as_text=True)
    assert f"already has a visit on 2024-07-01 (visit {visit_id_of(first)})" in message
    assert "another visit the same day" in message
    assert len(Store(store_dir).list_visits(pid)) == 1
    second = save_visit(client, url, patient=str(pid), visit_date="2024-07-01", same_day="1")
    assert second != first and len(Store(store_dir).list_visits(pid)) == 2
    assert 'name="same_day" value="1"' in client.get(url).get_data(as_text=True)


def test_the_patient_page_names_each_visits_model_and_marks_a_change(make_app, tmp_path):  # noqa: F811
    from alonet.report.html import SYNTHETIC_WARNING

    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()  # serves the tests' model, not the bundled one
    store = Store(store_dir)
    pid = store.create_patient("AA-15")
    summary = {"salt": 30.0, "salt_shown": "30.0", "grade": "S2", "band": "moderate", "band_level": 2,
               "complete": True, "retake": False, "provisional": False, "withheld": [], "withheld_reason": None,
               "missing": [], "unscorable": [], "partial_salt": 30.0, "views": {}, "flags": []}
    first = store.add_visit(pid, "2024-01-01", summary, [], model="default (onnx)",
                            scored_with={"model_sha256": "a" * 64})
    second = store.add_visit(pid, "2024-02-01", summary, [], model="default (onnx)",
                             scored_with={"model_sha256": "b" * 64})  # retrained in place: same name
    third = store.add_visit(pid, "2024-03-01", summary, [], model="default (onnx)",
                            scored_with={"model_sha256": "b" * 64})
    page = client.get(f"/patients/{pid}").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-visit="(\d+)">(.*?)</tr>', page, re.S))
    assert all("default (onnx)" in rows[str(v)] for v in (first, second, third))
    assert ["model changed" in rows[str(v)] for v in (first, second, third)] == [False, True, False]
    # what the flag means is on the page, not in a tooltip only a mouse can open
    assert 'aria-describedby="model-changed-note"' in rows[str(second)] and "title=" not in rows[str(second)]
    note = re.search(r'<p class="muted" id="model-changed-note">(.*?)</p>', page, re.S).group(1)
    assert "scored by another model set than the visit before it" in " ".join(note.split())
    # the bundled-model warning follows the visit's model, not the served one
    visit_page = client.get(f"/visits/{first}").get_data(as_text=True)
    assert 'id="synthetic-warning"' in visit_page and SYNTHETIC_WARNING[:40] in visit_page
    other = store.add_visit(pid, "2024-04-01", summary, [], model="clinic-2026 (torch)")
    assert 'id="synthetic-warning"' not in client.get(f"/visits/{other}").get_data(as_text=True)


def test_a_stored_visit_can_be_reopened_and_corrected_after_a_restart(make_app, photos, tmp_path):  # noqa: F811
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    visit_url = save_visit(client, score_form(client, photos), patient="new", new_code="AA-70",
                           visit_date="2024-08-01")
    vid = visit_id_of(visit_url)
    before = Store(store_dir).get_visit(vid)
    restarted = make_app(store=store_dir).test_client()  # the result left the server's memory
    assert 'id="correct-visit"' in restarted.get(visit_url).get_data(as_text=True)
    opened = restarted.post(f"{visit_url}/correct", data={"csrf_token": csrf_token(restarted)})
    assert opened.status_code == 303 and opened.headers["Location"].startswith("/result/")
    url = opened.headers["Location"]
    page = restarted.get(url).get_data(as_text=True)
    assert f"visit {vid}</a>" in page and 'id="unsaved-note" class="warning" hidden' in page
    live = restarted.get(f"{url}/report.json").get_json()
    assert live["salt"] == pytest.approx(before.salt, abs=0.006)
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)
    summary = correct_all(restarted, url, {"top": (full, full)})
    again = save_visit(restarted, url, patient=str(before.patient_id))
    assert again == visit_url
    after = Store(store_dir).get_visit(vid)
    assert after.views["top"].loss_pct == 100.0 and after.views["top"].corrected
    assert after.salt == pytest.approx(summary["salt"], abs=0.006) and after.salt != before.salt
    assert after.scored_with == before.scored_with and after.visit_date == "2024-08-01"
    assert len(Store(store_dir).list_visits(before.patient_id)) == 1


# --------------------------------------------------------------------------- a review of the day's diff


def reopen(client, visit_url) -> str:
    opened = client.post(f"{visit_url}/correct", data={"csrf_token": csrf_token(client)})
    assert opened.status_code == 303
    return opened.headers["Location"]


def stored_visit(make_app, photos, tmp_path, code: str):  # noqa: F811 - the fixtures, passed on
    """A visit scored and saved as the first of a new patient ``code`` on 2024-08-01:
    ``(store folder, client, result page, stored visit page, visit id, patient id as a form value)``."""
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    first = score_form(client, photos)
    visit_url = save_visit(client, first, patient="new", new_code=code, visit_date="2024-08-01")
    vid = visit_id_of(visit_url)
    return store_dir, client, first, visit_url, vid, str(Store(store_dir).get_visit(vid).patient_id)


def test_two_reopenings_of_one_visit_do_not_overwrite_each_other(make_app, photos, tmp_path):  # noqa: F811
    store_dir, client, _, visit_url, vid, patient = stored_visit(make_app, photos, tmp_path, "AA-80")
    first, second = reopen(client, visit_url), reopen(client, visit_url)
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)
    correct_all(client, first, {"top": (full, full)})
    save_visit(client, first, patient=patient)
    assert Store(store_dir).get_visit(vid).views["top"].loss_pct == 100.0
    correct_all(client, second, {"back": (full, full)})
    r = client.post(f"{second}/save", data={"csrf_token": csrf_token(client), "patient": patient})
    assert r.status_code == 409 and "saved from another page" in r.get_data(as_text=True)
    kept = Store(store_dir).get_visit(vid)
    assert kept.views["top"].loss_pct == 100.0 and kept.views["back"].loss_pct != 100.0  # the first save stands
    # the page that saved last may save again (its own later corrections)
    correct_all(client, first, {"back": (full, full)})
    save_visit(client, first, patient=patient)
    assert Store(store_dir).get_visit(vid).views["back"].loss_pct == 100.0


def test_a_stale_page_saving_nothing_new_neither_adopts_nor_marks_another_pages_save(make_app, photos, tmp_path):  # noqa: F811
    """A page that saved, then pressed Save again (to tick Reviewed) after another page saved a
    correction, took that save's stamp: its next save overwrote the correction unseen, and the
    review mark went on masks it never showed."""
    store_dir, client, first, visit_url, vid, patient = stored_visit(make_app, photos, tmp_path, "AA-84")
    other = reopen(client, visit_url)
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)
    correct_all(client, other, {"back": (full, full)})
    save_visit(client, other, patient=patient)
    r = client.post(f"{first}/save", data={"csrf_token": csrf_token(client), "patient": patient, "reviewed": "1"})
    assert r.status_code == 409 and "saved from another page" in r.get_data(as_text=True)
    assert Store(store_dir).get_visit(vid).reviewed_at is None
    correct_all(client, first, {"top": (full, full)})
    r = client.post(f"{first}/save", data={"csrf_token": csrf_token(client), "patient": patient})
    assert r.status_code == 409
    kept = Store(store_dir).get_visit(vid)
    assert kept.views["back"].loss_pct == 100.0 and kept.views["top"].loss_pct != 100.0  # the other page's save


def test_mark_reviewed_from_a_visit_page_opened_before_another_save_is_refused(make_app, photos, tmp_path):  # noqa: F811
    """The stored visit's own page sent no stamp, so a page opened before another page saved a
    correction marked masks it never showed as training data."""
    store_dir, client, _, visit_url, vid, patient = stored_visit(make_app, photos, tmp_path, "AA-86")
    stamp_field = re.compile(r'name="stamp" value="([0-9a-f]+)"')
    old_stamp = stamp_field.search(client.get(visit_url).get_data(as_text=True)).group(1)
    other = reopen(client, visit_url)
    height, width = photos["top"].shape[:2]
    correct_all(client, other, {"top": (np.ones((height, width), bool), np.ones((height, width), bool))})
    save_visit(client, other, patient=patient)
    form = {"csrf_token": csrf_token(client), "reviewed": "1"}
    r = client.post(f"/visits/{vid}/review", data={**form, "stamp": old_stamp})
    assert r.status_code == 409 and "saved from another page" in r.get_data(as_text=True)
    assert Store(store_dir).get_visit(vid).reviewed_at is None
    new_stamp = stamp_field.search(client.get(visit_url).get_data(as_text=True)).group(1)
    assert client.post(f"/visits/{vid}/review", data={**form, "stamp": new_stamp}).status_code == 303
    assert Store(store_dir).get_visit(vid).reviewed_at is not None


def test_a_reopened_visit_deleted_meanwhile_is_added_again_with_its_own_date(make_app, photos, tmp_path):  # noqa: F811
    store_dir, client, _, visit_url, vid, patient = stored_visit(make_app, photos, tmp_path, "AA-85")
    opened = reopen(client, visit_url)
    client.post(f"/visits/{vid}/delete", data={"csrf_token": csrf_token(client)})
    assert Store(store_dir).get_visit(vid) is None
    again = save_visit(client, opened, patient=patient)  # the page leaves the date field empty
    assert Store(store_dir).get_visit(visit_id_of(again)).visit_date == "2024-08-01"  # not today's


def test_a_reopened_visit_keeps_its_stored_photographs(make_app, photos, tmp_path, monkeypatch):  # noqa: F811
    import alonet.web.reports as reports

    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    visit_url = save_visit(client, score_form(client, photos), patient="new", new_code="AA-81", visit_date="2024-08-01")
    vid = visit_id_of(visit_url)
    before = Store(store_dir).get_visit(vid)
    encoded = []
    monkeypatch.setattr(reports, "encode_jpeg", lambda image, **kw: encoded.append(image.shape) or b"never stored")
    for _ in range(2):  # each save of a reopened visit encoded every photograph as JPEG again
        url = reopen(client, visit_url)
        height, width = photos["top"].shape[:2]
        correct_all(client, url, {"top": (np.ones((height, width), bool), np.zeros((height, width), bool))})
        save_visit(client, url, patient=str(before.patient_id))
    assert encoded == []  # and none was encoded only to be thrown away
    after = Store(store_dir).get_visit(vid)
    assert {v: s.photo_file for v, s in after.views.items()} == {v: s.photo_file for v, s in before.views.items()}
    assert all(Store(store_dir).image_file(s.photo_file).is_file() for s in after.views.values())
    assert after.views["top"].scalp_file != before.views["top"].scalp_file  # the corrected masks are new files


def test_a_failed_save_with_a_new_patient_leaves_no_patient(make_app, photos, tmp_path, monkeypatch):  # noqa: F811
    import errno

    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    url = score_form(client, photos)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Store, "add_visit", full)
    r = client.post(f"{url}/save", data={"csrf_token": csrf_token(client), "patient": "new", "new_code": "AA-9",
                                         "visit_date": "2024-01-01"})
    assert r.status_code == 507 and "nothing was saved" in r.get_data(as_text=True)
    assert Store(store_dir).list_patients() == []
    monkeypatch.undo()
    save_visit(client, url, patient="new", new_code="AA-9", visit_date="2024-01-01")  # the retry works


def test_moving_a_saved_visit_onto_another_visits_day_needs_the_form_to_say_so(make_app, photos, tmp_path):  # noqa: F811, E501
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    save_visit(client, score_form(client, photos), patient="new", new_code="AA-82", visit_date="2024-01-01")
    patient = str(Store(store_dir).list_patients()[0].id)
    url = score_form(client, photos)
    save_visit(client, url, patient=patient, visit_date="2024-02-01")
    r = client.post(f"{url}/save", data={"csrf_token": csrf_token(client), "patient": patient,
                                         "visit_date": "2024-01-01"})
    assert r.status_code == 409 and "already has a visit on 2024-01-01" in r.get_data(as_text=True)
    save_visit(client, url, patient=patient, visit_date="2024-01-01", same_day="1")
    assert sorted(v.visit_date for v in Store(store_dir).list_visits(int(patient))) == ["2024-01-01", "2024-01-01"]


def test_a_resave_with_the_code_in_other_case_is_the_same_patient(make_app, photos, tmp_path):  # noqa: F811
    client = make_app(store=tmp_path / "store").test_client()
    url = score_form(client, photos)
    first = save_visit(client, url, patient="new", new_code="AA-77", visit_date="2024-01-01")
    assert save_visit(client, url, patient="new", new_code="aa-77", visit_date="2024-01-01") == first


def test_a_revision_that_is_not_an_ascii_number_is_a_400(make_app, photos):  # noqa: F811
    client = make_app().test_client()
    url = score_form(client, photos)
    r = client.post(f"{url}/masks", data={"revision": "²", "revert": "top"},
                    headers={"X-CSRFToken": csrf_token(client)})
    assert r.status_code == 400 and "is not a number" in r.get_data(as_text=True)


@pytest.mark.parametrize("revision", ["9" * 20, "9" * 4301])
def test_a_revision_too_long_to_be_a_count_is_a_400(make_app, photos, revision):  # noqa: F811
    """4301 digits made ``int`` raise past the check (a 500)."""
    client = make_app().test_client()
    url = score_form(client, photos)
    r = client.post(f"{url}/masks", data={"revision": revision, "revert": "top"},
                    headers={"X-CSRFToken": csrf_token(client)})
    assert r.status_code == 400 and "is not a number" in r.get_data(as_text=True)


def test_a_mask_field_sent_twice_is_a_400_and_changes_nothing(make_app, photos):  # noqa: F811
    """The first of two files under one name used to be taken without a word."""
    import io

    client = make_app().test_client()
    url = score_form(client, photos)
    height, width = photos["top"].shape[:2]
    full, empty = np.ones((height, width), bool), np.zeros((height, width), bool)
    data = {"scalp_top": (io.BytesIO(mask_png(full)), "s.png"),
            "hairloss_top": [(io.BytesIO(mask_png(empty)), "h1.png"), (io.BytesIO(mask_png(full)), "h2.png")]}
    headers = {"X-CSRFToken": csrf_token(client), "Accept": "application/json"}
    r = client.post(f"{url}/masks", data=data, content_type="multipart/form-data", headers=headers)
    assert r.status_code == 400 and "more than one file was sent for the mask field 'hairloss_top'" in r.get_json()["error"]
    assert 'data-revision="0"' in client.get(url).get_data(as_text=True)


def test_a_new_code_typed_beside_a_chosen_patient_is_not_ignored(make_app, photos, tmp_path):  # noqa: F811
    """A browser audit (thirty-fourth session): a typed new code with a patient chosen in the list
    filed the visit under the chosen patient without a word."""
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    save_visit(client, score_form(client, photos), patient="new", new_code="AA-90", visit_date="2024-08-01")
    chosen = str(Store(store_dir).list_patients()[0].id)
    url = score_form(client, photos)
    r = client.post(f"{url}/save", data={"csrf_token": csrf_token(client), "patient": chosen, "new_code": "AA-91",
                                         "visit_date": "2024-09-01"})
    page = unescape(r.get_data(as_text=True))
    assert r.status_code == 400 and "you chose patient AA-90 from the list and typed the new code AA-91" in page
    assert f'<a href="{url}">Back to the result</a>' in page  # a refused save leads back to the corrected result
    assert [len(Store(store_dir).list_visits(p.id)) for p in Store(store_dir).list_patients()] == [1]
    save_visit(client, url, patient=chosen, new_code="aa-90", visit_date="2024-09-01")  # its own code: fine
    # a later save of that visit (the re-save path) refuses the mismatch too
    r = client.post(f"{url}/save", data={"csrf_token": csrf_token(client), "patient": chosen, "new_code": "AA-92"})
    assert r.status_code == 400 and [p.code for p in Store(store_dir).list_patients()] == ["AA-90"]
    # a save to a result the server forgot offers no link back to it (that link would be a 404 too)
    gone = client.post("/result/0123456789abcdef/save", data={"csrf_token": csrf_token(client), "patient": chosen})
    assert gone.status_code == 404 and "Back to the result" not in gone.get_data(as_text=True)


def test_the_back_to_button_of_a_reopened_visit_says_stored_masks(make_app, photos, tmp_path):  # noqa: F811
    """A review (thirty-fourth session): on a visit reopened from the store, "Model's masks" went back
    to the stored masks (what ``revert`` takes there), not the model's."""
    store_dir = tmp_path / "store"
    client = make_app(store=store_dir).test_client()
    first = score_form(client, photos)
    page = client.get(first).get_data(as_text=True)
    assert 'id="revert-top"' in page and ">Model's masks<" in unescape(page) and "Stored masks" not in page
    assert re.search(r'id="provisional-mark" hidden', page)  # a SALT that is not provisional: mark hidden
    visit_url = save_visit(client, first, patient="new", new_code="AA-93", visit_date="2024-08-01")
    reopened = unescape(client.get(reopen(client, visit_url)).get_data(as_text=True))
    assert ">Stored masks<" in reopened and ">Model's masks<" not in reopened


def test_a_save_made_while_a_visit_is_being_reopened_is_not_overwritten(make_app, photos, tmp_path, monkeypatch):  # noqa: F811
    """An audit of two servers on one store: a reopen read the visit, rebuilt its views (seconds
    with camera photographs), then read the stamp; a save from the other server in between gave
    the reopened page the new stamp with the old masks, and its save overwrote that save unseen."""
    import alonet.web.routes.patients as patients_routes

    store_dir, client, _, visit_url, vid, patient = stored_visit(make_app, photos, tmp_path, "AA-86")
    other = reopen(client, visit_url)  # the other server's page (one app stands in for both)
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)
    correct_all(client, other, {"back": (full, full)})
    rebuild = patients_routes.stored_view_states

    def rebuild_while_the_other_saves(*args, **kwargs):
        views = rebuild(*args, **kwargs)
        save_visit(client, other, patient=patient)  # lands while this reopen is rebuilding
        return views

    monkeypatch.setattr(patients_routes, "stored_view_states", rebuild_while_the_other_saves)
    late = reopen(client, visit_url)
    monkeypatch.setattr(patients_routes, "stored_view_states", rebuild)
    assert Store(store_dir).get_visit(vid).views["back"].loss_pct == 100.0
    correct_all(client, late, {"top": (full, full)})
    r = client.post(f"{late}/save", data={"csrf_token": csrf_token(client), "patient": patient})
    assert r.status_code == 409 and "saved from another page" in r.get_data(as_text=True)
    kept = Store(store_dir).get_visit(vid)
    assert kept.views["back"].loss_pct == 100.0 and kept.views["top"].loss_pct != 100.0


def test_a_visit_saved_again_while_it_is_opened_is_a_409_not_store_damage(make_app, photos, tmp_path, monkeypatch):  # noqa: F811
    """The same audit: a reopen whose files the other server's save replaced (and removed) after
    the record was read said the store was damaged (500, "restore from a backup") or that files
    were deleted outside AloNet (404); nothing was damaged."""
    import alonet.web.routes.patients as patients_routes

    store_dir, client, _, visit_url, vid, patient = stored_visit(make_app, photos, tmp_path, "AA-87")
    other = reopen(client, visit_url)
    height, width = photos["top"].shape[:2]
    full = np.ones((height, width), bool)
    correct_all(client, other, {"top": (full, full)})
    rebuild = patients_routes.stored_view_states

    def the_other_saves_first(*args, **kwargs):
        save_visit(client, other, patient=patient)  # replaces the files the record read here names
        return rebuild(*args, **kwargs)

    monkeypatch.setattr(patients_routes, "stored_view_states", the_other_saves_first)
    r = client.post(f"{visit_url}/correct", data={"csrf_token": csrf_token(client)})
    text = unescape(r.get_data(as_text=True))
    assert r.status_code == 409 and "was saved again meanwhile" in text and "restore" not in text
    monkeypatch.setattr(patients_routes, "stored_view_states", rebuild)
    assert reopen(client, visit_url)  # opened again, it shows the save made last
    assert Store(store_dir).get_visit(vid).views["top"].loss_pct == 100.0
