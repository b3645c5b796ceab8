"""Pair the photographs of one folder with the annotations of two others.

Photographs and annotations pair by file stem (case-insensitive, accents composed:
``stem_key``; any extension in ``PHOTO_EXTENSIONS`` / ``MASK_EXTENSIONS``); a
photograph's nnU-Net channel suffix ``_0000`` is dropped when that makes the pair.
One folder or file as both annotations is refused (a label map: split it); a file
of another format with a pair's stem (a JPEG mask) is named as found and refused,
not as missing. With a manifest (``alonet.data.manifest``) each pair takes the
fields of its row, the rows are checked, and rows that name no file of the three
folders are left out with a warning (a subset of a larger manifest, such as the
published one).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from alonet.data.annotation import MASK_EXTENSIONS
from alonet.data.manifest import Manifest, ManifestRow, check_manifest_rows, load_manifest
from alonet.data.pairs import Pair, Problem, stem_key
from alonet.data.photo import PHOTO_EXTENSIONS
from alonet.errors import DatasetError, InvalidValueError
from alonet.views import normalize_view

LOG = logging.getLogger(__name__)

#: nnU-Net's channel suffix on image file names (``case_0001_0000.png`` for the labels' ``case_0001.png``).
NNUNET_CHANNEL_SUFFIX = "_0000"
#: How to turn a label map into the two masks AloNet reads (the fix of every "same file as both" refusal).
SPLIT_LABEL_MAP = ("give a scalp mask and a hair-loss mask; from a label map save scalp = label > 0 "
                   "and hair loss = label == 2 as two 0/255 masks")
#: The three input folders in order: what each holds (as messages name it) and the extensions read.
_FOLDER_KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("photograph", PHOTO_EXTENSIONS),
    ("scalp annotation", MASK_EXTENSIONS),
    ("hair-loss annotation", MASK_EXTENSIONS),
)


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


def _log_warning(message: str) -> None:
    LOG.warning("warning: %s", message)


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
    warn: Callable[[str], None] = _log_warning,
) -> tuple[list[Pair], list[Problem]]:
    """Pair photographs and annotations by stem; report unpaired files and
    manifest problems. Pairs come sorted by stem (case-insensitive).

    A photograph whose stem ends in nnU-Net's channel suffix ``_0000`` pairs with
    annotations of the stem without it (when no annotation has the full stem);
    such pairs take the annotations' stem. Refused: one folder as both annotation
    folders, and one file as both annotations of a pair (a label map).

    With a manifest, its rows are checked too (``check_manifest_rows``);
    ``warn`` receives one line per warning (default: logged as "warning: <line>"), among them the
    manifest rows that name no file of the three folders (they are left out).
    """
    _check_two_folders(Path(scalp), Path(hairloss))
    folders = (Path(photos), Path(scalp), Path(hairloss))
    scans = tuple(_scan(folder, extensions, what) for folder, (what, extensions) in zip(folders, _FOLDER_KINDS))
    problems = [problem for scan in scans for problem in scan.problems]
    scalp_files, loss_files = scans[1].files, scans[2].files
    photo_files, renamed = _strip_channel_suffix(scans[0].files, set(scalp_files) | set(loss_files))

    files = (photo_files, scalp_files, loss_files)
    keys = set(photo_files) | set(scalp_files) | set(loss_files)
    ambiguous = {stem_key(problem.stem) for problem in problems}  # reported once, as several files
    found = [_pair_for_key(key, files, folders, scans) for key in sorted(keys - ambiguous)]
    warnings = [_renamed_warning(renamed)] if renamed else []
    if manifest is None:
        problems += [f for f in found if isinstance(f, Problem)]
        pairs = [f for f in found if isinstance(f, Pair)]
    else:
        table = load_manifest(manifest)
        rowed = [_with_manifest_row(f, table, manifest) if isinstance(f, Pair) else f for f in found]
        problems += [f for f in rowed if isinstance(f, Problem)]
        pairs, more, checked = check_manifest_rows(table, [f for f in rowed if isinstance(f, tuple)])
        problems += more
        unused = _unused_rows_warning(table, keys | set(scans[0].files), manifest, (photos, scalp, hairloss))
        warnings = ([unused] if unused else []) + warnings + checked
    for message in warnings:
        warn(message)
    return pairs, problems


def _pair_for_key(
    key: str, files: tuple[dict[str, Path], ...], folders: tuple[Path, ...], scans: tuple[Scan, ...]
) -> Pair | Problem:
    """The pair of the photograph and annotations whose stems have ``key`` (``files``: the
    three folders' files by stem key), or why there is none: a file missing (or of a format
    that is not read) or one file as both annotations (a label map)."""
    photo, area, loss = (found.get(key) for found in files)
    stem = _pair_stem(key, photo, area, loss)
    anchor = str(next(p for p in (photo, area, loss) if p is not None))
    if photo is None or area is None or loss is None:
        missing = [
            _absent(what, folder, stem, scan, extensions)
            for path, folder, scan, (what, extensions) in zip((photo, area, loss), folders, scans, _FOLDER_KINDS)
            if path is None
        ]
        return Problem(stem, anchor, "unpaired: " + "; ".join(missing))
    if same_file(area, loss):
        return Problem(stem, str(area), f"the scalp and hair-loss annotations are the same file ({area} and {loss}), "
                                        f"so its hair loss would be its whole scalp ({SPLIT_LABEL_MAP})")
    return Pair(stem=stem, photo=photo, scalp=area, hairloss=loss)


def _with_manifest_row(pair: Pair, table: Manifest, manifest: str | Path) -> tuple[Pair, ManifestRow] | Problem:
    """``pair`` with the fields of its row of ``table`` (found by its stem, else by its
    photograph's), and the row; or why it has none: no row, or a view that is not one of
    the four. ``manifest`` is the path as given, for the messages."""
    row = table.rows.get(stem_key(pair.stem)) or table.rows.get(stem_key(pair.photo.stem))
    if row is None:
        return Problem(pair.stem, str(pair.photo), f"not in the manifest {manifest} (add a row for it)")
    fields = dict(row.fields)
    if fields.get("view"):
        try:
            fields["view"] = normalize_view(fields["view"])
        except InvalidValueError:
            return Problem(pair.stem, str(manifest), f"manifest {manifest} line {row.line}: view "
                                                     f"{fields['view']!r} is not top, back, left or right")
    paired = replace(
        pair,
        patient=str(fields.pop("patient", "")),
        visit=str(fields.pop("visit", "")),
        view=str(fields.pop("view", "")),
        extra={k: str(v) for k, v in fields.items()},
    )
    return paired, row


def _renamed_warning(renamed: list[str]) -> str:
    """The warning for photographs paired without nnU-Net's channel suffix (``renamed``: their stems)."""
    return (f"{len(renamed)} photograph(s) end in nnU-Net's channel suffix {NNUNET_CHANNEL_SUFFIX} "
            f"(e.g. {renamed[0]}); paired with the annotations of the stem without it, whose stem "
            "the dataset keeps")


def _unused_rows_warning(table: Manifest, named: set[str], manifest: str | Path,
                         folders: tuple[str | Path, str | Path, str | Path]) -> str | None:
    """The warning for the rows of ``table`` whose stem is none of the ``named`` stem keys
    (they are left out), or None when every row names a file. ``manifest`` and ``folders``
    are the paths as given, for the message."""
    unused = sorted((row for key, row in table.rows.items() if key not in named), key=lambda r: r.line)
    if not unused:
        return None
    shown = "; ".join(f"line {r.line} ({r.stem})" for r in unused[:5])
    more_rows = f" and {len(unused) - 5} more" if len(unused) > 5 else ""
    photos, scalp, hairloss = folders
    return (f"manifest {manifest}: {len(unused)} of {len(table.rows)} rows name no file in "
            f"{photos}, {scalp} or {hairloss} and are left out: {shown}{more_rows}")


__all__ = ["NNUNET_CHANNEL_SUFFIX", "SPLIT_LABEL_MAP", "Scan", "find_pairs", "same_file"]
