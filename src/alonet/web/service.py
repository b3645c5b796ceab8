"""The model behind the web application: one Pipeline per process, used safely
from the server's threads.

``Scorer`` loads ``alonet.infer.Pipeline`` once (when the app is created) and
runs every inference on one dedicated model thread; request threads hand their
photographs over and wait. The CPU is saturated by one inference already, so
queueing costs no throughput, and memory stays bounded however many requests
arrive together: the network's large activation buffers are always allocated
by the same thread (with glibc, every thread that allocates them keeps its own
pool of freed memory, which multiplied the server's peak memory by the number
of server threads when requests ran the model from their own threads).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from alonet.infer.pipeline import Pipeline, PipelineConfig
from alonet.infer.viewcheck import MISMATCH_CODE, SIDE_CODE
from alonet.report.provenance import model_sha256
from alonet.web.visits import ViewState, visit_result


class Scorer:
    """Score photographs with one shared ``Pipeline`` on one model thread (thread-safe)."""

    def __init__(self, models="default", backend: str = "auto", pipeline=None,
                 config: PipelineConfig | None = None):
        if pipeline is None:
            pipeline = Pipeline(models=models, backend=backend, config=config)
        self.pipeline = pipeline
        self.models = str(models)
        #: Checksum of the model set, computed once (``alonet.report.provenance.model_sha256``).
        self.model_sha256 = model_sha256(pipeline)
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alonet-model")

    @property
    def description(self) -> str:
        """A short human-readable name of the model set in use."""
        spec = getattr(self.pipeline, "models_spec", None) or self.models
        backend = getattr(self.pipeline, "backend_name", None)
        return f"{spec} ({backend})" if backend else str(spec)

    def provenance(self) -> dict:
        """What scores a visit now, as stored with it and stated in its report: the pipeline's
        provenance (backend, precision, thresholds, view checks) with this model's name and checksum."""
        return {**self.pipeline.provenance(), "model": self.description, "model_sha256": self.model_sha256}

    def score(self, images: Mapping[str, np.ndarray],
              uploads: Mapping[str, bytes | None] | None = None) -> dict[str, ViewState]:
        """Run the model on each view's photograph; return the views' states (``uploads``: each
        view's uploaded JPEG without metadata, kept for the store: ``ViewState.upload_jpeg``)."""
        order = list(images)
        job = self._model_thread.submit(self._predict_and_check, [(images[v], v) for v in order])
        results = job.result()
        uploads = uploads or {}
        return {v: ViewState(view=v, result=results[v], upload_jpeg=uploads.get(v)) for v in order}

    def _predict_and_check(self, items) -> dict:
        """Predict, then the view checks (duplicates raise; mismatches are flagged)."""
        return self.pipeline.predict_checked(items)

    def correct(self, state: ViewState, scalp: np.ndarray, hairloss: np.ndarray) -> None:
        """Replace a view's masks with corrected ones (the photograph's size).

        The new result comes from ``Pipeline.result_from_masks`` (quality checks
        rerun; no network involved, so no lock is needed).
        """
        result = self.pipeline.result_from_masks(state.photo, state.view, scalp, hairloss, corrected=True)
        # a label stays wrong
        kept = [f for f in state.original.flags if f["code"] in (MISMATCH_CODE, SIDE_CODE)]
        if kept:
            result = replace(result, flags=[*result.flags, *kept])
        state.correct(result)

    def visit_result(self, views: Mapping[str, ViewState], provisional: bool = False):
        """The ``alonet.infer.VisitResult`` of the views as they are now (for reports)."""
        return visit_result(views, provisional)
