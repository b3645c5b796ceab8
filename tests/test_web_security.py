"""Web application defects found by the security audit of 2026-12 (twenty-fourth session).

Before: any ``Host`` was served, so a page whose name was re-pointed at 127.0.0.1 (DNS
rebinding) could read and delete the store of a loopback server without a token.
"""

from __future__ import annotations

import io
import re
import socket
import threading

import numpy as np
import pytest
from test_web_audit import TOKEN, login
from test_web import (  # noqa: F401
    csrf_token,
    encode,
    files_for,
    make_app,
    model_dir,
    photos,
    pipeline,
    save_visit,
    score_in_browser_form,
)

from alonet.cli.main import main
from alonet.data import annotation, photo
from alonet.errors import AloNetError
from alonet.cli.serve_cmd import served_host_names, waitress_settings
from alonet.web.security import host_allowed, host_name
from alonet.web.server import create_server
from alonet.web.uploads import InMemoryRequest
from alonet.infer.viewmaps import MASK_NAMES
from alonet.web.visits import visit_nbytes

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



@pytest.mark.parametrize("near", [TOKEN[:-1], TOKEN + "x", TOKEN.upper(), TOKEN[:8], TOKEN[::-1]])
def test_a_token_that_is_nearly_right_is_refused_everywhere(make_app, near):  # noqa: F811
    """Only the token itself opens the server: not a part of it, a longer string, another case."""
    app = make_app(token=TOKEN)
    answer = app.test_client().get("/api/health", headers={"Authorization": f"Bearer {near}"})
    assert answer.status_code == 401
    answer = app.test_client().get("/api/health", headers={"X-AloNet-Token": near})
    assert answer.status_code == 401
    client = app.test_client()
    assert login(client, token=near).status_code != 303 and client.get("/").status_code == 401
    assert app.extensions["alonet"].gate({"AUTHORIZATION": f"Bearer {near}"}, 50 * 1024 * 1024, "10.0.0.9")[0] == 401
    assert app.test_client().get("/api/health", headers={"X-AloNet-Token": TOKEN}).status_code == 200


# --------------------------------------------------------------------------- bodies before login


def count_file_streams(monkeypatch) -> list:
    """Every file buffer the request parser makes (one per uploaded file it reads)."""
    made = []
    original = InMemoryRequest._get_file_stream

    def spy(self, *args, **kwargs):
        made.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(InMemoryRequest, "_get_file_stream", spy)
    return made


def test_no_upload_is_parsed_before_login(make_app, photos, monkeypatch):  # noqa: F811
    client = make_app(token=TOKEN).test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # a valid CSRF token, no login
    made = count_file_streams(monkeypatch)
    answer = client.post("/score", data={**files_for(photos), "csrf_token": csrf}, content_type="multipart/form-data")
    assert answer.status_code == 401 and made == []
    # the public login form takes no large body either
    answer = client.post("/login", data={"csrf_token": csrf, "token": "x" * 100_000})
    assert answer.status_code == 413 and "64 KiB" in answer.get_json()["error"]
    assert login(client).status_code == 303
    answer = client.post("/score", data={**files_for(photos, ["top"]), "csrf_token": csrf_token(client)},
                         content_type="multipart/form-data")
    assert answer.status_code == 303 and len(made) == 1


def test_the_body_gate_decides_from_the_header(make_app):  # noqa: F811
    app = make_app(token=TOKEN)
    gate = app.extensions["alonet"].gate
    client = app.test_client()
    assert login(client).status_code == 303
    cookie = client.get_cookie("alonet_session").value
    big = 50 * 1024 * 1024
    assert gate({"COOKIE": f"alonet_session={cookie}"}, big, "10.0.0.1") is None
    assert gate({"AUTHORIZATION": f"Bearer {TOKEN}"}, big, "10.0.0.1") is None
    assert gate({"X_ALONET_TOKEN": TOKEN}, None, "10.0.0.1") is None  # chunked
    assert gate({}, 1000, "10.0.0.1") is None  # small bodies: the app decides (login form)
    assert gate({}, big, "10.0.0.1")[0] == 401
    assert gate({"COOKIE": "alonet_session=forged.cookie.value"}, big, "10.0.0.1")[0] == 401
    assert gate({}, None, "10.0.0.1")[0] == 401
    for _ in range(5):
        assert gate({"AUTHORIZATION": "Bearer wrong-token"}, big, "10.0.0.2")[0] == 401
    assert gate({"AUTHORIZATION": "Bearer wrong-token"}, big, "10.0.0.2")[0] == 429  # the same brake
    # logging out closes the session for the gate too
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert gate({"COOKIE": f"alonet_session={cookie}"}, big, "10.0.0.1")[0] == 401
    # without a token only the Host is checked
    open_gate = make_app().extensions["alonet"].gate
    assert open_gate({"HOST": "127.0.0.1:8000"}, big, "127.0.0.1") is None
    assert open_gate({"HOST": "rebind.attacker.example"}, 10, "127.0.0.1")[0] == 400


