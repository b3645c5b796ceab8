"""The visit store's own errors (both say how to fix what went wrong)."""

from __future__ import annotations

from alonet.errors import AloNetError


class StoreError(AloNetError):
    """The store folder or database cannot be used as it is."""


class VisitChangedError(StoreError):
    """A stored visit changed (saved from another page) since the page saving over it opened it."""

    @classmethod
    def since_opened(cls, visit_id: int) -> VisitChangedError:
        """The error of a save or review mark from a page opened before another page's save."""
        return cls(f"visit {visit_id} was saved from another page since this one opened it",
                   fix="open the visit again from its page to see those changes, then correct and save")


class DamagedRecordError(StoreError):
    """A value in the store's database cannot be read back (edited by hand or damaged on disk)."""

    @classmethod
    def of_visit(cls, visit_id: int, what: str) -> DamagedRecordError:
        return cls(f"visit {visit_id}'s {what} in the store's database cannot be read (damaged or edited by hand)",
                   fix="restore the store folder from a backup, or undo the hand edit of the database")
