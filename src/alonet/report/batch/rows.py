"""The rows of ``alonet batch``'s results.csv: how a visit becomes a row, how an earlier
run's table is read back, and what a stored row says (its status, its SALT, whether it
still fits the manifest).

The columns themselves and their meanings are in :mod:`alonet.report.batch.columns`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from pathlib import Path

from alonet.errors import DatasetError, OutputExistsError, OutputNotWritableError
from alonet.report.batch.columns import RESULT_COLUMNS, TABLE_ADDED_COLUMNS
from alonet.report.batch.manifest import VisitEntry
from alonet.report.provenance import ADDED_COLUMNS
from alonet.scoring.salt import baseline_response, shown_salt
from alonet.views import VIEWS


def row_status(row: Mapping[str, str]) -> str:
    """What became of a visit, for filtering without reading messages: ``scored``,
    ``provisional`` (SALT given on request despite a retake), ``withheld`` (a view needs a
    retake or looks like another view), ``incomplete`` (a view missing or without scalp) or
    ``error`` (a photograph could not be read)."""
    if row.get("error"):
        return "incomplete" if row["error"].startswith("missing view") else "error"
    if not row.get("salt"):
        return "withheld" if row.get("withheld") else "incomplete"
    return "provisional" if row.get("withheld", "").startswith("provisional") else "scored"


def format_number(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals; a tiny negative that rounds to zero
    prints as 0.00, never -0.00."""
    if value is None:
        return ""
    text = f"{value:.{digits}f}"
    return f"{0.0:.{digits}f}" if float(text) == 0.0 else text


def _flag(value: bool) -> str:
    return "1" if value else "0"


def result_row(entry: VisitEntry, visit=None, error: str | None = None,
               baseline: tuple[str, float | None, bool] | None = None) -> dict[str, str]:
    """The results.csv row of a scored visit (``visit``, flattened from its
    ``to_dict()``) or a failed one (``error``). ``baseline``: the baseline visit's label,
    SALT and whether that SALT is provisional. The response to the baseline is computed
    from the unrounded SALT, where :func:`alonet.scoring.salt.baseline_response` gives one."""
    row = {c: "" for c in RESULT_COLUMNS}
    row.update(patient=entry.patient, visit=entry.visit, date=entry.date or "")
    if error is not None:
        row["error"] = " ".join(str(error).split())
        return row
    doc = visit.to_dict()  # the visit's one JSON shape; the row flattens it
    for view in VIEWS:
        summary = doc["views"].get(view)
        row[f"{view}_pct"] = format_number(None if summary is None else summary["loss_pct"])
    row.update(salt=format_number(doc["salt"]), salt_shown=doc.get("salt_shown") or "", grade=doc["grade"] or "",
               band=doc["band"] or "",
               retake=_flag(doc["retake"]))
    row["withheld"] = " ".join("; ".join(f["message"] for f in doc["flags"]
                                         if f["code"] in ("withheld", "provisional")).split())
    row["flags"] = "; ".join(
        f"{f['view']}: {f['code']}" if f.get("view") else f["code"] for f in doc["flags"])
    if baseline is not None:
        base_visit, base_salt, base_provisional = baseline
        row["baseline_visit"] = base_visit
        row["baseline_salt"] = format_number(base_salt)
        # the baseline visit has no response to itself: its response columns stay empty
        # (0 there would count it as a non-responder); nor has a provisional SALT, on either side
        change = None if base_visit == entry.visit else baseline_response(
            base_salt, visit.salt, baseline_provisional=base_provisional, provisional=visit.provisional)
        if change is not None:
            row.update(
                change=format_number(change.absolute_change), percent_change=format_number(change.percent_change),
                salt50=_flag(change.salt50), salt75=_flag(change.salt75), salt90=_flag(change.salt90),
                salt100=_flag(change.salt100), salt_le_20=_flag(change.salt_le_20),
                salt_le_10=_flag(change.salt_le_10), worsening_20=_flag(change.loss_of_benefit),
            )
    return row


_MOVE_ASIDE = "move it out of the way or choose another output folder with -o/--output"


def results_writer(handle) -> csv.DictWriter:
    """The writer of results.csv's rows (its columns, ``\n`` line ends), for a whole table and
    for rows appended as visits finish; :func:`read_results` reads them back."""
    return csv.DictWriter(handle, fieldnames=RESULT_COLUMNS, lineterminator="\n")


