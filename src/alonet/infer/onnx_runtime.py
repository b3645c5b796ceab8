"""ONNX Runtime without torch: find a model set's exported networks and open them.

This module is the fast start of every inference command. It imports neither
torch nor onnx: a model's JSON gives its configuration and weights checksum,
and an exported ``.onnx`` is accepted when the export key stored in its
metadata (read through ONNX Runtime's own session, which is opened anyway)
matches the key computed from that JSON. A stale or foreign file is skipped.

Where an export may lie, first match wins:

* beside the model: ``<stem>.onnx`` (fp32) or ``<stem>.int8.onnx`` (int8),
  written by ``alonet export --into MODEL_SET``;
* the cache folder (fp32 only): ``<task>-<key[:20]>-<size>.onnx``, written by
  the first run of a model set that ships no export.

Sessions never spin-wait (``allow_spinning = 0``): on a shared or busy machine
spinning threads steal the CPU from the threads doing the work. They also do
without ONNX Runtime's memory arena, which kept the peak of the largest batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

from alonet.errors import InvalidValueError, ModelError
from alonet.model import read_model_info
from alonet.model.config import ModelConfig

#: Numerical precisions of the exported networks.
PRECISIONS: tuple[str, ...] = ("fp32", "int8")

#: Metadata key holding the export key (weights checksum + configuration), as written by export.
SOURCE_KEY = "alonet_source_key"

#: Metadata key holding the precision of an export.
PRECISION_KEY = "alonet_precision"


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise InvalidValueError(f"unknown precision {precision!r}", fix="use fp32 or int8")
    return precision


#: Version of the exported graph's layout. Raise it when the export itself changes
#: (not the weights), so that files exported by older code are re-exported.
#: 2: stride-1 "SAME" padding inside the convolutions, a sigmoid of the logit difference
#: instead of a two-class softmax (same probabilities, faster).
#: 3: stride-2 "SAME" padding inside the convolutions too, and decoder steps that
#: convolve the skip and the upsampled features apart instead of concatenating them
#: (``alonet.infer.export_form``; same probabilities, about 1.3x faster per pass).
GRAPH_VERSION = 3


def export_key(weights_sha256: str, cfg: ModelConfig | Mapping) -> str:
    """What an export depends on: the weights, the configuration (input size,
    normalisation, class weights) and :data:`GRAPH_VERSION`. An ``.onnx`` whose
    key differs is stale. ``cfg`` is a ``ModelConfig`` or its ``to_dict()``."""
    cfg_dict = cfg.to_dict() if isinstance(cfg, ModelConfig) else dict(cfg)
    text = weights_sha256 + json.dumps(cfg_dict, sort_keys=True)
    if GRAPH_VERSION != 1:  # version 1 keys (before the constant existed) stay as they were
        text += f"graph{GRAPH_VERSION}"
    return hashlib.sha256(text.encode()).hexdigest()


def model_key(json_path: str | Path):
    """``(export key or None, ModelConfig)`` of a saved model, from its JSON alone."""
    info = read_model_info(json_path)
    cfg = info["config"]
    sha = info.get("weights_sha256")
    return (export_key(str(sha), cfg) if sha else None), cfg


def onnx_file_name(stem: str, precision: str) -> str:
    """``hairloss`` -> ``hairloss.onnx`` (fp32) / ``hairloss.int8.onnx`` (int8)."""
    return f"{stem}.onnx" if check_precision(precision) == "fp32" else f"{stem}.{precision}.onnx"


def cache_file_name(task: str, key: str, size: int) -> str:
    return f"{task}-{key[:20]}-{size}.onnx"


def session_options(threads: int | None = None):
    """ONNX Runtime options: ``threads`` intra-op threads (None: available cores), no spinning."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or available_threads())
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Errors only: graph optimisation of the EfficientNet encoder's padding arithmetic leaves
    # constants unused, and ONNX Runtime would print one warning line per constant.
    options.log_severity_level = 3
    # Without the arena a score process peaks at about 300 MiB instead of 400 MiB, for a few
    # per cent of speed (paired rounds on the loaded 2-core machine: 0.90-1.18x, median 1.03x).
    options.enable_cpu_mem_arena = False
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


#: What ONNX Runtime (C++) and the libraries under it say when memory runs out: they raise their
#: own exception types, which reached the user as a traceback or as a "cannot open ONNX model".
_OUT_OF_MEMORY = re.compile(r"\bstd::bad_alloc\b|\bbad_alloc\b|\bcannot allocate memory\b|\bout of memory\b|"
                            r"\bfailed to allocate\b", re.IGNORECASE)


def out_of_memory(exc: BaseException, path: str | Path | None = None) -> bool:
    """True when ``exc`` (any type, from ONNX Runtime or a library it loads) says memory ran out;
    ``path``, the file it was about, is left out of the text first (a folder may be named so)."""
    text = str(exc) if path is None else str(exc).replace(str(path), "")
    return isinstance(exc, MemoryError) or _OUT_OF_MEMORY.search(text) is not None


def open_session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session for ``path``; ModelError if the file cannot be opened
    (MemoryError when memory ran out: the file is fine)."""
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several private types
        if out_of_memory(exc, path):
            raise MemoryError(f"out of memory opening {path}") from None
        raise ModelError(f"{path}: cannot open ONNX model ({str(exc).splitlines()[0][:200]})",
                         fix="re-export it with alonet export --into MODEL_SET, or use --backend torch") from None


def session_metadata(session) -> dict[str, str]:
    return dict(session.get_modelmeta().custom_metadata_map)


def matching_session(path: Path, key: str | None, precision: str, threads: int | None):
    """An open session for ``path`` if it exists and carries ``key`` and ``precision``; else None."""
    if key is None or not path.is_file():
        return None
    try:
        session = open_session(path, threads)
    except ModelError:
        return None
    meta = session_metadata(session)
    if meta.get(SOURCE_KEY) != key or meta.get(PRECISION_KEY, "fp32") != precision:
        return None
    return session


def find_exports(json_paths: Mapping[str, Path], cache: Path | None, *, precision: str = "fp32",
                 threads: int | None = None):
    """Open a ready export of every task, or return None if one is missing or stale.

    ``json_paths``: ``{task: model JSON}``. Returns ``({task: session},
    {task: onnx path}, {task: ModelConfig})``.
    """
    check_precision(precision)
    sessions, paths, configs = {}, {}, {}
    for task, json_path in json_paths.items():
        json_path = Path(json_path)
        key, cfg = model_key(json_path)
        candidates = [json_path.with_name(onnx_file_name(json_path.stem, precision))]
        if precision == "fp32" and cache is not None and key is not None:
            candidates.append(Path(cache) / cache_file_name(task, key, cfg.input_size))
        for candidate in candidates:
            session = matching_session(candidate, key, precision, threads)
            if session is not None:
                sessions[task], paths[task], configs[task] = session, candidate, cfg
                break
        else:
            return None
    return sessions, paths, configs


def available_threads() -> int:
    """CPU cores this process may use (its affinity mask)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def add_metadata(proto, cfg, source_sha256: str | None, precision: str) -> None:
    """Record the task, its ModelConfig, the precision and the source weights' key in an ONNX file."""
    meta = {"alonet_task": cfg.task, "alonet_config": json.dumps(cfg.to_dict()), PRECISION_KEY: precision}
    if source_sha256:
        meta[SOURCE_KEY] = source_sha256
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
