"""Blueprints of the web application (see ``alonet.web.app``)."""
