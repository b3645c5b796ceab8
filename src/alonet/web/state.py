"""What every request of the web app shares, and how a route reaches it.

:class:`AppState` is stored in ``app.extensions["alonet"]`` by
``alonet.web.app.create_app``; routes call :func:`get_state`. This module sits
below both the app factory and the route modules, so the routes never import
``alonet.web.app`` (which imports them).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import abort, current_app, request

from alonet.web.config import WebConfig
from alonet.web.security import BodyGate, LoginGuard
from alonet.web.service import Scorer
from alonet.store.storage import Store
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
    #: Slots for decoding and scoring photographs (``config.scoring_slots``): see :func:`scoring_slot`.
    scoring: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(2))


def get_state(app=None) -> AppState:
    """The AloNet state of ``app`` (default: the current app)."""
    return (app or current_app).extensions["alonet"]


@contextmanager
def scoring_slot() -> Iterator[None]:
    """Hold one of the app's scoring slots while photographs are decoded and scored, so only
    ``config.scoring_slots`` requests hold decoded photographs at once; a request that waits
    longer than ``config.busy_wait_s`` gets 503."""
    state = get_state()
    if not state.scoring.acquire(timeout=state.config.busy_wait_s):
        abort(503, description="the server is busy scoring other photographs; try again in a minute")
    try:
        yield
    finally:
        state.scoring.release()


def wants_provisional() -> bool:
    """True when the request asks for a provisional SALT (form field or query ``provisional``)."""
    value = request.form.get("provisional") or request.args.get("provisional") or ""
    return value.lower() in ("1", "true", "on", "yes")


def wants_json() -> bool:
    """True for API calls, JSON requests and the page's own fetch requests."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    return request.accept_mimetypes.best == "application/json"
