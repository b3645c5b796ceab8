"""How AloNet talks to the terminal: library modules log on ``alonet.*`` loggers and never
write to stderr themselves; the ``alonet`` command shows those records on stderr (above any
progress bar) for as long as it runs, and leaves logging as it found it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from test_convert_inputs import phantom_folder

from alonet.cli.console_log import SERVER_FORMAT, ConsoleHandler, console_log
from alonet.cli.main import main
from alonet.data.pairing import find_pairs
from alonet.train.distributed import DistContext

SRC = Path(__file__).resolve().parents[1] / "src"
TESTS = Path(__file__).resolve().parent


def nnunet_folder(root: Path) -> Path:
    """A phantom-like folder whose photographs carry nnU-Net's ``_0000`` suffix: pairing
    them warns (one line)."""
    phantom_folder(root)
    for path in sorted((root / "photographs").iterdir()):
        path.rename(path.with_name(f"{path.stem}_0000{path.suffix}"))
    return root


def folders(root: Path) -> list[Path]:
    return [root / "photographs", root / "scalp", root / "hairloss"]


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)])})


def test_a_library_warning_is_a_log_record_not_a_line_on_stderr(tmp_path, caplog):
    root = nnunet_folder(tmp_path / "in")
    with caplog.at_level(logging.INFO, logger="alonet"):
        pairs, problems = find_pairs(*folders(root))
    assert len(pairs) == 8 and not problems
    [record] = caplog.records
    assert record.name == "alonet.data.pairing" and record.levelno == logging.WARNING
    assert record.getMessage().startswith("warning: 8 photograph(s) end in nnU-Net's channel suffix _0000")


def test_a_program_that_configures_no_logging_sees_nothing_and_one_that_does_sees_the_warning(tmp_path):
    root = nnunet_folder(tmp_path / "in")
    call = f"from alonet.data.pairing import find_pairs; print(len(find_pairs(*{[str(f) for f in folders(root)]})[0]))"
    silent = python(call)
    assert silent.returncode == 0 and silent.stdout == "8\n"
    assert silent.stderr == ""  # before: "warning: ..." printed by the library itself
    configured = python(f"import logging; logging.basicConfig(format='%(name)s %(message)s'); {call}")
    assert configured.stderr.startswith("alonet.data.pairing warning: 8 photograph(s) end in nnU-Net's")


def test_the_command_shows_the_warnings_on_stderr_and_restores_logging(tmp_path, capsys):
    root = nnunet_folder(tmp_path / "in")
    logger = logging.getLogger("alonet")
    before = (list(logger.handlers), logger.level, logger.propagate)
    code = main(["convert", *map(str, folders(root)), "-o", str(tmp_path / "ds"), "--size", "8"])
    captured = capsys.readouterr()
    assert code == 0 and captured.out.startswith("converted 8 pairs")
    lines = [line for line in captured.err.splitlines() if line.startswith("warning: ")]
    assert lines[0].startswith("warning: 8 photograph(s) end in nnU-Net's channel suffix _0000")
    assert lines[1].startswith("warning: no manifest: ")
    assert (list(logger.handlers), logger.level, logger.propagate) == before
    assert not any(isinstance(h, ConsoleHandler) for h in logger.handlers)


def test_a_logged_line_clears_the_progress_bar_instead_of_running_into_it(capsys):
    from tqdm import tqdm

    with console_log():
        bar = tqdm(total=3, desc="work", file=sys.stderr, mininterval=0)
        bar.update(1)
        logging.getLogger("alonet.test").info("a line")
        bar.close()
    err = capsys.readouterr().err
    assert "\ra line\n" in err  # the bar was cleared first (print would append to it: "...]a line")


def test_console_log_levels_nesting_and_the_server_format(capsys):
    log = logging.getLogger("alonet.test")
    with console_log():
        log.debug("hidden")
        log.info("shown")
        with console_log(SERVER_FORMAT):
            log.warning("served")
        log.info("plain again")
    log.warning("after the command")  # outside: no console handler (pytest's own capture aside)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "shown" and lines[-1] == "plain again" and len(lines) == 3
    assert lines[1].endswith(" alonet.test served") and lines[1][:4].isdigit()


def test_only_rank_0_of_a_distributed_run_logs(caplog):
    log = logging.getLogger("alonet.train.loop")
    with caplog.at_level(logging.INFO, logger="alonet"):
        DistContext(rank=1, world_size=2).log(log.info, "from rank 1")
        DistContext(rank=0, world_size=2).log(log.warning, "warning: from rank 0")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [(logging.WARNING, "warning: from rank 0")]


def test_what_a_worker_process_logs_is_handled_by_its_parent(caplog):
    from alonet.system.processes import worker_pool

    with caplog.at_level(logging.INFO, logger="alonet"):
        with worker_pool(1, logging.getLogger("alonet.test").warning, ("warning: from a worker",)) as pool:
            worker = pool.submit(os.getpid).result()
    [record] = [r for r in caplog.records if r.name == "alonet.test"]
    assert record.getMessage() == "warning: from a worker" and record.process == worker != os.getpid()
