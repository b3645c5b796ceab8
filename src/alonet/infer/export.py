"""Export networks to ONNX for the ONNX Runtime backend.

The exported graph takes the *normalised* image batch (float32 (N, 3, S, S),
see ``alonet.model.normalize_images``) and returns the region probability
(float32 (N, S, S), the softmax of class 1), so the torch and ONNX backends
share the same numpy pre-processing and differ only in the engine. The batch
dimension is dynamic; the spatial size is fixed to the model's ``input_size``.

Each ``.onnx`` records the SHA-256 of the weights it was made from
(``alonet_weights_sha256`` in the model metadata), so an ONNX file lying next
to a model that was retrained later is recognised as stale and not used.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from alonet.errors import ModelError
from alonet.model.config import TASKS, ModelConfig

#: ONNX opset used for export (supported by onnxruntime >= 1.17).
OPSET = 17

#: Metadata key holding the export key: SHA-256 of the source weights and configuration.
SHA_KEY = "alonet_source_key"


def export_key(weights_sha256: str, cfg: ModelConfig) -> str:
    """What an export depends on: the weights and the configuration (input size,
    normalisation, class weights). An ``.onnx`` whose key differs is stale."""
    import hashlib

    text = weights_sha256 + json.dumps(cfg.to_dict(), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _probability_module(model, cfg: ModelConfig):
    """Wrap a logits network so that it returns the calibrated class-1 probability map."""
    import torch

    from alonet.model.unet import probabilities

    class ProbabilityMap(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            return probabilities(self.net(x), cfg)

    return ProbabilityMap(model).eval()


def weights_sha256(model_json: str | Path) -> str | None:
    """The weights checksum recorded in a saved model's JSON (None if absent)."""
    try:
        info = json.loads(Path(model_json).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = info.get("weights_sha256") if isinstance(info, dict) else None
    return str(value) if value else None


def onnx_sha256(path: str | Path) -> str | None:
    """The source-weights checksum stored in an exported ``.onnx`` (None if absent/unreadable)."""
    import onnx

    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception:  # noqa: BLE001 - any unreadable file is simply "not usable"
        return None
    for prop in proto.metadata_props:
        if prop.key == SHA_KEY:
            return prop.value
    return None


def export_onnx(model, cfg: ModelConfig, path: str | Path, *, source_sha256: str | None = None,
                check: bool = True, tolerance: float = 1e-4) -> Path:
    """Export one network to ``path`` (written atomically) and return the path.

    With ``check=True`` the ONNX Runtime output on a random batch is compared
    with torch's and a ModelError is raised if they differ by more than
    ``tolerance``.
    """
    import onnx
    import torch

    from alonet.data.atomic import atomic_save

    wrapped = _probability_module(model.eval(), cfg)
    size = cfg.input_size
    example = torch.zeros(1, cfg.in_channels, size, size)

    def write(tmp: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The TorchScript-based exporter: fast, and needs no onnxscript at run time.
            torch.onnx.export(
                wrapped, (example,), str(tmp), dynamo=False, opset_version=OPSET,
                input_names=["image"], output_names=["probability"],
                dynamic_axes={"image": {0: "batch"}, "probability": {0: "batch"}},
            )
        proto = onnx.load(str(tmp))
        meta = {"alonet_task": cfg.task, "alonet_config": json.dumps(cfg.to_dict())}
        if source_sha256:
            meta[SHA_KEY] = source_sha256
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(proto, str(tmp))
        if check:
            difference = compare_with_torch(model, cfg, tmp)
            if difference > tolerance:
                raise ModelError(f"ONNX export of {cfg.task} differs from torch by {difference:.2e} "
                                 f"(> {tolerance:g})", fix="use --backend torch")

    return atomic_save(path, write)


def compare_with_torch(model, cfg: ModelConfig, onnx_path: str | Path, batch: int = 2,
                       seed: int = 0) -> float:
    """Largest absolute difference between torch and ONNX Runtime probabilities."""
    import onnxruntime as ort
    import torch

    from alonet.model.unet import probabilities

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, cfg.in_channels, cfg.input_size, cfg.input_size)).astype(np.float32)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.inference_mode():
        want = probabilities(model.eval()(torch.from_numpy(x)), cfg).numpy()
    return float(np.max(np.abs(got - want)))


def export_model_set(models: str | Path, out_dir: str | Path, *, check: bool = True) -> dict[str, Path]:
    """Export all three networks of a model set into ``out_dir``.

    ``out_dir`` becomes a complete model set: each task's ``.json`` and
    ``.safetensors`` are copied beside its new ``.onnx``, so
    ``Pipeline(models=out_dir)`` finds and uses the ONNX files. Returns
    ``{task: onnx path}``.
    """
    from alonet.data.atomic import atomic_write_bytes, atomic_write_text
    from alonet.model import load_model, resolve_model_set

    paths = resolve_model_set(models)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    for task in TASKS:
        json_path = Path(paths[task])
        model, cfg = load_model(json_path)
        info = json.loads(json_path.read_text(encoding="utf-8"))
        weights = json_path.with_suffix(".safetensors")
        if not weights.is_file():
            weights = json_path.parent / str(info.get("weights") or weights.name)
        target_json = out / f"{task}.json"
        if json_path.resolve() != target_json.resolve():
            atomic_write_bytes(out / f"{task}.safetensors", weights.read_bytes())
            info["weights"] = f"{task}.safetensors"
            atomic_write_text(target_json, json.dumps(info, indent=2) + "\n")
        written[task] = export_onnx(model, cfg, out / f"{task}.onnx",
                                    source_sha256=_key_of(json_path, cfg), check=check)
    return written


def _key_of(json_path: Path | None, cfg: ModelConfig) -> str | None:
    sha = weights_sha256(json_path) if json_path is not None else None
    return export_key(sha, cfg) if sha else None
