"""The CSV tables users write by hand or export from a spreadsheet (manifests, view lists).

One reading for all of them (``alonet convert --manifest``, ``alonet batch``, ``alonet predict
--views-csv``): a UTF-8 byte-order mark is dropped; the cells are separated by commas, by
semicolons (what Excel saves as "CSV" where the decimal separator is a comma) or by tabs; and an
Excel ``sep=;`` first line, when there is one, says which. Pure functions over decoded text: the
callers read the file and word their own errors.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterator

#: Separators tried, in order of preference on a tie.
SEPARATORS = (",", ";", "\t")


def excel_separator(line: str) -> str | None:
    """The separator an Excel ``sep=;`` first line declares (None: not such a line)."""
    text = line.rstrip("\r\n")  # not strip(): the separator may be a tab
    return text[4] if len(text) == 5 and text.lower().startswith("sep=") else None


def header_cells(line: str, delimiter: str) -> list[str]:
    """A header line's cells under ``delimiter`` (quotes respected), stripped and lower-cased."""
    return [c.strip().lower() for c in next(csv.reader([line], delimiter=delimiter), [])]


def table_delimiter(first_line: str, expected: Collection[str]) -> str:
    """The separator of a table from its first line: the first of :data:`SEPARATORS` under which
    the line has one of the ``expected`` column names (lower case), else the one that splits it
    into the most cells (a comma on a tie: a one-column table, or a header in another language)."""
    named = [d for d in SEPARATORS if set(header_cells(first_line, d)) & set(expected)]
    return named[0] if named else max(SEPARATORS, key=lambda d: len(header_cells(first_line, d)))


def split_table(text: str, expected: Collection[str]) -> tuple[str, str, int]:
    """``(delimiter, body, first_line)``: the separator (from a ``sep=`` line or
    :func:`table_delimiter`), the text from the header on, and the file line number of that
    header (2 after a ``sep=`` line, else 1)."""
    text = text.removeprefix("\ufeff")
    first = text.splitlines(keepends=True)[0] if text else ""
    declared = excel_separator(first)
    if declared is not None:
        return declared, text[len(first):], 2
    return table_delimiter(first, expected), text, 1


def dict_reader(text: str, expected: Collection[str]) -> tuple[csv.DictReader, int]:
    """A ``csv.DictReader`` over a table with a header row, and the file line number of its first
    data row (for messages such as ``manifest.csv:7``)."""
    delimiter, body, header_line = split_table(text, expected)
    return csv.DictReader(io.StringIO(body, newline=""), delimiter=delimiter), header_line + 1


def numbered_rows(reader: csv.DictReader, first_line: int) -> Iterator[tuple[int, dict]]:
    """``(file line number, row)`` for the rows of a :func:`dict_reader` (``first_line`` as it
    returned). The number comes from the reader's own line count, so the blank lines DictReader
    skips are counted (a row whose quoted cell spans lines gets its last line)."""
    for row in reader:
        yield first_line - 2 + reader.line_num, row


def row_reader(text: str, expected: Collection[str]):
    """``csv.reader`` rows of a table whose header row is optional, and the file line number of
    the first row it gives."""
    delimiter, body, first_line = split_table(text, expected)
    return csv.reader(io.StringIO(body, newline=""), delimiter=delimiter), first_line
