"""The Flask application factory.

``create_app(WebConfig(...))`` loads the model once, sets the upload limits,
security headers, CSRF protection, the optional access token and the optional
store, and registers the blueprints:

=================  ==========================================================
``score``          upload page, scoring, the result/correction page, reports
``patients``       patients and stored visits (only useful with ``--store``)
``api``            ``POST /api/score`` (JSON) and ``GET /api/health``
``auth``           login page for the access token
``training``       mark stored visits reviewed for training; the model set page
=================  ==========================================================

Everything a request needs is in ``alonet.web.state.AppState`` (``app.extensions["alonet"]``);
there is no module-level state, so several apps can live in one process.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import logging
import os
import re
import secrets
import sqlite3
import sys
import threading
import time
from pathlib import Path

from flask import Flask, g, jsonify, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.routing import IntegerConverter

from alonet import __version__
from alonet.errors import AloNetError
from alonet.infer.quality import REVIEW_CODES
from alonet.report.html import SYNTHETIC_WARNING, uses_bundled_model
from alonet.scoring.salt import AA_IGA_BANDS, SALT_GRADES, shown_salt
from alonet.views import VIEW_WEIGHTS, VIEWS
from alonet.web.config import WebConfig
from alonet.web.routes import api, auth, patients, score, training
from alonet.web.security import BodyGate, install_csrf, install_host_check, install_security_headers, install_token_guard
from alonet.web.service import Scorer
from alonet.web.state import AppState, get_state, wants_json
from alonet.store.checks import CODE_DATE_PATTERN, CODE_STUDY_WORDS, MAX_ID
from alonet.store.errors import DamagedRecordError
from alonet.store.storage import Store
from alonet.web.uploads import InMemoryRequest, UploadRejected, too_large_message
from alonet.web.visits import VisitCache, incomplete_reasons

#: The server log (app and waitress refusals alike): one name, shown on every `alonet serve` line.
LOG = logging.getLogger("alonet.web")

#: A form or correction sent without a session (logged out in another tab, or a server restart).
SESSION_ENDED = ("your session has ended (you logged out, perhaps in another tab, or the server restarted); "
                 "reload the page, log in again if asked, and repeat the last step")

__all__ = ["create_app", "store_failure"]  # routes reach the state through web/state.py, never through here


class StoreIdConverter(IntegerConverter):
    """``<id:name>`` in a route: a stored record's id, 1 to :data:`MAX_ID` (SQLite's
    integer range); anything else is not a route, so the answer is 404."""

    #: At most 19 digits (MAX_ID has 19): longer ones never reach int(), whose limit of 4300
    #: digits would otherwise turn a long id into a 500.
    regex = r"\d{1,19}"

    def __init__(self, url_map):
        super().__init__(url_map, min=1, max=MAX_ID)


def create_app(config: WebConfig | None = None, *, pipeline=None) -> Flask:
    """Build the AloNet web application.

    ``pipeline`` may pass an already loaded ``alonet.infer.Pipeline`` (used as
    is); otherwise one is loaded from ``config.models`` with ``config.pipeline``
    now, so a missing or broken model stops the server before it starts listening.
    """
    config = config or WebConfig()
    app = Flask(__name__)
    app.request_class = InMemoryRequest
    app.url_map.converters["id"] = StoreIdConverter
    app.config.update(
        SECRET_KEY=config.secret_key or secrets.token_bytes(32),
        MAX_CONTENT_LENGTH=config.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=1024 * 1024,  # text fields; also bounds the parser's buffer
        ALONET_MAX_FILE_BYTES=config.max_file_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=config.secure_cookies,
        SESSION_COOKIE_NAME="alonet_session",
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session cookie
        WTF_CSRF_SSL_STRICT=config.secure_cookies,
        TEMPLATES_AUTO_RELOAD=False,
    )
    store = Store(config.store) if config.store is not None else None
    if store is not None:
        _warn_open_store(store)
    scorer = Scorer(config.models, config.backend, pipeline=pipeline, config=config.pipeline)
    state = AppState(
        config=config, scorer=scorer, cache=VisitCache(config.cache_visits, config.cache_ttl_s, max_bytes=config.cache_bytes), store=store,
        scoring=threading.BoundedSemaphore(config.scoring_slots),
    )
    app.extensions["alonet"] = state

    hosts = None
    if not config.token or config.allowed_hosts:  # a page on a re-pointed name must not reach the store
        hosts = install_host_check(app, config.allowed_hosts, LOG)
    state.gate = BodyGate(app, config.token, state.logins, hosts)
    if config.token:  # before CSRF, whose check reads the form: no body is parsed before the login
        install_token_guard(app, config.token, state.logins)
    csrf = install_csrf(app)
    install_security_headers(app)

    app.register_blueprint(score.bp)
    app.register_blueprint(patients.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(training.bp)
    csrf.exempt(api.bp)

    template_globals = {
        "synthetic_warning": SYNTHETIC_WARNING if uses_bundled_model(scorer.provenance()) else None,
        "version": __version__,
        "store_enabled": store is not None,
        "token_enabled": bool(config.token),
        "VIEWS": VIEWS,
        "CODE_DATE_PATTERN": CODE_DATE_PATTERN,
        "CODE_STUDY_WORDS": " ".join(CODE_STUDY_WORDS),
        "incomplete_reasons": incomplete_reasons,
        "VIEW_WEIGHTS": dict(VIEW_WEIGHTS),
        # flag codes shown as "look at the overlay" rather than "retake" (alonet.infer.quality)
        "REVIEW_CODES": sorted(REVIEW_CODES),
        # Category tables for the page's live grade/band (same source as the server's).
        "SALT_GRADES": [[name, low, high] for name, low, high, _ in SALT_GRADES],
        "AA_IGA_BANDS": [[level, name, low, high] for level, name, low, high, _ in AA_IGA_BANDS],
    }

    @app.context_processor
    def _globals():
        return template_globals

    # one way to show a SALT on every page: its unrounded value with one decimal
    app.add_template_filter(shown_salt, "salt")

    _install_error_handlers(app)
    _install_request_log(app)

    @app.teardown_request
    def _give_back_memory(exc):  # after each page or upload, not after each static file
        if request.endpoint != "static":
            release_freed_memory()
    return app


def _warn_open_store(store: Store) -> None:
    """Say which parts of an existing store other users of the machine can read (new stores are
    created private; an existing one is not changed behind its owner's back)."""
    found = store.open_to_others()
    if found:
        shown = ", ".join(f"{path.name or path} ({mode:o})" for path, mode in found)
        LOG.warning("the store %s can be read by other users of this machine: %s; it holds patient codes, dates "
                    "and photographs. AloNet creates new stores private but leaves an existing one as it is: "
                    "`chmod -R go-rwx %s` makes it private", store.root, shown, store.root)


def _error_response(message: str, status: int):
    """The error as JSON for API/fetch callers, else as the page it belongs to."""
    if wants_json():
        response = jsonify(error=message)
        response.status_code = status
        return response
    if request.endpoint in ("score.score", "score.index"):
        return render_template("index.html", error=message), status
    back = None
    # the no-JavaScript masks form, and a refused save: back to the result, corrections and all
    if request.endpoint in ("score.masks", "score.save") and request.view_args and status != 404:
        back = url_for("score.result", visit_id=request.view_args["visit_id"])
    return render_template("error.html", message=message, status=status, back=back), status


def _install_error_handlers(app: Flask) -> None:
    @app.errorhandler(UploadRejected)
    def _upload(exc: UploadRejected):
        return _error_response(str(exc), exc.status)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge):
        limit = get_state().config.max_request_bytes
        assert limit is not None, "WebConfig.__post_init__ sets the default request size"
        message = too_large_message(exc, limit, request.content_length,
                                    request.max_form_memory_size, request.max_form_parts)
        return _error_response(message, 413)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError):
        if "session token is missing" in (exc.description or ""):
            return _error_response(SESSION_ENDED, 400)
        return _error_response(
            f"the form was refused ({exc.description.rstrip('.')}); reload the page and try again", 400
        )

    @app.errorhandler(AloNetError)
    def _alonet(exc: AloNetError):
        return _error_response(str(exc), 400)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return _error_response(f"{exc.code} {exc.name}: {exc.description}", exc.code or 500)

    @app.errorhandler(MemoryError)
    def _memory(exc: MemoryError):
        LOG.error("out of memory on %s %s", request.method, request.path)
        return _error_response("the server ran out of memory for this request (nothing was saved): send smaller "
                               "photographs or fewer at once, or give the server more memory", 503)

    @app.errorhandler(DamagedRecordError)
    def _damaged(exc: DamagedRecordError):
        LOG.error("damaged store record on %s %s: %s", request.method, request.path, exc)
        return _error_response(str(exc), 500)

    @app.errorhandler(sqlite3.OperationalError)
    @app.errorhandler(OSError)
    def _disk(exc: Exception):
        # a full, failing, forbidden or vanished store: nothing was saved (the transaction rolled
        # back), and the user can do something about it
        LOG.exception("store write failed on %s %s", request.method, request.path)
        answer = store_failure(exc, get_state().store)
        return _internal(exc) if answer is None else _error_response(*answer)

    @app.errorhandler(Exception)
    def _internal(exc: Exception):
        LOG.exception("internal error on %s %s", request.method, request.path)
        return _error_response("internal error: the server could not finish this request (see the server log)", 500)


