"""Temporary names that a killed writer left are removed by the next write; nothing else is.

A temporary name carries its writer's host tag and process id
(``.NAME.tmp-<host>-<pid>-<random>``). Only names of exactly that pattern for
the target, from this machine and a process that has ended, are removed: a
running writer (here the test's own process) keeps its own.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alonet.system.atomic import (
    atomic_directory,
    atomic_write_bytes,
    atomic_write_text,
    remove_stale_temps,
    scratch_directory,
    temp_path_for,
)
from alonet.system.processes import host_tag, pid_alive

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def dead_pid() -> int:
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not pid_alive(child.pid)
    return child.pid


def other_host() -> str:
    return "0" * 8 if host_tag() != "0" * 8 else "1" * 8


def names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_temp_names_say_which_process_on_which_host_wrote_them(tmp_path):
    temp = temp_path_for(tmp_path / "hairloss.onnx")
    assert temp.parent == tmp_path and temp.suffix == ".onnx"
    assert re.fullmatch(rf"\.hairloss\.tmp-{host_tag()}-{os.getpid()}-[0-9a-f]{{8}}\.onnx", temp.name)
    seen = []
    with atomic_directory(tmp_path / "phk") as folder:
        seen.append(folder.name)
    assert re.fullmatch(rf"\.phk\.tmp-{host_tag()}-{os.getpid()}-[0-9a-f]{{8}}", seen[0])


def test_a_file_write_removes_only_what_ended_writers_of_that_file_left(tmp_path, dead_pid):
    host, me = host_tag(), os.getpid()
    stale = [f".hairloss.tmp-{host}-{dead_pid}-0123abcd.onnx", f".hairloss.onnx.tmp-{host}-{dead_pid}-0123abcd"]
    kept = [
        f".hairloss.tmp-{host}-{me}-89abcdef.onnx",  # a running writer's (this process)
        f".hairloss.tmp-{other_host()}-{dead_pid}-0123abcd.onnx",  # another machine's process
        ".hairloss.tmp-10ec1f99.onnx",  # no process in the name (older AloNet)
        f".hairloss.tmp-{host}-{dead_pid}-0123abcd.onnx.bak",
        f".hairloss.tmp-{host}-{dead_pid}-0123ABCD.onnx",
        f".hairloss.tmp-{host}-{dead_pid}-0123abcd.json",
        f"hairloss.tmp-{host}-{dead_pid}-0123abcd.onnx",
        f".scalp.tmp-{host}-{dead_pid}-0123abcd.onnx",  # another target's
        f".hairloss.old-{host}-{dead_pid}-0123abcd.onnx",  # moved aside: its target did not exist
        "notes.txt",
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x" * 100)
    atomic_write_bytes(tmp_path / "hairloss.onnx", b"model")
    assert names(tmp_path) == set(kept) | {"hairloss.onnx"}
    assert (tmp_path / "hairloss.onnx").read_bytes() == b"model"


def test_a_folder_write_removes_stale_temp_folders_with_their_contents(tmp_path, dead_pid):
    host, me = host_tag(), os.getpid()
    stale = tmp_path / f".phk.tmp-{host}-{dead_pid}-0123abcd"
    (stale / "photographs").mkdir(parents=True)
    (stale / "photographs" / "p.jpg").write_bytes(b"\xff" * 1000)
    live = tmp_path / f".phk.tmp-{host}-{me}-0123abcd"
    live.mkdir()
    aside = tmp_path / f".phk.old-{host}-{dead_pid}-0123abcd"  # killed between the two renames
    (aside / "old").mkdir(parents=True)
    with atomic_directory(tmp_path / "phk") as folder:
        (folder / "manifest.csv").write_text("new")
    # the moved-aside folder was the only copy of the old output while phk was missing
    assert names(tmp_path) == {"phk", live.name, aside.name}
    with atomic_directory(tmp_path / "phk", overwrite=True) as folder:
        (folder / "manifest.csv").write_text("newer")
    assert names(tmp_path) == {"phk", live.name}
    assert (tmp_path / "phk" / "manifest.csv").read_text() == "newer"


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_stale_name_that_is_a_link_is_removed_without_following_it(tmp_path, dead_pid):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / f".a.tmp-{host_tag()}-{dead_pid}-0123abcd.txt").symlink_to(elsewhere)
    atomic_write_text(out / "a.txt", "a")
    assert names(out) == {"a.txt"} and (elsewhere / "keep.txt").read_text() == "keep"


def test_remove_stale_temps_says_what_it_removed_and_never_raises(tmp_path, dead_pid):
    stale = tmp_path / f".a.tmp-{host_tag()}-{dead_pid}-0123abcd.txt"
    stale.write_text("x")
    assert remove_stale_temps(tmp_path / "a.txt") == [stale]
    assert remove_stale_temps(tmp_path / "missing-folder" / "a.txt") == []


def test_saving_a_model_removes_what_a_killed_save_left(tmp_path, dead_pid):
    from alonet.model import ModelConfig, build_model, save_model

    stale = [tmp_path / f".m.tmp-{host_tag()}-{dead_pid}-0123abcd{suffix}" for suffix in (".json", ".safetensors")]
    for path in stale:
        path.write_bytes(b"half")
    cfg = ModelConfig(task="hairloss", base_width=4, depth=2, input_size=32)
    save_model(build_model(cfg), cfg, tmp_path / "m")
    assert names(tmp_path) == {"m.json", "m.safetensors"}


def test_scratch_folders_of_ended_runs_are_removed_before_a_new_one(tmp_path, dead_pid):
    host, me = host_tag(), os.getpid()
    stale = tmp_path / f"alonet-int8-{host}-{dead_pid}-0123abcd"
    (stale / "hairloss.onnx").parent.mkdir()
    (stale / "hairloss.onnx").write_bytes(b"x" * 1000)
    kept = {f"alonet-int8-{host}-{me}-0123abcd", f"alonet-int8-{other_host()}-{dead_pid}-0123abcd",
            "alonet-int8-abcd1234", f"alonet-export-{host}-{dead_pid}-0123abcd"}
    for name in kept:
        (tmp_path / name).mkdir()
    with scratch_directory("int8", parent=tmp_path) as work:
        assert re.fullmatch(rf"alonet-int8-{host}-{me}-[0-9a-f]{{8}}", work.name) and work.is_dir()
        (work / "f.onnx").write_bytes(b"x")
        assert names(tmp_path) == kept | {work.name}
    assert names(tmp_path) == kept


def start_long_phantom_run(out, stderr) -> subprocess.Popen:
    """`alonet phantom` writing 200 patients to ``out`` (long enough to be stopped midway)."""
    environment = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-m", "alonet", "phantom", "--patients", "200", "--size", "96",
                             "-o", str(out)], env=environment, stderr=stderr, text=True)


def wait_for_its_first_photograph(run: subprocess.Popen, folder) -> None:
    """Wait (up to 2 minutes) until the run's temporary folder in ``folder`` holds a photograph."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any((folder / n / "photographs").is_dir()
                                                   and any((folder / n / "photographs").iterdir())
                                                   for n in os.listdir(folder)):
        assert run.poll() is None, "the run ended before it could be stopped"
        time.sleep(0.1)


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_a_phantom_run_killed_midway_leaves_a_temp_folder_that_the_next_run_removes(tmp_path):
    out = tmp_path / "phk"
    run = start_long_phantom_run(out, stderr=subprocess.DEVNULL)
    try:
        wait_for_its_first_photograph(run, tmp_path)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    left = names(tmp_path)
    assert len(left) == 1 and left.pop().startswith(".phk.tmp-") and not out.exists()

    from alonet.phantom.writer import PhantomSpec, write_phantoms

    write_phantoms(PhantomSpec(out=out, patients=1, size=64), progress=False)
    assert names(tmp_path) == {"phk"}


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGTERM")
def test_a_run_sent_sigterm_unwinds_like_ctrl_c_and_leaves_nothing_behind(tmp_path):
    """Before: SIGTERM (`kill`, `docker stop`, a scheduler's time limit) ended the process at once,
    leaving its temporary folder (and a batch's or training's lock file) for a later run to find."""
    out = tmp_path / "pht"
    run = start_long_phantom_run(out, stderr=subprocess.PIPE)
    try:
        wait_for_its_first_photograph(run, tmp_path)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 143 and err.strip().splitlines()[-1] == "terminated", err[-500:]
    assert "Traceback" not in err and names(tmp_path) == set()


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGTERM")
def test_sigterm_unwinds_once_and_leaves_an_ignored_sigterm_alone():
    from alonet.cli.main import Terminated, sigterm_unwinds

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with sigterm_unwinds():
            assert signal.getsignal(signal.SIGTERM) is not before
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)  # the handler raises as soon as the signal arrives
            finally:
                # while the command unwinds, a second SIGTERM does what it did before
                assert signal.getsignal(signal.SIGTERM) == before
    assert signal.getsignal(signal.SIGTERM) == before
    # a SIGTERM that whoever started the process chose to ignore stays ignored
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with sigterm_unwinds():
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
    finally:
        signal.signal(signal.SIGTERM, before)
