"""Which visits a batch rerun scores (``alonet.report.batch.plan.plan_rescoring``), without a pipeline.

The rows here are what an earlier run would have written to results.csv; each test changes one
thing (the model, a photograph, a date, the manifest's visits) and checks what the plan keeps,
scores and says.
"""

from __future__ import annotations

import copy
import csv

from alonet.report.batch.columns import RESULT_COLUMNS
from alonet.report.batch.manifest import VisitEntry, read_batch_manifest
from alonet.report.batch.plan import plan_rescoring
from alonet.report.batch.rows import read_results

SETTINGS = {"model": "default", "model_sha256": "a" * 64, "backend": "torch", "scalp_threshold": "0.5",
            "hairloss_threshold": "0.5", "provisional": "0", "view_checks": "1", "precision": "fp32",
            "alonet_version": "1.0"}

W0 = VisitEntry("P1", "w0", "2024-01-01", {})
W12 = VisitEntry("P1", "w12", "2024-03-25", {})
W24 = VisitEntry("P1", "w24", "2024-06-17", {})
Q1 = VisitEntry("P2", "1", None, {})
Q2 = VisitEntry("P2", "2", None, {})
ENTRIES = [W0, W12, W24, Q1, Q2]
#: The SALT each visit was given by the earlier run.
SALTS = {W0.key: "40.00", W12.key: "30.00", W24.key: "20.00", Q1.key: "10.00", Q2.key: "12.50"}


def provenance(entries=ENTRIES, **changes):
    """This run's provenance columns of each visit (its photographs' checksum made from its labels)."""
    return {e.key: {**SETTINGS, "inputs_sha256": f"{e.patient}/{e.visit}".ljust(64, "0"), **changes}
            for e in entries}


def finished_row(entry, baseline, **changes):
    """The row an earlier run wrote for ``entry`` (scored against ``baseline``), with ``changes``."""
    row = {column: "" for column in RESULT_COLUMNS}
    row.update(provenance([entry])[entry.key])
    row.update(patient=entry.patient, visit=entry.visit, date=entry.date or "", salt=SALTS[entry.key],
               baseline_visit=baseline.visit, baseline_salt=SALTS[baseline.key], status="scored")
    row.update(changes)
    return row


def finished(**changed_rows):
    """Every visit's finished row, as read back from results.csv (in table order)."""
    done = {e.key: finished_row(e, W0 if e.patient == "P1" else Q1) for e in ENTRIES}
    for name, changes in changed_rows.items():
        key = {"w0": W0.key, "w12": W12.key, "w24": W24.key, "q1": Q1.key, "q2": Q2.key}[name]
        done[key] = {**done[key], **changes}
    return done


def todo_keys(plan):
    return [e.key for e in plan.todo]


def test_finished_rows_that_still_fit_are_kept_and_nothing_is_scored():
    done = finished()
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert plan.todo == () and dict(plan.stale) == {} and plan.pending == frozenset() and plan.recomputed == []
    assert list(plan.rows) == list(done) and all(plan.rows[key] is done[key] for key in done)


def test_a_row_of_a_visit_no_longer_in_the_manifest_is_kept_in_table_order():
    done = finished()
    plan = plan_rescoring([W0, W12, W24, Q1], done, provenance([W0, W12, W24, Q1]))
    assert plan.todo == () and list(plan.rows) == [W0.key, W12.key, W24.key, Q1.key, Q2.key]


def test_a_row_scored_by_another_model_is_recomputed_and_says_why():
    done = finished(q2={"model_sha256": "b" * 64})
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert todo_keys(plan) == [Q2.key] and plan.recomputed == [("P2", "2", "model changed")]
    assert Q2.key not in plan.rows and list(plan.rows) == [W0.key, W12.key, W24.key, Q1.key]


