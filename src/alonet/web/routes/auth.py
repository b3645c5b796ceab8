"""Login with the access token (only when the server has one).

``GET /login`` shows a one-field form; ``POST /login`` checks the token and
marks the session (a signed, HttpOnly, SameSite=Strict cookie) as
authenticated; ``POST /logout`` clears it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for

from alonet.web.state import get_state
from alonet.web.security import SESSION_KEY, token_matches

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site absolute paths ("/patients?x=1") are followed after login.

    Anything a browser could read as another site is refused: "//host",
    backslashes, and control characters or spaces, which browsers drop before
    parsing (slash, tab, "/evil.example" becomes "//evil.example").
    """
    home = url_for("score.index")
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return home
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else home


@bp.route("/login", methods=["GET", "POST"])
def login():
    token = get_state().config.token
    if not token:
        return redirect(url_for("score.index"))
    next_path = request.values.get("next")
    if request.method == "POST":
        logins = get_state().logins
        address = request.remote_addr or "-"
        wait = logins.retry_after(address)
        if wait:
            page = render_template("login.html", next_path=next_path,
                                   error=f"too many wrong tokens; try again in {wait} s")
            return page, 429, {"Retry-After": str(wait)}
        if token_matches(request.form.get("token", ""), token):
            logins.close(session.get(SESSION_KEY))
            session.clear()
            session[SESSION_KEY] = logins.open()
            return redirect(_safe_next(next_path), code=303)
        logins.failed(address)
        return render_template("login.html", error="wrong access token", next_path=next_path), 401
    return render_template("login.html", error=None, next_path=next_path)


@bp.post("/logout")
def logout():
    get_state().logins.close(session.get(SESSION_KEY))
    session.clear()
    return redirect(url_for("auth.login"), code=303)
