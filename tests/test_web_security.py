"""Web application defects found by the security audit of 2026-12 (twenty-fourth session).

Before: any ``Host`` was served, so a page whose name was re-pointed at 127.0.0.1 (DNS
rebinding) could read and delete the store of a loopback server without a token.
"""

from __future__ import annotations

import pytest
from test_web import (  # noqa: F401
    csrf_token,
    files_for,
    make_app,
    model_dir,
    photos,
    pipeline,
    save_visit,
    score_in_browser_form,
)

from alonet.cli.serve_cmd import served_host_names
from alonet.web.security import host_allowed, host_name

TOKEN = "s3cret-token-for-tests"
FOREIGN = {"Host": "rebind.attacker.example:8000"}


# --------------------------------------------------------------------------- Host names (DNS rebinding)


def test_a_foreign_host_gets_a_plain_400_and_touches_nothing(make_app, photos, tmp_path):  # noqa: F811
    app = make_app(store=tmp_path / "store")
    client = app.test_client()
    save_visit(client, score_in_browser_form(client, photos, ["top"]), new_code="AA-SECRET-7")
    store = app.extensions["alonet"].store
    assert [p.code for p in store.list_patients()] == ["AA-SECRET-7"]

    evil = app.test_client()
    for method, path in [("GET", "/patients"), ("GET", "/"), ("POST", "/patients/1/delete"), ("GET", "/static/x"),
                         ("GET", "/no-such-page"), ("POST", "/api/score")]:
        answer = evil.open(path, method=method, headers=FOREIGN)
        assert answer.status_code == 400, (method, path)
        assert answer.mimetype == "text/plain"
        text = answer.get_data(as_text=True)
        assert "AA-SECRET-7" not in text and "Set-Cookie" not in answer.headers
        assert "localhost, 127.0.0.1, [::1]" in text and text.count("\n") == 1
    assert [p.code for p in store.list_patients()] == ["AA-SECRET-7"]  # nothing deleted


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "LOCALHOST:1", "127.0.0.1", "127.0.0.1:8000",
                                  "127.0.0.2:8000", "[::1]", "[::1]:8000"])
def test_loopback_host_names_are_served(make_app, host):  # noqa: F811
    assert make_app().test_client().get("/", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["rebind.attacker.example", "localhost.", "localhost.attacker.example:8000",
                                  "127.0.0.1.nip.io", "192.168.1.10:8000", "[::ffff:8.8.8.8]:80", ""])
def test_other_host_names_are_refused(make_app, host):  # noqa: F811
    assert make_app().test_client().get("/", headers={"Host": host}).status_code == 400


def test_allowed_hosts_and_the_bound_host(make_app):  # noqa: F811
    client = make_app(allowed_hosts=("alonet.lan",)).test_client()
    assert client.get("/", headers={"Host": "alonet.lan:8000"}).status_code == 200
    assert client.get("/", headers={"Host": "other.lan"}).status_code == 400
    # with a token the Host is not checked unless names are given
    assert make_app(token=TOKEN).test_client().get("/api/health", headers=FOREIGN).status_code == 401
    guarded = make_app(token=TOKEN, allowed_hosts=("alonet.example",)).test_client()
    assert guarded.get("/api/health", headers=FOREIGN).status_code == 400
    assert guarded.get("/api/health", headers={"Host": "alonet.example"}).status_code == 401
    assert served_host_names("127.0.0.1", None, ()) == ("127.0.0.1",)
    assert served_host_names("0.0.0.0", TOKEN, ()) == ()
    assert served_host_names("0.0.0.0", TOKEN, ("a.example",)) == ("a.example",)
    assert host_name("[::1]:8000") == "[::1]" and host_name("::1") == "[::1]" and host_name("A.b:1") == "a.b"
    assert host_allowed("127.9.9.9", frozenset()) and not host_allowed("10.0.0.1", frozenset())
