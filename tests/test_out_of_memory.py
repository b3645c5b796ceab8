"""Running out of memory says so in one line (a resource audit, thirty-fourth session): ONNX
Runtime's own exceptions (``std::bad_alloc``) reached the user as a traceback, a session that
could not be opened for lack of memory counted as a missing export, a batch worker killed by the
system ended the run with a BrokenProcessPool traceback, and the web app answered a bare 500."""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

from test_web import make_app, model_dir, pipeline  # noqa: F401

from alonet.errors import AloNetError
from alonet.infer.onnx_runtime import out_of_memory


class OrtRuntimeException(Exception):
    """Stands in for onnxruntime's own (private) exception types."""


def test_what_onnx_runtime_says_about_memory_is_recognised():
    assert out_of_memory(OrtRuntimeException("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : std::bad_alloc"))
    assert out_of_memory(OSError("pthread_create failed: Cannot allocate memory")) and out_of_memory(MemoryError())
    assert not out_of_memory(OrtRuntimeException("[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : wrong rank"))
    # a damaged file in a folder whose name only sounds like memory is a damaged file
    path = "/models failed to allocate run/hairloss.onnx"
    assert not out_of_memory(OrtRuntimeException(f"[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model from {path} "
                                                 "failed: Protobuf parsing failed."), path)
    assert not out_of_memory(OrtRuntimeException("bad_allocation_policy"))


def test_a_network_pass_without_memory_is_a_memory_error():
    from alonet.infer.backends import OnnxBackend
    from alonet.model.config import ModelConfig

    class Session:
        def run(self, outputs, feeds):
            raise OrtRuntimeException("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : std::bad_alloc")

    backend = OnnxBackend.__new__(OnnxBackend)
    backend._sessions = {"hairloss": (Session(), "image")}
    backend.configs = {"hairloss": ModelConfig(task="hairloss", base_width=4, depth=2, input_size=32)}
    with pytest.raises(MemoryError, match="out of memory running the hairloss network"):
        backend.predict("hairloss", np.zeros((1, 32, 32, 3), np.uint8))


def test_a_batch_worker_that_could_not_load_ends_the_run():
    """A review (thirty-fourth session): only the worker answering the start-up check was
    checked; another that could not load turned every visit it took into an error row."""
    from alonet.report.batch.workers import VisitScorer

    class HalfLoadedPool:
        def map(self, function, entries):
            yield "visit", None, {"model": "default"}
            yield None, "a worker process could not load the networks (std::bad_alloc); rerun with --workers 1", None

        def stop(self):
            pass

    scorer = VisitScorer.__new__(VisitScorer)
    scorer._pool = HalfLoadedPool()
    scored = []
    with pytest.raises(AloNetError, match="a worker process could not load the networks"):
        for item in scorer.score(["v1", "v2"]):
            scored.append(item)
    assert scored == [("v1", "visit", None)]


def test_a_batch_worker_killed_ends_the_run_with_one_line():
    from alonet.report.batch.workers import VisitScorer

    class KilledPool:
        def map(self, function, entries):
            raise BrokenProcessPool("A process in the process pool was terminated abruptly")

        def stop(self):
            pass

    scorer = VisitScorer.__new__(VisitScorer)
    scorer._pool = KilledPool()
    with pytest.raises(AloNetError, match=r"a worker process ended unexpectedly \(killed, perhaps for lack of memory\)"):
        list(scorer.score(["visit"]))


def test_the_web_app_out_of_memory_is_a_503_that_says_so(make_app, monkeypatch):  # noqa: F811
    import alonet.web.routes.score as score_routes

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(score_routes, "render_template", no_memory)
    answer = make_app().test_client().get("/")
    assert answer.status_code == 503 and "ran out of memory for this request" in answer.get_data(as_text=True)


def test_the_web_app_gives_freed_memory_back_after_a_request(make_app, monkeypatch):  # noqa: F811
    import sys

    import alonet.web.app as web_app

    calls = []
    monkeypatch.setattr(web_app, "release_freed_memory", lambda: calls.append(1) or True)
    client = make_app().test_client()
    client.get("/")
    client.get("/static/alonet.css")  # not after a static file
    assert calls == [1]
    if sys.platform.startswith("linux"):
        monkeypatch.undo()
        assert web_app.release_freed_memory() in (True, False)  # glibc's malloc_trim answers, no error
