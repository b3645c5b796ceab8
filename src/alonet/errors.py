"""Typed errors. Every error carries a one-line message that names the file
(where there is one) and says how to fix the problem. The CLI prints
``error: <message>`` and exits with status 2; it never shows a traceback for
these."""

from __future__ import annotations

from pathlib import Path


class AloNetError(Exception):
    """Base class of all errors AloNet raises for bad input or bad state."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, fix: str | None = None):
        self.path = Path(path) if path is not None else None
        self.fix = fix
        text = message
        if path is not None and str(path) not in message:
            text = f"{path}: {message}"
        #: The message without the fix, for an error that wraps this one and gives its own fix.
        self.reason = " ".join(text.split())
        if fix:
            text = f"{text} ({fix})"
        super().__init__(" ".join(text.split()))  # always a single line

    @property
    def message(self) -> str:
        return str(self)


class ImageReadError(AloNetError):
    """A photograph or annotation could not be read."""


class NotAnImageError(ImageReadError):
    """The file is not an image in a supported format."""


class TruncatedImageError(ImageReadError):
    """The image file ends early or is corrupt."""


class EmptyImageError(ImageReadError):
    """The file is empty or the image has zero width or height."""


class ImageTooLargeError(ImageReadError):
    """The image has more pixels than the configured cap (decompression-bomb guard)."""


class ImageTooSmallError(ImageReadError):
    """The image is too small for what it is asked to become (e.g. a training sample)."""


class UnsupportedImageModeError(ImageReadError):
    """The image's colour mode cannot be turned into RGB or a binary mask."""


class SizeMismatchError(AloNetError):
    """An annotation's size differs from its photograph's."""


class EmptyAnnotationError(AloNetError):
    """An annotation that must contain a region is empty."""


class MissingViewError(AloNetError):
    """A view needed for a SALT score is missing."""


class InvalidValueError(AloNetError):
    """A number or option is out of range (e.g. a percentage above 100)."""


class DatasetError(AloNetError):
    """A dataset folder is missing, incomplete or inconsistent."""


class OutputExistsError(AloNetError):
    """An output path already holds data that would be overwritten."""


class ModelError(AloNetError):
    """A model file or model directory is missing or invalid."""


class DuplicateViewError(AloNetError):
    """The same photograph was given for two views of a visit."""


class ScoreWithheldError(AloNetError):
    """The work ran, but its result is withheld or partly failed: a visit's SALT
    needs a retake, or some batch rows are errors. Exit status 3."""

    exit_code = 3


class OutputNotWritableError(AloNetError):
    """An output folder cannot be written (permissions, full disk, a file in the way)."""


class KeyFileError(AloNetError):
    """A secret key file is missing, cannot be read, is damaged, or is not the key the data needs."""


class RunInUseError(AloNetError):
    """A training run folder is being written by another process (its lock file names it)."""
