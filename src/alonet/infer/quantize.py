"""Static int8 quantisation of exported networks, calibrated on phantom photographs.

ONNX Runtime's static quantiser (QDQ format: unsigned 8-bit activations,
signed 8-bit per-channel weights, min-max calibration) runs on an fp32 export
with batch normalisation folded into the convolutions. Calibration images are
phantom visits rendered on the fly (``alonet.phantom.render_patient``), fed to
each network the way the pipeline feeds it (``prepare_input``): the photograph for the scalp
networks (right views mirrored, temporal networks for left/right, midline for
top/back) and the photograph painted outside the true scalp for the hair-loss
network. Nothing is read from or written to disk apart from the model files.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alonet.system.atomic import atomic_save
from alonet.infer.onnx_runtime import add_metadata
from alonet.model import normalize_images, paint_outside_scalp
from alonet.model.config import TASKS, ModelConfig
from alonet.model.preprocess import prepare_input, prepare_mask
from alonet.views import SCALP_TASK_FOR_VIEW, seen_mirrored


@dataclass(frozen=True)
class CalibrationConfig:
    """How many phantom patients (one visit of four views each) to calibrate on, the seed
    (apart from the seeds of the phantom evaluation splits), the rendering size and how
    activation ranges are chosen (``minmax`` or ``percentile``, ONNX Runtime's methods).
    """

    patients: int = 12
    seed: int = 7301
    size: int = 320
    method: str = "minmax"


def calibration_images(configs: Mapping[str, ModelConfig], calibration: CalibrationConfig = CalibrationConfig(),
                       progress: bool = True) -> dict[str, np.ndarray]:
    """``{task: uint8 (N, S, S, 3)}`` network inputs from freshly rendered phantoms."""
    from tqdm import tqdm

    from alonet.phantom import render_patient  # here: inference never needs the renderer

    batches: dict[str, list[np.ndarray]] = {task: [] for task in TASKS}
    hl_cfg = configs["hairloss"]
    for patient in tqdm(range(calibration.patients), desc="calibration phantoms", unit="patient",
                        disable=not progress):
        for visit in render_patient(calibration.seed, visits=1, size=calibration.size, patient=patient):
            for view, rendered in visit.views.items():
                image, scalp = rendered.image, rendered.scalp
                if seen_mirrored(view):
                    image, scalp = image[:, ::-1], scalp[:, ::-1]
                image = np.ascontiguousarray(image)
                task = SCALP_TASK_FOR_VIEW[view]
                batches[task].append(prepare_input(image, configs[task].input_size))
                size = hl_cfg.input_size
                mask = prepare_mask(np.ascontiguousarray(scalp), size)
                batches["hairloss"].append(
                    paint_outside_scalp(prepare_input(image, size), mask, hl_cfg.fill_color))
    return {task: np.stack(images).astype(np.uint8) for task, images in batches.items()}


class _Reader:
    """ONNX Runtime calibration data reader: one normalised image per call."""

    def __init__(self, images: np.ndarray, cfg: ModelConfig, input_name: str):
        self._items: Iterator = iter(
            {input_name: normalize_images(images[i:i + 1], cfg)} for i in range(len(images)))

    def get_next(self):
        return next(self._items, None)


#: Parts of the quantiser's root-logger warnings that :func:`_quiet` hides.
QUANTISER_NOISE = ("pre-processing", "is out-of-range for weight")


@contextlib.contextmanager
def _quiet():
    """Hide the quantiser's prints, its advice to run a pre-processing step (shape inference
    cannot complete on these graphs' Resize nodes, and the step made no difference to speed here)
    and its notes that per-channel axis 1 is out of range for a one-dimensional weight (the split
    decoder convolutions' batch-norm vectors, graph version 3: such a tensor gets one scale, as
    it should).

    ONNX Runtime gives that advice with the module-level ``logging.warning``, so the record is
    made on the root logger, and a logger's filters see only the records made on it: the filter
    has to sit on the root logger (removed again on the way out). It never sees AloNet's own
    records, which are made on ``alonet.*`` loggers."""
    root = logging.getLogger()

    def drop(record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(noise in message for noise in QUANTISER_NOISE)

    root.addFilter(drop)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.removeFilter(drop)


def quantize_int8(fp32_folded: str | Path, out_path: str | Path, images: np.ndarray, cfg: ModelConfig,
                  source_key: str | None, method: str = "minmax") -> Path:
    """Quantise one fp32 export (batch normalisation folded) to int8 QDQ at ``out_path`` (atomic)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    input_name = onnx.load(str(fp32_folded), load_external_data=False).graph.input[0].name

    def write(tmp: Path) -> None:
        with _quiet():
            quantize_static(
                str(fp32_folded), str(tmp), _Reader(images, cfg, input_name),
                quant_format=QuantFormat.QDQ, per_channel=True,
                activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                calibrate_method={"minmax": CalibrationMethod.MinMax,
                                  "percentile": CalibrationMethod.Percentile}[method],
            )
        proto = onnx.load(str(tmp))
        add_metadata(proto, cfg, source_key, "int8")
        onnx.save(proto, str(tmp))

    return atomic_save(out_path, write)
