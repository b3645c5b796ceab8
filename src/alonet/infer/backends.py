"""Inference engines: PyTorch and ONNX Runtime behind one small interface.

A backend maps a task (``scalp-temporal``, ``scalp-midline``, ``hairloss``) and
a batch of uint8 RGB images already resized to that model's ``input_size`` to
the region probability maps (float32 (N, S, S), 0..1). Pre-processing is the
shared ``alonet.model.normalize_images``, so both engines see the same numbers.

Both backends are safe to call from several threads at once: they hold only
read-only state after construction (torch modules in eval mode under
``inference_mode``; ONNX Runtime sessions, whose ``run`` is thread-safe).

``backend="auto"`` picks ONNX Runtime, which runs these U-Nets several times
faster than eager PyTorch on CPU (see ``benchmarks/bench_inference.py``): it
uses ``<task>.onnx`` lying beside a model when its recorded weights checksum
matches, otherwise it exports the model once into the cache folder
(``$ALONET_CACHE_DIR``, else ``$XDG_CACHE_HOME/alonet``, else
``~/.cache/alonet``) and reuses it afterwards. If ONNX Runtime or the export
is unavailable it falls back to PyTorch with a warning. It never writes into
the installed package.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from alonet.errors import InvalidValueError, ModelError
from alonet.model.config import TASKS, ModelConfig

log = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")


class Backend(Protocol):
    """What the pipeline needs from an inference engine."""

    name: str
    configs: Mapping[str, ModelConfig]

    def predict(self, task: str, images: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) -> float32 probabilities (N, S, S)."""


def available_threads() -> int:
    """CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_cache_dir() -> Path:
    """Where exported ONNX files are cached (see module doc)."""
    if os.environ.get("ALONET_CACHE_DIR"):
        return Path(os.environ["ALONET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alonet"


def _check_batch(task: str, images: np.ndarray, cfg: ModelConfig) -> np.ndarray:
    images = np.asarray(images)
    size = cfg.input_size
    if images.ndim != 4 or images.shape[1:] != (size, size, cfg.in_channels) or images.dtype != np.uint8:
        raise InvalidValueError(
            f"{task} model expects uint8 images of shape (N, {size}, {size}, {cfg.in_channels}); "
            f"got {images.dtype} {images.shape}"
        )
    return images


class TorchBackend:
    """Eager PyTorch: eval mode, ``inference_mode``, optional channels-last memory.

    Channels-last (NHWC) is the default of :func:`create_backend`: on CPU it ran
    these U-Nets about 20 % faster than the default layout in our measurements,
    with the same outputs (to float rounding).
    """

    name = "torch"

    def __init__(self, models: Mapping[str, tuple], channels_last: bool = False):
        import torch

        self._models = {}
        configs = {}
        for task, (model, cfg) in models.items():
            model = model.eval()
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            self._models[task] = model
            configs[task] = cfg
        self.configs = configs
        self.channels_last = channels_last

    def predict(self, task: str, images: np.ndarray) -> np.ndarray:
        import torch

        from alonet.model import normalize_images
        from alonet.model.unet import probabilities

        cfg = self.configs[task]
        x = torch.from_numpy(normalize_images(_check_batch(task, images, cfg), cfg))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            prob = probabilities(self._models[task](x), cfg)
        return np.ascontiguousarray(prob.numpy(), dtype=np.float32)


class OnnxBackend:
    """ONNX Runtime on CPU with ``intra_op_num_threads`` = available cores."""

    name = "onnx"

    def __init__(self, onnx_paths: Mapping[str, str | Path], configs: Mapping[str, ModelConfig],
                 threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads or available_threads())
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._sessions = {}
        self.paths = {task: Path(p) for task, p in onnx_paths.items()}
        for task, path in self.paths.items():
            try:
                session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises several private types
                raise ModelError(f"{path}: cannot open ONNX model ({str(exc).splitlines()[0][:200]})",
                                 fix="re-export it with alonet export --onnx, or use --backend torch") from None
            self._sessions[task] = (session, session.get_inputs()[0].name)
        self.configs = dict(configs)

    def predict(self, task: str, images: np.ndarray) -> np.ndarray:
        from alonet.model import normalize_images

        cfg = self.configs[task]
        x = normalize_images(_check_batch(task, images, cfg), cfg)
        session, input_name = self._sessions[task]
        return np.ascontiguousarray(session.run(None, {input_name: x})[0], dtype=np.float32)


# --------------------------------------------------------------------------- choosing


def _state_sha256(model) -> str:
    """Checksum of a loaded network's weights (for caching exports of in-memory models)."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _onnx_for(task: str, model, cfg: ModelConfig, json_path: Path | None, cache: Path,
              allow_export: bool) -> Path:
    """Find or create the ONNX file of one network; raise ModelError if impossible."""
    from alonet.infer.export import export_key, export_onnx, onnx_sha256, weights_sha256

    sha = weights_sha256(json_path) if json_path is not None else None
    sha = export_key(sha, cfg) if sha else None
    if json_path is not None:
        beside = json_path.with_suffix(".onnx")
        if beside.is_file() and sha and onnx_sha256(beside) == sha:
            return beside
    sha = sha or export_key(_state_sha256(model), cfg)
    cached = cache / f"{task}-{sha[:20]}-{cfg.input_size}.onnx"
    if cached.is_file() and onnx_sha256(cached) == sha:
        return cached
    if not allow_export:
        raise ModelError(f"no ONNX export of the {task} model", fix="run alonet export --onnx")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return export_onnx(model, cfg, cached, source_sha256=sha)
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX cache {cache} ({exc.strerror})",
                         fix="set ALONET_CACHE_DIR to a writable folder, or use --backend torch") from None


