"""Inference: photographs -> scalp and hair-loss masks -> SALT.

``Pipeline`` is the one entry point used by the CLI, batch scoring and the web
application. Importing this package does not import torch or onnxruntime;
they load when a Pipeline is created.
"""

from alonet.infer.pipeline import Pipeline, PipelineConfig
from alonet.infer.results import ViewResult, VisitResult, visit_from_views
from alonet.infer.postprocess import PostprocessConfig
from alonet.infer.quality import QualityConfig

__all__ = [
    "Pipeline", "PipelineConfig", "PostprocessConfig", "QualityConfig", "ViewResult", "VisitResult",
    "visit_from_views",
]
