"""Start-up, int8, batch throughput and memory of the inference commands, in one run.

The machine this project is developed on is shared and loaded, so absolute
seconds swing from run to run; what this script reports are ratios measured
in the same run, with min / median / max over ``--rounds`` interleaved rounds.

* cold ``alonet score``: the whole process (interpreter start, imports, model
  loading, four 1024-px JPEGs, report) with the ONNX files shipped beside the
  model set and a fresh cache folder, against a warm in-process visit on the
  same photographs; with ``--baseline-src`` (e.g. an older checkout's ``src``)
  also that code's cold score of the plain model set with its ONNX cache filled;
* warm 4-view patient: fp32 vs int8 vs the study network (width 64, depth 4,
  320 px, random weights, fp32), the ONNX Runtime engine for all;
* ``alonet batch`` as a process: visits per minute with 1 and 2 workers, and with
  2 workers and ``--no-view-checks`` (the baseline had no view checks); the
  baseline's, given ``--baseline-src``;
* peak RSS of each alonet process (its main process's ``VmHWM``; the workers
  of ``batch --workers 2`` are not counted).

    python benchmarks/bench_speed.py --baseline-src ../main/src      # about 10 minutes on 2 cores
    python benchmarks/bench_speed.py --baseline-src ../old/src --baseline-model own   # vs what its users had

The model set is ``--model`` (default: the bundled one), copied into a
temporary folder where ``alonet export --into ... --int8`` writes its ONNX
files; the copy is deleted at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_args import positive_int, run
from bench_inference import TimedBackend, model_set, phantom_photos

SRC = Path(__file__).resolve().parents[1] / "src"

#: Runs a command-line call of alonet and prints its peak RSS (KiB) as the last stderr line.
#: VmHWM, not ru_maxrss: after fork + exec ru_maxrss still counts the (large) parent.
RSS_WRAPPER = (
    "import runpy, sys\n"
    "sys.argv = ['alonet'] + sys.argv[1:]\n"
    "try:\n"
    "    runpy.run_module('alonet', run_name='__main__')\n"
    "except SystemExit as stop:\n"
    "    code = stop.code\n"
    "else:\n"
    "    code = 0\n"
    "hwm = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
    "print('maxrss_kib', hwm, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run_alonet(args: list[str], src: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one ``alonet`` process using the sources in ``src``."""
    env = dict(env, PYTHONPATH=str(src))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *args], capture_output=True, text=True, env=env,
                          check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"alonet {' '.join(args[:1])} failed:\n{done.stderr[-2000:]}")
    rss = [line for line in done.stderr.splitlines() if line.startswith("maxrss_kib")][-1]
    return seconds, int(rss.split()[1]) / 1024


def spread(values: list[float], digits: int = 2) -> str:
    return (f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f} / "
            f"{max(values):.{digits}f}")


