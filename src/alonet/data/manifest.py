"""Read a conversion's manifest and check the rows of the pairs found.

Manifest columns: ``stem`` (or ``file``, whose stem is used), ``patient``,
``visit`` (or ``visit_date``) and ``view`` (top/back/left/right, may be empty);
the table may be comma-, semicolon- or tab-separated (``alonet.data.csvtable``).
This covers both AloNet's own manifests (phantoms) and the manifest of the
shared AloNet annotations (``file, patient, case, visit_date, photo_index``).
Other columns are kept as extra columns of meta.csv.

A manifest must have the stem and patient columns, and every row a patient
(training splits by patient). Errors of a row make its pair invalid (listed
with the other problems, naming the manifest line): an empty patient, an
empty visit while other rows have one, a ``visit_date`` that is not
YYYY-MM-DD, the same view twice in one visit. Allowed, with a printed warning:
a visit label of another kind than most (a word among numbers), no view column
or empty views (documented as optional; evaluate then cannot use those rows),
no visit labels at all (single photographs) and visits without all four views.
Rows that name no file of the three folders are left out by
``alonet.data.pairing.find_pairs``, with a warning.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from alonet.data.csvtable import dict_reader, numbered_rows
from alonet.data.pairs import Pair, Problem, stem_key
from alonet.errors import DatasetError
from alonet.views import VIEWS

#: Manifest columns that name the pair (first found wins) and their aliases.
_STEM_COLUMNS = ("stem", "file")
_VISIT_COLUMNS = ("visit", "visit_date")
#: meta.csv columns that convert fills itself (a manifest cannot override them).
_OWN_COLUMNS = frozenset({"index", "stem", "photo", "scalp", "hairloss", "orig_width", "orig_height"})
#: Column names read in any case (``Patient``, ``STEM``), as batch manifests are.
_KNOWN_COLUMNS = frozenset({*_STEM_COLUMNS, *_VISIT_COLUMNS, "patient", "view"})


def _column_name(header: str) -> str:
    """A header cell as the manifest's column name: a known column in lower case, any other as written."""
    name = header.strip()
    return name.lower() if name.lower() in _KNOWN_COLUMNS else name


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
            columns = [_column_name(c) for c in (reader.fieldnames or [])]
            listed = ", ".join(c.strip() for c in (reader.fieldnames or [])) or "none"
            twice = sorted({c for c in columns if c in _KNOWN_COLUMNS and columns.count(c) > 1})
            if twice:
                raise DatasetError(
                    f"manifest {manifest} has the '{twice[0]}' column twice (columns: {listed})",
                    path=manifest,
                    fix="keep one of them (column names are read in any case)",
                )
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
            for line, raw in numbered_rows(reader, first_line):
                if None in raw:  # DictReader's key for cells beyond the header
                    raise DatasetError(
                        f"manifest {manifest} line {line} has more cells than the header has columns",
                        path=manifest,
                        fix="quote cells that contain commas, or add names for the extra columns",
                    )
                row = {_column_name(k or ""): (v or "").strip() for k, v in raw.items()}
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


def check_manifest_rows(
    manifest: Manifest, matched: list[tuple[Pair, ManifestRow]]
) -> tuple[list[Pair], list[Problem], list[str]]:
    """Check the manifest rows of the pairs found: (pairs kept, problems, warnings).

    Errors (the pair is invalid): an empty patient cell; an empty visit cell
    while other rows have one; a ``visit_date`` that is not a date; the same
    view twice in one visit. Warnings: a visit label of another kind (number /
    date / free label) than most of the column's ("baseline" among numbers may
    be meant), no view column or empty views (evaluate refuses rows without a
    known view), no visit labels (no SALT per visit), visits without all four
    views (no SALT for them). Problems come in the order of ``matched``, a row's
    in the order of the checks.
    """
    found: list[Problem] = []
    warnings: list[str] = []
    for check in (_check_patients, _check_visit_labels, _check_repeated_views):
        more, said = check(manifest, matched)
        found += more
        warnings += said
    position = {stem_key(row.stem): index for index, (_, row) in enumerate(matched)}
    problems = sorted(found, key=lambda p: position[stem_key(p.stem)])  # stable: a row's reasons stay in order
    refused = {stem_key(p.stem) for p in problems}
    kept = [pair for pair, row in matched if stem_key(row.stem) not in refused]
    more, said = _check_complete_visits(manifest, matched, kept, refused=bool(problems))
    return kept, problems + more, warnings + said


