"""waitress, answering its own refusals the way the application does.

waitress refuses some requests before the application sees them -- above
all a body larger than ``max_request_body_size`` (HTTP 413), also malformed
requests (400) -- and by default answers them in plain text and logs nothing.
:func:`create_server` makes those answers JSON (``{"error": "<one line>"}``,
like every API error of AloNet) and logs each refusal on the ``alonet.web``
logger with the method, path and client address (never the body).
"""

from __future__ import annotations

import json
import logging

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask

LOG = logging.getLogger("alonet.web")


def refusal_message(code: int, reason: str, body: str) -> str:
    """The one-line JSON error text of a refusal made by waitress itself."""
    if code == 413:
        return "upload refused: the request is larger than this server accepts (send fewer or smaller photographs)"
    detail = " ".join(str(body).split())
    return f"{code} {reason}: {detail}" if detail else f"{code} {reason}"


class JsonErrorTask(ErrorTask):
    """waitress's error answer as JSON, logged."""

    def execute(self):
        error = self.request.error
        message = refusal_message(error.code, error.reason, error.body)
        client = getattr(self.channel, "addr", None)
        LOG.warning("%s %s %s - ms (refused by the server, from %s): %s",
                    getattr(self.request, "command", "") or "-", getattr(self.request, "path", "") or "-",
                    error.code, client[0] if client else "-", message)
        body = (json.dumps({"error": message}) + "\n").encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        self.response_headers.extend([("Content-Type", "application/json"), ("Connection", "close")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


def create_server(app, **settings):
    """``waitress.server.create_server`` whose own refusals are JSON and logged."""
    from waitress.server import create_server as waitress_server

    server = waitress_server(app, **settings)
    for each in getattr(server, "servers", None) or [server]:  # MultiSocketServer holds several
        each.channel_class = JsonErrorChannel
    return server
