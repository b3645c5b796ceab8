"""Phantoms: synthetic clinical photographs of alopecia areata with exact truth.

Stages: :mod:`.geometry` (procedural scalp regions per view), :mod:`.patterns`
(alopecia-areata patterns and their change between visits), :mod:`.realmasks`
(the shared real annotations: view inference, mirroring, patient split),
:mod:`.render` (appearance: head, hair, skin, camera), :mod:`.generate`
(patients in memory) and :mod:`.writer` (a dataset folder on disk, the layout a
real user brings). ``render_patient`` is the in-memory entry point.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alonet.phantom.generate import PhantomView, PhantomVisit, render_patient

__all__ = ["PhantomView", "PhantomVisit", "render_patient"]


def __getattr__(name: str):
    # The renderer loads on first use, so that inference (which only reads the
    # shape analysis of .realmasks) starts without it.
    if name in __all__:
        from alonet.phantom import generate

        return getattr(generate, name)
    raise AttributeError(f"module 'alonet.phantom' has no attribute {name!r}")
