"""The records that pairing, the manifest checks and conversion pass on.

A ``Pair`` is one photograph with its two annotations and its manifest fields; a
``Problem`` says why a stem cannot be converted; ``stem_key`` is how stems are compared
(the key of files, pairs and manifest rows alike). Finding pairs is ``alonet.data.pairing``,
checking their manifest rows ``alonet.data.manifest``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path


def stem_key(stem: str) -> str:
    """How file stems are compared: without case, and with accents composed (NFC), since
    macOS file names hold ``é`` as ``e`` plus a combining accent while a manifest typed by
    hand holds one character."""
    return unicodedata.normalize("NFC", stem).casefold()


@dataclass(frozen=True)
class Pair:
    """One photograph with its two annotations and its manifest fields."""

    stem: str
    photo: Path
    scalp: Path
    hairloss: Path
    patient: str = ""
    visit: str = ""
    view: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Problem:
    """Why a pair cannot be converted."""

    stem: str
    file: str
    reason: str

    def __str__(self) -> str:
        return f"{self.stem}: {self.reason}"


__all__ = ["Pair", "Problem", "stem_key"]
