"""``alonet serve``: the web application on a production WSGI server (waitress)."""

from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from alonet.cli.options import backend_option, model_option, pipeline_config, threshold_options

MIB = 1024 * 1024


#: Client connections waitress keeps open at once (its own default); more wait in the listen backlog.
MAX_CONNECTIONS = 100
#: Seconds an idle connection (a browser's keep-alive) stays open; one that is receiving a body or
#: waiting for its answer is never idle. Checked every ``CLEANUP_INTERVAL_S`` seconds.
IDLE_TIMEOUT_S = 30
CLEANUP_INTERVAL_S = 10


def waitress_settings(max_request_bytes: int, threads: int) -> dict:
    """waitress options that keep uploads in memory and bounded.

    waitress spools request bodies above ``inbuf_overflow`` and responses above
    ``outbuf_overflow`` to temporary files; both are raised above the largest
    accepted request/response so a photograph never touches the disk.
    ``max_request_body_size`` stops anything far beyond Flask's own limit before
    it is buffered (Flask answers requests slightly over the limit with a
    readable 413 page). Memory is bounded per request by that cap and, when a token is set,
    for clients without it by the app's ``BodyGate`` (it refuses their bodies over 64 KiB
    before reading them; without a token the server answers loopback clients only);
    decoding is bounded by the scoring slots. Up to :data:`MAX_CONNECTIONS` clients are
    connected at once (a few browsers keep several idle keep-alive connections each), and an
    idle one is closed after :data:`IDLE_TIMEOUT_S` seconds.
    """
    body_cap = max_request_bytes + MIB
    return {
        "threads": threads,
        "connection_limit": connection_limit(),
        "max_request_body_size": body_cap,
        "max_request_header_size": 64 * 1024,
        "inbuf_overflow": body_cap + MIB,
        "outbuf_overflow": 1024 * MIB,
        "ident": "AloNet",
        "clear_untrusted_proxy_headers": True,
        "channel_timeout": IDLE_TIMEOUT_S,
        "cleanup_interval": CLEANUP_INTERVAL_S,
    }


def connection_limit(clients: int = MAX_CONNECTIONS) -> int:
    """waitress's ``connection_limit`` for ``clients`` client connections: waitress counts every
    socket in its map, which also holds its listening socket and its wake-up trigger."""
    return clients + 2


def served_host_names(host: str, token: str | None, allowed_hosts) -> tuple[str, ...]:
    """``--allowed-host`` names plus the bound ``--host`` when the Host check is on (no token, or
    names given); a wildcard address (0.0.0.0, ::) is no name a browser sends."""
    names = tuple(allowed_hosts)
    if (names or not token) and host.strip("[]") not in ("", "0.0.0.0", "::", "*"):
        names += (host,)
    return names


def _bind(app, host: str, port: int, settings: dict, gate=None):
    """waitress's server bound to ``host:port``; a busy or forbidden port is a one-line error."""
    import errno

    from alonet.errors import AloNetError
    from alonet.web.server import create_server

    try:
        return create_server(app, gate=gate, host=host, port=port, **settings)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AloNetError(f"port {port} on {host} is already in use (another alonet serve or program is "
                              "listening there)", fix=f"pick another with --port {port + 1 if port < 65535 else 8001}, "
                              "or --port 0 for any free port") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise AloNetError(f"not allowed to listen on port {port} of {host}",
                              fix="ports below 1024 need administrator rights: pick --port 8000 or higher") from None
        raise AloNetError(f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                          fix="check --host and --port") from None


def _resolvable_host(ctx, param, value: str) -> str:
    """--host as given, if it is an address or a name this machine can resolve."""
    import socket

    try:
        socket.getaddrinfo(value.strip().strip("[]"), None)
    except (socket.gaierror, UnicodeError, ValueError) as exc:
        raise click.BadParameter(f"{value!r} is not an address or a name this machine can resolve ({exc})") from None
    return value


