"""Processes: whether one is still running, and worker pools whose workers end with their parent.

A worker of a ``ProcessPoolExecutor`` is not told when its parent is killed
outright (``kill -9``, the out-of-memory killer, "End task" on Windows): it
finishes what it was doing and then waits for work forever, holding its memory.
(It never sees the end of its task queue: every worker holds that queue's
writing end too.) :func:`worker_pool` starts workers that watch their parent
and exit within about a second of its death, and whose log records the parent
handles (a "spawn" worker has none of the parent's logging set-up).

:func:`pid_alive` is also how :mod:`alonet.system.atomic` tells a temporary file
that a killed writer left behind from one that a running writer is still
filling.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from logging.handlers import QueueHandler, QueueListener
from pathlib import Path

#: Seconds between two looks at the parent (when no multiprocessing sentinel
#: says at once that it ended).
PARENT_POLL_S = 1.0

#: Exit status of a worker that stopped because its parent had died.
PARENT_GONE_EXIT = 3

_WINDOWS_STILL_ACTIVE = 259
_WINDOWS_ACCESS_DENIED = 5
_WINDOWS_QUERY_LIMITED_INFORMATION = 0x1000


def _linux_state(pid: int) -> str | None:
    """The state letter in ``/proc/PID/stat`` (``Z`` for a zombie), None where there is no /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # "PID (COMMAND) STATE ...": the command may itself hold spaces and parentheses.
    rest = text[text.rfind(")") + 1:].split()
    return rest[0] if rest else None


def _windows_pid_alive(pid: int) -> bool:
    if sys.platform != "win32":  # called on Windows only (pid_alive); mypy checks the rest with --platform win32
        raise RuntimeError("_windows_pid_alive is for Windows")
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    kernel32.OpenProcess.restype = wintypes.HANDLE
    kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    kernel32.GetExitCodeProcess.argtypes = (wintypes.HANDLE, ctypes.POINTER(wintypes.DWORD))
    kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    handle = kernel32.OpenProcess(_WINDOWS_QUERY_LIMITED_INFORMATION, False, pid)
    if not handle:
        # Access denied: the process exists (another user's). Otherwise (invalid
        # parameter) there is no such process.
        return ctypes.get_last_error() == _WINDOWS_ACCESS_DENIED
    try:
        code = wintypes.DWORD()
        if not kernel32.GetExitCodeProcess(handle, ctypes.byref(code)):
            return True  # cannot tell: count it as running
        return code.value == _WINDOWS_STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id is running on this machine.

    Errs towards "running" whenever it cannot tell (another user's process,
    an unexpected error), so a caller that deletes what a dead process left
    never deletes a live one's work. A zombie (ended, not yet reaped by its
    parent) counts as ended where ``/proc`` tells (Linux). On Windows this
    never calls ``os.kill``, which there would terminate the process.
    """
    if not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return True
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to another user
    except OSError:
        return True
    return _linux_state(pid) not in ("Z", "X")


def host_tag() -> str:
    """Eight hex digits naming this machine (a digest of its host name).

    Process ids are only meaningful on the machine that issued them; a
    temporary name carrying this tag is judged only by a process on the same
    machine (a folder may be shared over the network).
    """
    try:
        name = socket.gethostname()
    except OSError:
        name = ""
    return hashlib.sha256(name.encode("utf-8", "replace")).hexdigest()[:8]


def _parent_gone(parent_pid: int, parent) -> bool:
    if parent is not None and not parent.is_alive():
        return True
    if sys.platform != "win32" and os.getppid() != parent_pid:
        return True  # POSIX: an orphan is adopted by init (or a sub-reaper)
    return parent is None and not pid_alive(parent_pid)


def _watch_parent(parent_pid: int, poll_s: float) -> None:
    parent = multiprocessing.parent_process()  # None outside a multiprocessing child
    while not _parent_gone(parent_pid, parent):
        if parent is not None:
            parent.join(poll_s)  # returns as soon as the parent ends
        else:
            time.sleep(poll_s)
    # The parent can no longer take results: stop now, whatever is running.
    # Half-written outputs are temporary names that the next write removes.
    os._exit(PARENT_GONE_EXIT)


def watch_parent(parent_pid: int, poll_s: float = PARENT_POLL_S) -> threading.Thread:
    """Start a daemon thread that ends this process once ``parent_pid`` has ended."""
    thread = threading.Thread(target=_watch_parent, args=(parent_pid, poll_s),
                              name="alonet-parent-watch", daemon=True)
    thread.start()
    return thread


class _Forward(logging.Handler):
    """Hands a worker's record to this process's logger of the same name (and so to whatever
    this process set up: the ``alonet`` command's console, a program's own handlers)."""

    def emit(self, record: logging.LogRecord) -> None:
        logging.getLogger(record.name).handle(record)


class WorkerPool(ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` that stops the listener of its workers' log records after shutdown,
    and that ends its workers at once when its ``with`` block is left by an exception (:meth:`stop`)."""

    def __init__(self, *args, listener: QueueListener, **kwargs):
        super().__init__(*args, **kwargs)
        self._listener: QueueListener | None = listener

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_type is None:
            self.shutdown(wait=True)
        else:  # stopped (Ctrl-C, an error): no further job
            self.stop()
        return False

    def stop(self) -> None:
        """Drop the jobs not started and end the workers now, without waiting for the running ones.

        After a Ctrl-C, waiting for the workers to take their exit sentinels hung now and then
        (batch --workers 2: the workers idle on the job queue, this process joining them at
        exit). What a worker was writing is a temporary name that the next run removes.
        """
        processes = list((getattr(self, "_processes", None) or {}).values())  # the executor's own table
        self.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(10)
            if process.is_alive():  # SIGTERM not acted on in 10 s (seen once in CI): SIGKILL
                process.kill()
                process.join(10)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            super().shutdown(wait=wait, cancel_futures=cancel_futures)
        finally:
            listener, self._listener = self._listener, None
            if listener is not None:
                listener.stop()  # handles what the workers logged before it returns


def _start_worker(parent_pid: int, log_queue, log_level: int, initializer: Callable[..., object] | None,
                  initargs: tuple) -> None:
    # Ctrl-C in a terminal reaches the whole process group; stopping is the parent's to do
    # (``WorkerPool.stop`` drops the jobs not started and ends the workers). A worker's own
    # KeyboardInterrupt came back as its job's result while it went on with the next job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch_parent(parent_pid)
    logger = logging.getLogger("alonet")  # the worker's records go to the parent, at the parent's level
    logger.addHandler(QueueHandler(log_queue))
    logger.setLevel(log_level)
    logger.propagate = False
    if initializer is not None:
        initializer(*initargs)


def worker_pool(workers: int, initializer: Callable[..., object] | None = None,
                initargs: tuple = ()) -> WorkerPool:
    """A ``ProcessPoolExecutor`` of ``workers`` "spawn" processes that exit when this process dies.

    "spawn", not the Linux default "fork": a process forked after torch,
    ONNX Runtime or OpenCV started their thread pools can deadlock.
    ``initializer(*initargs)`` runs in each worker as with the executor's own
    argument (both must be picklable). What the workers log on ``alonet`` loggers is
    handled in this process, as if it had been logged here.
    """
    context = multiprocessing.get_context("spawn")
    log_queue = context.Queue()
    listener = QueueListener(log_queue, _Forward())
    listener.start()
    level = logging.getLogger("alonet").getEffectiveLevel()
    return WorkerPool(max_workers=workers, mp_context=context, initializer=_start_worker,
                 initargs=(os.getpid(), log_queue, level, initializer, initargs), listener=listener)
