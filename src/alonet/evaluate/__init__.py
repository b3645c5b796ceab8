"""Evaluation of a model set on a dataset: overlap metrics, loss %, SALT agreement.

``evaluate(dataset, model, out)`` runs the inference Pipeline over a converted
dataset and writes per-image/per-visit CSVs, ``summary.json`` and plots;
``evaluate_predictions`` is the pure core for masks produced any other way.
"""

from __future__ import annotations

from alonet.evaluate.agreement import (
    BlandAltman,
    bland_altman,
    decision_flip_rate,
    icc_2_1,
    icc_agreement,
    mean_absolute_error,
)
from alonet.evaluate.evaluate import (
    EvaluationResult,
    evaluate,
    evaluate_predictions,
    score_image,
    summarize_images,
    write_evaluation,
)

#: The name ``write_evaluation`` had before 2026-12-08 (``alonet.report.write_report`` writes a
#: visit's report), kept for code that imports it.
write_report = write_evaluation

__all__ = [
    "BlandAltman", "bland_altman", "decision_flip_rate", "icc_2_1", "icc_agreement",
    "mean_absolute_error", "EvaluationResult", "evaluate", "evaluate_predictions", "score_image",
    "summarize_images", "write_evaluation", "write_report",
]
