"""Timing of the renderer, for benchmarks (never asserted in tests).

``time_views`` renders given canonical masks and returns the CPU seconds each
view took (``time.process_time``, which counts this process only and so is
less disturbed by other jobs on the machine than wall time). Benchmarks feed
it the geometry they care about and print the figures against a baseline run
in the same process.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np

from alonet.phantom.render.camera import CameraConfig
from alonet.phantom.render.compose import render_view
from alonet.phantom.render.look import sample_look


def time_views(
    cases: Iterable[tuple[np.ndarray, np.ndarray, str, np.ndarray | None]],
    out_size: int | None = 320,
    seed: int = 0,
    camera: CameraConfig | None = None,
    warmup: int = 2,
) -> list[float]:
    """CPU seconds per rendered view for ``cases`` of (scalp, hairloss, view,
    thinning); each case gets a fresh patient look. The first ``warmup``
    cases are rendered once untimed (imports, allocator, caches)."""
    rng = np.random.default_rng(seed)
    cases = list(cases)
    for scalp, loss, view, thin in cases[:warmup]:
        render_view(scalp, loss, view, sample_look(rng), rng, out_size=out_size, thinning=thin, camera=camera)
    times = []
    for scalp, loss, view, thin in cases:
        look = sample_look(rng)
        t0 = time.process_time()
        render_view(scalp, loss, view, look, rng, out_size=out_size, thinning=thin, camera=camera)
        times.append(time.process_time() - t0)
    return times
