"""Settings of the web application, as one dataclass.

``create_app(WebConfig(...))`` builds the Flask application from these values;
``alonet serve`` fills them from its options. Every limit that protects the
server from a hostile or mistaken upload lives here, so tests can shrink them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alonet.errors import InvalidValueError
from alonet.infer.pipeline import PipelineConfig

MIB = 1024 * 1024


@dataclass(frozen=True)
class WebConfig:
    """How the web application scores, limits, stores and guards.

    ``models``/``backend``/``pipeline`` (thresholds, post-processing and quality
    checks) are passed to ``alonet.infer.Pipeline`` (loaded once per process). ``store`` is the folder for the SQLite database and stored
    images; ``None`` means nothing is ever written to disk. ``token``, when set,
    must accompany every request (``Authorization: Bearer``, ``X-AloNet-Token``
    or the login page's session cookie).
    """

    models: str | Path = "default"
    backend: str = "auto"
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    store: Path | None = None
    token: str | None = None
    #: Largest accepted photograph file (bytes); a larger one gets HTTP 413.
    max_file_bytes: int = 20 * MIB
    #: Largest accepted request body (bytes); ``None`` = four files plus 1 MiB of form fields.
    max_request_bytes: int | None = None
    #: Largest accepted photograph in pixels (decompression-bomb guard, read from the header).
    max_pixels: int = 40_000_000
    #: Most pixels of all photographs of one request together; ``None`` = 4 x ``max_pixels`` (the four
    #: views at the per-photograph cap; the scoring slots bound how many requests decode at once).
    max_request_pixels: int | None = None
    #: Requests that may decode and score photographs at once (others wait, up to ``busy_wait_s``).
    scoring_slots: int = 2
    #: Seconds a request waits for a scoring slot before it is answered 503.
    busy_wait_s: float = 120.0
    #: Longest side of the images and masks the browser edits (larger photographs are shown scaled).
    edit_max_side: int = 1280
    #: Scored visits kept in memory for correction and report download.
    cache_visits: int = 6
    #: Seconds a scored visit stays in memory after its last use.
    cache_ttl_s: float = 3600.0
    #: Bytes of photographs and masks the scored visits in memory may hold together (the
    #: latest visit always stays, however large).
    cache_bytes: int = 1024 * MIB
    #: Key that signs session cookies; ``None`` = a fresh random key per process.
    secret_key: bytes | None = None
    #: Set the ``Secure`` flag on cookies (when served behind HTTPS).
    secure_cookies: bool = False
    #: Host names (``Host`` header, without port) the app answers to besides loopback names.
    #: Without a token only loopback names and these are answered (DNS-rebinding guard);
    #: with a token the check is on only when some are given.
    allowed_hosts: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.store is not None:
            object.__setattr__(self, "store", Path(self.store))
        if self.token is not None and len(self.token) < 8:
            raise InvalidValueError(
                "the access token is shorter than 8 characters",
                fix="choose a longer token (ALONET_TOKEN or --token), e.g. from `python -c \"import secrets; print(secrets.token_urlsafe())\"`",
            )
        if self.max_request_pixels is None:
            object.__setattr__(self, "max_request_pixels", 4 * int(self.max_pixels))
        for name in ("max_file_bytes", "max_pixels", "max_request_pixels", "edit_max_side", "cache_visits",
                     "cache_bytes", "scoring_slots"):
            if int(getattr(self, name)) < 1:
                raise InvalidValueError(f"{name} must be at least 1", fix=f"give a positive {name}")
        if not float(self.cache_ttl_s) > 0:
            raise InvalidValueError("cache_ttl_s must be more than 0 seconds", fix="give the minutes to keep a result")
        object.__setattr__(self, "allowed_hosts", tuple(str(h).strip() for h in self.allowed_hosts))
        bad = [h for h in self.allowed_hosts if not h or any(c.isspace() or c in "/@?#" for c in h)]
        if bad:
            raise InvalidValueError(f"allowed host {bad[0]!r} is not a host name",
                                    fix="give a name such as alonet.example or 192.0.2.10, without scheme or path")
        if self.max_request_bytes is None:
            object.__setattr__(self, "max_request_bytes", 4 * self.max_file_bytes + MIB)
        elif self.max_request_bytes < 1:
            raise InvalidValueError("max_request_bytes must be at least 1", fix="give a positive size")
