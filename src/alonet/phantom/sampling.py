"""Random draws shared by the phantom generator and the appearance renderer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def weighted_choice(rng: np.random.Generator, names: Sequence[str], weights: Sequence[float]) -> str:
    """One of ``names``, drawn with probability proportional to ``weights``.

    One ``rng.choice`` call on float probabilities: changing how this draws changes
    every phantom made from a seed.
    """
    p = np.asarray(weights, dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]
