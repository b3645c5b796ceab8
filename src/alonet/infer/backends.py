"""Inference engines: PyTorch and ONNX Runtime behind one small interface.

A backend maps a task (``scalp-temporal``, ``scalp-midline``, ``hairloss``) and
a batch of uint8 RGB images already resized to that model's ``input_size`` to
the region probability maps (float32 (N, S, S), 0..1). Pre-processing is the
shared ``alonet.model.normalize_images``, so both engines see the same numbers.

Both backends are safe to call from several threads at once: they hold only
read-only state after construction (torch modules in eval mode under
``inference_mode``; ONNX Runtime sessions, whose ``run`` is thread-safe).

``backend="auto"`` picks ONNX Runtime, which runs these U-Nets several times
faster than eager PyTorch on CPU (see ``benchmarks/bench_inference.py``). When
exports are already on disk -- ``<stem>.onnx`` (or ``<stem>.int8.onnx`` for
``precision="int8"``) beside each model's JSON, written by ``alonet export
--into``, or an earlier export in the cache folder (``$ALONET_CACHE_DIR``,
else ``$XDG_CACHE_HOME/alonet``, else ``~/.cache/alonet``) -- the engine
starts without importing torch or onnx (``alonet.infer.onnx_runtime``; a file
whose recorded weights-and-configuration key does not match the model's JSON
is ignored). Otherwise the networks are loaded with PyTorch and exported once
into the cache. If ONNX Runtime or the export is unavailable it falls back to
PyTorch with a warning. It never writes into the installed package.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from alonet.errors import AloNetError, InvalidValueError, ModelError
from alonet.infer.export import export_onnx
from alonet.infer.onnx_runtime import (
    cache_file_name,
    check_precision,
    export_key,
    find_exports,
    matching_session,
    model_key,
    onnx_file_name,
    out_of_memory,
    open_session,
)
from alonet.model import load_model, normalize_images, resolve_model_set
from alonet.model.config import TASKS, ModelConfig

LOG = logging.getLogger(__name__)

BACKENDS: tuple[str, ...] = ("auto", "torch", "onnx")


class Backend(Protocol):
    """What the pipeline needs from an inference engine."""

    name: str

    @property
    def configs(self) -> Mapping[str, ModelConfig]: ...

    def predict(self, task: str, images: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) -> float32 probabilities (N, S, S)."""


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

        from alonet.model.unet import probabilities

        cfg = self.configs[task]
        x = torch.from_numpy(normalize_images(_check_batch(task, images, cfg), cfg))
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            prob = probabilities(self._models[task](x), cfg)
        return np.ascontiguousarray(prob.numpy(), dtype=np.float32)


class OnnxBackend:
    """ONNX Runtime on CPU: ``threads`` intra-op threads (None: available cores), no spin-waiting.

    ``sessions`` (``{task: open session}``, see ``alonet.infer.onnx_runtime``)
    skips opening the files again when they were already opened to check them.
    """

    name = "onnx"

    def __init__(self, onnx_paths: Mapping[str, str | Path], configs: Mapping[str, ModelConfig],
                 threads: int | None = None, *, sessions: Mapping | None = None, precision: str = "fp32"):
        self.paths = {task: Path(p) for task, p in onnx_paths.items()}
        self.precision = precision
        self._sessions = {}
        for task, path in self.paths.items():
            session = (sessions or {}).get(task) or open_session(path, threads)
            self._sessions[task] = (session, session.get_inputs()[0].name)
        self.configs = dict(configs)

    def predict(self, task: str, images: np.ndarray) -> np.ndarray:
        cfg = self.configs[task]
        x = normalize_images(_check_batch(task, images, cfg), cfg)
        session, input_name = self._sessions[task]
        try:
            out = session.run(None, {input_name: x})[0]
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own types; memory is the one users can act on
            if out_of_memory(exc):
                raise MemoryError(f"out of memory running the {task} network") from None
            raise
        return np.ascontiguousarray(out, dtype=np.float32)


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
    """Find or create the fp32 ONNX file of one loaded network; raise ModelError if impossible."""
    key = model_key(json_path)[0] if json_path is not None else None
    if json_path is not None:
        beside = json_path.with_suffix(".onnx")
        if matching_session(beside, key, "fp32", 1) is not None:
            return beside
    key = key or export_key(_state_sha256(model), cfg)
    cached = cache / cache_file_name(task, key, cfg.input_size)
    if matching_session(cached, key, "fp32", 1) is not None:
        return cached
    if not allow_export:
        raise ModelError(f"no ONNX export of the {task} model", fix="run alonet export --into MODEL_SET")
    try:
        cache.mkdir(parents=True, exist_ok=True)
        return export_onnx(model, cfg, cached, source_sha256=key)
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX cache {cache} ({exc.strerror})",
                         fix="set ALONET_CACHE_DIR to a writable folder, or use --backend torch") from None


