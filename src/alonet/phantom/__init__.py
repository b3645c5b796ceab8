"""Phantoms: synthetic clinical photographs of alopecia areata with exact truth.

Stages: :mod:`.geometry` (procedural scalp regions per view), :mod:`.patterns`
(alopecia-areata patterns and their change between visits), :mod:`.realmasks`
(the shared real annotations: view inference, mirroring, patient split),
:mod:`.render` (appearance: head, hair, skin, camera), :mod:`.generate`
(patients in memory) and :mod:`.writer` (a dataset folder on disk, the layout a
real user brings). ``render_patient`` is the in-memory entry point.
"""

from alonet.phantom.generate import PhantomView, PhantomVisit, render_patient

__all__ = ["PhantomView", "PhantomVisit", "render_patient"]
