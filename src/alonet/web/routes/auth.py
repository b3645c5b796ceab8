"""Login with the access token (only when the server has one).

``GET /login`` shows a one-field form; ``POST /login`` checks the token and
marks the session (a signed, HttpOnly, SameSite=Strict cookie) as
authenticated; ``POST /logout`` clears it.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for

from alonet.web.state import get_state
from alonet.web.security import SESSION_KEY, token_matches

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("score.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    token = get_state().config.token
    if not token:
        return redirect(url_for("score.index"))
    next_path = request.values.get("next")
    if request.method == "POST":
        if token_matches(request.form.get("token", ""), token):
            session.clear()
            session[SESSION_KEY] = True
            return redirect(_safe_next(next_path), code=303)
        return render_template("login.html", error="wrong access token", next_path=next_path), 401
    return render_template("login.html", error=None, next_path=next_path)


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("auth.login"), code=303)
