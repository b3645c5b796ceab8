"""Scoring the visits of a batch run in order, in this process or in worker processes.

ONNX Runtime cannot keep two cores busy on one small visit: much of a visit
is single-threaded work outside the networks (decoding JPEGs, resizing,
post-processing). Scoring whole visits in parallel processes, each with one
intra-op thread, uses every core. Results come back in manifest order, so the
caller writes rows and computes baselines exactly as in a sequential run.

A worker writes the visit's report folder itself (it holds the full-size
arrays) and sends back a *summary* of the visit: the same ``VisitResult``
with every per-view array replaced by an empty one, so the numbers, flags and
grades are there but not megabytes of masks per photograph.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from alonet.system.processes import worker_pool
from alonet.errors import AloNetError
from alonet.infer import Pipeline
from alonet.infer.onnx_runtime import available_threads
from alonet.infer.viewmaps import ViewMaps

#: ``report(entry, visit, provenance)`` writes a visit's report folder; it must be picklable.
ReportWriter = Callable[[Any, Any, dict], None]


@dataclass(frozen=True)
class PipelineSpec:
    """What a worker needs to build its own Pipeline (``alonet.infer.Pipeline`` arguments)."""

    models: Any = "default"
    backend: str = "auto"
    config: Any = None

    def build(self):
        return Pipeline(self.models, backend=self.backend, config=self.config)


def default_workers(visits: int) -> int:
    """One worker per available core, no more than there are visits."""
    return max(1, min(available_threads(), visits))


def summary_of(visit):
    """``visit`` with each view's arrays replaced by empty ones (numbers and flags kept)."""
    empty2 = np.zeros((0, 0), np.float32)
    views = {
        name: dataclasses.replace(
            view, image=np.zeros((0, 0, 3), np.uint8),
            maps=ViewMaps.at_full_size(empty2, empty2, empty2.astype(bool), empty2.astype(bool)))
        for name, view in visit.views.items()
    }
    return dataclasses.replace(visit, views=views)


def _score(pipeline, entry, report: ReportWriter | None, provenance: dict, provisional: bool = False,
           stopped: Callable[[], bool] = lambda: False):
    """``(visit, None)`` or ``(None, error message)`` for one manifest visit. ``stopped``: the
    run was stopped meanwhile, so no report is written (it would have no row)."""
    try:
        visit = pipeline.score_visit(entry.views, missing="error", provisional=provisional)
        if report is not None and not stopped():
            report(entry, visit, provenance)
    except (KeyboardInterrupt, MemoryError):
        raise
    except AloNetError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad visit must not stop a trial
        return None, f"unexpected {exc.__class__.__name__}: {exc}"
    return visit, None


class _Worker:
    """The state of one worker process: its pipeline (built once by the initializer)."""

    pipeline: Pipeline | None = None
    report: ReportWriter | None = None
    error: str | None = None
    provisional: bool = False
    stop: Any = None  # the parent's multiprocessing Event, set when the run stops


def _init_worker(spec: PipelineSpec, report: ReportWriter | None, provisional: bool = False, stop=None) -> None:
    try:
        _Worker.pipeline = spec.build()
    except AloNetError as exc:  # reported by the parent, which can print it as one line
        _Worker.error = str(exc)
    except (MemoryError, OSError) as exc:  # a worker that cannot load the networks (memory, a library)
        reason = " ".join(str(exc).split())[:200] or exc.__class__.__name__
        _Worker.error = (f"a worker process could not load the networks ({reason}); rerun with --workers 1, "
                         "or close other programs")
    _Worker.report = report
    _Worker.provisional = provisional
    _Worker.stop = stop


def _stopped() -> bool:
    return _Worker.stop is not None and _Worker.stop.is_set()


def _score_in_worker(entry):
    pipeline = _Worker.pipeline
    if pipeline is None:  # its build failed (``_init_worker``): each of its visits says why
        return None, _Worker.error, None
    if _stopped():  # queued before the run stopped: not scored, its result is not read
        return None, "stopped", None
    visit, error = _score(pipeline, entry, _Worker.report, pipeline.provenance(), _Worker.provisional, _stopped)
    return (None if visit is None else summary_of(visit)), error, pipeline.provenance()


def _provenance_in_worker(_: int) -> tuple[dict | None, str | None]:
    pipeline = _Worker.pipeline
    if pipeline is None:  # its build failed (``_init_worker``), and error says why
        return None, _Worker.error
    return pipeline.provenance(), None


class VisitScorer:
    """Score manifest visits in order with a Pipeline (``workers=1``) or a PipelineSpec.

    Use as a context manager; :meth:`score` yields ``(entry, visit or None,
    error or None)``. ``provenance`` describes the pipeline that scores.
    """

    def __init__(self, pipeline, workers: int = 1, report: ReportWriter | None = None,
                 provisional: bool = False):
        self.workers = max(1, int(workers))
        self.report = report
        self.provisional = provisional
        self._pool = None
        if self.workers == 1:
            self._pipeline = pipeline.build() if isinstance(pipeline, PipelineSpec) else pipeline
            self.provenance = self._pipeline.provenance()
            return
        if not isinstance(pipeline, PipelineSpec):
            raise TypeError("parallel scoring needs a PipelineSpec (each worker builds its own pipeline)")
        # spawn (a clean interpreter per worker, no copied ONNX Runtime thread pools);
        # the workers exit if this process is killed
        # set by close(): a stopped run's workers score no further visit and write no report
        self._stop = multiprocessing.get_context("spawn").Event()
        self._pool = worker_pool(self.workers, _init_worker, (pipeline, report, provisional, self._stop))
        try:
            provenance, error = self._pool.submit(_provenance_in_worker, 0).result()
        except BaseException:  # Ctrl-C while the workers start: a pool left open hung the exit
            self.close(stopped=True)
            raise
        if error is not None:
            self.close()
            raise AloNetError(error)
        self.provenance = provenance

    def score(self, entries: Iterable) -> Iterator[tuple[Any, Any, str | None]]:
        entries = list(entries)
        if self._pool is None:
            for entry in entries:
                visit, error = _score(self._pipeline, entry, self.report, self.provenance, self.provisional)
                yield entry, visit, error
            return
        try:
            for entry, (visit, error, provenance) in zip(entries, self._pool.map(_score_in_worker, entries)):
                if provenance is None and error not in (None, "stopped"):  # its worker could not load
                    raise AloNetError(error)  # (every visit it took would become an error row)
                yield entry, visit, error
        except BrokenProcessPool:  # a worker killed (by the system when memory ran out, or by hand)
            raise AloNetError("a worker process ended unexpectedly (killed, perhaps for lack of memory); the "
                              "visits finished so far are kept in results.csv",
                              fix="rerun the same command (it goes on where it stopped), with --workers 1 "
                                  "if memory is short") from None

    def close(self, stopped: bool = False) -> None:
        """End the workers: after the last visit, or at once when ``stopped`` (Ctrl-C, an error)."""
        if self._pool is not None:
            self._stop.set()
            if stopped:
                self._pool.stop()
            else:
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> "VisitScorer":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(stopped=exc_type is not None)