def raw_request(port: int, head: bytes) -> bytes:
    """Send a request header only (its body never follows) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_waitress_refuses_a_body_before_reading_it(make_app):  # noqa: F811
    """A real waitress server with `alonet serve`'s settings answers a large upload without the
    token from its header alone: the 50 MiB body is never sent, and the answer still comes."""
    app = make_app(token=TOKEN)
    settings = waitress_settings(app.extensions["alonet"].config.max_request_bytes, threads=4)
    assert settings["connection_limit"] == 102  # 100 clients: waitress counts its listener and trigger too
    assert settings["max_request_body_size"] == app.config["MAX_CONTENT_LENGTH"] + 1024 * 1024
    server = create_server(app, gate=app.extensions["alonet"].gate, host="127.0.0.1", port=0, **settings)
    stop = threading.Event()

    def serve():  # server.run() in steps, so it stops before the socket closes
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = server.effective_port
        head = (b"POST /api/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 52428800\r\nExpect: 100-continue\r\n\r\n")
        answer = raw_request(port, head)
        assert answer.startswith(b"HTTP/1.1 401 ") and b"100 Continue" not in answer
        assert b'"error": "missing or wrong access token: a request with a body needs it' in answer
        answer = raw_request(port, head.replace(b"Host: 127.0.0.1", b"Host: 127.0.0.1\r\nX-AloNet-Token: wrong!!"))
        assert answer.startswith(b"HTTP/1.1 401 ")
        # with the token the request goes to the app (a small malformed body: the app's own 400)
        body = b"--b\r\nContent-Disposition: form-data; name=\"top\"; filename=\"t.png\"\r\n\r\nnot a png\r\n--b--\r\n"
        answer = raw_request(port, head.replace(b"52428800", str(len(body)).encode()).replace(
            b"Expect: 100-continue", f"Authorization: Bearer {TOKEN}".encode()) + body)
        assert answer.startswith(b"HTTP/1.1 400 ") and b"not an image" in answer
    finally:
        stop.set()
        thread.join(10)
        server.close()


# --------------------------------------------------------------------------- decompression bombs, cross-site API


def flat_png(width: int, height: int) -> bytes:
    """A one-colour PNG: a few KiB on the wire, width x height x 3 bytes once decoded."""
    return encode(np.full((height, width, 3), 200, np.uint8))


def count_decodes(monkeypatch) -> list:
    made = []
    original = photo.read_photo

    def spy(*args, **kwargs):
        made.append(kwargs.get("name"))
        return original(*args, **kwargs)

    monkeypatch.setattr(photo, "read_photo", spy)
    return made


def test_pixels_per_request_are_capped_before_any_decode(make_app, monkeypatch):  # noqa: F811
    client = make_app(max_pixels=5_000_000, max_request_pixels=6_000_000).test_client()
    bomb = flat_png(2000, 2000)  # 4 MP each
    assert len(bomb) < 100_000
    decodes = count_decodes(monkeypatch)
    answer = client.post("/api/score?masks=0", data={"top": (io.BytesIO(bomb), "t.png"),
                                                     "back": (io.BytesIO(bomb), "b.png")})
    assert answer.status_code == 413 and decodes == []
    assert answer.get_json()["error"] == (
        "upload refused: with the back photograph (4.0 megapixels) this request has 8.0 megapixels, more than the "
        "6.0 megapixels accepted per request; send smaller photographs (12 megapixels each is plenty) or fewer at "
        "a time")
    # one photograph over the per-photograph cap: refused from its header too
    answer = client.post("/api/score?masks=0", data={"top": (io.BytesIO(flat_png(2500, 2500)), "t.png")})
    assert answer.status_code == 413 and "6.2 megapixels, more than the limit of 5.0" in answer.get_json()["error"]
    assert decodes == []
    # the browser form gets the same sentence on its page
    page = client.post("/score", data={"top": (io.BytesIO(bomb), "t.png"), "back": (io.BytesIO(bomb), "b.png"),
                                       "csrf_token": csrf_token(client)}, content_type="multipart/form-data")
    assert page.status_code == 413 and "accepted per request" in page.get_data(as_text=True)
    answer = client.post("/api/score?masks=0", data={"top": (io.BytesIO(bomb), "t.png")})
    assert answer.status_code == 200 and decodes == ["top photograph"]
    assert make_app().extensions["alonet"].config.max_request_pixels == 160_000_000  # 4 x --max-pixels


def test_scoring_slots_are_per_app_and_a_long_wait_is_503(make_app, photos):  # noqa: F811
    app = make_app(scoring_slots=1, busy_wait_s=0.05)
    other = make_app(scoring_slots=1)
    slots = app.extensions["alonet"].scoring
    assert slots is not other.extensions["alonet"].scoring
    assert slots.acquire(blocking=False)  # another request is decoding now
    try:
        answer = app.test_client().post("/api/score?masks=0", data=files_for(photos, ["top"]))
        assert answer.status_code == 503 and "busy scoring other photographs" in answer.get_json()["error"]
        # the other app's slot is its own
        assert other.test_client().post("/api/score?masks=0", data=files_for(photos, ["top"])).status_code == 200
    finally:
        slots.release()
    assert app.test_client().post("/api/score?masks=0", data=files_for(photos, ["top"])).status_code == 200
    assert slots.acquire(blocking=False)  # the request gave its slot back
    slots.release()


@pytest.mark.parametrize("headers", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://localhost:9999"}])
def test_the_api_refuses_other_sites_pages_without_a_token(make_app, photos, headers):  # noqa: F811
    client = make_app().test_client(use_cookies=False)
    answer = client.post("/api/score?masks=0", data=files_for(photos, ["top"]), headers=headers)
    assert answer.status_code == 403 and "not a page of another site" in answer.get_json()["error"]


def test_the_api_serves_its_own_pages_and_scripts(make_app, photos):  # noqa: F811
    client = make_app().test_client(use_cookies=False)
    for headers in ({}, {"Origin": "http://localhost"}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}):
        assert client.post("/api/score?masks=0", data=files_for(photos, ["top"]), headers=headers).status_code == 200
    # with a token the token header decides, as before
    guarded = make_app(token=TOKEN).test_client(use_cookies=False)
    answer = guarded.post("/api/score?masks=0", data=files_for(photos, ["top"]),
                          headers={"Origin": "https://tool.example", "Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200


# --------------------------------------------------------------------------- the result cache in bytes


def test_the_result_cache_is_capped_in_bytes_oldest_first(make_app, photos):  # noqa: F811
    sizing = make_app()
    client = sizing.test_client()
    first = score_in_browser_form(client, photos)
    one_visit = visit_nbytes(sizing.extensions["alonet"].cache.get(first.rsplit("/", 1)[1]))
    assert one_visit > sum(p.nbytes for p in photos.values())  # the photographs and the maps are counted

    app = make_app(cache_visits=6, cache_bytes=int(2.5 * one_visit))
    cache = app.extensions["alonet"].cache
    client = app.test_client()
    urls = [score_in_browser_form(client, photos) for _ in range(3)]
    assert len(cache) == 2 and cache.nbytes() <= 2.5 * one_visit
    gone = client.get(urls[0])
    assert gone.status_code == 404
    text = " ".join(gone.get_data(as_text=True).split())
    assert (f"the server keeps only the last 6 scored visits that are open (and at most "
            f"{int(2.5 * one_visit) / 1024 / 1024:.4g} MiB of their photographs and masks), and newer ones "
            "replaced it") in text
    assert all(client.get(url).status_code == 200 for url in urls[1:])

    tiny = make_app(cache_bytes=1)  # a visit larger than the whole cap still stays until the next one
    client = tiny.test_client()
    url = score_in_browser_form(client, photos, ["top"])
    assert client.get(url).status_code == 200 and len(tiny.extensions["alonet"].cache) == 1
    score_in_browser_form(client, photos, ["top"])
    assert client.get(url).status_code == 404 and len(tiny.extensions["alonet"].cache) == 1


# --------------------------------------------------------------------------- masks, cookies, the token, the store race


def test_a_corrected_mask_of_the_wrong_size_is_refused_from_its_header(make_app, photos, monkeypatch):  # noqa: F811
    client = make_app().test_client()
    url = score_in_browser_form(client, photos, ["top"])
    decodes = []
    original = annotation.read_annotation
    monkeypatch.setattr(annotation, "read_annotation", lambda *a, **k: decodes.append(1) or original(*a, **k))
    huge = encode(np.zeros((3000, 3000), np.uint8))  # 3000x3000 on a page that edits 160x120
    answer = client.post(f"{url}/masks", data={"scalp_top": (io.BytesIO(huge), "s.png"),
                                               "hairloss_top": (io.BytesIO(huge), "h.png")},
                         headers={"X-CSRFToken": csrf_token(client), "Accept": "application/json"})
    assert answer.status_code == 400 and decodes == []
    assert answer.get_json()["error"] == "the corrected scalp (top) mask is 3000x3000 pixels, expected 160x120"
    right = encode(np.zeros((120, 160), np.uint8))
    answer = client.post(f"{url}/masks", data={"scalp_top": (io.BytesIO(right), "s.png"),
                                               "hairloss_top": (io.BytesIO(right), "h.png")},
                         headers={"X-CSRFToken": csrf_token(client), "Accept": "application/json"})
    assert answer.status_code == 200 and len(decodes) == 2


def serve_config(monkeypatch, args) -> tuple[int, object]:
    """The WebConfig `alonet serve ARGS` builds (the app is not built, no server starts)."""
    import alonet.web

    seen = []

    def fake_create_app(config):
        seen.append(config)
        raise AloNetError("stop here")

    monkeypatch.setattr(alonet.web, "create_app", fake_create_app)
    return main(["serve", *args]), seen[0]


def test_secure_cookies_and_allowed_hosts_are_reachable_from_serve(make_app, model_dir, monkeypatch, capsys):  # noqa: F811
    code, config = serve_config(monkeypatch, ["--model", str(model_dir), "--secure-cookies",
                                              "--allowed-host", "alonet.lan"])
    assert code == 2 and config.secure_cookies and config.allowed_hosts == ("alonet.lan", "127.0.0.1")
    assert "warning" not in capsys.readouterr().err
    client = make_app(token=TOKEN, secure_cookies=True).test_client()
    answer = login(client)
    assert answer.status_code == 303 and "; Secure" in answer.headers["Set-Cookie"]
    plain = login(make_app(token=TOKEN).test_client()).headers["Set-Cookie"]
    assert "; Secure" not in plain
    # with or without Secure: page scripts cannot read the session, other sites' requests do not carry it
    for cookie in (answer.headers["Set-Cookie"], plain):
        assert "; HttpOnly" in cookie and "; SameSite=Strict" in cookie, cookie


def test_login_and_logout_forms_need_their_csrf_token(make_app):  # noqa: F811
    """Another site's page cannot log this browser in or out (the two forms are CSRF-checked too)."""
    client = make_app(token=TOKEN).test_client()
    client.get("/login")  # a session with a CSRF token exists; the form just does not send it
    assert client.post("/login", data={"token": TOKEN}).status_code == 400
    assert client.get("/").status_code == 401  # not logged in
    assert login(client).status_code == 303
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/").status_code == 200  # still logged in
    assert client.post("/logout", data={"csrf_token": csrf_token(client)}).status_code == 303
    assert client.get("/").status_code == 401


