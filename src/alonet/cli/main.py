"""Entry point of the ``alonet`` command.

Each verb lives in its own module under ``alonet.cli`` and is imported only
when it is used, so ``alonet --help`` and ``alonet salt`` never import torch.
To add a verb, add one line to ``COMMANDS``.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType

import click

from alonet import __version__
from alonet.cli.console_log import console_log
from alonet.errors import AloNetError

#: verb -> "module:attribute" of its click command, in pipeline order.
COMMANDS: Mapping[str, str] = MappingProxyType({
    "phantom": "alonet.cli.phantom_cmd:phantom_command",
    "convert": "alonet.cli.convert_cmd:convert",
    "train": "alonet.cli.train_cmd:train_command",
    "adapt": "alonet.cli.adapt_cmd:adapt_command",
    "evaluate": "alonet.cli.evaluate_cmd:evaluate_command",
    "predict": "alonet.cli.predict_cmd:predict_command",
    "score": "alonet.cli.score_cmd:score_command",
    "batch": "alonet.cli.batch_cmd:batch_command",
    "export": "alonet.cli.export_cmd:export_command",
    "demo": "alonet.cli.demo_cmd:demo_command",
    "salt": "alonet.cli.salt_cmd:salt",
    "serve": "alonet.cli.serve_cmd:serve_command",
})


class LazyGroup(click.Group):
    """A click group that imports each verb's module on first use."""

    def __init__(self, *args, lazy: Mapping[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.lazy) + sorted(set(super().list_commands(ctx)) - set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module_name, attr = self.lazy[name].split(":")
            return getattr(importlib.import_module(module_name), attr)
        return super().get_command(ctx, name)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="alonet")
def cli() -> None:
    """AloNet: measure scalp hair loss in alopecia areata and compute the SALT score.

    Pipeline: convert/phantom (data) -> train -> evaluate -> export -> predict/score/batch
    (inference and reports) -> serve (web application) -> adapt (a clinic's corrections
    fine-tune the model).
    """


def _tolerant_console() -> None:
    """Print what the console cannot encode as escapes instead of failing.

    A Windows console redirected to a file or pipe encodes with the ANSI code page,
    which has no 中文 or many accented letters: a photograph's or patient's name
    would otherwise end the command with a UnicodeEncodeError after the work was done.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and (getattr(stream, "encoding", "") or "").lower().replace("-", "") != "utf8":
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or detached stream: leave it as it is
                pass


#: errno -> what to do, for OS errors the checks before a command could not foresee.
_OS_FIXES: Mapping[int, str] = MappingProxyType({
    errno.ENAMETOOLONG: "a file name or path is too long: use a shorter output folder path or shorter labels",
    errno.ENOSPC: "the disk is full: free some space, then run the command again",
    errno.EACCES: "permission denied: fix the permissions or choose another folder, then run the command again",
    errno.EROFS: "the disk is read-only: choose another output folder",
})


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``docker stop``, a scheduler's time limit) taken like Ctrl+C: the
    command unwinds, so temporaries are removed, locks released and finished work kept, and
    each command's "stopped: rerun to continue" message is printed."""


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` in the main thread (the
    default would end the process at once, leaving temporaries and lock files behind).

    Left alone: SIGTERM called from another thread (only the main thread may set handlers),
    ignored by whoever started the process (as Python leaves an ignored SIGINT), or handled
    outside Python (an embedding program). A second SIGTERM while the command unwinds ends it
    at once, as before this handler existed."""
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or previous in (signal.SIG_IGN, None):
        yield
        return

    def terminate(signum, frame):
        signal.signal(signal.SIGTERM, previous)  # a second SIGTERM does what it did before
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; turn AloNet errors into one line on stderr and exit status 2.

    AloNet's log records show on stderr while the command runs (:mod:`alonet.cli.console_log`).
    Ctrl+C exits 130, SIGTERM 143 (128 + the signal), each after the command has unwound."""
    _tolerant_console()
    try:
        with sigterm_unwinds(), console_log():
            cli.main(args=argv, prog_name="alonet", standalone_mode=False)
    except AloNetError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort as exc:  # click turns a KeyboardInterrupt inside a command into Abort
        if isinstance(exc.__cause__, Terminated):
            click.echo("terminated", err=True)
            return 128 + signal.SIGTERM
        click.echo("aborted", err=True)
        return 130
    except Terminated:
        click.echo("terminated", err=True)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except MemoryError:
        click.echo("error: out of memory (close other programs, or lower what the command holds at once: "
                   "--size, --batch, --workers or --max-pixels, where it has them)", err=True)
        return 2
    except OSError as exc:  # a write (or read) the checks could not foresee: full disk, lost mount
        reason = exc.strerror or " ".join(str(exc).split()) or exc.__class__.__name__
        fix = "check the disk space and permissions, then run the command again"
        if exc.errno is not None:  # None: an error without a code
            fix = _OS_FIXES.get(exc.errno, fix)
        if getattr(exc, "filename", None):
            click.echo(f"error: cannot access {exc.filename}: {reason} ({fix})", err=True)
        else:  # a write through an open file (a full disk, a file-size limit) names no file
            click.echo(f"error: a file could not be read or written: {reason} ({fix})", err=True)
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
