"""Turn folders of photographs and annotations into a converted dataset.

Input: a folder of photographs, a folder of scalp annotations and a folder of
hair-loss annotations, paired by file stem (case-insensitive; any extension in
``PHOTO_EXTENSIONS`` / ``MASK_EXTENSIONS``; a photograph's nnU-Net channel
suffix ``_0000`` is dropped when that makes the pair), and optionally a manifest
CSV (comma-, semicolon- or tab-separated). One folder or file as both
annotations is refused (a label map: split it); a file of another format with
a pair's stem (a JPEG mask) is named as found and refused, not as missing.
Without a manifest a warning says that the split will be by photograph.
Output: a dataset folder (see ``alonet.data.dataset``) with every photograph
resized to ``size`` x ``size`` with anti-aliasing and every mask resized so that
it stays exactly binary (``resize_mask``).

Manifest columns: ``stem`` (or ``file``, whose stem is used), ``patient``,
``visit`` (or ``visit_date``) and ``view`` (top/back/left/right, may be empty).
This covers both AloNet's own manifests (phantoms) and the manifest of the
shared AloNet annotations (``file, patient, case, visit_date, photo_index``).
Other columns are kept as extra columns of meta.csv.

A manifest must have the stem and patient columns, and every row a patient
(training splits by patient). Errors of a row make its pair invalid (listed
with the other problems, naming the manifest line): an empty patient, an
empty visit while other rows have one, a ``visit_date`` that is not
YYYY-MM-DD, the same view twice in one visit. Allowed, with a printed warning:
a visit label of another kind than most (a word among numbers), no view column or empty views (documented as optional; evaluate then cannot
use those rows), no visit labels at all (single photographs), visits without
all four views, and rows that name no file of the three folders (a subset of
a larger manifest, such as the published one; those rows are left out).

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
import os
import re
import sys
import unicodedata
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from alonet.data.dataset import DEFAULT_SIZE, META_COLUMNS, DatasetWriter, check_size
from alonet.data.atomic import check_can_write_directory
from alonet.data.csvtable import dict_reader
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
from alonet.views import VIEWS, normalize_view

#: Folders and manifest of a phantom set (``alonet phantom``), relative to its root.
PHANTOM_LAYOUT = MappingProxyType(
    {"photos": "photographs", "scalp": "scalp", "hairloss": "hairloss", "manifest": "manifest.csv"})

#: Manifest columns that name the pair (first found wins) and their aliases.
_STEM_COLUMNS = ("stem", "file")
_VISIT_COLUMNS = ("visit", "visit_date")
#: meta.csv columns that convert fills itself (a manifest cannot override them).
_OWN_COLUMNS = frozenset({"index", "stem", "photo", "scalp", "hairloss", "orig_width", "orig_height"})
#: nnU-Net's channel suffix on image file names (``case_0001_0000.png`` for the labels' ``case_0001.png``).
NNUNET_CHANNEL_SUFFIX = "_0000"
#: Printed when a dataset is converted without a manifest.
NO_MANIFEST_WARNING = ("no manifest: the photographs get no patient or view, so `alonet train` and `alonet adapt` "
                       "split them by photograph (the views of one head can land on both sides of the split) and "
                       "`alonet evaluate` cannot use them (pass --manifest with columns stem, patient, visit, view)")
#: How to turn a label map into the two masks AloNet reads (the fix of every "same file as both" refusal).
SPLIT_LABEL_MAP = ("give a scalp mask and a hair-loss mask; from a label map save scalp = label > 0 "
                   "and hair loss = label == 2 as two 0/255 masks")


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


def stem_key(stem: str) -> str:
    """How file stems are compared: without case, and with accents composed (NFC), since
    macOS file names hold ``é`` as ``e`` plus a combining accent while a manifest typed by
    hand holds one character."""
    return unicodedata.normalize("NFC", stem).casefold()


def same_file(first: str | Path, second: str | Path) -> bool:
    """True when two paths name one file or folder: the same path after resolving links,
    or a hard link of one file (``os.path.samefile``)."""
    if Path(first).resolve() == Path(second).resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist
        return False


@dataclass(frozen=True)
class Scan:
    """The files of one input folder: ``files`` with a supported extension by stem key,
    ``problems`` (several files share a stem) and ``others``, files of another extension by
    stem key (a JPEG mask is not missing, it is refused: ``unsupported``)."""

    files: dict[str, Path]
    problems: list[Problem]
    others: dict[str, list[Path]]


def _scan(folder: Path, extensions: tuple[str, ...], what: str) -> Scan:
    """Files of ``folder``, keyed by lower-case stem (``stem_key``)."""
    if not folder.is_dir():
        raise DatasetError(f"{what} folder {folder} not found", path=folder, fix="check the path")
    found: dict[str, list[Path]] = {}
    others: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        chosen = found if path.suffix.lower() in extensions else others
        chosen.setdefault(stem_key(path.stem), []).append(path)
    problems = [
        Problem(paths[0].stem, str(paths[0]), f"several {what} files share this stem: " + ", ".join(p.name for p in paths)
                + " (keep one)")
        for paths in found.values()
        if len(paths) > 1
    ]
    return Scan({key: paths[0] for key, paths in found.items() if len(paths) == 1}, problems, others)


def _absent(what: str, folder: Path, stem: str, scan: Scan, extensions: tuple[str, ...]) -> str:
    """Why ``what`` of ``stem`` is missing: no such file, or one of a format that is not read."""
    refused = scan.others.get(stem_key(stem), [])
    if not refused:
        listed = "/".join(e.lstrip(".") for e in extensions)
        return f"no {what} {folder / stem}.{{{listed}}}"
    found = refused[0]
    if what != "photograph" and found.suffix.lower() in (".jpg", ".jpeg"):
        return (f"{what} {found} was found but is refused: JPEG is lossy and blurs a mask's edges into grey "
                "levels (save the mask as PNG)")
    return (f"{what} {found} was found but its format ({found.suffix or 'no extension'}) is not read "
            f"(save it as {' '.join(extensions)})")


@dataclass(frozen=True)
class ManifestRow:
    """One manifest row: its line number, stem and fields (patient, visit, view, extras)."""

    line: int
    stem: str
    fields: dict[str, str]


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: where it is, which columns it has and its rows by lower-case stem."""

    path: Path
    columns: tuple[str, ...]
    visit_column: str | None
    rows: dict[str, ManifestRow]

    @property
    def has_view_column(self) -> bool:
        return "view" in self.columns