#: errno values of a store that cannot take a write: a full, read-only or failing disk (507) ...
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)})
#: ... the server's user may not write there ...
_ACCESS_ERRNOS = frozenset({errno.EACCES, errno.EPERM})
#: ... or the folder is gone (an unplugged drive, an unmounted share).
_GONE_ERRNOS = frozenset({errno.ENOENT, errno.ENOTCONN, errno.ESTALE, errno.ENODEV, errno.ENXIO})


def _inside(name, folder) -> bool:
    """True when the file ``name`` lies in ``folder`` (``store-models/x`` is not in ``store``)."""
    try:
        return Path(os.fsdecode(name)).resolve().is_relative_to(Path(folder).resolve())
    except (OSError, ValueError, TypeError):
        return False


def store_failure(exc: Exception, store: Store | None) -> tuple[str, int] | None:
    """(message, status) for an error of the store's disk, or None for any other error. An
    OSError counts only when it names a file in the store folder (not a model or static file)."""
    nothing = "nothing was saved"
    code: int | None
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        if "unable to open database file" in text:
            code = errno.ENOENT
        elif re.search(r"disk|full|read-only|readonly", text):
            code = errno.ENOSPC
        else:
            return None
    elif isinstance(exc, OSError) and store is not None and exc.filename is not None and \
            _inside(exc.filename, store.root):
        code = exc.errno
    elif isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        code = exc.errno
    else:
        return None
    where = f"the store folder {store.root}" if store is not None else "the store folder"
    if code in _DISK_ERRNOS:
        return (f"{where} could not be written (its disk is full, read-only or failing); {nothing}: free some "
                "space or fix the disk, then try again", 507)
    if code in _ACCESS_ERRNOS:
        return (f"{where} could not be written: the server may not write there (permission denied); {nothing}: "
                "give the user running `alonet serve` write access to it, then try again", 500)
    if code in _GONE_ERRNOS:
        return (f"{where} cannot be reached (unplugged, unmounted or moved?); {nothing}: bring it back, or "
                "restart `alonet serve` with the right --store", 503)
    return None


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim`` (None elsewhere: macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> bool:
    """Give the memory a request freed back to the system (True when glibc did). glibc keeps
    what each thread freed in that thread's arena: a server idle after five 24 MP visits held
    1.85 GB, 1.16–1.24 GB when trimmed after each request (a fixed mmap threshold held 1.11 GB but
    scored a 12 MP visit 15 % slower; the trim costs nothing measurable; a resource audit,
    thirty-fourth session). What is left is mostly the results kept for their pages."""
    trim = _malloc_trim()
    return bool(trim(0)) if trim is not None else False


def _install_request_log(app: Flask) -> None:
    """One log line per request: method, path, status, milliseconds (never bodies)."""

    @app.before_request
    def _start():
        g.alonet_t0 = time.perf_counter()

    @app.after_request
    def _log(response):
        if request.endpoint == "static":
            return response
        t0 = g.get("alonet_t0")  # None when an earlier hook (the token guard) answered first
        elapsed = "-" if t0 is None else f"{1000 * (time.perf_counter() - t0):.0f}"
        if response.status_code >= 400:  # refused requests (401, 404, 413, ...) are logged as warnings
            LOG.warning("%s %s %s %s ms (refused, from %s)", request.method, request.path,
                        response.status_code, elapsed, request.remote_addr or "-")
        else:
            LOG.info("%s %s %s %s ms", request.method, request.path, response.status_code, elapsed)
        return response
