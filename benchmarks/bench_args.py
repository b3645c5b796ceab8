"""What every benchmark script shares: counts checked by argparse, and AloNet's errors as one line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from alonet.errors import AloNetError


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (rounds, steps, sizes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def run(main: Callable[[], int | None]) -> None:
    """Run a benchmark's ``main`` and exit with its status; an AloNet error (a wrong
    --model, say) is printed as one ``error:`` line with exit status 2, not a traceback."""
    try:
        code = main()
    except AloNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code or 0)