def _row_problem(manifest: Manifest, row: ManifestRow, reason: str) -> Problem:
    """A problem of a manifest row: the pair of ``row`` is invalid because of ``reason``."""
    return Problem(row.stem, str(manifest.path), f"manifest {manifest.path} line {row.line}: {reason}")


def _check_patients(manifest: Manifest, matched: list[tuple[Pair, ManifestRow]]) -> tuple[list[Problem], list[str]]:
    """Every row needs a patient (training splits by patient)."""
    problems = [_row_problem(manifest, row, "empty 'patient' cell (fill in the patient of every photograph; "
                                            "training splits by patient)")
                for pair, row in matched if not pair.patient]
    return problems, []


def _check_visit_labels(manifest: Manifest, matched: list[tuple[Pair, ManifestRow]]) -> tuple[list[Problem], list[str]]:
    """Visit labels: none empty while others are filled, each a date in a ``visit_date``
    column (errors); elsewhere of the kind most labels are (a warning: "baseline" among
    numbers may be meant)."""
    column = manifest.visit_column
    labelled = [(pair, row) for pair, row in matched if pair.visit]
    if not (column and labelled):
        return [], []
    problems = [_row_problem(manifest, row, f"empty '{column}' cell while other rows have one (fill it in)")
                for pair, row in matched if not pair.visit]
    kinds = Counter(_visit_kind(pair.visit) for pair, _ in labelled)
    expected = "date" if column == "visit_date" else kinds.most_common(1)[0][0]
    if expected == "label":
        return problems, []
    wanted = "a date YYYY-MM-DD" if expected == "date" else "a number"
    odd = [(pair, row) for pair, row in labelled if _visit_kind(pair.visit) != expected]
    if column == "visit_date":
        problems += [_row_problem(manifest, row, f"'{column}' {pair.visit!r} is not {wanted} (correct it)")
                     for pair, row in odd]
        return problems, []
    if not odd:
        return problems, []
    others = f" like {kinds[expected]} of the {len(labelled)} visit labels"
    listed = ", ".join(f"line {row.line} {pair.visit!r}" for pair, row in odd[:5])
    return problems, [f"manifest {manifest.path}: visit label(s) {listed} are not {wanted}{others}; "
                      "check them (a typo splits a visit in two)"]


def _check_repeated_views(manifest: Manifest,
                          matched: list[tuple[Pair, ManifestRow]]) -> tuple[list[Problem], list[str]]:
    """One photograph per view and visit: every row of a view given twice is an error."""
    seen: dict[tuple[str, str, str], list[ManifestRow]] = {}
    for pair, row in matched:
        if pair.patient and pair.visit and pair.view:
            seen.setdefault((pair.patient, pair.visit, pair.view), []).append(row)
    problems = []
    for (patient, visit, view), rows in seen.items():
        if len(rows) > 1:
            lines = ", ".join(str(n) for n in sorted(r.line for r in rows))
            problems += [_row_problem(manifest, row, f"patient {patient!r} visit {visit!r} has the {view} view twice "
                                                     f"(lines {lines}; keep one photograph per view and visit)")
                         for row in rows]
    return problems, []


def _check_complete_visits(manifest: Manifest, matched: list[tuple[Pair, ManifestRow]], kept: list[Pair], *,
                           refused: bool) -> tuple[list[Problem], list[str]]:
    """Warnings when visits cannot all get a SALT: no view column or empty views, no visit
    labels, or visits of the ``kept`` pairs without all four views (``refused``: some rows
    were refused, so the count is among the valid rows)."""
    if not matched:
        return [], []
    where = f"manifest {manifest.path}"
    warnings = []
    if not manifest.has_view_column:
        warnings.append(f"{where} has no 'view' column: every view stays empty, so `alonet evaluate` "
                        "cannot use the dataset and no visit gets a SALT (add a view column: top, back, "
                        "left or right)")
    else:
        no_view = [row.line for pair, row in matched if not pair.view]
        if no_view:
            warnings.append(f"{where}: {len(no_view)} of {len(matched)} rows have an empty view "
                            f"(line(s) {_lines(no_view)}); `alonet evaluate` needs --views to skip them")
    column = manifest.visit_column
    if not any(pair.visit for pair, _ in matched):
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
            valid = " among the valid rows" if refused else ""
            warnings.append(f"{where}: {len(short)} of {len(visits)} visits lack a view{valid}, so they get no "
                            f"SALT: {'; '.join(short[:5])}{more}")
    return [], warnings


__all__ = ["Manifest", "ManifestRow", "check_manifest_rows", "load_manifest", "read_manifest"]
