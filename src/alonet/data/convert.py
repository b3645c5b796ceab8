"""Turn folders of photographs and annotations into a converted dataset.

Input: a folder of photographs, a folder of scalp annotations and a folder of
hair-loss annotations, paired by file stem (case-insensitive; any extension in
``PHOTO_EXTENSIONS`` / ``MASK_EXTENSIONS``), and optionally a manifest CSV.
Output: a dataset folder (see ``alonet.data.dataset``) with every photograph
resized to ``size`` x ``size`` with anti-aliasing and every mask resized so that
it stays exactly binary (``resize_mask``).

Manifest columns: ``stem`` (or ``file``, whose stem is used), ``patient``,
``visit`` (or ``visit_date``) and ``view`` (top/back/left/right, may be empty).
This covers both AloNet's own manifests (phantoms) and the manifest of the
shared AloNet annotations (``file, patient, case, visit_date, photo_index``).
Other columns are kept as extra columns of meta.csv.

Conversion runs in two passes:

1. *check* -- pairing, manifest rows and every file's header (format, pixel
   cap, size; photographs after EXIF rotation), without decoding pixels;
2. *convert* -- decode, check again (truncated data, sizes, an empty scalp
   annotation), resize and write through memory maps into a temporary folder.

Every problem of both passes is collected. Unless ``skip_invalid`` is set, any
problem means nothing is written: the problems are listed (one per line) and
a ``ConversionError`` says how many pairs are invalid. With ``skip_invalid``
the valid pairs are converted and the rest are listed in ``skipped.csv``
inside the dataset. The dataset folder appears only when complete.
"""

from __future__ import annotations

import csv
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alonet.data.dataset import DEFAULT_SIZE, META_COLUMNS, DatasetWriter
from alonet.data.atomic import check_can_write_directory
from alonet.data.imageio import (
    DEFAULT_MAX_PIXELS,
    MASK_EXTENSIONS,
    PHOTO_EXTENSIONS,
    check_same_size,
    image_info,
    read_annotation,
    read_photo,
    resize_mask,
    resize_photo,
)
from alonet.errors import AloNetError, DatasetError, InvalidValueError
from alonet.views import normalize_view

#: Folders and manifest of a phantom set (``alonet phantom``), relative to its root.
PHANTOM_LAYOUT = {"photos": "photographs", "scalp": "scalp", "hairloss": "hairloss", "manifest": "manifest.csv"}

#: Manifest columns that name the pair (first found wins) and their aliases.
_STEM_COLUMNS = ("stem", "file")
_VISIT_COLUMNS = ("visit", "visit_date")
#: meta.csv columns that convert fills itself (a manifest cannot override them).
_OWN_COLUMNS = {"index", "stem", "photo", "scalp", "hairloss", "orig_width", "orig_height"}


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


# --------------------------------------------------------------------------- pairing


def _scan(folder: Path, extensions: tuple[str, ...], what: str) -> tuple[dict[str, Path], list[Problem]]:
    """Files of ``folder`` with the given extensions, keyed by lower-case stem."""
    if not folder.is_dir():
        raise DatasetError(f"{what} folder {folder} not found", path=folder, fix="check the path")
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file() or path.suffix.lower() not in extensions:
            continue
        found.setdefault(path.stem.casefold(), []).append(path)
    problems = [
        Problem(paths[0].stem, str(paths[0]), f"several {what} files share this stem: " + ", ".join(p.name for p in paths)
                + " (keep one)")
        for paths in found.values()
        if len(paths) > 1
    ]
    return {key: paths[0] for key, paths in found.items() if len(paths) == 1}, problems


