"""Load test of the web application: concurrent ``POST /api/score`` on loopback.

Starts ``alonet serve`` (waitress) as a subprocess on 127.0.0.1 with a free
port, sends ``--requests`` four-view scoring requests from ``--concurrency``
client threads at once, and prints requests/s, errors, latency percentiles and
the server process's peak memory (its RSS high-water mark, ``VmHWM``). The
baseline, measured in the same run against the same server, is the same
requests sent one after another: the ratio shows what concurrency costs or
gains (the model runs one request at a time by design, so throughput should
stay close to the sequential rate while memory stays bounded).

    python benchmarks/bench_web_load.py                      # 50 concurrent requests
    python benchmarks/bench_web_load.py --requests 20 --photo-side 1024 --no-masks

Bounded: at most ``--requests`` (<= 500) requests, each with a timeout, and the
whole run stops after ``--deadline`` seconds. Only 127.0.0.1 is ever contacted.
Uses the bundled default model when it is installed, else a randomly
initialised plain U-Net set (``--width``/``--depth``, 320 px; not the bundled
EfficientNet architecture, so its timings are not the bundled model's). Linux only (reads /proc for the server's memory).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

from bench_args import positive_int, run
from bench_inference import phantom_photos  # same photographs as the latency benchmark

HOST = "127.0.0.1"
VIEWS = ("top", "back", "left", "right")


def model_spec(folder: Path, width: int, depth: int) -> tuple[str, str]:
    """("default", label) when the bundled model is installed, else a random model set in ``folder``."""
    from alonet.errors import ModelError
    from alonet.model import resolve_model_set

    try:
        resolve_model_set("default")
        return "default", "bundled default model"
    except ModelError:
        import torch

        from alonet.model import ModelConfig, build_model, save_model

        torch.manual_seed(0)
        for task in ("scalp-temporal", "scalp-midline", "hairloss"):
            cfg = ModelConfig(task=task, base_width=width, depth=depth, input_size=320)
            save_model(build_model(cfg), cfg, folder / task)
        return str(folder), f"random model set (width {width}, depth {depth}, 320px; no bundled model installed)"


def multipart(photos: dict[str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body with one file field per view."""
    boundary = "alonet" + secrets.token_hex(12)
    parts = []
    for view, data in photos.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{view}"; filename="{view}.jpg"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, float, str]:
    """(HTTP status or 0 for a connection failure, seconds, error text)."""
    start = time.perf_counter()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read())
            status = response.status
            error = "" if "salt" in payload else "answer without salt"
    except urllib.error.HTTPError as exc:
        status, error = exc.code, exc.read()[:200].decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        status, error = 0, f"{type(exc).__name__}: {exc}"
    return status, time.perf_counter() - start, error


def proc_memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process in bytes, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * 1024
    return values


def start_server(model: str, backend: str, env: dict) -> tuple[subprocess.Popen, str, list[str]]:
    proc = subprocess.Popen([sys.executable, "-m", "alonet.cli.main", "serve", "--host", HOST, "--port", "0",
                             "--model", model, "--backend", backend, "--threads", "8"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def drain():
        for line in proc.stderr:
            lines.append(line.rstrip())
            match = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            if match and not found.is_set():
                url.append(match.group(1))
                found.set()
        found.set()

    threading.Thread(target=drain, daemon=True).start()
    found.wait(120)
    if not url:
        proc.kill()
        raise SystemExit("server did not start:\n" + "\n".join(lines[-15:]))
    return proc, url[0], lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=positive_int, default=50, help="concurrent requests to send (<= 500)")
    parser.add_argument("--concurrency", type=positive_int, default=50, help="client threads sending at once")
    parser.add_argument("--baseline", type=positive_int, default=3, help="sequential requests for the baseline")
    parser.add_argument("--photo-side", type=int, default=640, help="longer side of the photographs")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"))
    parser.add_argument("--width", type=int, default=16, help="width of the random model set (no bundled model)")
    parser.add_argument("--depth", type=int, default=4, help="depth of the random model set (no bundled model)")
    parser.add_argument("--no-masks", action="store_true", help="ask for numbers only (?masks=0)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds for the whole load phase")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 500 or not 1 <= args.concurrency <= 200:
        parser.error("--requests must be 1..500 and --concurrency 1..200")

    photos = phantom_photos(args.photo_side)
    body, content_type = multipart(photos)
    with tempfile.TemporaryDirectory(prefix="alonet-bench-web-") as tmp:
        model, label = model_spec(Path(tmp) / "models", args.width, args.depth)
        env = dict(os.environ, ALONET_CACHE_DIR=str(Path(tmp) / "cache"), PYTHONUNBUFFERED="1")
        proc, base_url, _ = start_server(model, args.backend, env)
        try:
            url = base_url + "api/score" + ("?masks=0" if args.no_masks else "")
            print(f"server {base_url} ({label}, backend {args.backend}); request: 4 JPEGs "
                  f"{args.photo_side}px, {len(body) / 1e6:.2f} MB{', no masks' if args.no_masks else ''}")
            status, _, error = post(url, body, content_type, args.timeout)  # warm-up (ONNX export etc.)
            if status != 200:
                raise SystemExit(f"warm-up request failed: {status} {error}")
            idle = proc_memory(proc.pid)

            sequential = []
            for _ in range(args.baseline):
                status, seconds, error = post(url, body, content_type, args.timeout)
                if status != 200:
                    raise SystemExit(f"baseline request failed: {status} {error}")
                sequential.append(seconds)
            sequential_rate = 1.0 / statistics.mean(sequential)

            results: list[tuple[int, float, str]] = []
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
                futures = [pool.submit(post, url, body, content_type, args.timeout) for _ in range(args.requests)]
                done, pending = wait(futures, timeout=args.deadline)
                for future in pending:
                    future.cancel()
                results = [f.result() for f in done]
            wall = time.perf_counter() - start
            memory = proc_memory(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    ok = [r for r in results if r[0] == 200]
    errors = len(results) - len(ok) + (args.requests - len(results))
    latencies = sorted(r[1] for r in ok)
    rate = len(ok) / wall if wall > 0 else 0.0
    print(f"baseline (sequential, {args.baseline} requests): {statistics.mean(sequential):.2f} s each, "
          f"{sequential_rate:.2f} requests/s")
    print(f"load ({args.requests} requests, {args.concurrency} at once): {wall:.1f} s, {rate:.2f} requests/s "
          f"({rate / sequential_rate:.2f}x the sequential rate), errors {errors}")
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(f"latency: median {statistics.median(latencies):.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s")
    print(f"server memory: {idle['VmRSS'] / 2**20:.0f} MiB after warm-up, "
          f"peak RSS {memory['VmHWM'] / 2**20:.0f} MiB")
    for status, _, error in [r for r in results if r[0] != 200][:5]:
        print(f"  error: {status} {error}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    run(main)
