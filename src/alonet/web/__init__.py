"""The AloNet web application (Flask, served by waitress via ``alonet serve``).

``create_app(WebConfig(...))`` builds the app; see ``alonet.web.app`` for the
routes and ``alonet.web.security`` for the safety rules (loopback unless a
token is given, CSRF, Content-Security-Policy).
"""

from alonet.web.app import create_app
from alonet.web.config import WebConfig

__all__ = ["WebConfig", "create_app"]