def test_a_token_on_the_command_line_is_warned_about(model_dir, monkeypatch, capsys):  # noqa: F811
    code, config = serve_config(monkeypatch, ["--model", str(model_dir), "--token", TOKEN])
    assert config.token == TOKEN and "set ALONET_TOKEN in the environment instead" in capsys.readouterr().err
    monkeypatch.setenv("ALONET_TOKEN", TOKEN)
    code, config = serve_config(monkeypatch, ["--model", str(model_dir)])
    assert config.token == TOKEN and "warning" not in capsys.readouterr().err


def reopen(client, visit_id: int) -> str:
    answer = client.post(f"/visits/{visit_id}/correct", data={"csrf_token": csrf_token(client)})
    assert answer.status_code == 303
    return answer.headers["Location"]


def test_a_save_racing_a_delete_never_loses_the_photograph(make_app, photos, tmp_path):  # noqa: F811
    """The save of a reopened visit, forced between the delete of that visit and the removal
    of its files (and between the save's own file writing and its transaction): the new visit
    still has its photograph."""
    app = make_app(store=tmp_path / "store")
    store = app.extensions["alonet"].store
    client = app.test_client()
    save_visit(client, score_in_browser_form(client, photos, ["top"]), new_code="AA-9")
    token = csrf_token(client)

    # 1. the save runs after the delete's commit, before its files are removed
    reopened = reopen(client, 1)
    unlink = store._unlink
    saves = []

    def save_then_unlink(paths):
        if any(p.suffix == ".jpg" for p in paths) and not saves:
            saves.append(client.post(f"{reopened}/save", data={"csrf_token": token, "patient": "1",
                                                               "visit_date": "2024-01-01"}))
        unlink(paths)

    store._unlink = save_then_unlink
    assert client.post("/visits/1/delete", data={"csrf_token": token}).status_code == 303
    store._unlink = unlink
    assert saves[0].status_code == 303 and saves[0].headers["Location"].endswith("/visits/2")
    assert client.get("/visits/2/photo/top.jpg").status_code == 200

    # 2. the delete's files go after the save chose to keep the photograph, before its transaction
    reopened = reopen(client, 2)
    held, view_rows = [], store._view_rows
    store._unlink = held.extend  # the delete commits; its files are removed later
    assert client.post("/visits/2/delete", data={"csrf_token": token}).status_code == 303
    store._unlink = unlink

    def rows_then_unlink(views, written):
        rows = view_rows(views, written)
        unlink(held)
        return rows

    store._view_rows = rows_then_unlink
    answer = client.post(f"{reopened}/save", data={"csrf_token": token, "patient": "1", "visit_date": "2024-01-01"})
    store._view_rows = view_rows
    assert held and answer.status_code == 303 and answer.headers["Location"].endswith("/visits/3")
    assert client.get("/visits/3/photo/top.jpg").status_code == 200
    # and a deleted visit's files are gone when nothing names them
    assert store.delete_visit(3)
    assert [p.name for p in store.images.iterdir() if not p.name.startswith(".")] == []


