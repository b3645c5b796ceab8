"""The visit store's own errors (both say how to fix what went wrong)."""

from __future__ import annotations

from alonet.errors import AloNetError


class StoreError(AloNetError):
    """The store folder or database cannot be used as it is."""


class VisitChangedError(StoreError):
    """A stored visit changed (saved from another page) since the page saving over it opened it."""