def write_manifest(path: Path, photos: dict[str, Path], visits: int) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["patient", "visit", "view", "path"])
        for number in range(visits):
            for view, photo in photos.items():
                writer.writerow([f"P{number // 3}", number % 3, view, photo])
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=positive_int, default=5)
    parser.add_argument("--model", default="default", help="model set to measure (copied, then exported)")
    parser.add_argument("--baseline-src", type=Path, default=None,
                        help="the src folder of the code to compare with (e.g. ../main/src)")
    parser.add_argument("--baseline-model", default=None,
                        help="model set the baseline scores with: a folder, or 'own' for the baseline "
                             "checkout's bundled default (what its users had); default: the same as --model")
    parser.add_argument("--photo-side", type=positive_int, default=1024)
    parser.add_argument("--batch-visits", type=positive_int, default=8)
    parser.add_argument("--study-rounds", type=positive_int, default=2, help="warm rounds of the study network")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(SRC))
    from alonet.infer import Pipeline, PipelineConfig
    from alonet.infer.backends import create_backend
    from alonet.infer.onnx_runtime import available_threads
    from alonet.model import resolve_model_set

    work = Path(tempfile.mkdtemp(prefix="alonet-bench-"))
    try:
        models = work / "models"
        models.mkdir()
        for task, json_path in resolve_model_set(args.model).items():
            for suffix in (".json", ".safetensors"):
                shutil.copy(json_path.with_suffix(suffix), models / f"{task}{suffix}")
        plain = work / "plain"
        shutil.copytree(models, plain)
        env = dict(os.environ, ALONET_CACHE_DIR=str(work / "cache-export"))
        start = time.perf_counter()
        run_alonet(["export", "--into", str(models), "--int8"], SRC, env)
        export_seconds = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size / 1e6 for p in sorted(models.glob("*.onnx"))}

        photos = {}
        for view, data in phantom_photos(args.photo_side).items():
            photos[view] = work / f"{view}.jpg"
            photos[view].write_bytes(data)
        score_args = [a for v, p in photos.items() for a in (f"--{v}", str(p))]

        # warm pipelines in this process (the denominators)
        encoded = {v: p.read_bytes() for v, p in photos.items()}
        fp32 = Pipeline(models, config=PipelineConfig(precision="fp32"))
        int8 = Pipeline(models, config=PipelineConfig(precision="int8"))
        study_backend = TimedBackend(create_backend(model_set(64, 4, 320), "onnx", cache_dir=work / "cache-study"))
        study = Pipeline(None, backend=study_backend)
        for pipeline in (fp32, int8, study):
            pipeline.score_visit(encoded)

        def warm(pipeline) -> float:
            start = time.perf_counter()
            pipeline.score_visit(encoded)
            return time.perf_counter() - start

        if args.baseline_model is None:
            base_model = str(plain)
        elif args.baseline_model == "own":
            base_model = "default"  # resolved by the baseline's own code: its bundled model
        else:
            base_model = str(Path(args.baseline_model).resolve())
        if args.baseline_src is not None:  # fill the baseline's ONNX cache once (not timed)
            base_env = dict(os.environ, ALONET_CACHE_DIR=str(work / "cache-baseline"))
            run_alonet(["score", *score_args, "-o", str(work / "r0"), "--model", base_model],
                       args.baseline_src.resolve(), base_env)

        manifest = write_manifest(work / "trial.csv", photos, args.batch_visits)
        rows: dict[str, list[float]] = {}

        def add(key: str, value: float) -> None:
            rows.setdefault(key, []).append(value)

        for number in range(args.rounds):
            print(f"round {number + 1}/{args.rounds}", file=sys.stderr, flush=True)
            fresh = dict(os.environ, ALONET_CACHE_DIR=str(work / f"cache-fresh-{number}"))
            seconds, rss = run_alonet(["score", *score_args, "-o", str(work / f"r{number}-new"),
                                       "--model", str(models)], SRC, fresh)
            add("cold score", seconds)
            add("cold score rss", rss)
            add("warm fp32", warm(fp32))
            add("warm int8", warm(int8))
            if number < args.study_rounds:
                add("warm study", warm(study))
            for workers in (1, 2):
                seconds, rss = run_alonet(["batch", str(manifest), "-o", str(work / f"b{number}-{workers}"),
                                           "--model", str(models), "--workers", str(workers), "--no-plots"],
                                          SRC, fresh)
                add(f"batch {workers}", 60 * args.batch_visits / seconds)
                add(f"batch {workers} rss", rss)
            seconds, _ = run_alonet(["batch", str(manifest), "-o", str(work / f"b{number}-nochecks"),
                                     "--model", str(models), "--workers", "2", "--no-plots", "--no-view-checks"],
                                    SRC, fresh)
            add("batch no checks", 60 * args.batch_visits / seconds)
            if args.baseline_src is not None:
                seconds, rss = run_alonet(["score", *score_args, "-o", str(work / f"r{number}-old"),
                                           "--model", base_model], args.baseline_src.resolve(), base_env)
                add("baseline cold score", seconds)
                add("baseline cold score rss", rss)
                seconds, _ = run_alonet(["batch", str(manifest), "-o", str(work / f"b{number}-old"),
                                         "--model", base_model, "--no-plots"], args.baseline_src.resolve(), base_env)
                add("baseline batch", 60 * args.batch_visits / seconds)

        n = len(rows["cold score"])
        def ratio(a, b):  # paired per round
            return [x / y for x, y in zip(rows[a], rows[b])]

        if args.baseline_src is not None:
            print(f"\nbaseline: {args.baseline_src} scoring with "
                  f"{'the same model set' if args.baseline_model is None else args.baseline_model}")
        print(f"\n{available_threads()} cores; photographs {args.photo_side} px; {n} rounds; "
              f"min / median / max. Export with --int8 took {export_seconds:.0f} s; ONNX sizes (MB): "
              + json.dumps({k: round(v, 2) for k, v in sizes.items()}))
        print(f"{'measure':<44} {'min / median / max':>28}")
        lines = [
            ("cold alonet score, s", rows["cold score"]),
            ("warm 4-view patient fp32, s", rows["warm fp32"]),
            ("warm 4-view patient int8, s", rows["warm int8"]),
            ("cold score / warm fp32 visit (x)", ratio("cold score", "warm fp32")),
            ("warm fp32 / warm int8 (x)", ratio("warm fp32", "warm int8")),
            ("warm study fp32 / warm fp32 (x)", ratio("warm study", "warm fp32")),
            ("warm study fp32 / warm int8 (x)", ratio("warm study", "warm int8")),
            ("batch visits/min, 1 worker", rows["batch 1"]),
            ("batch visits/min, 2 workers", rows["batch 2"]),
            ("batch 2 workers / 1 worker (x)", ratio("batch 2", "batch 1")),
            ("batch visits/min, 2 workers, --no-view-checks", rows["batch no checks"]),
            ("peak RSS cold score, MiB", rows["cold score rss"]),
            ("peak RSS batch 1 worker (parent), MiB", rows["batch 1 rss"]),
        ]
        if args.baseline_src is not None:
            lines += [
                ("baseline cold score (cache filled), s", rows["baseline cold score"]),
                ("baseline cold / new cold (x)", ratio("baseline cold score", "cold score")),
                ("baseline batch visits/min", rows["baseline batch"]),
                ("new batch (2 workers) / baseline batch (x)", ratio("batch 2", "baseline batch")),
                ("new batch --no-view-checks / baseline batch (x)", ratio("batch no checks", "baseline batch")),
                ("peak RSS baseline cold score, MiB", rows["baseline cold score rss"]),
            ]
        for label, values in lines:
            if not values:
                continue
            print(f"{label:<44} {spread(values):>28}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    run(main)
