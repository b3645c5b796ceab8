"""The manifest of ``alonet batch``: which photographs make which visit, in scoring order.

Manifest (CSV, one row per photograph; header names are case-insensitive; commas,
semicolons or tabs, see :mod:`alonet.data.csvtable`)::

    patient,visit,view,path[,date]

``path`` may be relative to the manifest's folder. A visit is all rows with the
same patient and visit. Within a patient, visits are ordered by ``date``
(ISO ``YYYY-MM-DD``) when every visit has one, else by the visit label when
all labels are numbers, else in manifest order. The first visit is the
baseline for the response columns.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from alonet.data.csvtable import dict_reader, numbered_rows
from alonet.errors import AloNetError, DatasetError
from alonet.views import normalize_view

REQUIRED_COLUMNS: tuple[str, ...] = ("patient", "visit", "view", "path")


@dataclass(frozen=True)
class VisitEntry:
    """One visit of the manifest: its photographs per view and manifest line numbers."""

    patient: str
    visit: str
    date: str | None
    views: dict[str, Path]
    lines: tuple[int, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.patient, self.visit


def _parse_date(text: str, where: str) -> str:
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise DatasetError(f"{where}: date {text!r} is not an ISO date",
                           fix="write dates as YYYY-MM-DD") from None


def _number(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def manifest_path(text: str, base: Path) -> Path:
    """A manifest's photograph path, relative ones read from ``base`` (the manifest's folder).

    A manifest written on Windows separates folders with ``\\``, which is an ordinary
    character in Linux and macOS file names: where no file has the name as written,
    the backslashes are read as folder separators.
    """
    photo = Path(text)
    photo = photo if photo.is_absolute() else base / photo
    if "\\" in text and os.sep == "/" and not photo.exists():
        return manifest_path(text.replace("\\", "/"), base)
    return photo


def read_batch_manifest(path: str | Path) -> list[VisitEntry]:
    """Read and check a batch manifest; return visits in scoring order (see the module doc)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"manifest {path} not found", fix="give the path of a CSV file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read the manifest ({exc.__class__.__name__})",
                           fix="save it as a UTF-8 CSV file") from None
    try:
        return _visit_entries(path, *dict_reader(text, REQUIRED_COLUMNS))
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a valid CSV file ({exc})", fix="save the manifest again as CSV") from None


def _visit_entries(path: Path, reader: csv.DictReader, first_line: int) -> list[VisitEntry]:
    """The visits of a batch manifest's rows (``reader`` from :func:`alonet.data.csvtable.dict_reader`)."""
    header = {(name or "").strip().lower(): name for name in (reader.fieldnames or [])}
    absent = [c for c in REQUIRED_COLUMNS if c not in header]
    if absent:
        found = ", ".join(name.strip() for name in (reader.fieldnames or []) if name and name.strip()) or "none"
        raise DatasetError(f"{path}: manifest lacks column(s) {', '.join(absent)} (its columns: {found})",
                           fix="use the header patient,visit,view,path[,date], separated by commas, semicolons or tabs")
    base = path.parent
    visits: dict[tuple[str, str], dict] = {}
    for number, row in numbered_rows(reader, first_line):
        where = f"{path}:{number}"
        values = {c: (row.get(header[c]) or "").strip() for c in header}
        if not any(values.values()):
            continue  # blank line
        for column in REQUIRED_COLUMNS:
            if not values[column]:
                raise DatasetError(f"{where}: empty {column}", fix=f"fill in the {column} column")
        try:
            view = normalize_view(values["view"])
        except AloNetError:
            raise DatasetError(f"{where}: unknown view {values['view']!r}",
                               fix="use top, back, left or right") from None
        key = (values["patient"], values["visit"])
        entry = visits.setdefault(key, {"views": {}, "date": None, "lines": []})
        if view in entry["views"]:
            raise DatasetError(f"{where}: the {view} view of patient {key[0]} visit {key[1]} is listed twice",
                               fix="keep one photograph per view and visit")
        entry["views"][view] = manifest_path(values["path"], base)
        entry["lines"].append(number)
        if values.get("date"):
            day = _parse_date(values["date"], where)
            if entry["date"] not in (None, day):
                raise DatasetError(f"{where}: patient {key[0]} visit {key[1]} has two dates "
                                   f"({entry['date']} and {day})", fix="give each visit one date")
            entry["date"] = day
    if not visits:
        raise DatasetError(f"{path}: manifest has no photographs", fix="add rows patient,visit,view,path")
    by_patient: dict[str, list[VisitEntry]] = {}
    for (patient, visit), entry in visits.items():
        by_patient.setdefault(patient, []).append(
            VisitEntry(patient, visit, entry["date"], dict(entry["views"]), tuple(entry["lines"])))
    ordered: list[VisitEntry] = []
    for entries in by_patient.values():
        # the ignores: all() ruled out None, which mypy cannot see through; sorted is stable:
        # ties keep manifest order
        if all(e.date for e in entries):
            entries = sorted(entries, key=lambda e: e.date)  # type: ignore[arg-type,return-value]
        elif all(_number(e.visit) is not None for e in entries):
            entries = sorted(entries, key=lambda e: _number(e.visit))  # type: ignore[arg-type,return-value]
        ordered.extend(entries)
    return ordered