# --------------------------------------------------------------------------- review of the hardening (2026-12)


def test_four_24_megapixel_photographs_fit_one_request(make_app, monkeypatch):  # noqa: F811
    """Before: the default cap per request was twice --max-pixels (80 MP), so the four views from a
    24 MP camera (96 MP) were refused with 413. Now it is 4 x --max-pixels."""
    app = make_app()
    assert app.extensions["alonet"].config.max_request_pixels == 4 * 40_000_000
    camera = flat_png(6000, 4000)  # 24 MP, a few hundred KiB on the wire
    decoded = []

    def small_decode(data, max_pixels=None, name=None):  # score small stand-ins: the caps are what is tested
        decoded.append(name)
        return np.full((120, 160, 3), 128, np.uint8)

    monkeypatch.setattr(photo, "read_photo", small_decode)
    answer = app.test_client().post("/api/score?masks=0", data={
        view: (io.BytesIO(camera), f"{view}.png") for view in ("top", "back", "left", "right")})
    assert answer.status_code == 200, answer.get_json()
    assert len(decoded) == 4
    # four photographs at the per-photograph cap still fit, one pixel more does not
    client = make_app(max_pixels=2_000_000).test_client()
    at_cap = flat_png(2000, 1000)
    views = {view: (io.BytesIO(at_cap), f"{view}.png") for view in ("top", "back", "left")}
    assert client.post("/api/score?masks=0", data={**views, "right": (io.BytesIO(at_cap), "r.png")}).status_code == 200
    views = {view: (io.BytesIO(at_cap), f"{view}.png") for view in ("top", "back", "left")}
    answer = client.post("/api/score?masks=0", data={**views, "right": (io.BytesIO(flat_png(2001, 1000)), "r.png")})
    assert answer.status_code == 413


