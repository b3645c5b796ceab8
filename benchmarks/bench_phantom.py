"""Speed of phantom generation per view at a 320-px long side, in this process.

Rows (median milliseconds per view over ``--views`` views, OpenCV limited to
one thread; wall time and this thread's CPU time, which a busy shared machine
disturbs less):

- ``masks only`` (the baseline): procedural scalp region plus the
  hair-loss pattern and thinning map rasterised on it (with a quarter of the
  patient's pattern sampling) -- what a phantom costs before any pixel of a
  photograph is drawn;
- ``procedural view``: the baseline plus ``render_view`` (head, hair, skin,
  camera, JPEG round trip) -- one finished photograph with its masks;
- ``real masks: read + reduce``: reading one real scalp/hair-loss annotation
  pair at camera resolution and reducing it to 320 px (uncached);
- ``real-mask view``: a real pair from the in-memory cache, canonical
  orientation, thinning map and ``render_view``.

Each row is also given as a ratio to the baseline. The real rows need the
shared annotations (``--masks``, default ``../shared/data/alonet-annotations``).

    python benchmarks/bench_phantom.py                 # about half a minute
    python benchmarks/bench_phantom.py --views 40 --size 640
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
from bench_args import positive_int, run

from alonet.phantom.generate import ViewSource, procedural_frame, procedural_states, real_geometry, rng_for
from alonet.phantom.patterns import rasterize
from alonet.phantom.realmasks import RealMaskSet
from alonet.phantom.render import render_view, sample_look
from alonet.views import VIEWS

DEFAULT_MASKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "alonet-annotations"


def _now() -> tuple[float, float]:
    """(wall, this thread's CPU) seconds."""
    return time.perf_counter(), time.thread_time()


def _since(t: tuple[float, float], extra: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    w, c = _now()
    return w - t[0] + extra[0], c - t[1] + extra[1]


def _median_ms(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and CPU milliseconds."""
    return (1000.0 * statistics.median(s[0] for s in samples), 1000.0 * statistics.median(s[1] for s in samples))


def bench(views: int, size: int, masks_dir: Path | None) -> list[tuple[str, tuple[float, float]]]:
    seed = 0
    geometry_times, view_times = [], []
    states, state_cost = {}, (0.0, 0.0)
    for i in range(views):
        patient, view = i // 4, VIEWS[i % 4]
        if view == "top":  # a patient's pattern states are made once for its four views
            t = _now()
            _, states = procedural_states(seed, patient, 1)
            state_cost = tuple(x / 4 for x in _since(t))
        t0 = _now()
        scalp, _ = procedural_frame(seed, patient, view, size)
        loss, thinning = rasterize(states[view][0], scalp)
        geometry_times.append(_since(t0, state_cost))
        look = sample_look(rng_for(seed, patient, "look"))
        render_view(scalp, loss, view, look, rng_for(seed, patient, 1, view, "render"), thinning=thinning)
        view_times.append(_since(t0, state_cost))
    rows = [("masks only (baseline)", _median_ms(geometry_times)), ("procedural view", _median_ms(view_times))]
    if masks_dir is not None:
        masks = RealMaskSet(masks_dir)
        files = [r.file for r in masks.records[:: max(1, len(masks.records) // views)]][:views]
        read_times, real_times = [], []
        for i, file in enumerate(files):
            t0 = _now()
            masks.load(file, size)
            read_times.append(_since(t0))
            t1 = _now()
            info = masks.shape(file)
            view = ("left" if not info.mirrored else "right") if info.kind == "temporal" else VIEWS[i % 2]
            geo = real_geometry(masks, ViewSource(file, info.mirrored), view, size, seed, i, 1)
            look = sample_look(rng_for(seed, i, "look"))
            render_view(geo.scalp, geo.hairloss, view, look, rng_for(seed, i, 1, view, "render"), thinning=geo.thinning)
            real_times.append(_since(t1))
        rows += [("real masks: read + reduce", _median_ms(read_times)), ("real-mask view (cached)", _median_ms(real_times))]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=positive_int, default=24, help="views timed per row")
    parser.add_argument("--size", type=positive_int, default=320, help="long side of the photographs")
    parser.add_argument("--masks", type=Path, default=DEFAULT_MASKS, help="shared annotations ('' to skip)")
    args = parser.parse_args()
    masks = args.masks if str(args.masks) and (args.masks / "manifest.csv").is_file() else None
    cv2.setNumThreads(1)  # one core, as the speed target is stated
    bench(2, args.size, None)  # warm-up: imports, allocator
    rows = bench(args.views, args.size, masks)
    base_wall, base_cpu = rows[0][1]
    print(f"phantom generation, long side {args.size} px, one thread, median of {args.views} views")
    print(f"{'':28s} {'wall ms':>8s} {'CPU ms':>8s} {'x baseline (CPU)':>17s}")
    for name, (wall, cpu) in rows:
        print(f"{name:28s} {wall:8.1f} {cpu:8.1f} {cpu / base_cpu:17.1f}")
    if masks is None:
        print("(real-mask rows skipped: no annotations at --masks)")


if __name__ == "__main__":
    run(main)