def load_manifest(path: str | Path) -> Manifest:
    """Parse a manifest (see the module doc). Raises DatasetError when it has no
    stem/file or patient column, a non-blank row without a stem, or a stem twice."""
    manifest = Path(path)
    if not manifest.is_file():
        raise DatasetError(f"manifest {manifest} not found", path=manifest, fix="check the --manifest path")
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            # a comma, semicolon or tab table; the first of them with a stem or file column
            reader, first_line = dict_reader(handle.read(), _STEM_COLUMNS)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            listed = ", ".join(columns) or "none"
            stem_column = next((c for c in _STEM_COLUMNS if c in columns), None)
            if stem_column is None:
                raise DatasetError(
                    f"manifest {manifest} has no 'stem' or 'file' column (columns: {listed})",
                    path=manifest,
                    fix="add a 'stem' column with each photograph's file name without extension",
                )
            if "patient" not in columns:
                raise DatasetError(
                    f"manifest {manifest} has no 'patient' column (columns: {listed})",
                    path=manifest,
                    fix="add a 'patient' column: training splits the photographs by patient and "
                        "evaluation groups a patient's views into visits",
                )
            visit_column = next((c for c in _VISIT_COLUMNS if c in columns), None)
            rows: dict[str, ManifestRow] = {}
            for line, raw in enumerate(reader, start=first_line):
                if None in raw:  # DictReader's key for cells beyond the header
                    raise DatasetError(
                        f"manifest {manifest} line {line} has more cells than the header has columns",
                        path=manifest,
                        fix="quote cells that contain commas, or add names for the extra columns",
                    )
                row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
                if not any(row.values()):
                    continue  # a blank line (or one of empty cells, as spreadsheets write)
                stem = Path(row[stem_column]).stem if stem_column == "file" else row[stem_column]
                if not stem:
                    raise DatasetError(
                        f"manifest {manifest} line {line}: empty '{stem_column}' cell",
                        path=manifest,
                        fix="name the photograph of every row, or delete the row",
                    )
                key = stem_key(stem)
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
                rows[key] = ManifestRow(line, stem, entry)
    except UnicodeDecodeError:
        raise DatasetError(f"manifest {manifest} is not UTF-8 text", path=manifest, fix="save it as UTF-8 CSV") from None
    except csv.Error as exc:
        raise DatasetError(f"manifest {manifest} is not valid CSV ({exc})", path=manifest, fix="fix the CSV") from None
    return Manifest(manifest, tuple(columns), visit_column, rows)


