"""A saved visit says what its page said (audit of a clinic day over HTTP, twenty-third session).

Before: a visit whose SALT the page withheld (a mislabelled view) had a SALT in its
stored report; a provisional SALT lost its mark once saved and became the baseline;
a stored report stated the thresholds of the server running now; the SALT was
rounded twice (20.452 -> 20.45 -> "20.4" on the page, 20.5 in the report); a
stored report had no patient code or visit date.
"""

from __future__ import annotations


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
from alonet.web.state import get_state


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
