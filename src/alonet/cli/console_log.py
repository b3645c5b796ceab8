"""The ``alonet`` command's console log: AloNet's log records as lines on stderr.

Library modules never write to the terminal; they log on ``logging.getLogger(__name__)``
(every name under ``alonet``), the line a user should read as the message, "warning: "
included where it is one. ``alonet.cli.main.main`` runs every command inside
:func:`console_log`, which shows those records (INFO and up) on stderr through
``tqdm.write``, so a line never breaks a progress bar. Inside the block the ``alonet``
logger does not propagate: a root handler that another library sets up (ONNX Runtime's
quantiser calls ``logging.warning``, which installs one) would print every line a second
time. When the block ends the logger is as it was, so a program that calls ``main()`` keeps
its own logging set-up and a program that only imports ``alonet`` sees nothing unless it
configures logging (``alonet/__init__.py`` gives the logger a ``NullHandler``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

#: The command's own lines: the message alone, as the library wrote it.
PLAIN_FORMAT = "%(message)s"
#: ``alonet serve``: each line with its time and the logger's name (``alonet.web``).
SERVER_FORMAT = "%(asctime)s %(name)s %(message)s"


class ConsoleHandler(logging.Handler):
    """One line per record on ``sys.stderr`` (looked up for each record, so a redirected or
    captured stderr is the one written to), above any tqdm progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            from tqdm import tqdm

            tqdm.write(line, file=sys.stderr)
            sys.stderr.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


@contextmanager
def console_log(fmt: str = PLAIN_FORMAT, level: int = logging.INFO) -> Iterator[ConsoleHandler]:
    """Show the ``alonet`` logger's records of ``level`` and up on stderr, formatted with
    ``fmt``, until the block ends. Nested, the inner block's handler replaces the outer one's
    for its duration (``alonet serve`` switches to :data:`SERVER_FORMAT` that way)."""
    logger = logging.getLogger("alonet")
    handler = ConsoleHandler()
    handler.setFormatter(logging.Formatter(fmt))
    outer = [each for each in logger.handlers if isinstance(each, ConsoleHandler)]
    before = (logger.level, logger.propagate)
    for each in outer:
        logger.removeHandler(each)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        for each in outer:
            logger.addHandler(each)
        logger.setLevel(before[0])
        logger.propagate = before[1]


__all__ = ["ConsoleHandler", "PLAIN_FORMAT", "SERVER_FORMAT", "console_log"]
