"""Access control and browser hardening for the web application.

* **Binding rule** (:func:`check_bind`): the server listens on a loopback
  address unless an access token is given; ``alonet serve`` refuses to start
  otherwise.
* **Host names** (:class:`HostGuard`): without a token the app answers only requests whose
  ``Host`` is a loopback name (``localhost``, a loopback address such as ``127.0.0.1`` or
  ``[::1]``, any port) or one of the configured ``allowed_hosts``; anything else gets a
  plain-text 400 before Flask sees it, naming ``--allowed-host``; a request without any ``Host``
  header (HTTP/1.0 health checks; browsers always send one) is served. A web page whose own name was re-pointed at
  127.0.0.1 (DNS rebinding) is therefore refused. With a token the check is on only when
  ``allowed_hosts`` are given.
* **Token** (:func:`install_token_guard`): when the app has a token, every
  request except the login page and static files must carry it, as
  ``Authorization: Bearer <token>``, as ``X-AloNet-Token: <token>``, or through
  the session cookie set once by the login page. Requests without it get 401
  (the login form for pages, JSON for ``/api/``). Tokens are compared in
  constant time. A :class:`LoginGuard` remembers which login sessions are open
  (logging out ends a session on the server too, so a copied cookie stops
  working) and answers 429 to an address after repeated wrong tokens, from the login form or
  in headers; open sessions keep working. The token is checked before CSRF, so no form
  is parsed before it; a :class:`BodyGate` lets waitress refuse a large body from a client
  without the token before reading it. Behind a reverse proxy every client has the proxy's
  address, so one person's typos make new logins wait a minute for everyone.
* **CSRF** (flask-wtf's ``CSRFProtect``): every state-changing form and the
  browser's ``fetch`` calls carry the session's CSRF token. ``POST /api/score``
  is exempt: it changes no state (nothing is stored) and, when the server is
  reachable from other machines, it is guarded by the token header, which a
  cross-site form cannot send. Without a token, ``/api/`` refuses requests that a
  browser marks as sent by a page of another site (:func:`foreign_origin`, 403).
* **Headers** (:func:`install_security_headers`): a strict
  Content-Security-Policy (scripts, styles, fonts only from this server; no
  inline scripts; images also from ``data:``/``blob:`` URLs made by the page's
  own scripts), no framing, no MIME sniffing, no referrer, and ``no-store``
  caching for everything but static files (pages show health data).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import socket
import threading
import time
from collections import OrderedDict, deque
from urllib.parse import urlsplit

from alonet.errors import AloNetError

#: The Content-Security-Policy sent with every response.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])

TOKEN_HEADER = "X-AloNet-Token"
SESSION_KEY = "alonet_authenticated"
#: Endpoints reachable without the token (login itself and static files).
PUBLIC_ENDPOINTS = frozenset({"auth.login", "static"})
#: Largest body a client without the token may send (the login form is far smaller).
PUBLIC_BODY_BYTES = 64 * 1024


#: Host names every guarded app answers to (with any port), besides other loopback addresses.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")
#: How an operator makes the server answer to another host name (named in every Host refusal).
ALLOWED_HOST_FIX = "alonet serve --allowed-host NAME (README: Web application, Safety and privacy)"


class UnsafeBindError(AloNetError):
    """The server was asked to listen beyond this machine without a token."""


def is_loopback(host: str) -> bool:
    """True if ``host`` (an address or a name) only reaches this machine."""
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except (socket.gaierror, UnicodeError):  # UnicodeError: a name with an empty label ("a..b")
        return False
    # IPv4/IPv6 socket addresses: the host is a str already (the stubs allow an int for other families)
    addresses = {str(info[4][0]) for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


def check_bind(host: str, token: str | None) -> None:
    """Raise UnsafeBindError if ``host`` is not loopback and no token is set."""
    if not token and not is_loopback(host):
        raise UnsafeBindError(
            f"refusing to listen on {host} without an access token: photographs are health data",
            fix="set a token of at least 8 characters in ALONET_TOKEN (or --token), or use --host 127.0.0.1",
        )


def host_name(host: str) -> str:
    """A Host header's name without its port, lower case: ``"[::1]:8000"`` -> ``"[::1]"``,
    ``"LocalHost:80"`` -> ``"localhost"``; a bare IPv6 address gets its brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return f"[{host}]" if ":" in host else host


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    """True if the Host header ``host`` names ``allowed`` or a loopback address (any port), or if
    the request has no Host header at all (``None``: HTTP/1.0 health checks and scripts; a browser
    always sends one, so a DNS-rebinding page cannot leave it out). An empty Host is refused.
    :class:`HostGuard` and :class:`BodyGate` both decide with this function."""
    if host is None:
        return True
    name = host_name(host)
    if name in allowed or name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