def pump(server, done, rounds: int = 3000) -> bool:
    """Run the server's loop in this thread until ``done()`` (False if it never happens)."""
    for _ in range(rounds):
        if done():
            return True
        server.asyncore.loop(timeout=0.01, map=server._map, count=1)
    return done()


def answered(sock) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def test_a_hundred_idle_keep_alive_connections_are_all_served(make_app):  # noqa: F811
    """Before: connection_limit 2 x threads + 4 (and waitress counts its listener and trigger), so
    10 idle keep-alive connections -- two browsers -- locked every other client out for minutes."""
    app = make_app()
    settings = waitress_settings(app.extensions["alonet"].config.max_request_bytes, threads=4)
    assert settings["channel_timeout"] <= 30  # idle keep-alive connections are let go sooner
    server = create_server(app, gate=app.extensions["alonet"].gate, host="127.0.0.1", port=0, **settings)
    clients = []
    try:
        for number in range(1, 101):
            sock = socket.create_connection(("127.0.0.1", server.effective_port), timeout=30)
            clients.append(sock)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # then stays open, idle
            assert pump(server, lambda sock=sock: answered(sock)), f"connection {number} got no answer"
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 "), number
            assert server.readable() == (number < 100), number  # the 100th fills the limit, not one before
    finally:
        for sock in clients:
            sock.close()
        server.task_dispatcher.shutdown()
        server.close()


