"""Saving and loading networks and model sets.

A saved model is two files with a common stem:

* ``<stem>.safetensors`` -- the weights (state dict; optionally stored as
  float16 to halve the size; always loaded back as float32);
* ``<stem>.json`` -- ``{"format": "alonet-model", "version": 1, "config": {...},
  "weights": "<stem>.safetensors", "weights_sha256": ..., "dtype": ...,
  "metadata": {...}}``.

The JSON records the SHA-256 of the weights file, so a half-written or
mismatched pair is reported instead of silently loading wrong weights. Both
files are written to temporary names and renamed into place.

A *model set* is a folder with one model per task: ``scalp-temporal.json``,
``scalp-midline.json``, ``hairloss.json`` (each with its ``.safetensors``).
A *training run* folder holds ``<task>/best.json`` per trained task; it can be
used wherever a model set is expected.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from importlib import resources
from pathlib import Path
from typing import Iterable

from alonet.system.atomic import current_umask, remove_stale_temps, temp_path_for
from alonet.errors import ModelError
from alonet.model.config import TASKS, ModelConfig

MODEL_FORMAT = "alonet-model"
MODEL_VERSION = 1
DEFAULT_SPEC = "default"


def _stem(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix in (".json", ".safetensors"):
        return path.with_suffix("")
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _temp_path(target: Path) -> Path:
    """A temporary name beside ``target``, after removing those that killed writers left there."""
    remove_stale_temps(target)
    return temp_path_for(target)


def _ordinary_mode(path: Path) -> None:
    """Give ``path`` the mode of a newly created ordinary file (0666 less the umask)."""
    os.chmod(path, 0o666 & ~current_umask())


def _save_weights(state: dict, path: Path, shown: Path) -> None:
    """``safetensors`` ``save_file`` to ``path``, with a failed write (full disk, file-size limit)
    raised as the OSError it was, naming ``shown`` (safetensors reports it as a SafetensorError
    "... (os error 28)", which would end the command with a traceback)."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        save_file(state, str(path), metadata={"format": MODEL_FORMAT})
    except SafetensorError as exc:
        found = re.search(r"\(os error (\d+)\)", str(exc))
        if found is None:
            raise
        code = int(found.group(1))
        raise OSError(code, os.strerror(code), str(shown)) from None
    # save_file writes a new file of its own (mode 0600) in place of the one it was given
    _ordinary_mode(path)


def save_model(model, cfg: ModelConfig, path_stem: str | Path, metadata: dict | None = None,
               *, half: bool = False) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json`` atomically; return the JSON path.

    ``half=True`` stores floating-point tensors as float16 (half the size; the
    outputs change by about 1e-3). ``metadata`` is any JSON-serialisable dict
    (training data, epoch, scores...).
    """
    import torch

    stem = _stem(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, weights_path = stem.with_suffix(".json"), stem.with_suffix(".safetensors")
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu")
        if half and value.is_floating_point():
            value = value.to(torch.float16)
        state[key] = value.contiguous()
    tmp_weights = _temp_path(weights_path)
    tmp_json = _temp_path(json_path)
    try:
        _save_weights(state, tmp_weights, weights_path)
        info = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "config": cfg.to_dict(),
            "weights": weights_path.name,
            "weights_sha256": _sha256(tmp_weights),
            "dtype": "float16" if half else "float32",
            "metadata": dict(metadata or {}),
        }
        tmp_json.write_text(json.dumps(info, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(tmp_weights, weights_path)
        os.replace(tmp_json, json_path)
    finally:
        for tmp in (tmp_weights, tmp_json):
            tmp.unlink(missing_ok=True)
    return json_path


def read_model_info(path: str | Path) -> dict:
    """Read and check a model's JSON (no weights loaded). Accepts stem, .json or .safetensors."""
    json_path = _stem(path).with_suffix(".json")
    if not json_path.is_file():
        raise ModelError(
            f"model file {json_path} not found",
            fix="pass the .json or .safetensors of a model saved by alonet train",
        )
    try:
        info = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"{json_path}: model description is corrupt ({exc.__class__.__name__})",
                         fix="re-save or re-download the model") from None
    if not isinstance(info, dict) or info.get("format") != MODEL_FORMAT:
        raise ModelError(f"{json_path}: not an AloNet model description",
                         fix="pass the .json that alonet train or alonet adapt saved beside the .safetensors")
    if not isinstance(info.get("version"), int) or info["version"] > MODEL_VERSION:
        raise ModelError(f"{json_path}: model format version {info.get('version')!r} is not supported",
                         fix="upgrade alonet")
    try:
        info["config"] = ModelConfig.from_dict(info.get("config"))
    except ModelError as exc:
        raise ModelError(f"{json_path}: {exc.reason}", fix=exc.fix or "re-save or re-download the model") from None
    return info


def checked_weights(json_path: str | Path, info: dict | None = None) -> tuple[Path, str]:
    """``(weights file, its SHA-256)`` of a saved model's JSON, or ModelError when the file is
    missing or its checksum is not the one the JSON recorded (a mismatched pair, corrupt weights).

    The weights are the JSON's namesake (so a copied/renamed pair, e.g. best.* -> hairloss.*,
    still loads); the name recorded at save time is the fallback. ``info``: the JSON already
    read by :func:`read_model_info`.
    """
    json_path = Path(json_path)
    info = read_model_info(json_path) if info is None else info
    weights_path = json_path.with_suffix(".safetensors")
    if not weights_path.is_file() and info.get("weights"):
        weights_path = json_path.parent / str(info["weights"])
    if not weights_path.is_file():
        raise ModelError(f"weights file {weights_path} not found",
                         fix=f"keep the .safetensors file next to {json_path.name}")
    actual = _sha256(weights_path)
    expected = info.get("weights_sha256")
    if expected and actual != expected:
        raise ModelError(
            f"{weights_path} does not match {json_path.name} (checksum differs; the pair is "
            "mismatched or the weights are corrupt)",
            fix="re-save the model or restore both files together",
        )
    return weights_path, actual