class HostGuard:
    """WSGI middleware: a request whose ``Host`` is not allowed (:func:`host_allowed`) gets a
    short plain-text 400 naming the accepted names; nothing of the app runs for it (no
    session, no template), so the refusal itself cannot fail."""

    def __init__(self, wsgi_app, allowed_hosts=(), log=None):
        self.wsgi_app = wsgi_app
        self.allowed = frozenset(host_name(h) for h in allowed_hosts)
        self.log = log
        names = ", ".join(dict.fromkeys([*LOOPBACK_NAMES, *sorted(self.allowed)]))
        self.message = (f"400 Bad Request: this server answers only to the host names {names} (any port); "
                        "open it under one of them, e.g. http://127.0.0.1:<port>/, or start it with "
                        f"{ALLOWED_HOST_FIX}\n").encode("utf-8")

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST")  # None: no Host header at all (see host_allowed)
        if host_allowed(host, self.allowed):
            return self.wsgi_app(environ, start_response)
        if self.log is not None:
            self.log.warning("%s %s 400 - ms (refused: Host %r is not an accepted host name, from %s; "
                             "to serve it, start %s)", environ.get("REQUEST_METHOD", "-"),
                             environ.get("PATH_INFO", "-"), host[:100], environ.get("REMOTE_ADDR", "-"),
                             ALLOWED_HOST_FIX)
        # no Connection header: hop-by-hop headers are the server's (PEP 3333), an app may not set them
        start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8"),
                                           ("Content-Length", str(len(self.message))),
                                           ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
        return [self.message]


def install_host_check(app, allowed_hosts=(), log=None) -> HostGuard:
    """Answer only requests for loopback names and ``allowed_hosts`` (see :class:`HostGuard`)."""
    app.wsgi_app = guard = HostGuard(app.wsgi_app, allowed_hosts, log)
    return guard


def foreign_origin(headers, host: str) -> str | None:
    """Why a request was sent by a page of another site (its ``Sec-Fetch-Site`` or ``Origin``),
    or None: same-origin, or not from a browser at all (scripts send neither header)."""
    site = headers.get("Sec-Fetch-Site")
    if site and site.lower() not in ("same-origin", "none"):
        return f"Sec-Fetch-Site: {site[:40]}"
    origin = headers.get("Origin")
    if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
        return f"Origin: {origin[:80]}"
    return None


