"""One reading of hand-written and spreadsheet CSV tables for every command (``alonet.data.csvtable``):
commas, semicolons (Excel where the decimal separator is a comma), tabs, an Excel ``sep=`` first
line and a byte-order mark, with file line numbers that count that line."""

from __future__ import annotations

import codecs

import numpy as np
import pytest
from PIL import Image

from alonet.cli.predict_cmd import read_views_csv
from alonet.data.csvtable import dict_reader, row_reader, split_table, table_delimiter
from alonet.errors import DatasetError
from alonet.report.batch.manifest import read_batch_manifest

BATCH = ("patient", "visit", "view", "path")


@pytest.mark.parametrize("line, expected, delimiter", [
    ("patient,visit,view,path\n", BATCH, ","),
    ("patient;visit;view;path\n", BATCH, ";"),
    ("patient\tvisit\tview\tpath\n", BATCH, "\t"),
    ('"a,b";visit;view\n', BATCH, ";"),  # a quoted comma does not make it a comma table
    ("a.jpg;top\n", ("file", "view"), ";"),  # no header: the split into most cells
    ("photo 1, left.jpg,top\n", ("file", "view"), ","),
    ("stem\n", ("stem",), ","),  # one column: a comma on a tie
])
def test_the_separator_is_the_one_that_names_the_columns(line, expected, delimiter):
    assert table_delimiter(line, expected) == delimiter


def test_a_sep_line_and_a_byte_order_mark():
    assert split_table("\ufeffsep=;\na;b\n", BATCH) == (";", "a;b\n", 2)
    assert split_table("sep=\t\r\na\tb\r\n", BATCH) == ("\t", "a\tb\r\n", 2)
    assert split_table("", BATCH) == (",", "", 1)
    reader, first = dict_reader("sep=;\npatient;visit\nP1;1,5\n", BATCH)
    assert first == 3 and [dict(r) for r in reader] == [{"patient": "P1", "visit": "1,5"}]
    rows, first = row_reader('a.jpg;top\n"b;c.jpg";back\n', ("file", "view"))
    assert first == 1 and list(rows) == [["a.jpg", "top"], ["b;c.jpg", "back"]]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("sep_line", [False, True])
def test_alonet_batch_reads_a_manifest_as_excel_saves_it(tmp_path, delimiter, sep_line):
    """``alonet batch`` refused a semicolon manifest as lacking every column ("patient, visit,
    view, path") while ``alonet convert`` read it."""
    lines = [delimiter.join(["Patient", "Visit", "View", "Path", "Date"]),
             delimiter.join(["P1", "1", "top", "photos/p1_top.jpg", "2024-01-10"]),
             delimiter.join(["P1", "1", "back", "photos/p1_back.jpg", "2024-01-10"]),
             delimiter.join(["P2", "1", "left", "p2 left.jpg", ""])]
    if sep_line:
        lines.insert(0, f"sep={delimiter}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(codecs.BOM_UTF8 + "\r\n".join(lines).encode() + b"\r\n")
    visits = read_batch_manifest(manifest)
    assert [(v.patient, v.visit, str(v.date), sorted(v.views)) for v in visits] == [
        ("P1", "1", "2024-01-10", ["back", "top"]), ("P2", "1", "None", ["left"])]
    assert visits[0].views["top"] == tmp_path / "photos" / "p1_top.jpg"
    first = 3 if sep_line else 2
    assert visits[0].lines == (first, first + 1) and visits[1].lines == (first + 2,)


def test_a_batch_manifest_without_the_columns_names_the_ones_it_has(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("subject;session;angle;file\nP1;1;top;a.jpg\n")
    with pytest.raises(DatasetError, match=r"lacks column\(s\) patient, visit, view, path "
                                           r"\(its columns: subject, session, angle, file\)"):
        read_batch_manifest(manifest)
    manifest.write_text("patient;visit;view;path\nP1;1;top\n")  # one cell short: an empty path
    with pytest.raises(DatasetError, match=r"manifest.csv:2: empty path"):
        read_batch_manifest(manifest)


def test_predict_views_csv_with_semicolons(tmp_path):
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "a.png")
    table = tmp_path / "views.csv"
    table.write_text("sep=;\nfile;view\na.png;back\n")
    assert read_views_csv(table) == [(tmp_path / "a.png", "back")]
    table.write_text("a.png;LEFT\n")
    assert read_views_csv(table) == [(tmp_path / "a.png", "left")]
    table.write_text("sep=;\na.png;top\nb.png;front\n")  # the line number counts the sep= line
    with pytest.raises(DatasetError, match=r"views.csv:3: unknown view 'front'"):
        read_views_csv(table)
