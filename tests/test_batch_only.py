"""``alonet batch --only``, the data dictionary next to results.csv, and plots spaced by date.

Asked for by a trial analyst's walkthrough: re-running one chosen visit meant
deleting its row by hand; nothing said what the 36 columns of results.csv mean;
the SALT-over-time plot spaced a 2-week and a 6-month follow-up alike.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from test_batch_provenance import pipeline_with, read, trial
from test_infer import make_model_set, phantom_visit

import alonet.report.batch.run as batch
from alonet.cli.main import main
from alonet.errors import DatasetError
from alonet.report import ReportOptions
from alonet.report.batch import run_batch, write_plots
from alonet.report.batch.columns import COLUMN_MEANINGS, COLUMNS_FILE, RESULT_COLUMNS, columns_csv
from alonet.report.batch.manifest import VisitEntry
from alonet.report.plots import salt_over_time_png

VISITS = (("P1", "v1", "a"), ("P1", "v2", "b"), ("P2", "v1", "c"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return make_model_set(tmp_path_factory.mktemp("only-models"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("only-photos")
    return {name: phantom_visit(root / name, seed=seed, out_size=320, loss_radius=radius)
            for name, seed, radius in (("a", 1, 40), ("b", 2, 60), ("c", 3, 30))}


def test_only_rescores_the_chosen_visit_and_keeps_every_other_row(models, photos, tmp_path):
    manifest = trial(tmp_path, photos, VISITS)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    before = read(out / "results.csv")
    again = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, only=[("P1", "v2")])
    assert (again.scored, again.skipped, again.left_out) == (1, 2, 0)
    assert again.recomputed == [("P1", "v2", "chosen with --only")]
    assert read(out / "results.csv") == before  # the same photographs and model give the same row
    trail = read(out / "superseded.csv")
    assert [(r["patient"], r["visit"], r["reason"]) for r in trail] == [("P1", "v2", "chosen with --only")]
    assert trail[0]["salt"] == before[1]["salt"]


def test_only_on_a_fresh_folder_scores_just_that_visit_and_says_what_is_left(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos, VISITS)
    out = tmp_path / "out"
    argv = ["batch", str(manifest), "-o", str(out), "--model", str(models), "--backend", "torch", "--no-plots",
            "--only", "P2", "v1"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert [(r["patient"], r["visit"]) for r in read(out / "results.csv")] == [("P2", "v1")]
    assert "2 visit(s) not chosen with --only are not scored yet or out of date" in stdout
    assert "0 error(s), 0 unchanged and kept" in stdout  # the two never scored were not "kept"
    # a full rerun scores the other two and keeps P2's row
    kept = read(out / "results.csv")[0]
    summary = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert (summary.scored, summary.skipped) == (2, 1)
    rows = read(out / "results.csv")
    assert [(r["patient"], r["visit"]) for r in rows] == [("P1", "v1"), ("P1", "v2"), ("P2", "v1")]
    assert rows[2] == kept


def test_only_refuses_a_visit_the_manifest_does_not_have(models, photos, tmp_path, capsys):
    manifest = trial(tmp_path, photos, VISITS)
    with pytest.raises(DatasetError, match=r"--only P1 v3: no such visit in the manifest \(patient P1 has visit\(s\) "
                                           r"v1, v2\)"):
        run_batch(manifest, tmp_path / "out", pipeline_with(models), progress=False, only=[("P1", "v3")])
    code = main(["batch", str(manifest), "-o", str(tmp_path / "out2"), "--model", str(models), "--only", "P9", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "the manifest has no patient P9" in err[0]
    assert not (tmp_path / "out2").exists()  # refused before anything was written


def test_only_a_baseline_rescores_later_visits_only_when_its_salt_moved(models, photos, tmp_path):
    manifest = trial(tmp_path, photos, VISITS)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    same = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, only=[("P1", "v1")])
    assert same.recomputed == [("P1", "v1", "chosen with --only")] and same.scored == 1
    # the baseline's photograph is replaced: its SALT moves, so the follow-up's response columns follow
    shutil.copy(photos["b"]["back"], tmp_path / "trial" / "P1_v1" / "back.jpg")
    moved = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, only=[("P1", "v1")])
    assert moved.recomputed == [("P1", "v1", "photographs changed"), ("P1", "v2", "baseline visit changed")]
    assert (moved.scored, moved.skipped, moved.left_out) == (2, 1, 0)
    rows = read(out / "results.csv")
    assert rows[1]["baseline_salt"] == rows[0]["salt"]
    # float(change) is the follow-up's SALT minus the new baseline's, to the printed 2 decimals
    assert abs(float(rows[1]["change"]) - (float(rows[1]["salt"]) - float(rows[0]["salt"]))) <= 0.011


def test_data_dictionary_lists_every_column_and_is_written_next_to_results(models, photos, tmp_path):
    assert set(COLUMN_MEANINGS) == set(RESULT_COLUMNS)
    table = list(csv.DictReader(columns_csv().splitlines()))
    assert [r["column"] for r in table] == list(RESULT_COLUMNS)
    assert all(r["meaning"] and r["values"] for r in table)
    grade = next(r for r in table if r["column"] == "grade")
    assert "S0" in grade["values"] and "S5" in grade["values"]
    manifest = trial(tmp_path, photos, VISITS[:1])
    run_batch(manifest, tmp_path / "out", pipeline_with(models), progress=False, plots=False)
    assert (tmp_path / "out" / COLUMNS_FILE).read_text(encoding="utf-8") == columns_csv()
    assert set(read(tmp_path / "out" / "results.csv")[0]) == {r["column"] for r in table}


def test_plots_space_dated_visits_by_days(monkeypatch, tmp_path):
    seen = {}

    def spy(patient, labels, salts, *, baseline=None, days=None, shown=None, provisional=None, png_text=None):
        seen[patient] = (labels, days)
        seen[patient, "shown"] = shown
        seen[patient, "provisional"] = provisional
        return salt_over_time_png(patient, labels, salts, baseline=baseline, days=days, shown=shown,
                                  provisional=provisional, png_text=png_text)

    monkeypatch.setattr(batch, "salt_over_time_png", spy)
    views = {"top": Path("t.jpg")}
    entries = [VisitEntry("A", "screening", "2025-01-06", views), VisitEntry("A", "week 2", "2025-01-20", views),
               VisitEntry("A", "week 24", "2025-06-23", views), VisitEntry("B", "1", None, views),
               VisitEntry("B", "2", "2025-02-01", views)]
    # week 2's SALT 20.452 keeps two decimals in results.csv and is shown 20.5 (not 20.45 -> 20.4);
    # B's first row predates salt_shown with a second decimal 5, which leaves the one-decimal value open
    rows = {("A", "screening"): {"salt": "60.00", "salt_shown": "60.0"},
            ("A", "week 2"): {"salt": "20.45", "salt_shown": "20.5", "withheld": "provisional SALT (asked for)"},
            ("A", "week 24"): {"salt": ""},
            ("B", "1"): {"salt": "10.45", "salt_shown": ""}}
    written = write_plots(entries, rows, tmp_path)
    assert [p.name for p in written] == ["A.png", "B.png"]
    assert seen["A"] == (["screening (2025-01-06)", "week 2 (2025-01-20)", "week 24 (2025-06-23)"],
                         [0, 14, 168])
    assert seen["B"][1] is None  # one visit without a date: evenly spaced
    assert seen["A", "shown"] == ["60.0", "20.5", None] and seen["B", "shown"] == ["10.45", None]
    assert seen["A", "provisional"] == [False, True, False]  # drawn hollow and labelled so
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in written)
    with pytest.raises(ValueError, match="one number per visit"):
        salt_over_time_png("A", ["1", "2"], [1.0, 2.0], days=[0])
    with pytest.raises(ValueError, match="one label per visit"):
        salt_over_time_png("A", ["1", "2"], [1.0, 2.0], shown=["1.0"])
    with pytest.raises(ValueError, match="one flag per visit"):
        salt_over_time_png("A", ["1", "2"], [1.0, 2.0], provisional=[True])


def test_a_rerun_redraws_only_the_plots_whose_numbers_changed(monkeypatch, tmp_path):
    """Before: every run drew every patient's plot again (about 0.15 s each): a rerun that
    rescored one visit of a 1,000-patient trial spent minutes on plots that had not changed."""
    drawn = []

    def spy(patient, *args, **kwargs):
        drawn.append(patient)
        return salt_over_time_png(patient, *args, **kwargs)

    monkeypatch.setattr(batch, "salt_over_time_png", spy)
    views = {"top": Path("t.jpg")}
    entries = [VisitEntry("A", "1", None, views), VisitEntry("A", "2", None, views), VisitEntry("B", "1", None, views)]
    rows = {("A", "1"): {"salt": "40.00", "salt_shown": "40.0"}, ("A", "2"): {"salt": "30.00", "salt_shown": "30.0"},
            ("B", "1"): {"salt": "12.00", "salt_shown": "12.0"}}
    first = write_plots(entries, rows, tmp_path)
    assert drawn == ["A", "B"] and [p.name for p in first] == ["A.png", "B.png"]
    stamps = {p.name: p.stat().st_mtime_ns for p in first}
    assert write_plots(entries, rows, tmp_path) == first and drawn == ["A", "B"]  # nothing changed: none drawn
    assert {p.name: p.stat().st_mtime_ns for p in first} == stamps
    changed = {**rows, ("A", "2"): {"salt": "10.00", "salt_shown": "10.0"}}
    write_plots(entries, changed, tmp_path)
    assert drawn == ["A", "B", "A"]  # only the patient whose numbers changed
    (tmp_path / "B.png").write_bytes(salt_over_time_png("B", ["1"], [99.0]))  # a plot replaced by hand
    write_plots(entries, changed, tmp_path)
    assert drawn == ["A", "B", "A", "B"]
    (tmp_path / "B.png").write_bytes(b"not a png")
    write_plots(entries, changed, tmp_path)
    assert drawn[-1] == "B" and len(drawn) == 5 and (tmp_path / "B.png").read_bytes().startswith(b"\x89PNG")
    whole = (tmp_path / "B.png").read_bytes()
    (tmp_path / "B.png").write_bytes(whole[: len(whole) // 3])  # cut short: its header still matches
    write_plots(entries, changed, tmp_path)
    assert drawn[-1] == "B" and len(drawn) == 6 and (tmp_path / "B.png").read_bytes() == whole
    monkeypatch.setattr(batch, "__version__", "0.0.0-another")  # another AloNet draws its own
    write_plots(entries, changed, tmp_path)
    assert drawn[-2:] == ["A", "B"] and len(drawn) == 8
    # a font that can now draw a label the last one could not (written as \\u escapes then)
    monkeypatch.setattr(batch, "drawable", lambda text: text + "*")
    write_plots(entries, changed, tmp_path)
    assert len(drawn) == 10


def test_the_shown_salt_travels_with_the_two_decimal_one(tmp_path, capsys):
    """salt 20.45 (2 decimals of 20.452) with band "moderate": a reader of results.csv or of
    `salt --json` could not tell which number the band came from (a review, 2026-12-07)."""
    import json

    from alonet.report.batch.rows import read_results

    assert main(["salt", "--top", "51.13", "--back", "0", "--left", "0", "--right", "0", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["salt"], document["salt_shown"], document["band"]) == (20.45, "20.5", "moderate")
    # a results.csv from before the column: the shown SALT is derived from its salt
    older = [c for c in RESULT_COLUMNS if c not in ("salt_shown", "status")]
    path = tmp_path / "results.csv"
    lines = [",".join(older)]
    for visit, salt in (("1", "33.24"), ("2", "20.45"), ("3", "")):
        row = {c: "" for c in older} | {"patient": "A", "visit": visit, "salt": salt, "model_sha256": "x"}
        lines.append(",".join(row[c] for c in older))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_results(path)
    # 20.45 may be 20.445 or 20.454: its one decimal is not known from the row, so it is left empty
    assert [table[("A", v)]["salt_shown"] for v in ("1", "2", "3")] == ["33.2", "", ""]


def test_only_does_not_count_a_rescored_follower_as_left_out(models, photos, tmp_path):
    manifest = trial(tmp_path, photos, VISITS)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    shutil.copy(photos["c"]["back"], tmp_path / "trial" / "P1_v1" / "back.jpg")
    shutil.copy(photos["a"]["left"], tmp_path / "trial" / "P1_v2" / "left.jpg")
    summary = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, only=[("P1", "v1")])
    assert [k for *k, _ in summary.recomputed] == [["P1", "v1"], ["P1", "v2"]]
    assert (summary.left_out, summary.skipped) == (0, 1)
    again = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert again.recomputed == [] and again.scored == 0  # the advice "rerun without --only" had nothing left



def dated(manifest, dates):
    """Rewrite a manifest from ``trial`` with a date per (patient, visit)."""
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["date"] = dates[(row["patient"], row["visit"])]
    with open(manifest, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_a_changed_date_or_baseline_recomputes_the_rows_it_touches(models, photos, tmp_path):
    """A fresh user's walkthrough (2026-12-07): a changed date never reached results.csv, and a
    visit moved before the baseline kept its old response columns."""
    manifest = trial(tmp_path, photos, VISITS)
    dates = {("P1", "v1"): "2024-01-01", ("P1", "v2"): "2024-03-01", ("P2", "v1"): "2024-01-05"}
    dated(manifest, dates)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    dated(manifest, {**dates, ("P1", "v2"): "2024-03-03"})
    moved = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert moved.recomputed == [("P1", "v2", "visit date changed")]
    assert {r["visit"]: r["date"] for r in read(out / "results.csv") if r["patient"] == "P1"}["v2"] == "2024-03-03"
    dated(manifest, {**dates, ("P1", "v2"): "2023-12-01"})  # v2 is now the baseline
    rebased = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)
    assert sorted(rebased.recomputed) == [("P1", "v1", "baseline visit changed"), ("P1", "v2", "visit date changed")]
    rows = {r["visit"]: r for r in read(out / "results.csv") if r["patient"] == "P1"}
    assert rows["v1"]["baseline_visit"] == rows["v2"]["baseline_visit"] == "v2"
    assert rows["v2"]["change"] == "" and rows["v1"]["baseline_salt"] == rows["v2"]["salt"]


def test_with_reports_a_missing_report_folder_is_written_again(models, photos, tmp_path):
    manifest = trial(tmp_path, photos, VISITS[:1])
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, reports=ReportOptions())
    folder = out / "reports" / "P1_v1"
    shutil.rmtree(folder)
    summary = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, reports=ReportOptions())
    assert summary.recomputed == [("P1", "v1", "report folder missing")] and (folder / "report.json").is_file()
    document = json.loads((folder / "report.json").read_text())
    assert document["review"]["patient_code"] == "P1"
    quiet = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False)  # no reports asked: no reason
    assert quiet.recomputed == []


def test_a_baseline_redone_for_the_table_alone_leaves_later_rows_alone(models, photos, tmp_path):
    """A second review (2026-12-07): a baseline's missing report folder or a new date of it
    rescored every later visit with the reason "baseline visit changed"."""
    manifest = trial(tmp_path, photos, VISITS)
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, reports=ReportOptions())
    shutil.rmtree(out / "reports" / "P1_v1")
    summary = run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, reports=ReportOptions())
    assert summary.recomputed == [("P1", "v1", "report folder missing")]


def test_an_earlier_report_folder_is_never_written_over(models, photos, tmp_path):
    manifest = trial(tmp_path, photos, VISITS[:1])
    out = tmp_path / "out"
    run_batch(manifest, out, pipeline_with(models), progress=False, plots=False, reports=ReportOptions())
    before = (out / "reports" / "P1_v1" / "report.json").read_bytes()
    (out / "results.csv").rename(tmp_path / "results-moved.csv")  # the table is gone; the report is not
    run_batch(manifest, out, pipeline_with(models, hairloss=0.7), progress=False, plots=False, reports=ReportOptions())
    (aside,) = (out / "superseded-reports").glob("P1_v1.superseded-*")
    assert (aside / "report.json").read_bytes() == before and (out / "reports" / "P1_v1" / "report.json").is_file()