def read_results(path: Path) -> dict[tuple[str, str], dict[str, str]]:
    """Finished rows of an earlier run's results.csv (error rows and a torn last line dropped).

    Anything at ``path`` that is not a results table of alonet batch (a folder,
    a file that is not UTF-8 text, a table with other columns) is refused with
    a one-line error and left as it is: the run would otherwise replace it.
    """
    if not path.exists():
        return {}
    if not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file"
        raise OutputNotWritableError(f"{path} is {kind}, so the results table cannot be written there",
                                     path=path, fix=_MOVE_ASIDE)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OutputNotWritableError(f"cannot read {path} ({exc.strerror or exc.__class__.__name__})",
                                     path=path, fix=f"fix its permissions, or {_MOVE_ASIDE}") from None
    if data and b"\n" not in data:
        # Every results.csv starts with a complete header line (it is written in one
        # atomic step), so a file without any line end was not written by batch.
        raise OutputExistsError(f"{path} is not a results table of alonet batch (no complete line)",
                                path=path, fix=_MOVE_ASIDE)
    # Cut a line torn by a kill in bytes, before decoding: the cut may split a
    # multi-byte character of a patient name.
    data = data[: data.rfind(b"\n") + 1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OutputExistsError(f"{path} is not a results table of alonet batch "
                                f"(not UTF-8 text at byte offset {exc.start})", path=path, fix=_MOVE_ASIDE) from None
    reader = csv.DictReader(io.StringIO(text))
    try:
        if reader.fieldnames is None:
            return {}
        # a table of an earlier version lacks some of the columns added since (in order)
        absent = [c for c in RESULT_COLUMNS if c not in reader.fieldnames]
        earlier = [c for c in RESULT_COLUMNS if c in reader.fieldnames] == list(reader.fieldnames)
        if not earlier or not set(absent) <= set(ADDED_COLUMNS) | set(TABLE_ADDED_COLUMNS):
            raise DatasetError(f"{path} was written by another version of alonet batch (different columns)",
                               fix="choose a new output folder or delete the old results.csv")
        done = {}
        for row in reader:
            if None in row or any(v is None for v in row.values()) or row["error"]:
                continue
            kept = {**ADDED_COLUMNS, **TABLE_ADDED_COLUMNS, **row}
            if not kept["salt_shown"]:  # a row from before the column
                kept["salt_shown"] = _shown_from_two_decimals(kept.get("salt", ""))
            done[(row["patient"], row["visit"])] = kept
    except csv.Error as exc:
        raise OutputExistsError(f"{path} is not a results table of alonet batch "
                                f"(line {reader.line_num}: {exc})", path=path, fix=_MOVE_ASIDE) from None
    return done


#: Columns of results.csv that hold a number (or nothing).
NUMBER_COLUMNS = ("top_pct", "back_pct", "left_pct", "right_pct", "salt", "baseline_salt", "change",
                  "percent_change")


def row_problem(row: Mapping[str, str]) -> str | None:
    """Why a finished row of results.csv cannot be kept (a number edited by hand into text), or None."""
    for column in NUMBER_COLUMNS:
        text = row.get(column, "")
        try:
            if text and not math.isfinite(float(text)):
                raise ValueError
        except ValueError:
            return f"row edited by hand ({column} {text!r} is not a number)"
    return None


#: Reasons that do not touch the visit's SALT: those of :func:`table_reason`, and of
#: ``alonet.report.batch.run.report_folder_reason`` (a run with reports).
TABLE_ONLY_REASONS = ("visit date changed", "report folder missing", "baseline visit changed",
                      "report de-identification changed")


def table_reason(row: Mapping[str, str], entry: VisitEntry, baseline: VisitEntry) -> str | None:
    """Why a finished row no longer fits the manifest although its photographs and settings are
    unchanged: its date was changed, or another visit became the patient's baseline (``baseline``:
    the patient's first visit now) or it did. A run with reports also checks the visit's report
    folder (``alonet.report.batch.run.report_folder_reason``)."""
    if row.get("date", "") != (entry.date or ""):
        return "visit date changed"
    if row.get("baseline_visit", "") != baseline.visit:
        return "baseline visit changed"
    return None


def salt_of(row: Mapping[str, str] | None) -> float | None:
    """The SALT of a results.csv row, or None (no row, no SALT, or not a number)."""
    try:
        return float(row["salt"]) if row and row.get("salt") else None
    except ValueError:
        return None


def shown_salt_of(row: Mapping[str, str] | None) -> str | None:
    """The SALT of a results.csv row as the reports show it (``salt_shown``); a row without that
    column's value (kept from before it, with a second decimal 5 that leaves it open) gives its
    two-decimal ``salt`` as written, never that number rounded again; None without a SALT."""
    if salt_of(row) is None:
        return None
    assert row is not None
    return row.get("salt_shown") or row["salt"]


def _shown_from_two_decimals(text: str) -> str:
    """The one-decimal SALT of a row that kept only two decimals, where they decide it: a second
    decimal 5 (20.45) may come from 20.445 or 20.454, on either side of 20.45, so it stays empty."""
    try:
        value = float(text)
    except ValueError:
        return ""
    if not math.isfinite(value) or round(value * 100) % 10 == 5:
        return ""
    return shown_salt(value)
