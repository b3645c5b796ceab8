"""Property tests of the table logic: reading the CSV tables people write
(``alonet.data.csvtable``) and the batch rerun plan (``alonet.report.batch.plan.plan_rescoring``).

The CSV tests write a table the way a spreadsheet or Python's csv module does (commas,
semicolons or tabs; quoted cells; a byte-order mark; Excel's ``sep=`` line; either line end)
and read it back. The plan tests build an earlier run's results from a random manifest and
check what the plan must do whatever the table holds. Deterministic in CI (the ``alonet-ci``
profile of ``tests/conftest.py``).
"""

from __future__ import annotations

import copy
import csv
import io
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from alonet.data.csvtable import SEPARATORS, dict_reader, row_reader
from alonet.errors import DatasetError
from alonet.report.batch.columns import RESULT_COLUMNS
from alonet.report.batch.manifest import VisitEntry, read_batch_manifest
from alonet.report.batch.plan import plan_rescoring
from alonet.report.batch.rows import TABLE_ONLY_REASONS, format_number, read_results, results_writer
from alonet.scoring.salt import shown_salt

#: See tests/test_properties_salt.py.
FAST = settings(max_examples=60, deadline=None)
SLOW = settings(max_examples=30, deadline=None)

# --------------------------------------------------------------------------- CSV tables

EXPECTED = ("patient", "visit", "view", "path")
#: Cell text as people type it, separators, quotes and line breaks included (no NUL: not text).
cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
#: Column names other than the expected ones (letters, digits, spaces, _ and -), never empty.
other_name = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABC _-0123456789"), min_size=1, max_size=10).filter(
    lambda name: name.strip().lower() not in EXPECTED and name.strip())


@st.composite
def tables(draw):
    """(header, rows, file text) of a table with at least one expected column, and two columns or
    more: a one-column table has no separator to tell, so a cell "," under a ";" file read as two
    empty cells (hypothesis found it; every table AloNet reads has several columns)."""
    names = draw(st.lists(st.one_of(st.sampled_from(EXPECTED), other_name), min_size=2, max_size=5,
                          unique_by=lambda n: n.strip().lower()).filter(lambda ns: any(n in EXPECTED for n in ns)))
    rows = draw(st.lists(st.lists(cell, min_size=len(names), max_size=len(names)), max_size=5))
    delimiter = draw(st.sampled_from(SEPARATORS))
    # Python's writer quotes a cell only for the characters of its own line end, so a lone \r
    # stays bare under "\n" and no reader can tell it from a line end: such cells get "\r\n"
    bare_cr = any("\r" in text for row in rows for text in row)
    ending = "\r\n" if bare_cr else draw(st.sampled_from(["\r\n", "\n"]))
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator=ending).writerows([names, *rows])
    text = buffer.getvalue()
    if draw(st.booleans()):
        text = f"sep={delimiter}\r\n" + text
    if draw(st.booleans()):
        text = "\ufeff" + text
    return names, rows, text


@FAST
@given(tables())
def test_a_table_reads_back_as_written(table):
    names, rows, text = table
    reader, first_line = dict_reader(text, EXPECTED)
    assert reader.fieldnames == names
    assert [[row[name] for name in names] for row in reader] == rows
    assert first_line == (3 if "sep=" in text.split("\n", 1)[0] else 2)


@FAST
@given(tables())
def test_rows_without_a_header_read_back_as_written(table):
    names, rows, text = table
    reader, first_line = row_reader(text, EXPECTED)
    assert list(reader) == [names, *rows]
    assert first_line == (2 if "sep=" in text.split("\n", 1)[0] else 1)


#: Patient and visit labels as a spreadsheet cell can hold them (a lone \r, which Python's writer
#: leaves unquoted under results.csv's "\n" line ends, reaches no label: the manifest is read as
#: text with universal line ends, so it arrives as \n, which the writer quotes).
label = st.text(st.sampled_from("Pa1 2-_,;\t\"\r\n\u00e9"), max_size=6)


