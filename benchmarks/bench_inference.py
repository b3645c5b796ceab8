"""Latency of a full 4-view SALT assessment: bundled network vs the study's network,
PyTorch vs ONNX Runtime, all measured in this one process.

One assessment = ``Pipeline.score_visit`` on four phantom photographs given as
JPEG bytes: decode, resize, two scalp passes (batched per network), one
hair-loss pass of four, the view checks' eight further scalp passes (on by
default), post-processing, masks at the photographs' size, quality checks, SALT. Reported: the median wall time over ``--repeats`` runs
after one warm-up, the part of it spent inside the networks, and the ratio
to the study-width network on the same engine.

    python benchmarks/bench_inference.py              # default run, about a minute on 2 cores
    python benchmarks/bench_inference.py --repeats 9 --photo-side 2048

The "bundled" row uses the bundled default model when it is installed, else a
randomly initialised model set of the architecture named by ``--bundled-width``
and ``--bundled-depth`` (latency does not depend on the weights). The study
network is width 64, depth 4 (64-1024 channels), 320 x 320 input.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_args import positive_int, run

TARGET_SECONDS = 0.4


def phantom_photos(side: int, seed: int = 0) -> dict[str, bytes]:
    """Four phantom photographs (JPEG bytes) of one patient, longer side ``side``."""
    import cv2
    from PIL import Image

    from alonet.phantom.render import render_view, sample_look

    rng = np.random.default_rng(seed)
    look = sample_look(rng)
    scalp = np.zeros((480, 640), np.uint8)
    cv2.ellipse(scalp, (320, 260), (240, 180), 0, 0, 360, 1, -1)
    loss = np.zeros_like(scalp)
    cv2.circle(loss, (280, 240), 80, 1, -1)
    photos = {}
    for view in ("top", "back", "left", "right"):
        rendered = render_view(scalp.astype(bool), (loss & scalp).astype(bool), view, look, rng, out_size=side)
        buffer = io.BytesIO()
        Image.fromarray(rendered.image).save(buffer, format="JPEG", quality=92)
        photos[view] = buffer.getvalue()
    return photos


class TimedBackend:
    """Wraps a backend and adds up the seconds spent in network passes."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.configs = inner.configs
        self.seconds = 0.0

    def predict(self, task, images):
        start = time.perf_counter()
        try:
            return self.inner.predict(task, images)
        finally:
            self.seconds += time.perf_counter() - start


def model_set(width: int, depth: int, size: int) -> dict:
    """One randomly initialised network per task (eval mode)."""
    import torch

    from alonet.model import ModelConfig, build_model

    torch.manual_seed(0)
    return {task: (build_model(ModelConfig(task=task, base_width=width, depth=depth, input_size=size)).eval(),
                   ModelConfig(task=task, base_width=width, depth=depth, input_size=size))
            for task in ("scalp-temporal", "scalp-midline", "hairloss")}


def make_backend(models: dict, engine: str, cache: Path):
    """A torch or ONNX backend for an in-memory model set (ONNX exported into ``cache``)."""
    from alonet.infer.backends import create_backend

    return create_backend(models, engine, cache_dir=cache)


def measure(backend, photos: dict[str, bytes], repeats: int) -> tuple[float, float]:
    """(median seconds per assessment, median seconds inside the networks)."""
    from alonet.infer import Pipeline

    timed = TimedBackend(backend)
    pipeline = Pipeline(None, backend=timed)
    pipeline.score_visit(photos)  # warm-up
    totals, nets = [], []
    for _ in range(repeats):
        timed.seconds = 0.0
        start = time.perf_counter()
        visit = pipeline.score_visit(photos)
        totals.append(time.perf_counter() - start)
        nets.append(timed.seconds)
        assert visit.views and len(visit.views) == 4
    return statistics.median(totals), statistics.median(nets)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=positive_int, default=5, help="timed runs per bundled-model row")
    parser.add_argument("--study-repeats", type=positive_int, default=1,
                        help="timed runs per study-width row (each takes seconds)")
    parser.add_argument("--photo-side", type=positive_int, default=1024, help="longer side of the test photographs")
    parser.add_argument("--bundled-width", type=positive_int, default=16)
    parser.add_argument("--bundled-depth", type=positive_int, default=4)
    parser.add_argument("--engines", default="torch,onnx", help="comma-separated: torch,onnx")
    parser.add_argument("--skip-study", action="store_true", help="only the bundled model")
    parser.add_argument("--model", action="append", default=[], metavar="SPEC",
                        help="also time this model set (folder or run; repeat), e.g. a candidate")
    args = parser.parse_args(argv)

    import torch

    from alonet.errors import ModelError
    from alonet.infer.onnx_runtime import available_threads
    from alonet.model import load_model_set

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    photos = phantom_photos(args.photo_side)
    try:
        bundled = load_model_set("default")
        bundled_label = "bundled (default model)"
    except ModelError:
        bundled = model_set(args.bundled_width, args.bundled_depth, 320)
        bundled_label = f"bundled arch. (width {args.bundled_width}, random weights)"
    cfg, scalp_cfg = bundled["hairloss"][1], bundled["scalp-midline"][1]
    bundled_label += f", {cfg.encoder} w{cfg.base_width} d{cfg.depth}, {scalp_cfg.input_size}/{cfg.input_size}px"
    rows = [(bundled_label, bundled, args.repeats)]
    for spec in args.model:
        if spec == "default":
            continue  # the bundled model is always the first row
        extra = load_model_set(spec)
        cfg = extra["hairloss"][1]
        rows.append((f"{Path(spec).name} ({cfg.encoder}, {cfg.input_size}px)", extra, args.repeats))
    if not args.skip_study:
        rows.append(("study U-Net (width 64, depth 4, 320px)", model_set(64, 4, 320), args.study_repeats))

    print(f"4-view SALT assessment, photographs {args.photo_side}px long side (JPEG bytes in), "
          f"{available_threads()} threads, torch {torch.__version__}")
    results: dict[tuple[str, str], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as cache:
        for label, models, repeats in rows:
            for engine in engines:
                backend = make_backend(models, engine, Path(cache))
                results[(label, engine)] = measure(backend, photos, repeats)
                total, net = results[(label, engine)]
                print(f"  measured {label} / {engine}: {total:.3f} s", file=sys.stderr, flush=True)

    header = f"{'model':<58} {'engine':<6} {'s/patient':>9} {'networks':>9} {'vs study':>9} {'vs torch':>9}"
    print(header)
    print("-" * len(header))
    study_label = rows[-1][0] if not args.skip_study else None
    for label, _, _ in rows:
        for engine in engines:
            total, net = results[(label, engine)]
            study = results.get((study_label, engine)) if study_label else None
            torch_total = results.get((label, "torch"), (None,))[0]
            vs_study = f"{study[0] / total:8.1f}x" if study else "      n/a"
            vs_torch = f"{torch_total / total:8.1f}x" if torch_total else "      n/a"
            print(f"{label:<58} {engine:<6} {total:9.3f} {net:9.3f} {vs_study:>9} {vs_torch:>9}")
    best = min(results[(rows[0][0], e)][0] for e in engines)
    verdict = "meets" if best <= TARGET_SECONDS else "misses"
    print(f"target {TARGET_SECONDS:.1f} s per 4-view patient: bundled model {best:.3f} s ({verdict} it)")
    return 0


if __name__ == "__main__":
    run(main)