def read_manifest(path: str | Path) -> dict[str, dict[str, str]]:
    """Manifest rows keyed by lower-case stem: {"patient", "visit", "view", extras...}."""
    manifest = Path(path)
    if not manifest.is_file():
        raise DatasetError(f"manifest {manifest} not found", path=manifest, fix="check the --manifest path")
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            stem_column = next((c for c in _STEM_COLUMNS if c in columns), None)
            if stem_column is None:
                raise DatasetError(
                    f"manifest {manifest} has no 'stem' or 'file' column (columns: {', '.join(columns) or 'none'})",
                    path=manifest,
                    fix="add a 'stem' column with each photograph's file name without extension",
                )
            visit_column = next((c for c in _VISIT_COLUMNS if c in columns), None)
            rows: dict[str, dict[str, str]] = {}
            for line, raw in enumerate(reader, start=2):
                row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
                stem = Path(row[stem_column]).stem if stem_column == "file" else row[stem_column]
                if not stem:
                    continue
                key = stem.casefold()
                if key in rows:
                    raise DatasetError(
                        f"manifest {manifest} line {line}: stem {stem!r} appears twice",
                        path=manifest,
                        fix="give each photograph one row",
                    )
                entry = {
                    "patient": row.get("patient", ""),
                    "visit": row.get(visit_column, "") if visit_column else "",
                    "view": row.get("view", ""),
                }
                skip = {stem_column, visit_column, "patient", "view"} | _OWN_COLUMNS
                entry.update({k: v for k, v in row.items() if k and k not in skip})
                rows[key] = entry
    except UnicodeDecodeError:
        raise DatasetError(f"manifest {manifest} is not UTF-8 text", path=manifest, fix="save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise DatasetError(f"manifest {manifest} is not valid CSV ({exc})", path=manifest, fix="fix the CSV") from None
    return rows


def find_pairs(
    photos: str | Path,
    scalp: str | Path,
    hairloss: str | Path,
    manifest: str | Path | None = None,
) -> tuple[list[Pair], list[Problem]]:
    """Pair photographs and annotations by stem; report unpaired files and
    manifest problems. Pairs come sorted by stem (case-insensitive)."""
    photo_files, problems = _scan(Path(photos), PHOTO_EXTENSIONS, "photograph")
    scalp_files, more = _scan(Path(scalp), MASK_EXTENSIONS, "scalp annotation")
    problems += more
    loss_files, more = _scan(Path(hairloss), MASK_EXTENSIONS, "hair-loss annotation")
    problems += more
    rows = read_manifest(manifest) if manifest is not None else None
    ext_photo = "/".join(e.lstrip(".") for e in PHOTO_EXTENSIONS)
    ext_mask = "/".join(e.lstrip(".") for e in MASK_EXTENSIONS)

    pairs: list[Pair] = []
    for key in sorted(set(photo_files) | set(scalp_files) | set(loss_files)):
        photo, area, loss = photo_files.get(key), scalp_files.get(key), loss_files.get(key)
        stem = next(p.stem for p in (photo, area, loss) if p is not None)
        anchor = str(next(p for p in (photo, area, loss) if p is not None))
        missing = []
        if photo is None:
            missing.append(f"no photograph {Path(photos) / stem}.{{{ext_photo}}}")
        if area is None:
            missing.append(f"no scalp annotation {Path(scalp) / stem}.{{{ext_mask}}}")
        if loss is None:
            missing.append(f"no hair-loss annotation {Path(hairloss) / stem}.{{{ext_mask}}}")
        if missing:
            problems.append(Problem(stem, anchor, "unpaired: " + "; ".join(missing)))
            continue
        fields: dict[str, Any] = {}
        if rows is not None:
            row = rows.get(key)
            if row is None:
                problems.append(Problem(stem, anchor, f"not in the manifest {manifest} (add a row for it)"))
                continue
            fields = dict(row)
            if fields.get("view"):
                try:
                    fields["view"] = normalize_view(fields["view"])
                except InvalidValueError:
                    problems.append(Problem(stem, str(manifest), f"manifest view {fields['view']!r} is not top, back, left or right"))
                    continue
        pairs.append(
            Pair(
                stem=stem,
                photo=photo,
                scalp=area,
                hairloss=loss,
                patient=str(fields.pop("patient", "")),
                visit=str(fields.pop("visit", "")),
                view=str(fields.pop("view", "")),
                extra={k: str(v) for k, v in fields.items()},
            )
        )
    return pairs, problems


# --------------------------------------------------------------------------- checking


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


def load_pair(pair: Pair, options: ConvertOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Decode and check one pair; return (image, scalp, hairloss) at ``options.size``
    plus its meta.csv fields. Raises AloNetError for any problem."""
    photo = _on_file(pair.photo, read_photo, options.max_pixels)
    area = _on_file(pair.scalp, read_annotation, options.max_pixels, require_nonempty=not options.allow_empty_scalp)
    loss = _on_file(pair.hairloss, read_annotation, options.max_pixels)
    check_same_size(photo.shape, area.shape, pair.photo, pair.scalp)
    check_same_size(photo.shape, loss.shape, pair.photo, pair.hairloss)
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
        resize_mask(area, options.size),
        resize_mask(loss, options.size),
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


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


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
    log: Callable[[str], None] = _stderr,
    source: dict[str, str] | None = None,
) -> Path:
    """Check and convert ``pairs`` into the dataset folder ``out`` (see the module doc).

    ``problems`` are ones already found while pairing; ``log`` receives the
    summary lines (default: stderr). Returns ``out``.
    """
    from tqdm import tqdm

    if int(options.size) < 8:
        raise InvalidValueError(f"size {options.size} is too small", fix="use --size 8 or more (the study used 320)")
    target = check_can_write_directory(out, options.overwrite)
    problems = list(problems or [])
    total = len(pairs) + len({p.stem.casefold() for p in problems})
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
        bad = len({p.stem.casefold() for p in problems})
        log(f"{bad} of {total} pairs are invalid:")
        for problem in sorted(problems, key=lambda p: p.stem.casefold()):
            log(f"  {problem}")
        if bad < total and not options.skip_invalid:
            raise ConversionError(
                f"{bad} of {total} pairs are invalid (listed above); fix them or pass --skip-invalid",
                problems,
            )
        raise ConversionError(f"none of the {total} pairs is valid (listed above); nothing to convert", problems)

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
            skipped = sorted(problems, key=lambda p: p.stem.casefold())
            log(f"skipped {len({p.stem.casefold() for p in skipped})} of {total} pairs:")
            for problem in skipped:
                log(f"  {problem}")
            writer.info["skipped"] = len({p.stem.casefold() for p in skipped})
            _write_skipped(writer.folder, skipped)
    return target


def convert_folders(
    photos: str | Path,
    scalp: str | Path,
    hairloss: str | Path,
    out: str | Path,
    *,
    manifest: str | Path | None = None,
    size: int = DEFAULT_SIZE,
    skip_invalid: bool = False,
    overwrite: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    allow_empty_scalp: bool = False,
    workers: int = 2,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
) -> Path:
    """Convert three folders (and an optional manifest) into a dataset at ``out``.

    Mirrors ``alonet convert PHOTOS SCALP HAIRLOSS -o OUT``. Raises
    ConversionError (after logging every problem) if any pair is invalid and
    ``skip_invalid`` is False; nothing is written then.
    """
    options = ConvertOptions(
        size=size,
        max_pixels=max_pixels,
        skip_invalid=skip_invalid,
        overwrite=overwrite,
        allow_empty_scalp=allow_empty_scalp,
        workers=workers,
        progress=progress,
    )
    check_can_write_directory(out, overwrite)  # fail before scanning large folders
    pairs, problems = find_pairs(photos, scalp, hairloss, manifest)
    source = {"photos": str(photos), "scalp": str(scalp), "hairloss": str(hairloss), "manifest": str(manifest or "")}
    return convert_pairs(pairs, out, options, problems=problems, log=log, source=source)


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


def convert_phantom(phantom_dir: str | Path, out: str | Path, **kwargs: Any) -> Path:
    """Convert a phantom folder (``alonet convert --from PHANTOM_DIR``); keyword
    arguments as for ``convert_folders``."""
    paths = phantom_paths(phantom_dir)
    return convert_folders(paths["photos"], paths["scalp"], paths["hairloss"], out, manifest=paths["manifest"], **kwargs)


__all__ = [
    "ConversionError",
    "ConvertOptions",
    "Pair",
    "Problem",
    "META_COLUMNS",
    "check_pair_headers",
    "convert_folders",
    "convert_pairs",
    "convert_phantom",
    "find_pairs",
    "load_pair",
    "phantom_paths",
    "read_manifest",
]
