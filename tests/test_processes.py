"""Worker processes end when their parent is killed; telling running processes from ended ones.

The kill tests start a real parent process and kill it with SIGKILL (nothing
runs in it afterwards, as with ``kill -9`` or the out-of-memory killer), so
they are skipped on Windows, which has no SIGKILL.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alonet.system.processes import pid_alive, worker_pool

SRC = Path(__file__).resolve().parents[1] / "src"
HAS_PROC = Path("/proc/self/stat").is_file()

# A parent that starts two spawn workers (each records its pid), keeps them
# busy and then waits to be killed.
PARENT = """
import os, sys, time
from pathlib import Path

from alonet.system.processes import worker_pool


def record(folder):
    Path(folder, str(os.getpid())).write_text("")


if __name__ == "__main__":
    pool = worker_pool(2, record, (sys.argv[1],))
    busy = [pool.submit(time.sleep, 120) for _ in range(2)]
    time.sleep(300)
"""


def environment() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}


def children_of(pid: int) -> set[int]:
    """Linux: the processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 1:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def wait_until(condition, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def kill_all(pids) -> None:
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_pid_alive_tells_running_from_ended_processes():
    assert pid_alive(os.getpid())
    assert not pid_alive(0) and not pid_alive(-1)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert not pid_alive(ended.pid)
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert pid_alive(running.pid)
    finally:
        running.kill()
        running.wait()


@pytest.mark.skipif(not HAS_PROC, reason="zombies are recognised where /proc tells (Linux)")
def test_a_zombie_counts_as_ended():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        assert wait_until(lambda: not pid_alive(child.pid), 30)  # ended, not yet reaped
        assert Path(f"/proc/{child.pid}").exists()
    finally:
        child.wait()


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_pool_workers_exit_when_their_parent_is_killed(tmp_path):
    script, pids = tmp_path / "parent.py", tmp_path / "pids"
    script.write_text(PARENT, encoding="utf-8")
    pids.mkdir()
    parent = subprocess.Popen([sys.executable, str(script), str(pids)], env=environment())
    workers: set[int] = set()
    others: set[int] = set()
    try:
        assert wait_until(lambda: len(list(pids.iterdir())) == 2, 120), "the workers did not start"
        workers = {int(p.name) for p in pids.iterdir()}
        assert all(pid_alive(pid) for pid in workers)
        if HAS_PROC:  # also multiprocessing's resource tracker
            others = children_of(parent.pid) - workers
            assert workers <= children_of(parent.pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        assert wait_until(lambda: not any(pid_alive(pid) for pid in workers | others), 10), \
            f"still running after their parent was killed: {[p for p in workers | others if pid_alive(p)]}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        kill_all(workers | others)


def test_pool_workers_run_the_initializer_and_work(tmp_path):
    with worker_pool(1, os.chdir, (str(tmp_path),)) as pool:
        assert Path(pool.submit(os.getcwd).result(timeout=120)).resolve() == tmp_path.resolve()
        assert pool.submit(os.getpid).result() != os.getpid()


def test_a_pool_left_by_an_exception_drops_the_jobs_not_started():
    """An audit (thirty-third session): Ctrl-C sent to `alonet phantom --workers 2` alone (not to
    its workers) printed "aborted" and then ran every remaining patient before exiting."""
    futures = []
    with pytest.raises(KeyboardInterrupt):
        with worker_pool(1) as pool:
            futures = [pool.submit(time.sleep, 0.2) for _ in range(20)]
            futures[0].result(timeout=120)
            raise KeyboardInterrupt
    # the jobs not started are cancelled at once; the one or two handed to the (terminated)
    # worker are marked failed by the executor's own thread a moment later (on a busy machine
    # not yet when the with block ends: checking at once failed now and then)
    assert sum(f.cancelled() for f in futures) >= 15  # at most a few had started
    concurrent.futures.wait(futures, timeout=30)
    assert all(f.done() for f in futures)


def test_a_stopped_pool_ends_its_running_workers_instead_of_waiting_for_them():
    """An audit (thirty-third session): after Ctrl-C, `batch --workers 2` now and then never
    exited (its workers idle on the job queue, never given their exit sentinels); a stopped pool
    now ends its workers itself instead of waiting for them."""
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with worker_pool(1) as pool:
            assert pool.submit(os.getpid).result(timeout=120) > 0  # the worker is up
            pool.submit(time.sleep, 600)
            processes = list(pool._processes.values())
            raise KeyboardInterrupt
    for process in processes:  # on a loaded machine the end can be reaped a moment after stop()
        process.join(60)
    assert processes and not any(p.is_alive() for p in processes)
    # not a speed check: waiting for the job instead would take its whole 600 s
    assert time.monotonic() - started < 300


def test_batch_and_phantom_pools_watch_their_parent(monkeypatch, tmp_path):
    """Both ``--workers N`` pools are made by worker_pool (whose workers watch their parent)."""
    from alonet.phantom import writer
    from alonet.report.batch import workers as batch_workers

    made = []

    class Made(Exception):
        pass

    def fake_pool(workers, initializer=None, initargs=()):
        made.append((workers, initializer))
        raise Made

    monkeypatch.setattr(batch_workers, "worker_pool", fake_pool)
    monkeypatch.setattr(writer, "worker_pool", fake_pool)
    with pytest.raises(Made):
        batch_workers.VisitScorer(batch_workers.PipelineSpec(), workers=2)
    with pytest.raises(Made):
        writer.write_phantoms(writer.PhantomSpec(out=tmp_path / "ph", patients=2, size=64, workers=2),
                              progress=False)
    assert made == [(2, batch_workers._init_worker), (2, None)]
    assert not (tmp_path / "ph").exists()


def test_a_batch_worker_whose_pipeline_failed_to_build_reports_why_for_its_visits(tmp_path, monkeypatch):
    """Only the worker that answers the first provenance request is checked for a failed
    build; another worker whose build failed (a missing model set here) used to crash on
    ``None.provenance()`` with an AttributeError for every visit it took. Now each of its
    visits gets the build's own message as its error (found by mypy)."""
    from alonet.report.batch import workers as batch_workers

    for name in ("pipeline", "report", "error", "provisional"):
        monkeypatch.setattr(batch_workers._Worker, name, getattr(batch_workers._Worker, name))
    batch_workers._init_worker(batch_workers.PipelineSpec(models=str(tmp_path / "no-such-model-set")), None)
    assert batch_workers._Worker.pipeline is None and batch_workers._Worker.error
    visit, error, provenance = batch_workers._score_in_worker(object())
    assert visit is None and provenance is None
    assert error == batch_workers._Worker.error and "no-such-model-set" in error
