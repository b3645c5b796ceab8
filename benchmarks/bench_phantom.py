"""Speed of phantom generation per view at a 320-px long side, in this process.

Rows (median milliseconds per view over ``--views`` views, one core):

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

from alonet.phantom.generate import ViewSource, procedural_frame, procedural_states, real_geometry, rng_for
from alonet.phantom.patterns import rasterize
from alonet.phantom.realmasks import RealMaskSet
from alonet.phantom.render import render_view, sample_look
from alonet.views import VIEWS

DEFAULT_MASKS = Path(__file__).resolve().parents[2] / "shared" / "data" / "alonet-annotations"


def _median_ms(samples: list[float]) -> float:
    return 1000.0 * statistics.median(samples)


def bench(views: int, size: int, masks_dir: Path | None) -> list[tuple[str, float]]:
    seed = 0
    geometry_times, view_times = [], []
    states, per_view_state = {}, 0.0
    for i in range(views):
        patient, view = i // 4, VIEWS[i % 4]
        if view == "top":  # a patient's pattern states are made once for its four views
            t = time.perf_counter()
            _, states = procedural_states(seed, patient, 1)
            per_view_state = (time.perf_counter() - t) / 4
        t0 = time.perf_counter() - per_view_state
        scalp, _ = procedural_frame(seed, patient, view, size)
        loss, thinning = rasterize(states[view][0], scalp)
        t1 = time.perf_counter()
        look = sample_look(rng_for(seed, patient, "look"))
        render_view(scalp, loss, view, look, rng_for(seed, patient, 1, view, "render"), thinning=thinning)
        t2 = time.perf_counter()
        geometry_times.append(t1 - t0)
        view_times.append(t2 - t0)
    rows = [("masks only (baseline)", _median_ms(geometry_times)), ("procedural view", _median_ms(view_times))]
    if masks_dir is not None:
        masks = RealMaskSet(masks_dir)
        files = [r.file for r in masks.records[:: max(1, len(masks.records) // views)]][:views]
        read_times, real_times = [], []
        for i, file in enumerate(files):
            t0 = time.perf_counter()
            masks.load(file, size)
            t1 = time.perf_counter()
            info = masks.shape(file)
            view = ("left" if not info.mirrored else "right") if info.kind == "temporal" else VIEWS[i % 2]
            geo = real_geometry(masks, ViewSource(file, info.mirrored), view, size, seed, i, 1)
            look = sample_look(rng_for(seed, i, "look"))
            render_view(geo.scalp, geo.hairloss, view, look, rng_for(seed, i, 1, view, "render"), thinning=geo.thinning)
            t2 = time.perf_counter()
            read_times.append(t1 - t0)
            real_times.append(t2 - t1)
        rows += [("real masks: read + reduce", _median_ms(read_times)), ("real-mask view (cached)", _median_ms(real_times))]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=24, help="views timed per row")
    parser.add_argument("--size", type=int, default=320, help="long side of the photographs")
    parser.add_argument("--masks", type=Path, default=DEFAULT_MASKS, help="shared annotations ('' to skip)")
    args = parser.parse_args()
    masks = args.masks if str(args.masks) and (args.masks / "manifest.csv").is_file() else None
    # warm-up: imports, allocator, OpenCV thread pools
    bench(2, args.size, None)
    rows = bench(args.views, args.size, masks)
    base = rows[0][1]
    print(f"phantom generation, long side {args.size} px, median of {args.views} views")
    print(f"{'':28s} {'ms/view':>9s} {'x baseline':>11s}")
    for name, ms in rows:
        print(f"{name:28s} {ms:9.1f} {ms / base:11.1f}")
    if masks is None:
        print("(real-mask rows skipped: no annotations at --masks)")


if __name__ == "__main__":
    main()