def test_a_baseline_scored_by_another_model_takes_the_patients_later_visits_with_it():
    done = finished(w0={"model_sha256": "b" * 64})
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert plan.recomputed == [("P1", "w0", "model changed"), ("P1", "w12", "baseline visit changed"),
                               ("P1", "w24", "baseline visit changed")]
    # the later visits' old rows stay in results.csv until their new rows replace them (a run
    # killed before then finds them out of date again); the baseline's own row leaves at once
    assert list(plan.rows) == [W12.key, W24.key, Q1.key, Q2.key]


def test_every_changed_setting_is_named():
    done = finished(w12={"hairloss_threshold": "0.4", "backend": "onnx"})
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert plan.recomputed == [("P1", "w12", "backend changed, hair-loss threshold changed")]
    done = finished(w12={"scalp_threshold": "0.4"})
    assert plan_rescoring(ENTRIES, done, provenance()).recomputed == [("P1", "w12", "scalp threshold changed")]


def test_a_failed_row_is_retried_without_being_called_recomputed(tmp_path):
    """An error row of results.csv is not read back (``read_results``): its visit is scored again,
    and it is a retry, not a recomputed row (nothing to supersede)."""
    done = finished()
    path = tmp_path / "results.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RESULT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for key, row in done.items():
            if key == W12.key:
                row = {**row, "salt": "", "error": "top.jpg: image file is truncated", "status": "error"}
            writer.writerow(row)
    read_back = read_results(path)
    assert W12.key not in read_back
    plan = plan_rescoring(ENTRIES, read_back, provenance())
    assert todo_keys(plan) == [W12.key] and dict(plan.stale) == {} and plan.recomputed == []
    assert W24.key in plan.rows  # a later visit keeps its row: the baseline did not change


def test_a_visit_never_scored_is_scored():
    done = finished()
    del done[Q2.key]
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert todo_keys(plan) == [Q2.key] and plan.recomputed == []


def test_a_number_edited_by_hand_is_recomputed():
    done = finished(q1={"salt": "ten"})
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert plan.recomputed[0] == ("P2", "1", "row edited by hand (salt 'ten' is not a number)")
    # P2's baseline is recomputed for its SALT, so its later visit is redone too
    assert plan.recomputed[1:] == [("P2", "2", "baseline visit changed")]


def test_each_patients_baseline_is_the_first_visit_in_scoring_order(tmp_path):
    """The manifest lists w12 before w0, but the dates put w0 first: w0 is P1's baseline."""
    lines = ["patient,visit,view,path,date"]
    for entry in (W12, W0, Q2, Q1):  # numbered labels without dates sort by number
        lines += [f"{entry.patient},{entry.visit},{view},{entry.visit}/{view}.jpg,{entry.date or ''}"
                  for view in ("top", "back", "left", "right")]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    entries = read_batch_manifest(manifest)
    plan = plan_rescoring(entries, {}, provenance(entries))
    assert {patient: e.visit for patient, e in plan.baselines.items()} == {"P1": "w0", "P2": "1"}
    assert todo_keys(plan) == [W0.key, W12.key, Q1.key, Q2.key]


def test_a_baseline_without_a_usable_salt_stays_the_baseline():
    """``baseline_response`` gives no response to a withheld or provisional baseline SALT, but the
    first visit stays the baseline: the later rows (compared with nothing) are kept as they are,
    not moved to the next visit."""
    withheld = {"salt": "", "salt_shown": "", "withheld": "no SALT: top view: photograph too dark",
                "status": "withheld"}
    done = finished(w0=withheld, w12={"baseline_salt": ""}, w24={"baseline_salt": ""})
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert plan.baselines["P1"] is W0 and plan.todo == ()
    provisional = {"withheld": "provisional SALT (asked for): top view: photograph too dark",
                   "status": "provisional"}
    plan = plan_rescoring(ENTRIES, finished(w0=provisional), provenance())
    assert plan.baselines["P1"] is W0 and plan.todo == ()