def read_manifest(path: str | Path) -> dict[str, dict[str, str]]:
    """Manifest rows keyed by lower-case stem: {"patient", "visit", "view", extras...}."""
    return {key: dict(row.fields) for key, row in load_manifest(path).rows.items()}


def _visit_kind(label: str) -> str:
    """"number", "date" (YYYY-MM-DD) or "label": the kind of a visit label."""
    if re.fullmatch(r"\d+", label):
        return "number"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", label):
        try:
            date.fromisoformat(label)
            return "date"
        except ValueError:
            pass
    return "label"


def _lines(numbers: list[int], limit: int = 5) -> str:
    shown = ", ".join(str(n) for n in numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")


def _check_manifest_rows(
    manifest: Manifest, matched: list[tuple[Pair, ManifestRow]]
) -> tuple[list[Pair], list[Problem], list[str]]:
    """Check the manifest rows of the pairs found: (pairs kept, problems, warnings).

    Errors (the pair is invalid): an empty patient cell; an empty visit cell
    while other rows have one; a ``visit_date`` that is not a date; the same
    view twice in one visit. Warnings: a visit label of another kind (number /
    date / free label) than most of the column's ("baseline" among numbers may
    be meant), no view column or empty views (evaluate refuses rows without a
    known view), no visit labels (no SALT per visit), visits without all four
    views (no SALT for them).
    """
    where = f"manifest {manifest.path}"
    reasons: dict[str, list[str]] = {}
    warnings: list[str] = []

    def problem(row: ManifestRow, reason: str) -> None:
        reasons.setdefault(stem_key(row.stem), []).append(f"{where} line {row.line}: {reason}")

    for pair, row in matched:
        if not pair.patient:
            problem(row, "empty 'patient' cell (fill in the patient of every photograph; "
                         "training splits by patient)")

    column = manifest.visit_column
    labelled = [(pair, row) for pair, row in matched if pair.visit]
    if column and labelled:
        for pair, row in matched:
            if not pair.visit:
                problem(row, f"empty '{column}' cell while other rows have one (fill it in)")
        kinds = Counter(_visit_kind(pair.visit) for pair, _ in labelled)
        expected = "date" if column == "visit_date" else kinds.most_common(1)[0][0]
        if expected != "label":
            wanted = "a date YYYY-MM-DD" if expected == "date" else "a number"
            others = "" if column == "visit_date" else f" like {kinds[expected]} of the {len(labelled)} visit labels"
            odd = [(pair, row) for pair, row in labelled if _visit_kind(pair.visit) != expected]
            for pair, row in odd:
                if column == "visit_date":
                    problem(row, f"'{column}' {pair.visit!r} is not {wanted} (correct it)")
            if odd and column != "visit_date":  # "baseline" among numbers may be meant: say it, do not refuse
                listed = ", ".join(f"line {row.line} {pair.visit!r}" for pair, row in odd[:5])
                warnings.append(f"{where}: visit label(s) {listed} are not {wanted}{others}; "
                                "check them (a typo splits a visit in two)")

    seen: dict[tuple[str, str, str], list[ManifestRow]] = {}
    for pair, row in matched:
        if pair.patient and pair.visit and pair.view:
            seen.setdefault((pair.patient, pair.visit, pair.view), []).append(row)
    for (patient, visit, view), rows in seen.items():
        if len(rows) > 1:
            lines = ", ".join(str(n) for n in sorted(r.line for r in rows))
            for row in rows:
                problem(row, f"patient {patient!r} visit {visit!r} has the {view} view twice (lines {lines}; "
                             "keep one photograph per view and visit)")

    problems = [Problem(row.stem, str(manifest.path), reason)
                for _, row in matched for reason in reasons.get(stem_key(row.stem), [])]
    kept = [pair for pair, row in matched if stem_key(row.stem) not in reasons]

    if not matched:
        return kept, problems, warnings
    if not manifest.has_view_column:
        warnings.append(f"{where} has no 'view' column: every view stays empty, so `alonet evaluate` "
                        "cannot use the dataset and no visit gets a SALT (add a view column: top, back, "
                        "left or right)")
    else:
        no_view = [row.line for pair, row in matched if not pair.view]
        if no_view:
            warnings.append(f"{where}: {len(no_view)} of {len(matched)} rows have an empty view "
                            f"(line(s) {_lines(no_view)}); `alonet evaluate` needs --views to skip them")
    if not labelled:
        what = f"an empty '{column}' column" if column else "no 'visit' or 'visit_date' column"
        warnings.append(f"{where} has {what}: the photographs are not grouped into visits, so no visit "
                        "gets a SALT (add visit labels if the photographs are visits)")
    elif any(pair.view for pair in kept):
        visits: dict[tuple[str, str], set[str]] = {}
        for pair in kept:
            if pair.patient and pair.visit:
                visits.setdefault((pair.patient, pair.visit), set()).add(pair.view)
        short = [f"{patient} visit {visit} (no {', '.join(v for v in VIEWS if v not in views)})"
                 for (patient, visit), views in sorted(visits.items()) if not set(VIEWS) <= views]
        if short:
            more = f" and {len(short) - 5} more" if len(short) > 5 else ""
            valid = " among the valid rows" if problems else ""
            warnings.append(f"{where}: {len(short)} of {len(visits)} visits lack a view{valid}, so they get no "
                            f"SALT: {'; '.join(short[:5])}{more}")
    return kept, problems, warnings


def _warn_stderr(message: str) -> None:
    _stderr(f"warning: {message}")


def _check_two_folders(scalp: Path, hairloss: Path) -> None:
    """Refuse one folder given as both annotation folders (a label map would pair with itself)."""
    if same_file(scalp, hairloss):
        raise DatasetError(f"the scalp and hair-loss annotation folders are the same folder ({scalp}), so every "
                           "photograph's hair loss would be its whole scalp", path=scalp, fix=SPLIT_LABEL_MAP)


def _strip_channel_suffix(photos: dict[str, Path], masks: set[str]) -> tuple[dict[str, Path], list[str]]:
    """Photographs keyed as their annotations when nnU-Net's ``_0000`` channel suffix is all
    that keeps them apart; returns (photographs by key, stems renamed)."""
    suffix = stem_key(NNUNET_CHANNEL_SUFFIX)
    numbered = _numbered_with_masks(photos, masks)
    keyed: dict[str, Path] = {}
    renamed: list[str] = []
    for key, path in photos.items():
        short = key[: -len(suffix)] if key.endswith(suffix) else key
        if short != key and short in masks and key not in masks and short not in photos and short not in numbered:
            keyed[short] = path
            renamed.append(path.stem)
        else:
            keyed[key] = path
    return keyed, renamed


def _numbered_with_masks(photos: dict[str, Path], masks: set[str]) -> set[str]:
    """Stems ``S`` with a photograph ``S_NNNN`` that has annotations of its own: for them
    ``_0000`` numbers photographs rather than naming nnU-Net's first channel."""
    found = set()
    for key in photos:
        base, sep, number = key.rpartition("_")
        if sep and number.isdigit() and key in masks:
            found.add(base)
    return found


def _pair_stem(key: str, photo: Path | None, area: Path | None, loss: Path | None) -> str:
    """A pair's stem: the photograph's, or the annotations' when the photograph's carries
    nnU-Net's ``_0000`` (``_strip_channel_suffix``)."""
    if photo is not None and stem_key(photo.stem) == key:
        return photo.stem
    return next(p.stem for p in (area, loss, photo) if p is not None)


def find_pairs(
    photos: str | Path,
    scalp: str | Path,
    hairloss: str | Path,
    manifest: str | Path | None = None,
    *,
    warn: Callable[[str], None] = _warn_stderr,
) -> tuple[list[Pair], list[Problem]]:
    """Pair photographs and annotations by stem; report unpaired files and
    manifest problems. Pairs come sorted by stem (case-insensitive).

    A photograph whose stem ends in nnU-Net's channel suffix ``_0000`` pairs with
    annotations of the stem without it (when no annotation has the full stem);
    such pairs take the annotations' stem. Refused: one folder as both annotation
    folders, and one file as both annotations of a pair (a label map).

    With a manifest, its rows are checked too (``_check_manifest_rows``);
    ``warn`` receives one line per warning (default: stderr), among them the
    manifest rows that name no file of the three folders (they are left out).
    """
    _check_two_folders(Path(scalp), Path(hairloss))
    photo_scan = _scan(Path(photos), PHOTO_EXTENSIONS, "photograph")
    scalp_scan = _scan(Path(scalp), MASK_EXTENSIONS, "scalp annotation")
    loss_scan = _scan(Path(hairloss), MASK_EXTENSIONS, "hair-loss annotation")
    problems = photo_scan.problems + scalp_scan.problems + loss_scan.problems
    scalp_files, loss_files = scalp_scan.files, loss_scan.files
    photo_files, renamed = _strip_channel_suffix(photo_scan.files, set(scalp_files) | set(loss_files))
    table = load_manifest(manifest) if manifest is not None else None
    warnings: list[str] = []
    if renamed:
        warnings.append(f"{len(renamed)} photograph(s) end in nnU-Net's channel suffix {NNUNET_CHANNEL_SUFFIX} "
                        f"(e.g. {renamed[0]}); paired with the annotations of the stem without it, whose stem "
                        "the dataset keeps")

    pairs: list[Pair] = []
    matched: list[tuple[Pair, ManifestRow]] = []
    keys = set(photo_files) | set(scalp_files) | set(loss_files)
    for key in sorted(keys):
        photo, area, loss = photo_files.get(key), scalp_files.get(key), loss_files.get(key)
        stem = _pair_stem(key, photo, area, loss)
        anchor = str(next(p for p in (photo, area, loss) if p is not None))
        missing = []
        if photo is None:
            missing.append(_absent("photograph", Path(photos), stem, photo_scan, PHOTO_EXTENSIONS))
        if area is None:
            missing.append(_absent("scalp annotation", Path(scalp), stem, scalp_scan, MASK_EXTENSIONS))
        if loss is None:
            missing.append(_absent("hair-loss annotation", Path(hairloss), stem, loss_scan, MASK_EXTENSIONS))
        if missing:
            problems.append(Problem(stem, anchor, "unpaired: " + "; ".join(missing)))
            continue
        if same_file(area, loss):
            problems.append(Problem(stem, str(area), f"the scalp and hair-loss annotations are the same file "
                                                     f"({area} and {loss}), so its hair loss would be its whole "
                                                     f"scalp ({SPLIT_LABEL_MAP})"))
            continue
        fields: dict[str, Any] = {}
        row = None
        if table is not None:
            row = table.rows.get(key) or table.rows.get(stem_key(photo.stem))
            if row is None:
                problems.append(Problem(stem, anchor, f"not in the manifest {manifest} (add a row for it)"))
                continue
            fields = dict(row.fields)
            if fields.get("view"):
                try:
                    fields["view"] = normalize_view(fields["view"])
                except InvalidValueError:
                    problems.append(Problem(stem, str(manifest), f"manifest {manifest} line {row.line}: view "
                                                                 f"{fields['view']!r} is not top, back, left or right"))
                    continue
        pair = Pair(
            stem=stem,
            photo=photo,
            scalp=area,
            hairloss=loss,
            patient=str(fields.pop("patient", "")),
            visit=str(fields.pop("visit", "")),
            view=str(fields.pop("view", "")),
            extra={k: str(v) for k, v in fields.items()},
        )
        if row is None:
            pairs.append(pair)
        else:
            matched.append((pair, row))
    if table is not None:
        pairs, more, checked = _check_manifest_rows(table, matched)
        problems += more
        warnings += checked
        named = keys | set(photo_scan.files)
        unused = sorted((row for key, row in table.rows.items() if key not in named), key=lambda r: r.line)
        if unused:
            shown = "; ".join(f"line {r.line} ({r.stem})" for r in unused[:5])
            more_rows = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
            warnings.insert(0, f"manifest {manifest}: {len(unused)} of {len(table.rows)} rows name no file in "
                               f"{photos}, {scalp} or {hairloss} and are left out: {shown}{more_rows}")
    for message in warnings:
        warn(message)
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
        log(f"{bad} of {total} pairs are invalid:")
        for problem in sorted(problems, key=lambda p: stem_key(p.stem)):
            log(f"  {problem}")
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
            log(f"skipped {len({stem_key(p.stem) for p in skipped})} of {total} pairs:")
            for problem in skipped:
                log(f"  {problem}")
            writer.info["skipped"] = len({stem_key(p.stem) for p in skipped})
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
    for what, folder in (("photos", photos), ("scalp", scalp), ("hairloss", hairloss), ("out", out)):
        if not isinstance(folder, (str, Path)):
            raise InvalidValueError(f"{what} must be a folder path, not {type(folder).__name__}")
    options = ConvertOptions(
        size=check_size(size),
        max_pixels=max_pixels,
        skip_invalid=skip_invalid,
        overwrite=overwrite,
        allow_empty_scalp=allow_empty_scalp,
        workers=workers,
        progress=progress,
    )
    check_can_write_directory(out, overwrite)  # fail before scanning large folders
    pairs, problems = find_pairs(photos, scalp, hairloss, manifest, warn=lambda message: log(f"warning: {message}"))
    source = {"photos": str(photos), "scalp": str(scalp), "hairloss": str(hairloss), "manifest": str(manifest or "")}
    target = convert_pairs(pairs, out, options, problems=problems, log=log, source=source)
    if manifest is None:  # said once the dataset exists: a failed conversion has other things to fix first
        log(f"warning: {NO_MANIFEST_WARNING}")
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
