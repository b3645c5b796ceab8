"""waitress, answering its own refusals the way the application does.

waitress refuses some requests before the application sees them -- above
all a body larger than ``max_request_body_size`` (HTTP 413), also malformed
requests (400) -- and by default answers them in plain text and logs nothing.
:func:`create_server` makes those answers JSON (``{"error": "<one line>"}``,
like every API error of AloNet) and logs each refusal on the ``alonet.web``
logger with the method, path and client address (never the body).

With a ``gate`` (``alonet.web.security.BodyGate``) the server also asks, as soon as a
request's header has arrived and before any of its body is read, whether this client may
send a body at all: a client without the token or an open login session, or one using a
host name the app does not answer to, gets its refusal (401/400) at once, so it cannot make
the server hold a large body in memory.
"""

from __future__ import annotations

import json
import logging

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser
from waitress.task import ErrorTask
from waitress.utilities import Error

#: The server log (app and waitress refusals alike): one name, shown on every `alonet serve` line.
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
        # the gate's own sentence as it is; waitress's refusals in one line
        message = error.body if isinstance(error, Refused) else refusal_message(error.code, error.reason, error.body)
        client = getattr(self.channel, "addr", None)
        LOG.warning("%s %s %s - ms (refused by the server, from %s): %s",
                    getattr(self.request, "command", "") or "-", getattr(self.request, "path", "") or "-",
                    error.code, client[0] if client else "-", message)
        plain = getattr(error, "plain", False)
        body = ((message if plain else json.dumps({"error": message})) + "\n").encode("utf-8")
        self.status = f"{error.code} {error.reason}"
        kind = "text/plain; charset=utf-8" if plain else "application/json"
        self.response_headers.extend([("Content-Type", kind), ("Connection", "close")])
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonErrorChannel(HTTPChannel):
    error_task_class = JsonErrorTask


class Refused(Error):
    """A request refused by the gate before its body was read (``code``/``reason`` set per refusal;
    a 400 for a wrong host name is answered in plain text, as the app itself answers it)."""

    def __init__(self, code: int, reason: str, body: str):
        super().__init__(body)
        self.code, self.reason = code, reason
        self.plain = code == 400


class GatedParser(HTTPRequestParser):
    """waitress's request parser that asks ``gate(headers, length, client)`` once the header is complete;
    a refusal ends the request there (its body is never read)."""

    def __init__(self, adj, gate=None, client: str = "-"):
        super().__init__(adj)
        self.gate, self.client, self.gated = gate, client, False

    def received(self, data):
        consumed = super().received(data)
        if self.headers_finished and not self.gated and self.gate is not None:
            self.gated = True
            length = None if self.chunked else self.content_length
            refusal = None if self.error is not None else self.gate(self.headers, length, self.client)
            if refusal is not None:
                self.error = Refused(*refusal)
                self.completed, self.expect_continue = True, False  # no "100 Continue": the body is not wanted
        return consumed


class GatedChannel(JsonErrorChannel):
    """A channel whose requests are parsed by :class:`GatedParser` with the server's gate."""

    gate = None

    def parser_class(self, adj):
        client = self.addr[0] if isinstance(self.addr, tuple) and self.addr else "-"
        return GatedParser(adj, self.gate, str(client))


def create_server(app, gate=None, **settings):
    """``waitress.server.create_server`` whose own refusals are JSON and logged; with ``gate``,
    requests are asked about before their body is read (see the module doc).

    waitress counts its listening socket and its wake-up trigger against ``connection_limit``, so
    ``connection_limit - 2`` clients can connect; when the host has several addresses (``localhost``
    on IPv4 and IPv6) each further listener brings two more, and the limit is raised by as many so
    the number of clients stays the same."""
    from waitress.server import create_server as waitress_server

    server = waitress_server(app, **settings)
    channel = JsonErrorChannel if gate is None else type("GatedChannel", (GatedChannel,), {"gate": staticmethod(gate)})
    listeners = listening_servers(server)
    for each in listeners:
        each.channel_class = channel
    listeners[0].adj.connection_limit += 2 * (len(listeners) - 1)  # one Adjustments shared by all
    return server


def listening_servers(server) -> list:
    """The listening servers of what ``waitress.server.create_server`` returned: itself, or the
    ones a ``MultiSocketServer`` (several addresses) keeps in its map (it has no list of them)."""
    from waitress.server import BaseWSGIServer

    if isinstance(server, BaseWSGIServer):
        return [server]
    return [each for each in server.map.values() if isinstance(each, BaseWSGIServer)]
