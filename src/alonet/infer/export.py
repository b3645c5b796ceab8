"""Export networks to ONNX for the ONNX Runtime backend.

The exported graph takes the *normalised* image batch (float32 (N, 3, S, S),
see ``alonet.model.normalize_images``) and returns the region probability
(float32 (N, S, S), the calibrated probability of class 1), so the torch and ONNX backends
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

from alonet.system.atomic import (
    atomic_directory,
    atomic_save,
    atomic_write_bytes,
    atomic_write_text,
    scratch_directory,
)
from alonet.errors import ModelError
from alonet.infer.onnx_passes import fold_pads
from alonet.infer.onnx_runtime import (
    add_metadata,
    export_key,
    onnx_file_name,
)
from alonet.infer.quantize import CalibrationConfig, calibration_images, quantize_int8
from alonet.model import load_model, resolve_model_set
from alonet.model.config import TASKS, ModelConfig

#: ONNX opset used for export (supported by onnxruntime >= 1.17).
OPSET = 17

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


def store_weights_fp16(proto) -> int:
    """Store every float32 initializer that float16 holds exactly as float16 plus a Cast.

    Weights saved as float16 (``save_model``'s default) survive the export
    unchanged when batch normalisation is not folded into the convolutions, so
    this halves the file at no cost in accuracy: ONNX Runtime folds the Casts
    (and the batch normalisation) into float32 constants when it opens the
    file. Tensors float16 cannot hold exactly stay float32. Returns the number
    of tensors converted.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    casts, kept, converted = [], [], 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            kept.append(init)
            continue
        value = numpy_helper.to_array(init)
        half = value.astype(np.float16)
        if value.size < 16 or not np.array_equal(half.astype(np.float32), value):
            kept.append(init)
            continue
        stored = numpy_helper.from_array(half, name=f"{init.name}__fp16")
        kept.append(stored)
        casts.append(helper.make_node("Cast", [stored.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__to_fp32"))
        converted += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return converted


def _float_tensors(proto) -> int:
    from onnx import TensorProto

    return sum(1 for init in proto.graph.initializer if init.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16))


def _torch_export(model, cfg: ModelConfig, target: str, *, fold_batchnorm: bool, rearrange: bool) -> None:
    """torch.onnx export of the probability map; batch normalisation folded or kept;
    ``rearrange``: the decoder steps split (``alonet.infer.export_form``)."""
    import torch

    from alonet.infer.export_form import export_form

    wrapped = _probability_module(export_form(model) if rearrange else model.eval(), cfg)
    size = cfg.input_size
    example = torch.zeros(1, cfg.in_channels, size, size)
    mode = torch.onnx.TrainingMode.EVAL if fold_batchnorm else torch.onnx.TrainingMode.PRESERVE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: fast, and needs no onnxscript at run time.
        torch.onnx.export(
            wrapped, (example,), target, dynamo=False, opset_version=OPSET, training=mode,
            input_names=["image"], output_names=["probability"],
            dynamic_axes={"image": {0: "batch"}, "probability": {0: "batch"}},
        )


def export_onnx(model, cfg: ModelConfig, path: str | Path, *, source_sha256: str | None = None,
                check: bool = True, tolerance: float = 1e-4, compact: bool = True,
                rearrange: bool = True) -> Path:
    """Export one network to ``path`` (written atomically) and return the path.

    ``compact=True`` keeps batch normalisation as its own operator (ONNX Runtime
    fuses it when it opens the file) so that float16-saved weights
    (``save_model(..., half=True)``) can be stored as float16
    (:func:`store_weights_fp16`), about half the size of a folded float32
    export. Networks saved in float32 are exported with batch normalisation
    folded in, as float32. With ``check=True`` the ONNX Runtime output on a random
    batch is compared with torch's and a ModelError is raised if they differ
    by more than ``tolerance``.

    ``rearrange=True`` exports the faster form of the same function: decoder
    steps that never build their concatenation (``alonet.infer.export_form``)
    and the encoder's stride-2 padding inside its convolutions
    (``alonet.infer.onnx_passes.fold_pads``). ``False`` exports the network
    operation for operation as it was trained, the reference the benchmark
    and the tests compare it with.
    """
    import onnx

    def write(tmp: Path) -> None:
        proto = None
        if compact:
            _torch_export(model, cfg, str(tmp), fold_batchnorm=False, rearrange=rearrange)
            proto = onnx.load(str(tmp))
            if store_weights_fp16(proto) < _float_tensors(proto) // 2:
                proto = None  # float32 weights: the folded export is smaller and as exact
        if proto is None:
            _torch_export(model, cfg, str(tmp), fold_batchnorm=True, rearrange=rearrange)
            proto = onnx.load(str(tmp))
        if rearrange:
            fold_pads(proto)
        add_metadata(proto, cfg, source_sha256, "fp32")
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
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only (see onnx_runtime.session_options)
    session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.inference_mode():
        want = probabilities(model.eval()(torch.from_numpy(x)), cfg).numpy()
    return float(np.max(np.abs(got - want)))


def export_model_set(models: str | Path, out_dir: str | Path | None = None, *, check: bool = True,
                     int8: bool = False, calibration=None, progress: bool = True) -> dict[str, Path]:
    """Export all three networks of a model set; return ``{task: fp32 onnx path}``.

    ``out_dir`` becomes a complete model set: each task's ``.json`` and
    ``.safetensors`` are copied beside its new ``.onnx``, so
    ``Pipeline(models=out_dir)`` finds and uses the ONNX files. With
    ``out_dir=None`` the exports are written into the model set itself, beside
    each model's JSON (e.g. to ship them with a bundled model). ``int8=True``
    also writes ``<stem>.int8.onnx`` per network (see ``alonet.infer.quantize``;
    ``calibration`` is its ``CalibrationConfig``). A new ``out_dir`` appears
    complete or not at all; an existing one that is not empty is refused
    (OutputExistsError), so no model set is ever overwritten by another.
    """
    if out_dir is None:
        return _export_into(models, None, check, int8, calibration, progress)
    out = Path(out_dir)
    with atomic_directory(out) as tmp:
        written = _export_into(models, tmp, check, int8, calibration, progress)
    return {task: out / path.name for task, path in written.items()}


def _export_into(models, out: Path | None, check: bool, int8: bool, calibration, progress: bool) -> dict[str, Path]:
    """:func:`export_model_set`'s work: into ``out`` (a new, empty folder) or beside each JSON (None)."""
    paths = resolve_model_set(models)
    targets: dict[str, Path] = {}
    loaded = {}
    for task in TASKS:
        json_path = Path(paths[task])
        loaded[task] = load_model(json_path)
        if out is None:
            targets[task] = json_path
            continue
        info = json.loads(json_path.read_text(encoding="utf-8"))
        weights = json_path.with_suffix(".safetensors")
        if not weights.is_file():
            weights = json_path.parent / str(info.get("weights") or weights.name)
        target_json = out / f"{task}.json"
        if json_path.resolve() != target_json.resolve():
            atomic_write_bytes(out / f"{task}.safetensors", weights.read_bytes())
            info["weights"] = f"{task}.safetensors"
            atomic_write_text(target_json, json.dumps(info, indent=2) + "\n")
        targets[task] = target_json
    written: dict[str, Path] = {}
    for task in TASKS:
        model, cfg = loaded[task]
        target = targets[task]
        written[task] = export_onnx(model, cfg, target.with_name(onnx_file_name(target.stem, "fp32")),
                                    source_sha256=_key_of(Path(paths[task]), cfg), check=check)
    if int8:
        configs = {task: cfg for task, (_, cfg) in loaded.items()}
        calibration = calibration or CalibrationConfig()
        images = calibration_images(configs, calibration, progress=progress)
        with scratch_directory("int8") as work:  # what killed runs left there is removed first
            for task in TASKS:
                model, cfg = loaded[task]
                folded = work / f"{task}.onnx"
                export_onnx(model, cfg, folded, compact=False, check=False)
                target = targets[task]
                quantize_int8(folded, target.with_name(onnx_file_name(target.stem, "int8")), images[task], cfg,
                              _key_of(Path(paths[task]), cfg), calibration.method)
    return written


def _key_of(json_path: Path | None, cfg: ModelConfig) -> str | None:
    sha = weights_sha256(json_path) if json_path is not None else None
    return export_key(sha, cfg) if sha else None