def model_set_sha256(spec: str | Path) -> str:
    """SHA-256 over a model set's JSON and weight files: what reports record as ``model_sha256``.
    Weights that are missing or not the ones their JSON records raise ModelError (ONNX files
    beside them may still run, but the checksum would then name files that did not)."""
    jsons = resolve_model_set(spec)
    digest = hashlib.sha256()
    for task in sorted(jsons):
        weights, weights_sha = checked_weights(jsons[task])
        digest.update(f"{task}/.json:{_sha256(Path(jsons[task]))}\n".encode())
        digest.update(f"{task}/{weights.suffix}:{weights_sha}\n".encode())
    return digest.hexdigest()


def load_model(path: str | Path, device: str = "cpu"):
    """Load a saved model; return ``(model in eval mode, ModelConfig)``.

    ``path`` may be the stem, the ``.json`` or the ``.safetensors`` file.
    Raises ModelError if a file is missing, corrupt, or the weights do not
    match the configuration.
    """
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from alonet.model.unet import build_model

    stem = _stem(path)
    json_path = stem.with_suffix(".json")
    info = read_model_info(json_path)
    cfg: ModelConfig = info["config"]
    weights_path, _ = checked_weights(json_path, info)
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{weights_path}: weights file is corrupt ({exc})",
                         fix="re-download the model, or copy the .safetensors again") from None
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model = build_model(cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ModelError(f"{weights_path}: weights do not fit the configuration in "
                         f"{json_path.name} ({first})",
                         fix="keep the .json and .safetensors of one save together; "
                             "if you edited the .json, restore it") from None
    model.to(torch.device(device))
    model.eval()
    return model, cfg


def default_model_dir() -> Path:
    """Folder of the model set bundled with the package (may not exist in a source tree)."""
    return Path(str(resources.files("alonet.model").joinpath("weights").joinpath("default")))


def resolve_model_set(spec: str | Path = DEFAULT_SPEC, tasks: Iterable[str] = TASKS) -> dict[str, Path]:
    """Map each task to the JSON file of its model.

    ``spec`` is ``"default"`` (the bundled model set), a model-set folder
    (``<task>.json`` per task) or a training run folder (``<task>/best.json``,
    the best checkpoint of each task). Raises ModelError naming what is missing.
    """
    tasks = tuple(tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ModelError(f"unknown model task(s) {', '.join(unknown)}", fix=f"use {', '.join(TASKS)}")
    if str(spec) == DEFAULT_SPEC:
        folder = default_model_dir()
        if not all((folder / f"{t}.json").is_file() for t in tasks):
            raise ModelError(
                f"the bundled model is missing from {folder}",
                fix="reinstall alonet, or pass --model with a model-set folder or training run",
            )
    else:
        if not isinstance(spec, (str, Path)):
            raise ModelError(f"a model set is named by 'default' or a folder, not {type(spec).__name__}",
                             fix="pass 'default', a model-set folder or a training run folder")
        folder = Path(spec)
        if folder.is_file():
            raise ModelError(f"{folder} is a file; a model set is a folder",
                             fix="pass the folder that holds <task>.json and <task>.safetensors")
        if not folder.is_dir():
            raise ModelError(f"model folder {folder} not found",
                             fix="pass 'default', a model-set folder or a training run folder")
    found: dict[str, Path] = {}
    missing: list[str] = []
    for task in tasks:
        for candidate in (folder / f"{task}.json", folder / task / "best.json"):
            if candidate.is_file():
                found[task] = candidate
                break
        else:
            missing.append(task)
    if missing:
        raise ModelError(
            f"{folder}: no model for {', '.join(missing)} (looked for <task>.json and <task>/best.json)",
            fix=("a fine-tune (--init) copies the networks it did not train at its end: rerun its "
                 "`alonet train ... --resume`; otherwise train the missing task(s) with alonet train --task, "
                 "or use --model default"),
        )
    return found


def check_model_set(spec: str | Path = DEFAULT_SPEC, tasks: Iterable[str] = TASKS) -> dict[str, Path]:
    """:func:`resolve_model_set`, with each network loaded once and let go: a damaged JSON or
    weights file, or weights that do not fit their configuration, raise ModelError now rather
    than when that network is needed (e.g. after the other networks were trained from it)."""
    found = resolve_model_set(spec, tasks)
    for path in found.values():
        load_model(path)
    return found


def load_model_set(spec: str | Path = DEFAULT_SPEC, tasks: Iterable[str] = TASKS,
                   device: str = "cpu") -> dict[str, tuple]:
    """Load every task's model: ``{task: (model, cfg)}`` (eval mode)."""
    return {task: load_model(path, device=device) for task, path in resolve_model_set(spec, tasks).items()}


def has_bundled_network(spec, task: str) -> bool:
    """True when model set ``spec``'s ``task`` network has the bundled default's weights
    (compared by the ``weights_sha256`` its JSON records; False when either cannot be read)."""
    try:
        mine = read_model_info(resolve_model_set(spec, [task])[task]).get("weights_sha256")
        bundled = read_model_info(resolve_model_set(DEFAULT_SPEC, [task])[task]).get("weights_sha256")
    except (ModelError, OSError, TypeError):
        return False
    return bool(mine) and mine == bundled