@SLOW
@given(st.lists(st.tuples(label, label), min_size=1, max_size=4, unique=True))
def test_every_label_a_manifest_accepts_comes_back_from_results_csv(labels):
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "manifest.csv"
        buffer = io.StringIO()
        csv.writer(buffer).writerows([("patient", "visit", "view", "path"),
                                      *((patient, visit, "top", "photo.jpg") for patient, visit in labels)])
        manifest.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        try:
            entries = read_batch_manifest(manifest)
        except DatasetError as error:
            stripped = [(p.strip(), v.strip()) for p, v in labels]
            # refused only for an empty label or a visit listed twice
            assert any(not text for pair in stripped for text in pair) or len(set(stripped)) < len(stripped), error
            return
        results = Path(folder) / "results.csv"
        with open(results, "w", encoding="utf-8", newline="") as handle:
            writer = results_writer(handle)
            writer.writeheader()
            writer.writerows({**dict.fromkeys(RESULT_COLUMNS, ""), "patient": e.patient, "visit": e.visit,
                              "salt": "10.00", "status": "scored"} for e in entries)
        assert set(read_results(results)) == {e.key for e in entries}


@SLOW
@given(st.lists(st.floats(0.0, 100.0), min_size=1, max_size=8))
def test_a_table_from_before_salt_shown_gets_the_one_decimal_salt_only_where_two_decimals_decide_it(salts):
    # results.csv of an earlier version kept the SALT with two decimals and no salt_shown column
    columns = [c for c in RESULT_COLUMNS if c != "salt_shown"]
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.csv"
        with open(results, "w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows({**dict.fromkeys(columns, ""), "patient": "P", "visit": str(i), "salt": format_number(x)}
                             for i, x in enumerate(salts))
        rows = read_results(results)
    for i, x in enumerate(salts):
        text = format_number(x)
        assert format_number(float(text)) == text and abs(float(text) - x) <= 0.005 + 1e-9
        shown = rows[("P", str(i))]["salt_shown"]
        assert shown in ("", shown_salt(x))  # never a one-decimal SALT the unrounded one would not show
        assert (shown == "") == (text[-1] == "5")


# --------------------------------------------------------------------------- batch rerun plan

SETTINGS = {"model": "default", "model_sha256": "a" * 64, "backend": "torch", "scalp_threshold": "0.5",
            "hairloss_threshold": "0.5", "provisional": "0", "view_checks": "1", "precision": "fp32",
            "alonet_version": "1.0"}


@st.composite
def manifests(draw):
    """Visits of up to three patients in a random scoring order (unique keys)."""
    keys = draw(st.lists(st.tuples(st.sampled_from(["P1", "P2", "P3"]), st.sampled_from(["1", "2", "3", "w12"])),
                         min_size=1, max_size=8, unique=True))
    return [VisitEntry(p, v, draw(st.sampled_from([None, "2024-01-01", "2024-03-01"])), {}) for p, v in keys]


def provenance(entries):
    return {e.key: {**SETTINGS, "inputs_sha256": f"{e.patient}/{e.visit}".ljust(64, "0")} for e in entries}


def scored_rows(entries, salts, rows=None):
    """What a run writes for each visit of ``entries`` (all scored, ``salts``: visit -> SALT),
    keeping ``rows`` as they are."""
    done = dict(rows or {})
    first = {}
    for e in entries:
        first.setdefault(e.patient, e)
    for e in entries:
        if e.key in done:
            continue
        base = first[e.patient]
        row = {column: "" for column in RESULT_COLUMNS}
        row.update(provenance([e])[e.key])
        base_salt = done[base.key]["salt"] if base.key in done else format_number(salts[base.key])
        row.update(patient=e.patient, visit=e.visit, date=e.date or "", salt=format_number(salts[e.key]),
                   baseline_visit=base.visit, baseline_salt=base_salt)
        done[e.key] = row
    return done


