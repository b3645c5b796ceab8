"""Turn folders of photographs and annotations into a converted dataset.

Input: a folder of photographs, a folder of scalp annotations and a folder of
hair-loss annotations, paired by file stem (``alonet.data.pairing``), and
optionally a manifest CSV of patients, visits and views
(``alonet.data.manifest``). Without a manifest a warning says that the split
will be by photograph.
Output: a dataset folder (see ``alonet.data.dataset``) with every photograph
resized to ``size`` x ``size`` with anti-aliasing and every mask resized so that
it stays exactly binary (``area_resize_mask``).

Conversion runs in two passes:

1. *check* -- pairing, manifest rows and every file's header (format, pixel
   cap, size; photographs after EXIF rotation), without decoding pixels;
2. *convert* -- decode, check again (truncated data, sizes, an empty scalp
   annotation, an annotation that is a photograph or a smooth grey picture rather
   than a mask), resize and write through memory maps into a temporary folder.

Every problem of both passes is collected. Unless ``skip_invalid`` is set, any
problem means nothing is written: the problems are logged (one per line) and
a ``ConversionError`` says how many pairs are invalid. With ``skip_invalid``
the valid pairs are converted and the rest are listed in ``skipped.csv``
inside the dataset. The dataset folder appears only when complete.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from alonet.data.annotation import check_same_size, read_annotation
from alonet.system.atomic import check_can_write_directory
from alonet.data.dataset import DATASET_FILES, DEFAULT_SIZE, META_COLUMNS, DatasetWriter, check_size
from alonet.data.imagefile import DEFAULT_MAX_PIXELS, image_info
from alonet.data.pairing import find_pairs
from alonet.data.pairs import Pair, Problem, stem_key
from alonet.data.photo import read_photo
from alonet.data.resize import area_resize_mask, resize_photo
from alonet.errors import AloNetError, DatasetError, ImageTooSmallError, InvalidValueError

LOG = logging.getLogger(__name__)

#: Folders and manifest of a phantom set (``alonet phantom``), relative to its root.
PHANTOM_LAYOUT = MappingProxyType(
    {"photos": "photographs", "scalp": "scalp", "hairloss": "hairloss", "manifest": "manifest.csv"})
#: Logged (as a warning) when a dataset is converted without a manifest.
NO_MANIFEST_WARNING = ("no manifest: the photographs get no patient or view, so `alonet train` and `alonet adapt` "
                       "split them by photograph (the views of one head can land on both sides of the split) and "
                       "`alonet evaluate` cannot use them (pass --manifest with columns stem, patient, visit, view)")


class ConversionError(DatasetError):
    """Some input pairs are invalid; ``problems`` lists them (stem, file, reason)."""

    def __init__(self, message: str, problems: list["Problem"], **kwargs):
        super().__init__(message, **kwargs)
        self.problems = problems


@dataclass(frozen=True)
class ConvertOptions:
    """Settings of a conversion (the CLI options of ``alonet convert``)."""

    size: int = DEFAULT_SIZE
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    skip_invalid: bool = False
    overwrite: bool = False
    allow_empty_scalp: bool = False
    workers: int = 2
    progress: bool = True


# --------------------------------------------------------------------------- checking

#: A photograph is enlarged at most this many times on its shorter side to become a
#: training sample; smaller ones (a thumbnail, a 1x1 picture) would be blur that no camera
#: photograph looks like.
MAX_UPSCALE = 4


def _on_file(path: Path, read: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``read(path, ...)``, with ``path`` recorded on any AloNetError it raises
    (so that skipped.csv names the file at fault)."""
    try:
        return read(path, *args, **kwargs)
    except AloNetError as exc:
        if exc.path is None:
            exc.path = Path(path)
        raise


