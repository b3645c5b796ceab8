"""The exported graph as trained vs rearranged (``export_onnx(rearrange=...)``), in one process.

Both exports come from the same networks of one model set. "As trained" is the
graph operation for operation (a ``Pad`` before each stride-2 convolution, a
``Concat`` in each decoder step); "rearranged" is what ``alonet export`` and
the ONNX cache write (``alonet.infer.export_form``, ``alonet.infer.onnx_passes``).
Reported: the median time of one ONNX Runtime pass per network at the batch
sizes a visit uses, and of a whole 4-view visit (``Pipeline.score_visit`` on four
JPEGs, view checks on), runs interleaved, with the ratio rearranged / as
trained and the largest difference of the probabilities and SALTs.

    python benchmarks/bench_export_form.py                    # about a minute on 2 cores
    python benchmarks/bench_export_form.py --model candidates/effl0-norwood --repeats 21
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from bench_args import positive_int, run
from bench_inference import phantom_photos

#: Batch sizes of each network's passes in a 4-view visit with view checks.
BATCHES = {"scalp-midline": (2,), "scalp-temporal": (2, 3), "hairloss": (4,)}


def exports(models: str, folder: Path) -> dict[str, dict[str, Path]]:
    """``{form: {task: onnx path}}`` for ``form`` in ("as trained", "rearranged")."""
    from alonet.infer.export import export_onnx
    from alonet.model import load_model_set

    loaded = load_model_set(models)
    out: dict[str, dict[str, Path]] = {}
    for form, rearrange in (("as trained", False), ("rearranged", True)):
        out[form] = {task: export_onnx(model, cfg, folder / f"{task}-{int(rearrange)}.onnx", rearrange=rearrange)
                     for task, (model, cfg) in loaded.items()}
    return out


def interleaved(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each call, the calls taking turns (after one warm-up each)."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model set (default: the bundled one)")
    parser.add_argument("--repeats", type=positive_int, default=15, help="timed runs per measurement")
    parser.add_argument("--photo-side", type=positive_int, default=1024, help="longer side of the photographs")
    args = parser.parse_args(argv)

    from alonet.infer import Pipeline
    from alonet.infer.backends import OnnxBackend
    from alonet.infer.onnx_runtime import available_threads, open_session
    from alonet.model import load_model_set

    configs = {task: cfg for task, (_, cfg) in load_model_set(args.model).items()}
    rng = np.random.default_rng(0)
    print(f"model {args.model}, {available_threads()} threads, median of {args.repeats} interleaved runs")
    print(f"{'measure':<34} {'as trained':>11} {'rearranged':>11} {'ratio':>7} {'max |diff|':>11}")
    with tempfile.TemporaryDirectory() as work:
        files = exports(args.model, Path(work))
        for task, batches in BATCHES.items():
            size = configs[task].input_size
            sessions = {form: open_session(paths[task]) for form, paths in files.items()}
            for batch in batches:
                x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
                feeds = {form: {s.get_inputs()[0].name: x} for form, s in sessions.items()}
                median = interleaved({form: (lambda s=s, f=feeds[form]: s.run(None, f))
                                      for form, s in sessions.items()}, args.repeats)
                got = [s.run(None, feeds[form])[0] for form, s in sessions.items()]
                diff = float(np.max(np.abs(got[0] - got[1])))
                print(f"{task + f' pass, batch {batch}':<34} {1000 * median['as trained']:9.1f}ms "
                      f"{1000 * median['rearranged']:9.1f}ms {median['rearranged'] / median['as trained']:6.2f}x "
                      f"{diff:11.1e}")
        photos = phantom_photos(args.photo_side)
        pipelines = {form: Pipeline(None, backend=OnnxBackend(paths, configs)) for form, paths in files.items()}
        median = interleaved({form: (lambda p=p: p.score_visit(photos)) for form, p in pipelines.items()},
                             args.repeats)
        salts = [p.score_visit(photos).salt for p in pipelines.values()]
        print(f"{'4-view visit (s per patient)':<34} {median['as trained']:10.3f}s {median['rearranged']:10.3f}s "
              f"{median['rearranged'] / median['as trained']:6.2f}x {abs(salts[0] - salts[1]):11.1e}")
    return 0


if __name__ == "__main__":
    run(main)
