"""Adapting AloNet to a clinic's own photographs (``alonet adapt``).

The loop a clinic runs: score visits, correct the masks in the web app, mark
the visits reviewed, then ``alonet adapt STORE -o MODEL_DIR`` fine-tunes the
current model on them and reports, on patients it did not learn from, how
much better (or not) the adapted model is. This stage sits after ``web``
because a store is one of its sources.
"""

from __future__ import annotations

from alonet.adapt.config import AdaptConfig, AdaptResult
from alonet.adapt.run import adapt

__all__ = ["AdaptConfig", "AdaptResult", "adapt"]