def token_matches(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented token with the configured one."""
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def token_from(authorization: str | None, custom: str | None) -> str | None:
    """The token in an ``Authorization: Bearer`` value, else the ``X-AloNet-Token`` value."""
    auth = authorization or ""
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return custom


def presented_token(request) -> str | None:
    """The token a request carries in its headers, if any."""
    return token_from(request.headers.get("Authorization"), request.headers.get(TOKEN_HEADER))


class LoginGuard:
    """Open login sessions, and a brake on guessing the token.

    A session opened by the login page carries a random id; only ids in
    :attr:`open` count, so :meth:`close` (logout) ends it on the server although
    the signed cookie itself stays valid. At most ``max_sessions`` are kept (the
    oldest closes first). An address with ``max_failures`` wrong tokens in the
    last ``window_s`` seconds is refused until the oldest of them ages out.
    """

    def __init__(self, max_failures: int = 5, window_s: float = 60.0, max_sessions: int = 10_000):
        self.max_failures = int(max_failures)
        self.window_s = float(window_s)
        self.max_sessions = int(max_sessions)
        self._sessions: OrderedDict[str, None] = OrderedDict()
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def open(self) -> str:
        """A new session id (kept until :meth:`close` or until too many newer ones)."""
        sid = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[sid] = None
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
        return sid

    def is_open(self, sid: object) -> bool:
        with self._lock:
            return isinstance(sid, str) and sid in self._sessions

    def close(self, sid: object) -> None:
        with self._lock:
            if isinstance(sid, str):
                self._sessions.pop(sid, None)

    def retry_after(self, address: str, now: float | None = None) -> int:
        """Seconds ``address`` must wait before it may try a token again (0: it may now)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent(address, now)
            if len(recent) < self.max_failures:
                return 0
            return max(1, int(recent[0] + self.window_s - now) + 1)

    def failed(self, address: str, now: float | None = None) -> None:
        """Record a wrong token from ``address`` (addresses whose failures all aged out are forgotten)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(address, now).append(now)
            for key in [k for k, times in self._failures.items() if not times or times[-1] <= now - self.window_s]:
                del self._failures[key]

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.setdefault(address, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times


def install_token_guard(app, token: str, logins: LoginGuard) -> None:
    """Require ``token`` on every request but the public endpoints (see module doc)."""
    from flask import jsonify, render_template, request, session

    @app.before_request
    def _require_token():
        if logins.is_open(session.get(SESSION_KEY)):
            return None
        if request.endpoint in PUBLIC_ENDPOINTS:
            if (request.content_length or 0) <= PUBLIC_BODY_BYTES:
                return None
            response = jsonify(error=f"request refused: {request.content_length} bytes sent before logging in, "
                                     f"more than the {PUBLIC_BODY_BYTES // 1024} KiB a login needs")
            response.status_code = 413
            return response
        given = presented_token(request)
        if given is not None:  # a header token counts against the same brake as the login form
            address = request.remote_addr or "-"
            wait = logins.retry_after(address)
            if wait:
                response = jsonify(error=f"too many wrong tokens; try again in {wait} s")
                response.status_code = 429
                response.headers["Retry-After"] = str(wait)
                return response
            if token_matches(given, token):
                return None
            logins.failed(address)
        if request.path.startswith("/api/"):
            response = jsonify(error="missing or wrong access token",
                               fix="send 'Authorization: Bearer <token>' or 'X-AloNet-Token: <token>'")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="alonet"'
            return response
        next_path = request.full_path.rstrip("?") if request.method == "GET" else None
        return render_template("login.html", error=None, next_path=next_path), 401


class BodyGate:
    """Whether a client may send a request's body, decided from its header alone (waitress asks
    before reading the body: ``alonet.web.server``). ``headers`` are waitress's (``"HOST"``,
    ``"AUTHORIZATION"``, ``"X_ALONET_TOKEN"``, ``"COOKIE"``), ``length`` the body's size (None:
    chunked, not known yet). Returns ``(status, reason, sentence)`` to refuse, else None (the app
    decides as usual).

    Refused: a ``Host`` the app does not answer to (when ``hosts`` is given, see :class:`HostGuard`);
    with a ``token``, a body over :data:`PUBLIC_BODY_BYTES` from a client that sends neither the
    right token nor the cookie of an open login session (wrong tokens count against ``logins``'
    brake, as in the app).
    """

    def __init__(self, app, token: str | None, logins: LoginGuard, hosts: HostGuard | None = None):
        self.app, self.token, self.logins, self.hosts = app, token, logins, hosts

    def __call__(self, headers, length: int | None, client: str):
        if self.hosts is not None and not host_allowed(headers.get("HOST"), self.hosts.allowed):
            return 400, "Bad Request", self.hosts.message.decode("utf-8").strip()
        if not self.token or (length is not None and length <= PUBLIC_BODY_BYTES):
            return None
        given = token_from(headers.get("AUTHORIZATION"), headers.get(TOKEN_HEADER.upper().replace("-", "_")))
        if given is not None:
            wait = self.logins.retry_after(client)
            if wait:
                return 429, "Too Many Requests", f"too many wrong tokens; try again in {wait} s"
            if token_matches(given, self.token):
                return None
            self.logins.failed(client)
        elif self._open_session(headers.get("COOKIE", "")):
            return None
        return 401, "Unauthorized", ("missing or wrong access token: a request with a body needs it (send "
                                     "'Authorization: Bearer <token>' or 'X-AloNet-Token: <token>', or log in first)")

    def _open_session(self, cookie_header: str) -> bool:
        from itsdangerous import BadSignature
        from werkzeug.http import parse_cookie

        value = parse_cookie(cookie_header).get(self.app.config["SESSION_COOKIE_NAME"])
        serializer = self.app.session_interface.get_signing_serializer(self.app)
        if not value or serializer is None:
            return False
        try:
            data = serializer.loads(value, max_age=int(self.app.permanent_session_lifetime.total_seconds()))
        except BadSignature:
            return False
        return isinstance(data, dict) and self.logins.is_open(data.get(SESSION_KEY))


def install_security_headers(app) -> None:
    """Add the CSP and related headers to every response."""

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Cross-Origin-Resource-Policy"] = "same-origin"
        from flask import request

        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        return response


def install_csrf(app):
    """Turn on flask-wtf's CSRF protection; return the ``CSRFProtect`` object."""
    from flask_wtf.csrf import CSRFProtect

    csrf = CSRFProtect()
    csrf.init_app(app)
    return csrf