def load_models(models) -> tuple[dict[str, tuple], dict[str, Path | None]]:
    """Load a model spec -> ``({task: (model, cfg)}, {task: json path or None})``.

    ``models`` is ``"default"``, a model-set folder, a training-run folder, or a
    dict ``{task: (model, cfg)}`` / ``{task: path}``.
    """
    if isinstance(models, Mapping):
        missing = [t for t in TASKS if t not in models]
        if missing:
            raise ModelError(f"model set lacks {', '.join(missing)}", fix=f"give all of {', '.join(TASKS)}")
        loaded: dict[str, tuple] = {}
        sources: dict[str, Path | None] = {}
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


def _ready_exports(models, cache: Path, precision: str, threads: int | None):
    """The torch-free start: open exports that are already on disk, or None."""
    if isinstance(models, Mapping):
        if not all(isinstance(models.get(t), (str, Path)) for t in TASKS):
            return None
        json_paths = {t: Path(models[t]).with_suffix(".json") for t in TASKS}
    else:
        json_paths = resolve_model_set(models)
    found = find_exports(json_paths, cache, precision=precision, threads=threads)
    if found is None:
        return None
    sessions, paths, configs = found
    return OnnxBackend(paths, configs, threads, sessions=sessions, precision=precision)


def _present_exports(models, precision: str) -> list[str]:
    """Names of the ``precision`` exports that lie beside a model set on disk (usable or not)."""
    if not isinstance(models, (str, Path)):
        return []
    try:
        jsons = resolve_model_set(models)
    except (AloNetError, OSError, ValueError):
        return []
    names = [onnx_file_name(path.stem, precision) for path in jsons.values()]
    return [name for path, name in zip(jsons.values(), names) if (path.parent / name).is_file()]


def create_backend(models, backend: str = "auto", *, cache_dir: str | Path | None = None,
                   threads: int | None = None, channels_last: bool = True,
                   precision: str = "fp32") -> Backend:
    """Load ``models`` (see :func:`load_models`) and return the chosen engine.

    With ONNX exports already on disk (beside the models or in the cache) the
    ONNX Runtime engine starts without importing torch. ``precision="int8"``
    needs an int8 export beside the models (``alonet export --int8 --into``).
    """
    if backend not in BACKENDS:
        raise InvalidValueError(f"unknown backend {backend!r}", fix="use auto, torch or onnx")
    check_precision(precision)
    if precision != "fp32" and backend == "torch":
        raise InvalidValueError(f"{precision} inference runs on ONNX Runtime only",
                                fix="use --backend auto or onnx, or --precision fp32")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if backend != "torch":
        try:
            ready = _ready_exports(models, cache, precision, threads)
        except ImportError as exc:
            if backend == "onnx" or precision != "fp32":
                raise ModelError(f"ONNX Runtime backend unavailable ({exc})", fix="use --backend torch") from None
            ready = None
        if ready is not None:
            return ready
        if precision != "fp32":
            present = _present_exports(models, precision)
            if present:  # there, but truncated, damaged or made from other weights
                raise ModelError(f"the {precision} export beside the model set {models} cannot be used "
                                 f"({', '.join(present)}: damaged, made from other weights or by an older AloNet)",
                                 fix=f"run alonet export --{precision} --into MODEL_SET again, or use --precision fp32")
            raise ModelError(f"no {precision} export of the model set {models}",
                             fix=f"run alonet export --{precision} --into MODEL_SET and pass --model MODEL_SET, "
                                 "or use --precision fp32")
    loaded, sources = load_models(models)
    configs = {task: cfg for task, (_, cfg) in loaded.items()}
    if backend == "torch":
        return TorchBackend(loaded, channels_last=channels_last)
    try:
        paths = {task: _onnx_for(task, model, cfg, sources[task], cache, allow_export=True)
                 for task, (model, cfg) in loaded.items()}
        return OnnxBackend(paths, configs, threads=threads)
    except (ModelError, ImportError, RuntimeError) as exc:
        if backend == "onnx":
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"ONNX Runtime backend unavailable ({exc})", fix="use --backend torch") from None
        LOG.warning("ONNX Runtime backend unavailable (%s); using PyTorch", exc)
        return TorchBackend(loaded, channels_last=channels_last)
