"""What every request of the web app shares, and how a route reaches it.

:class:`AppState` is stored in ``app.extensions["alonet"]`` by
``alonet.web.app.create_app``; routes call :func:`get_state`. This module sits
below both the app factory and the route modules, so the routes never import
``alonet.web.app`` (which imports them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, request

from alonet.web.config import WebConfig
from alonet.web.security import BodyGate, LoginGuard
from alonet.web.service import Scorer
from alonet.web.storage import Store
from alonet.web.visits import VisitCache


@dataclass
class AppState:
    """What the routes share: settings, the model, scored visits, the store, login sessions."""

    config: WebConfig
    scorer: Scorer
    cache: VisitCache
    store: Store | None
    logins: LoginGuard = field(default_factory=LoginGuard)
    #: Asked by waitress before a request's body is read (``alonet.web.security.BodyGate``).
    gate: BodyGate | None = None


def get_state(app=None) -> AppState:
    """The AloNet state of ``app`` (default: the current app)."""
    return (app or current_app).extensions["alonet"]


def wants_json() -> bool:
    """True for API calls, JSON requests and the page's own fetch requests."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    return request.accept_mimetypes.best == "application/json"