def _finite(ctx, param, value: float) -> float:
    if value != value:  # NaN passes FloatRange's bounds
        raise click.BadParameter("must be a number")
    return value


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, callback=_resolvable_host,
              help="Address to listen on. Anything but loopback needs --token.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="TCP port (0 picks a free one).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for patients and visits (SQLite + images). Without it nothing is written to disk.")
@click.option("--token", envvar="ALONET_TOKEN", help="Access token (or $ALONET_TOKEN); required "
              "for a non-loopback --host. Send as 'Authorization: Bearer T' or 'X-AloNet-Token: T', "
              "or enter it once on the login page.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A host name the browser may use for this server besides localhost/127.0.0.1/[::1] "
              "(repeatable; e.g. the proxy's public name). Without --token only loopback names and these are "
              "answered; with --token giving any turns the Host check on.")
@model_option
@backend_option
@threshold_options
@click.option("--max-file-mb", default=20.0, show_default=True, type=click.FloatRange(0.1, 1024), callback=_finite,
              help="Largest accepted photograph file (MiB).")
@click.option("--max-pixels", default=40_000_000, show_default=True, type=click.IntRange(1),
              help="Largest accepted photograph in pixels.")
@click.option("--max-request-pixels", type=click.IntRange(1),
              help="Most pixels of all photographs of one request together (read from their headers before "
              "decoding).  [default: 4 x --max-pixels, four photographs at the per-photograph cap]")
@click.option("--secure-cookies", is_flag=True,
              help="Mark the login cookie Secure (sent only over https): use it behind a TLS proxy, which "
              "should also send Strict-Transport-Security.")
@click.option("--keep-minutes", default=60.0, show_default=True, type=click.FloatRange(0.1, 7 * 24 * 60),
              help="Minutes an unsaved result stays in memory after its last use (the result page warns "
              "before it is forgotten and can keep it longer).")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="waitress worker threads (the model itself runs one request at a time).")
def serve_command(host, port, store, token, allowed_hosts, model, backend, scalp_threshold, hairloss_threshold, max_file_mb,
                  max_pixels, max_request_pixels, secure_cookies, keep_minutes, threads):
    """Serve the web application: score visits in the browser, correct the masks, keep patients.

    Binds to 127.0.0.1 by default. Any other --host needs --token and the server
    refuses to start without it.
    """
    import logging

    from alonet.cli.console_log import SERVER_FORMAT, console_log
    from alonet.web import WebConfig, create_app
    from alonet.web.security import check_bind

    check_bind(host, token)
    if token and click.get_current_context().get_parameter_source("token") == ParameterSource.COMMANDLINE:
        click.echo("warning: a --token on the command line can be read by every user of this machine (ps); "
                   "set ALONET_TOKEN in the environment instead", err=True)
    config = WebConfig(models=model, backend=backend, store=store, token=token or None,
                       allowed_hosts=served_host_names(host, token, allowed_hosts),
                       max_file_bytes=int(max_file_mb * MIB), max_pixels=max_pixels,
                       max_request_pixels=max_request_pixels, secure_cookies=secure_cookies,
                       cache_ttl_s=keep_minutes * 60,
                       pipeline=pipeline_config(None, scalp_threshold, hairloss_threshold))
    logging.basicConfig(level=logging.INFO, format=SERVER_FORMAT)  # waitress's own log, on the root logger
    with console_log(SERVER_FORMAT):  # AloNet's (alonet.web), the same way
        app = create_app(config)

        server = _bind(app, host, port, waitress_settings(config.max_request_bytes, threads),
                       gate=app.extensions["alonet"].gate)
        from alonet.web.server import listening_servers

        addresses = [(each.effective_host, each.effective_port) for each in listening_servers(server)]
        urls = " and ".join(f"http://{f'[{h}]' if ':' in str(h) else h}:{p}/" for h, p in addresses)
        click.echo(f"AloNet web application on {urls} "
                   f"(model {app.extensions['alonet'].scorer.description}; "
                   f"{'store ' + str(store) if store else 'nothing is written to disk'}"
                   f"{'; token required' if token else ''}). Ctrl+C stops it.", err=True)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