def load_models(models) -> tuple[dict[str, tuple], dict[str, Path | None]]:
    """Load a model spec -> ``({task: (model, cfg)}, {task: json path or None})``.

    ``models`` is ``"default"``, a model-set folder, a training-run folder, or a
    dict ``{task: (model, cfg)}`` / ``{task: path}``.
    """
    from alonet.model import load_model, resolve_model_set

    if isinstance(models, Mapping):
        missing = [t for t in TASKS if t not in models]
        if missing:
            raise ModelError(f"model set lacks {', '.join(missing)}", fix=f"give all of {', '.join(TASKS)}")
        loaded, sources = {}, {}
        for task in TASKS:
            value = models[task]
            if isinstance(value, (str, Path)):
                path = Path(value)
                loaded[task] = load_model(path)
                sources[task] = path if path.suffix == ".json" else path.with_suffix(".json")
            else:
                model, cfg = value
                loaded[task] = (model.eval(), cfg)
                sources[task] = None
    else:
        paths = resolve_model_set(models)
        loaded = {task: load_model(paths[task]) for task in TASKS}
        sources = {task: Path(paths[task]) for task in TASKS}
    for task, (_, cfg) in loaded.items():
        if cfg.task != task and not (task.startswith("scalp") and cfg.task.startswith("scalp")):
            raise ModelError(f"the model given for {task} was trained for {cfg.task}",
                             fix="pass the models of a complete model set")
    return loaded, sources


def create_backend(models, backend: str = "auto", *, cache_dir: str | Path | None = None,
                   threads: int | None = None, channels_last: bool = True) -> Backend:
    """Load ``models`` (see :func:`load_models`) and return the chosen engine."""
    if backend not in BACKENDS:
        raise InvalidValueError(f"unknown backend {backend!r}", fix="use auto, torch or onnx")
    loaded, sources = load_models(models)
    configs = {task: cfg for task, (_, cfg) in loaded.items()}
    if backend == "torch":
        return TorchBackend(loaded, channels_last=channels_last)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        paths = {task: _onnx_for(task, model, cfg, sources[task], cache, allow_export=True)
                 for task, (model, cfg) in loaded.items()}
        return OnnxBackend(paths, configs, threads=threads)
    except (ModelError, ImportError, RuntimeError) as exc:
        if backend == "onnx":
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"ONNX Runtime backend unavailable ({exc})", fix="use --backend torch") from None
        log.warning("ONNX Runtime backend unavailable (%s); using PyTorch", exc)
        return TorchBackend(loaded, channels_last=channels_last)