#: One change to an earlier row, and whether it leaves the SALT standing.
CHANGES = {
    "model changed": ({"model_sha256": "b" * 64}, False),
    "edited by hand": ({"salt": "n/a"}, False),
    "visit date changed": ({"date": "1999-12-31"}, True),
    "baseline visit changed": ({"baseline_visit": "elsewhere"}, True),
    "baseline SALT edited": ({"baseline_salt": "99.99"}, True),
}


@st.composite
def earlier_runs(draw):
    entries = draw(manifests())
    salts = {e.key: draw(st.floats(0, 100)) for e in entries}
    done = scored_rows(entries, salts)
    gone = [k for k in done if draw(st.booleans()) and draw(st.booleans())]  # error rows are not read back
    for key in gone:
        del done[key]
    changed = {}
    for key in list(done):
        name = draw(st.sampled_from([None, None, *CHANGES]))
        if name is not None:
            done[key] = {**done[key], **CHANGES[name][0]}
            changed[key] = name
    # a row of a visit no longer in the manifest
    if draw(st.booleans()):
        done[("P9", "1")] = scored_rows([VisitEntry("P9", "1", None, {})], {("P9", "1"): 5.0})[("P9", "1")]
    return entries, salts, done, changed


@SLOW
@given(earlier_runs())
def test_every_visit_is_kept_or_scored_and_the_plan_changes_nothing_it_is_given(run):
    entries, _, done, _ = run
    given_done, given_entries = copy.deepcopy(done), copy.deepcopy(entries)
    plan = plan_rescoring(entries, done, provenance(entries))
    assert done == given_done and entries == given_entries
    todo = [e.key for e in plan.todo]
    assert todo == [e.key for e in entries if e.key in set(todo)]  # manifest order, each once
    assert all(e.key in plan.rows or e.key in todo for e in entries)
    assert set(plan.stale) <= set(todo) and set(plan.stale) <= set(done)
    assert ("P9", "1") not in todo and (("P9", "1") in plan.rows) == (("P9", "1") in done)
    assert not plan.pending


@SLOW
@given(earlier_runs())
def test_changed_rows_are_redone_and_a_baseline_redone_for_its_salt_takes_its_patient_along(run):
    entries, _, done, changed = run
    plan = plan_rescoring(entries, done, provenance(entries))
    todo = {e.key for e in plan.todo}
    # a baseline's own baseline_salt column is not read (it has no response to itself)
    redone = {key for key, name in changed.items() if key in plan.rows or key in todo
              if not (name == "baseline SALT edited" and plan.baselines[key[0]].key == key)}
    assert redone & {e.key for e in entries} <= todo
    assert all(e.key in todo for e in entries if e.key not in done)
    for e in entries:
        base = plan.baselines[e.patient]
        if base.key in todo and plan.stale.get(base.key) not in TABLE_ONLY_REASONS:
            assert e.key in todo, (e.key, plan.stale.get(base.key))


@SLOW
@given(earlier_runs())
def test_scoring_what_the_plan_says_leaves_nothing_to_do(run):
    entries, salts, done, _ = run
    plan = plan_rescoring(entries, done, provenance(entries))
    todo = {e.key for e in plan.todo}
    kept = {key: row for key, row in plan.rows.items() if key not in todo}
    after = scored_rows(entries, salts, kept)
    again = plan_rescoring(entries, after, provenance(entries))
    assert not again.todo, again.recomputed


@SLOW
@given(earlier_runs(), st.data())
def test_only_scores_the_chosen_visits_and_keeps_every_other_row(run, data):
    entries, _, done, _ = run
    chosen = set(data.draw(st.sets(st.sampled_from([e.key for e in entries]))))
    plan = plan_rescoring(entries, done, provenance(entries), chosen=chosen)
    assert {e.key for e in plan.todo} == chosen
    assert set(plan.rows) == set(done) - chosen
    assert not (plan.pending & chosen) and set(plan.stale) <= chosen
    full = plan_rescoring(entries, done, provenance(entries))
    assert plan.pending <= {e.key for e in full.todo} - chosen