def test_the_listeners_of_several_addresses_all_get_the_gate(make_app):  # noqa: F811
    """Before: a host with two addresses (a waitress MultiSocketServer) kept waitress's plain channel,
    so the body gate was not asked; the connection limit also counts each listener and trigger."""
    from waitress.server import BaseWSGIServer

    from alonet.web.server import GatedChannel

    app = make_app(token=TOKEN)
    settings = waitress_settings(app.extensions["alonet"].config.max_request_bytes, threads=1)
    settings.pop("threads")
    try:
        server = create_server(app, gate=app.extensions["alonet"].gate, listen="127.0.0.1:0 [::1]:0", **settings)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        listeners = [each for each in server.map.values() if isinstance(each, BaseWSGIServer)]
        assert len(listeners) == 2 and all(issubclass(each.channel_class, GatedChannel) for each in listeners)
        assert listeners[0].adj.connection_limit - len(server.map) == 100
    finally:
        server.close()


class LiveServer:
    """A real waitress server in a thread (the loop stops before the sockets close)."""

    def __init__(self, app, gate=None):
        settings = waitress_settings(app.extensions["alonet"].config.max_request_bytes, threads=2)
        self.server = create_server(app, gate=gate, host="127.0.0.1", port=0, **settings)
        self.port = self.server.effective_port
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stop.is_set():
            self.server.asyncore.loop(timeout=0.05, map=self.server._map, count=1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)
        self.server.task_dispatcher.shutdown()
        self.server.close()

    def ask(self, request: bytes) -> bytes:
        """Send ``request`` and read until the server closes the connection."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(request)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        return answer


def test_a_request_without_a_host_header_is_served_with_and_without_the_gate(make_app, caplog):  # noqa: F811
    """Before: the gate refused an HTTP/1.0 request without Host (HAProxy's health check) with 400,
    though HostGuard serves it; both now decide with one function."""
    app = make_app()
    gate = app.extensions["alonet"].gate
    assert gate({}, 0, "127.0.0.1") is None and gate({"HOST": ""}, 0, "127.0.0.1")[0] == 400
    for with_gate in (True, False):
        with LiveServer(app, gate if with_gate else None) as live:
            answer = live.ask(b"GET /api/health HTTP/1.0\r\n\r\n")
            assert answer.startswith(b"HTTP/1.0 200 "), (with_gate, answer[:300])
            answer = live.ask(b"OPTIONS / HTTP/1.0\r\n\r\n")
            assert b" 400 " not in answer.split(b"\r\n", 1)[0], (with_gate, answer[:300])
            answer = live.ask(b"GET /api/health HTTP/1.0\r\nHost:\r\n\r\n")  # an empty Host is still refused
            assert answer.startswith(b"HTTP/1.0 400 "), (with_gate, answer[:300])


def test_the_host_refusal_works_under_a_plain_wsgi_server_and_names_the_fix(make_app, caplog):  # noqa: F811
    """Before: HostGuard's 400 set the hop-by-hop header Connection, which PEP 3333 servers reject
    (waitress without the gate answered 500); and neither answer nor log named --allowed-host."""
    app = make_app()
    with caplog.at_level("WARNING", logger="alonet.web"), LiveServer(app) as live:  # no gate: HostGuard answers
        answer = live.ask(b"GET /patients HTTP/1.1\r\nHost: public.example\r\nConnection: close\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"text/plain" in head, answer[:300]
    text = body.decode("utf-8")
    assert text.count("\n") == 1 and "alonet serve --allowed-host NAME" in text
    assert "hop-by-hop" not in caplog.text and "Traceback" not in caplog.text
    assert any("refused: Host 'public.example'" in r.getMessage() and "--allowed-host NAME" in r.getMessage()
               for r in caplog.records)
    # the gate's own answer (under alonet serve) says the same
    assert "alonet serve --allowed-host NAME" in app.extensions["alonet"].gate({"HOST": "public.example"}, 0, "-")[2]


def test_a_change_over_too_few_patients_is_never_shown_as_clear(model_dir, tmp_path):  # noqa: F811
    """Before: an adapt.json written before the rule (clear: true over 3 patients) showed a plain
    interval on the Model page and "clear": true in /api/model."""
    import json
    import shutil

    from alonet.web import WebConfig, create_app

    folder = tmp_path / "adapted"
    shutil.copytree(model_dir, folder)
    few = {"change": -1.2, "low": -2.0, "high": -0.4, "groups": 3, "items": 12, "clear": True}
    enough = {"change": -1.5, "low": -2.5, "high": -0.5, "groups": 5, "items": 20, "clear": True}
    (folder / "adapt.json").write_text(json.dumps({
        "created": "x", "source": "s", "before": {}, "after": {}, "better": True,
        "changes": {"mean_abs_diff_pct": few, "salt_mae": enough}}), encoding="utf-8")
    from alonet.infer import Pipeline

    client = create_app(WebConfig(models=str(folder), backend="torch"),
                        pipeline=Pipeline(folder, backend="torch")).test_client()
    page = client.get("/model").get_data(as_text=True)
    lines = re.sub(r"<[^>]+>", "", page.split('id="adapt-changes"')[1].split("</ul>")[0])
    lines = [" ".join(line.split()) for line in lines.split("Change in")[1:]]
    assert "resampling 3 held-back patients) — too few patients to tell: with 3 the interval says little" in lines[0]
    assert lines[1].endswith("resampling 5 held-back patients)")  # enough patients, interval clear of 0
    assert 'id="adapt-unsure"' in page and "after is better</span>" not in page  # the headline says it too
    changes = client.get("/api/model").get_json()["adapt"]["changes"]
    assert changes["mean_abs_diff_pct"] == {**few, "clear": False, "too_few": True}
    assert changes["salt_mae"] == enough


def test_a_slow_enlargement_does_not_hold_up_other_cache_lookups(make_app, photos):  # noqa: F811
    """Before: the cache measured every visit (its maps' arrays) under its own lock, so one visit whose
    map was being enlarged (under the maps' lock) held up every lookup of every visit."""
    app = make_app()
    cache = app.extensions["alonet"].cache
    client = app.test_client()
    busy = cache.get(score_in_browser_form(client, photos, ["top"]).rsplit("/", 1)[1])
    other = score_in_browser_form(client, photos, ["top"]).rsplit("/", 1)[1]
    maps = busy.views["top"].result.maps
    found = []
    with maps._lock:  # as ViewMaps.full holds it while it enlarges a map
        lookup = threading.Thread(target=lambda: found.append(cache.get(other)), daemon=True)
        lookup.start()
        lookup.join(30)
        finished = not lookup.is_alive()
    lookup.join(30)
    assert finished, "a cache lookup waited for another visit's enlargement"
    assert found[0].id == other and cache.get(busy.id) is busy


def test_a_visit_is_counted_with_the_full_size_masks_before_the_page_asks_for_them(make_app, photos):  # noqa: F811
    """Before: the cache measured a visit when it was scored, with its masks still at network
    size; the page then enlarged both masks of every view to the photograph's size, so six
    large visits held about three times the cache's byte cap."""
    app = make_app()
    cache = app.extensions["alonet"].cache
    client = app.test_client()
    url = score_in_browser_form(client, photos)
    visit = cache.get(url.rsplit("/", 1)[1])
    measured = visit_nbytes(visit)
    assert not any(st.result.maps.is_enlarged("scalp_mask") for st in visit.views.values())
    for view in visit.views:
        for layer in ("scalp", "hairloss"):
            assert client.get(f"{url}/mask/{view}/{layer}.png").status_code == 200
    assert all(st.result.maps.is_enlarged(name) for st in visit.views.values() for name in MASK_NAMES)
    assert visit_nbytes(visit) == measured
    pixels = sum(p.shape[0] * p.shape[1] for p in photos.values())
    assert measured >= sum(p.nbytes for p in photos.values()) + 2 * pixels  # photographs + two bool masks
