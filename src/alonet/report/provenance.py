"""Provenance of a result: which model, engine, settings and input files made it.

A batch row is only worth keeping while what made it is unchanged. Each row of
``results.csv`` records (:data:`PROVENANCE_COLUMNS`):

``model``            the model set as given (``default``, a folder)
``model_sha256``     SHA-256 over every model file of the set (JSON + weights),
                     so a retrained model in the same folder is a different model
``backend``          the inference engine (``torch`` / ``onnx``)
``scalp_threshold``, ``hairloss_threshold``  post-processing thresholds
``provisional``      1 when SALTs were computed from photographs needing a retake
``view_checks``      1 when the view checks ran (``--no-view-checks``: 0)
``inputs_sha256``    SHA-256 over the visit's photographs (view name + file hash)

:func:`stale_reason` compares a stored row with what a rerun would use and
says why it must be recomputed (or None to keep it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

from alonet import __version__
from alonet.errors import AloNetError
from alonet.model.io import model_set_sha256, resolve_model_set

PROVENANCE_COLUMNS: tuple[str, ...] = (
    "model", "model_sha256", "backend", "scalp_threshold", "hairloss_threshold", "provisional",
    "view_checks", "inputs_sha256", "precision", "alonet_version",
)

#: Columns compared on a rerun, with the words used to say what changed.
_CHANGES: tuple[tuple[str, str], ...] = (
    ("inputs_sha256", "photographs changed"),
    ("model_sha256", "model changed"),
    ("backend", "backend changed"),
    ("scalp_threshold", "scalp threshold changed"),
    ("hairloss_threshold", "hair-loss threshold changed"),
    ("provisional", "--provisional changed"),
    ("view_checks", "view checks switched on or off"),
    ("precision", "precision changed"),
)

#: Columns added after the first version, with the value rows written before them mean
#: (``alonet_version`` is a record only: a new version alone recomputes nothing).
ADDED_COLUMNS: Mapping[str, str] = MappingProxyType({"view_checks": "1", "precision": "fp32", "alonet_version": ""})

_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (read in chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def inputs_sha256(views: Mapping[str, str | Path], sha256: Callable[[str | Path], str] = file_sha256) -> str:
    """One SHA-256 over a visit's photographs; an unreadable file, or one that is not a regular
    file (a pipe would block the read; the photograph reader refuses it), counts as ``missing``.
    ``sha256`` gives a file's checksum (``file_sha256``; a batch run passes remembered ones)."""
    digest = hashlib.sha256()
    for view in sorted(views):
        try:
            value = sha256(views[view]) if Path(views[view]).is_file() else "missing"
        except OSError:
            value = "missing"
        digest.update(f"{view}:{value}\n".encode())
    return digest.hexdigest()


def _model_files_sha256(spec) -> str | None:
    """``model.io.model_set_sha256`` of the set, or None when ``spec`` is not a model set on disk
    (the caller falls back to the loaded weights). Damaged weights still raise ModelError."""
    try:
        resolve_model_set(spec)
    except (AloNetError, OSError):
        return None
    return model_set_sha256(spec)


def _weights_sha256(backend) -> str | None:
    models = getattr(backend, "_models", None)
    if not models:
        return None
    digest = hashlib.sha256()
    for task in sorted(models):
        for name, tensor in sorted(models[task].state_dict().items()):
            digest.update(f"{task}/{name}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def model_sha256(pipeline) -> str:
    """Checksum of the pipeline's model set: its files, else its weights, else ``unknown``."""
    spec = getattr(pipeline, "models_spec", getattr(pipeline, "models", None))  # a Pipeline or a PipelineSpec
    found = None
    if isinstance(spec, (str, Path)) and str(spec) != "<in memory>":
        found = _model_files_sha256(spec)
    if found is None and hasattr(pipeline, "backend") and not isinstance(pipeline.backend, str):
        found = _weights_sha256(pipeline.backend)
    return found or "unknown"


def batch_settings(pipeline, *, provisional: bool = False, provenance: dict | None = None) -> dict[str, str]:
    """The provenance columns shared by every row of one batch run (all but the inputs).

    ``pipeline`` is a Pipeline, or a PipelineSpec with its workers' ``provenance``.
    """
    info = provenance if provenance is not None else pipeline.provenance()
    thresholds = info.get("thresholds", {})
    return {
        "model": str(info.get("model", "")),
        "model_sha256": model_sha256(pipeline),
        "backend": str(info.get("backend", "")),
        "scalp_threshold": f"{float(thresholds.get('scalp', 0.5)):g}",
        "hairloss_threshold": f"{float(thresholds.get('hairloss', 0.5)):g}",
        "provisional": "1" if provisional else "0",
        "view_checks": "0" if info.get("view_checks") is False else "1",
        "precision": str(info.get("precision") or "fp32"),
        "alonet_version": __version__,
    }


def stale_reason(row: Mapping[str, str], current: Mapping[str, str]) -> str | None:
    """Why a stored row no longer matches ``current`` provenance (None: keep it)."""
    def value(values: Mapping[str, str], column: str) -> str:
        return values.get(column) or ADDED_COLUMNS.get(column, "")

    reasons = [words for column, words in _CHANGES if value(row, column) != value(current, column)]
    return ", ".join(reasons) if reasons else None


def visit_provenance(pipeline, views: Mapping[str, str | Path]) -> dict:
    """What a visit's report records about how its numbers were made: the pipeline's settings
    plus the checksums that tell one model set, and one set of photographs, from another
    (``model`` alone says ``default`` through every retraining of the bundled weights)."""
    return {**pipeline.provenance(), "model_sha256": model_sha256(pipeline), "inputs_sha256": inputs_sha256(views)}