def check_pair_headers(pair: Pair, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Problem | None:
    """Check a pair from the file headers only (readable, under the cap, same sizes)."""
    try:
        photo = _on_file(pair.photo, image_info, max_pixels)
        area = _on_file(pair.scalp, image_info, max_pixels)
        loss = _on_file(pair.hairloss, image_info, max_pixels)
        width, height = photo.oriented_size
        check_same_size((height, width), (area.height, area.width), pair.photo, pair.scalp)
        check_same_size((height, width), (loss.height, loss.width), pair.photo, pair.hairloss)
    except AloNetError as exc:
        return Problem(pair.stem, str(exc.path or pair.photo), str(exc))
    return None


def check_photo_side(shape: tuple[int, ...], size: int, path: str | Path) -> None:
    """Raise ImageTooSmallError when a photograph of numpy ``shape`` would be enlarged more
    than :data:`MAX_UPSCALE` times on its shorter side to become a ``size``-px sample."""
    height, width = int(shape[0]), int(shape[1])
    if min(height, width) * MAX_UPSCALE < size:
        least = -(-size // MAX_UPSCALE)
        raise ImageTooSmallError(
            f"{path} is {width}x{height} pixels, too small for a {size}x{size} training sample "
            f"(its shorter side must be at least {least} px)",
            path=path, fix="use the original, full-size photograph, or convert with a smaller --size")


def load_pair(pair: Pair, options: ConvertOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Decode and check one pair; return (image, scalp, hairloss) at ``options.size``
    plus its meta.csv fields. Raises AloNetError for any problem."""
    photo = _on_file(pair.photo, read_photo, options.max_pixels)
    # a photograph or a smooth grey picture given as an annotation is refused, not thresholded
    area = _on_file(pair.scalp, read_annotation, options.max_pixels, require_nonempty=not options.allow_empty_scalp,
                    refuse_pictures=True)
    loss = _on_file(pair.hairloss, read_annotation, options.max_pixels, refuse_pictures=True)
    check_same_size(photo.shape, area.shape, pair.photo, pair.scalp)
    check_same_size(photo.shape, loss.shape, pair.photo, pair.hairloss)
    check_photo_side(photo.shape, options.size, pair.photo)
    meta = {
        **pair.extra,
        "stem": pair.stem,
        "photo": str(pair.photo),
        "scalp": str(pair.scalp),
        "hairloss": str(pair.hairloss),
        "orig_width": photo.shape[1],
        "orig_height": photo.shape[0],
        "patient": pair.patient,
        "visit": pair.visit,
        "view": pair.view,
    }
    return (
        resize_photo(photo, options.size),
        area_resize_mask(area, options.size),
        area_resize_mask(loss, options.size),
        meta,
    )


def _loaded(pairs: list[Pair], options: ConvertOptions) -> Iterator[tuple[Pair, Any]]:
    """Yield (pair, loaded sample or AloNetError) in order, decoding on a few
    threads (Pillow releases the GIL) with a bounded number in flight."""

    def attempt(pair: Pair):
        try:
            return load_pair(pair, options)
        except AloNetError as exc:
            return exc

    workers = max(1, int(options.workers))
    if workers == 1:
        for pair in pairs:
            yield pair, attempt(pair)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="alonet-convert") as pool:
        pending: deque[tuple[Pair, Future]] = deque()
        queue = iter(pairs)
        for pair in queue:
            pending.append((pair, pool.submit(attempt, pair)))
            if len(pending) >= 2 * workers:
                break
        while pending:
            pair, future = pending.popleft()
            following = next(queue, None)
            if following is not None:
                pending.append((following, pool.submit(attempt, following)))
            yield pair, future.result()


# --------------------------------------------------------------------------- converting


def _listed(headline: str, problems: list[Problem]) -> str:
    """``headline`` and below it one indented line per problem, by stem."""
    return "\n".join([headline, *(f"  {p}" for p in sorted(problems, key=lambda p: stem_key(p.stem)))])


def _write_skipped(folder: Path, problems: list[Problem]) -> None:
    with open(folder / "skipped.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["stem", "file", "reason"])
        for problem in problems:
            writer.writerow([problem.stem, problem.file, problem.reason])


def convert_pairs(
    pairs: list[Pair],
    out: str | Path,
    options: ConvertOptions = ConvertOptions(),
    *,
    problems: list[Problem] | None = None,
    source: dict[str, str] | None = None,
) -> Path:
    """Check and convert ``pairs`` into the dataset folder ``out`` (see the module doc).

    ``problems`` are ones already found while pairing; the invalid pairs are logged
    (an error) before ConversionError, the skipped ones (a warning) once the rest
    are converted, each with one line per pair. Returns ``out``.
    """
    from tqdm import tqdm

    if int(options.size) < 8:
        raise InvalidValueError(f"size {options.size} is too small", fix="use --size 8 or more (the study used 320)")
    target = check_can_write_directory(out, options.overwrite, own=DATASET_FILES)
    problems = list(problems or [])
    total = len(pairs) + len({stem_key(p.stem) for p in problems})
    if total == 0:
        raise DatasetError("no photographs or annotations found", fix="check the input folders")

    valid: list[Pair] = []
    for pair in pairs:
        problem = check_pair_headers(pair, options.max_pixels)
        if problem is None:
            valid.append(pair)
        else:
            problems.append(problem)

    def fail() -> None:
        bad = len({stem_key(p.stem) for p in problems})
        LOG.error(_listed(f"{bad} of {total} pairs are invalid:", problems))
        if bad < total and not options.skip_invalid:
            raise ConversionError(
                f"{bad} of {total} pairs are invalid (listed above); fix them or pass --skip-invalid",
                problems,
            )
        raise ConversionError(f"none of the {total} pairs is valid (listed above); nothing to convert", problems,
                              fix="fix the pairs listed above (names must match across the three folders)")

    if not valid:
        fail()

    info = {"source": source or {}, "skipped": 0}
    with DatasetWriter(target, count=len(valid), size=options.size, overwrite=options.overwrite, info=info) as writer:
        bar = tqdm(total=len(valid), desc="converting", unit="pair", file=sys.stderr, disable=not options.progress)
        with bar:
            for pair, result in _loaded(valid, options):
                if isinstance(result, AloNetError):
                    problems.append(Problem(pair.stem, str(result.path or pair.photo), str(result)))
                else:
                    image, area, loss, meta = result
                    writer.add(image, area, loss, **meta)
                bar.update(1)
        if problems:
            if not options.skip_invalid or writer.written == 0:
                fail()  # raises inside the block: the temporary folder is removed
            skipped = sorted(problems, key=lambda p: stem_key(p.stem))
            LOG.warning(_listed(f"skipped {len({stem_key(p.stem) for p in skipped})} of {total} pairs:", skipped))
            writer.info["skipped"] = len({stem_key(p.stem) for p in skipped})
            _write_skipped(writer.folder, skipped)
    return target


def convert_folders(
    photos: str | Path,
    scalp: str | Path,
    hairloss: str | Path,
    out: str | Path,
    options: ConvertOptions = ConvertOptions(),
    *,
    manifest: str | Path | None = None,
) -> Path:
    """Convert three folders (and an optional manifest) into a dataset at ``out``.

    Mirrors ``alonet convert PHOTOS SCALP HAIRLOSS -o OUT``; ``options`` are its
    settings (``size`` must be 8..MAX_SIZE). Raises ConversionError (after logging
    every problem) if any pair is invalid and ``options.skip_invalid`` is False;
    nothing is written then.
    """
    for what, folder in (("photos", photos), ("scalp", scalp), ("hairloss", hairloss), ("out", out)):
        if not isinstance(folder, (str, Path)):
            raise InvalidValueError(f"{what} must be a folder path, not {type(folder).__name__}")
    if not isinstance(options, ConvertOptions):
        raise InvalidValueError(f"options must be a ConvertOptions, not {type(options).__name__}",
                                fix="e.g. ConvertOptions(size=320, skip_invalid=True)")
    options = replace(options, size=check_size(options.size))
    check_can_write_directory(out, options.overwrite, inputs=(photos, scalp, hairloss, manifest), own=DATASET_FILES)  # before scanning
    pairs, problems = find_pairs(photos, scalp, hairloss, manifest)  # its warnings are logged
    source = {"photos": str(photos), "scalp": str(scalp), "hairloss": str(hairloss), "manifest": str(manifest or "")}
    target = convert_pairs(pairs, out, options, problems=problems, source=source)
    if manifest is None:  # said once the dataset exists: a failed conversion has other things to fix first
        LOG.warning("warning: %s", NO_MANIFEST_WARNING)
    return target


def phantom_paths(phantom_dir: str | Path) -> dict[str, Path]:
    """The folders and manifest of a phantom set; DatasetError if any is missing."""
    root = Path(phantom_dir)
    if not root.is_dir():
        raise DatasetError(f"phantom folder {root} not found", path=root, fix="run `alonet phantom` first or check the path")
    paths = {key: root / name for key, name in PHANTOM_LAYOUT.items()}
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        raise DatasetError(
            f"{root} is not a phantom folder: missing {', '.join(missing)}",
            path=root,
            fix="expected photographs/, scalp/, hairloss/ and manifest.csv (as written by `alonet phantom`)",
        )
    return paths


def convert_phantom(
    phantom_dir: str | Path,
    out: str | Path,
    options: ConvertOptions = ConvertOptions(),
) -> Path:
    """Convert a phantom folder (``alonet convert --from PHANTOM_DIR``); ``options``
    as for ``convert_folders``."""
    paths = phantom_paths(phantom_dir)
    return convert_folders(paths["photos"], paths["scalp"], paths["hairloss"], out, options,
                           manifest=paths["manifest"])


__all__ = [
    "ConversionError",
    "ConvertOptions",
    "META_COLUMNS",
    "NO_MANIFEST_WARNING",
    "PHANTOM_LAYOUT",
    "check_pair_headers",
    "convert_folders",
    "convert_pairs",
    "convert_phantom",
    "load_pair",
    "phantom_paths",
]