def test_a_withheld_baseline_retaken_takes_the_later_visits_with_it():
    """The later rows compared with nothing (the baseline had no SALT); the retaken photographs may
    give the baseline one, so the later visits are redone although their stored baseline SALT,
    empty, matches the old row's."""
    withheld = {"salt": "", "salt_shown": "", "withheld": "no SALT: top view: photograph too dark",
                "status": "withheld", "baseline_salt": ""}
    done = finished(w0=withheld, w12={"baseline_salt": ""}, w24={"baseline_salt": ""})
    retaken = provenance()
    retaken[W0.key] = {**retaken[W0.key], "inputs_sha256": "f" * 64}
    plan = plan_rescoring(ENTRIES, done, retaken)
    assert plan.recomputed == [("P1", "w0", "photographs changed"), ("P1", "w12", "baseline visit changed"),
                               ("P1", "w24", "baseline visit changed")]


def test_an_earlier_visit_added_to_the_manifest_becomes_the_baseline():
    first = VisitEntry("P1", "screening", "2023-12-01", {})
    entries = [first, W0, W12, W24, Q1, Q2]
    plan = plan_rescoring(entries, finished(), provenance(entries))
    assert plan.baselines["P1"] is first
    assert todo_keys(plan) == [first.key, W0.key, W12.key, W24.key]
    assert plan.recomputed == [("P1", visit, "baseline visit changed") for visit in ("w0", "w12", "w24")]


def test_a_baseline_redone_for_the_table_alone_leaves_the_later_rows():
    """A new date (or a missing report folder) redoes the baseline's row but not its SALT."""
    moved = VisitEntry("P1", "w0", "2024-01-02", {})
    entries = [moved, W12, W24, Q1, Q2]
    plan = plan_rescoring(entries, finished(), provenance(entries))
    assert plan.recomputed == [("P1", "w0", "visit date changed")]
    assert W12.key in plan.rows and W24.key in plan.rows
    plan = plan_rescoring(ENTRIES, finished(), provenance(), report_reasons={W0.key: "report folder missing"})
    assert plan.recomputed == [("P1", "w0", "report folder missing")]


def test_a_later_row_whose_stored_baseline_salt_differs_is_recomputed():
    done = finished(w24={"baseline_salt": "41.00"})
    plan = plan_rescoring(ENTRIES, done, provenance())
    assert plan.recomputed == [("P1", "w24", "baseline visit changed")]


def test_the_report_folder_is_checked_last():
    moved = VisitEntry("P2", "2", "2024-02-01", {})
    entries = [W0, W12, W24, Q1, moved]
    plan = plan_rescoring(entries, finished(), provenance(entries),
                          report_reasons={moved.key: "report folder missing", W12.key: "report folder missing"})
    assert plan.recomputed == [("P1", "w12", "report folder missing"), ("P2", "2", "visit date changed")]


def test_only_scores_the_chosen_visits_and_counts_what_a_full_run_would_score():
    done = finished(q2={"model_sha256": "b" * 64})
    del done[W24.key]
    plan = plan_rescoring(ENTRIES, done, provenance(), chosen={W12.key})
    assert todo_keys(plan) == [W12.key] and plan.recomputed == [("P1", "w12", "chosen with --only")]
    assert plan.pending == {W24.key, Q2.key}
    assert list(plan.rows) == [W0.key, Q1.key, Q2.key]  # a stale row not chosen stays until a full run
    changed = plan_rescoring(ENTRIES, finished(w12={"model_sha256": "b" * 64}), provenance(), chosen={W12.key})
    assert changed.recomputed == [("P1", "w12", "model changed")]  # a real reason beats "chosen"


def test_the_plan_changes_none_of_its_arguments():
    done = finished(w0={"model_sha256": "b" * 64})
    before = copy.deepcopy(done)
    entries = list(ENTRIES)
    plan_rescoring(entries, done, provenance(), chosen={W0.key})
    plan_rescoring(entries, done, provenance())
    assert done == before and list(done) == list(before) and entries == ENTRIES
