"""Batch scoring of a whole trial from a manifest.

Manifest (CSV, one row per photograph: ``patient,visit,view,path[,date]``): read by
:mod:`alonet.report.batch.manifest`, which also says how visits are ordered; each
patient's first visit is the baseline for the response columns.

Output folder::

    results.csv          one row per visit (RESULT_COLUMNS)
    batch.lock           while a run writes the folder (a second run into it is refused)
    .photo-sha256.json   checksums of the photographs, so a rerun reads only changed ones
                         (:mod:`.hashes`)
    results_columns.csv  what each column of results.csv means (the data dictionary)
    plots/<patient>.png  SALT over time per patient
    plots/index.csv      patient -> plot file (hashed names cannot be read back)
    reports/<patient>_<visit>/   (optional) a full report folder per visit; with
                         --deidentify reports/visit-<16 hex>/ (:mod:`.folders`)
    reports_index.csv    (with reports) patient, visit -> report folder
    superseded.csv       every row a rerun recomputed, with when and why (the audit trail);
    superseded-reports/  a recomputed visit's old report folder, moved out of reports/ as
                         <name>.superseded-<UTC time> so it is not read (or shared) as current

A patient or visit label that is not a plain file name (``X/1``, ``Visit 2``),
or a visit label with ``_`` in it, gets a name made safe plus ``-`` and a
short hash of the label itself (``plots/X_1-56acec98.png``), so two visits
never share a report folder and each visit keeps its folder on every rerun
(see :func:`output_name`).

Rows (:mod:`alonet.report.batch.rows`) are appended and flushed to disk as each visit
finishes, so a killed run keeps every finished visit. Each row records what made it
(``alonet.report.provenance``: model checksum, backend, thresholds, a hash of
its photographs). A rerun reads results.csv, keeps the finished rows whose
provenance still matches, recomputes those whose photographs, model, backend or
thresholds changed (and says so), retries error rows, drops any half-written
last line, and scores what is left; a visit whose baseline changed is
recomputed too (its response columns depend on it; :mod:`alonet.report.batch.plan`
decides all this before scoring starts). When the run ends the file
is rewritten in manifest order. A photograph that cannot be scored becomes a
row whose ``error`` column gives the reason; a visit with a photograph that
needs a retake gets no SALT and its ``withheld`` column says which view and why
(``alonet.infer.policy``); the run continues.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from alonet import __version__
from alonet.system.atomic import atomic_write_bytes, atomic_write_text
from alonet.system.locks import LockKind, folder_lock
from alonet.errors import DatasetError, InvalidValueError
from alonet.report.batch.columns import COLUMNS_FILE, RESULT_COLUMNS, columns_csv
from alonet.report.batch.folders import (
    deidentified_name,
    read_key,
    report_key,
    supersede,
    supersede_identified,
    tidy_reports,
    was_deidentified,
    write_index,
)
from alonet.report.batch.hashes import PhotoHashes
from alonet.report.batch.manifest import VisitEntry, read_batch_manifest
from alonet.report.batch.plan import plan_rescoring
from alonet.report.batch.rows import (read_results, result_row, results_writer, row_status, salt_of,
                                      shown_salt_of)
from alonet.report.batch.workers import VisitScorer
from alonet.report.options import DEFAULT_TITLE, ReportOptions
from alonet.report.plots import drawable, salt_over_time_png
from alonet.report.provenance import batch_settings, file_sha256, inputs_sha256, model_sha256
from alonet.report.writer import write_report

if TYPE_CHECKING:
    from tqdm import tqdm


@dataclass
class BatchSummary:
    """What a batch run did."""

    results: Path
    plots: list[Path] = field(default_factory=list)
    scored: int = 0
    skipped: int = 0
    errors: int = 0
    total: int = 0
    #: Visits without SALT because a photograph needs a retake (all rows of the manifest).
    withheld: int = 0
    #: Visits without SALT under ``--provisional``: a view could not be measured (refused by the
    #: photograph gate, or no scalp found), which a provisional SALT cannot change (all rows).
    unmeasured: int = 0
    #: ``(patient, visit, reason)`` of finished rows that were recomputed because something changed.
    recomputed: list[tuple[str, str, str]] = field(default_factory=list)
    #: With ``only``: visits not chosen that are unscored or out of date (a full run would score them).
    left_out: int = 0
    #: ``(patient, visit)`` of rows kept in results.csv for visits no longer in the manifest
    #: (not rescored, not in the plots or the reports index; a later visit's baseline may differ).
    not_in_manifest: list[tuple[str, str]] = field(default_factory=list)


#: ``OUT/batch.lock`` while a run writes OUT: results.csv, superseded.csv and the report
#: folders are read at the start and rewritten as the run goes, so two runs would lose rows.
BATCH_LOCK = LockKind(file_name="batch.lock", commands="`alonet batch`", work="batch run")


def report_folder(out: Path, patient: str, visit: str, key: bytes | None) -> Path:
    """A visit's report folder: named by its labels, or (``key``: de-identified) by their HMAC."""
    name = output_name(patient, visit) if key is None else deidentified_name(key, patient, visit)
    return Path(out) / "reports" / name


def report_folder_reason(out: Path, entry: VisitEntry, key: bytes | None, old_key: bytes | None = None) -> str | None:
    """Why a finished row of a run with reports must be redone for its report folder (``out``: the
    output folder; ``key``: a de-identified run's; ``old_key``: an earlier de-identified run's, when
    this one is not): the folder is gone, or was written with(out) --deidentify. None: it fits."""
    folder = report_folder(out, entry.patient, entry.visit, key)
    if not folder.is_dir():
        others = ([None] if key is not None else []) + ([old_key] if key is None and old_key else [])
        changed = any(report_folder(out, entry.patient, entry.visit, k).is_dir() for k in others)
        return "report de-identification changed" if changed else "report folder missing"
    if was_deidentified(folder) is not None and was_deidentified(folder) != (key is not None):
        return "report de-identification changed"
    return None


def _write_rows(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    buffer = io.StringIO()
    writer = results_writer(buffer)
    writer.writeheader()
    writer.writerows({**row, "status": row_status(row)} for row in rows)
    atomic_write_text(path, buffer.getvalue())


def _safe_name(text: str, fallback: str = "patient") -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or fallback


#: Names Windows keeps for devices (``CON.png`` is the console there), compared without case.
_WINDOWS_DEVICES = frozenset({"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                              *(f"lpt{i}" for i in range(1, 10))})
#: Longest name made from labels (file systems allow 255 bytes; a report folder's files and the
#: atomic writer's temporary names add to it, and Windows paths are short).
MAX_NAME = 100


def output_name(*parts: str) -> str:
    """The file or folder name of a patient (``parts = (patient,)``) or a visit
    (``(patient, visit)``) under plots/ and reports/.

    The parts are joined with ``_`` as they are when each is already a safe
    name (letters, digits, ``.``, ``_``, ``-``; no ``.`` or ``_`` at either end)
    and no part but the first holds a ``_``: such a name splits back into its
    parts at its last ``_``, so no two keys share it. Any other key gets its
    parts made safe plus ``-`` and the first 8 hex digits of the SHA-256 of the
    raw parts, so ``X/1`` and ``X_1`` get different names; so does a name longer
    than :data:`MAX_NAME` (cut to fit) or one Windows keeps for a device (``CON``).
    The name depends on the key alone, never on the other rows of the manifest,
    so a rerun puts each visit in the same place. :func:`check_output_names`
    catches the remaining (contrived) clashes before anything is written.
    """
    joined = "_".join(parts)
    plain = (all(part and _safe_name(part, "") == part for part in parts)
             and not any("_" in part for part in parts[1:])
             and len(joined) <= MAX_NAME and joined.split(".")[0].casefold() not in _WINDOWS_DEVICES)
    if plain:
        return joined
    fallbacks = ("patient", "visit")
    safe = "_".join(_safe_name(part, fallbacks[min(i, 1)]) for i, part in enumerate(parts))
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:8]
    return f"{safe[: MAX_NAME - 9]}-{digest}"


def check_output_names(entries: list[VisitEntry], *, plots: bool, reports: bool) -> None:
    """Raise DatasetError if two patients would share a plot or two visits a report folder
    (compared without case: ``AA-1`` and ``aa-1`` are one folder on macOS and Windows)."""
    kinds = [("plot", lambda e: (e.patient,))] if plots else []
    kinds += [("report folder", lambda e: e.key)] if reports else []
    for what, parts_of in kinds:
        seen: dict[str, tuple[str, ...]] = {}
        for entry in entries:
            parts = parts_of(entry)
            name = output_name(*parts)
            other = seen.setdefault(name.casefold(), parts)  # one folder on macOS/Windows disks
            if other != parts:
                label = "patient {} visit {}" if len(parts) == 2 else "patient {}"
                raise DatasetError(f"{label.format(*other)} and {label.format(*parts)} would share "
                                   f"the {what} name {name!r}", fix="rename one of them in the manifest")


#: Under plots/: which plot file belongs to which patient.
PLOT_INDEX = "index.csv"


#: The PNG text chunk in which a patient's plot keeps the fingerprint of what it shows.
PLOT_INPUTS_KEY = "AloNet plot inputs"


def plot_fingerprint(patient: str, labels: Sequence[str], drawn: Mapping[str, object]) -> str:
    """sha256 of everything a patient's plot shows, of its labels as the installed fonts draw
    them (``drawable``), and of the AloNet and matplotlib versions that draw it: a rerun redraws
    only the plots whose fingerprint changed."""
    text = json.dumps({"alonet": __version__, "matplotlib": _matplotlib_version(), "patient": patient,
                       "visits": list(labels), "drawn_as": [drawable(label) for label in (patient, *labels)],
                       **drawn}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def _matplotlib_version() -> str:
    try:
        return importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - matplotlib is a dependency
        return "unknown"


def _plot_is_current(path: Path, fingerprint: str) -> bool:
    """``path`` is a whole PNG that says it shows ``fingerprint`` (every chunk's CRC checked
    to the end of the file: the fingerprint is near the start, so a cut file would pass)."""
    try:
        with Image.open(path) as picture:
            if picture.info.get(PLOT_INPUTS_KEY) != fingerprint:
                return False
            picture.verify()
            return True
    except (OSError, ValueError, SyntaxError):  # missing, replaced, damaged: draw it again
        return False


def write_plots(entries: list[VisitEntry], rows: Mapping[tuple[str, str], Mapping[str, str]],
                folder: Path) -> list[Path]:
    """One SALT-over-time PNG per patient; returns the paths. A plot that already shows the
    same numbers (:func:`plot_fingerprint`) is kept as it is: drawing one takes about 0.15 s,
    and a rerun that rescores one visit of a 1,000-patient trial spent minutes redrawing."""
    patients: dict[str, list[VisitEntry]] = {}
    for entry in entries:
        patients.setdefault(entry.patient, []).append(entry)
    written = []
    for patient, visits in patients.items():
        salts = [salt_of(rows.get(entry.key)) for entry in visits]
        # the numbers beside the points as the reports show them: results.csv's ``salt`` keeps two
        # decimals, and 20.452 -> "20.45" -> "20.4" would disagree with the report's "20.5"
        shown = [shown_salt_of(rows.get(entry.key)) for entry in visits]
        # a provisional SALT is drawn hollow, and a provisional first visit draws no guide lines
        # (it is never a baseline)
        provisional = [row_status(rows.get(entry.key) or {}) == "provisional" for entry in visits]
        labels = [e.visit if not e.date else f"{e.visit}\n{e.date}" for e in visits]
        days = None
        dates = [e.date for e in visits if e.date]
        if len(dates) == len(visits):  # every visit dated: read_batch_manifest sorted them by date
            start = date.fromisoformat(dates[0])
            days = [(date.fromisoformat(d) - start).days for d in dates]
            labels = [f"{e.visit} ({e.date})" for e in visits]
        baseline = None if provisional[0] else salts[0]
        drawn = {"salts": salts, "baseline": baseline, "days": days, "shown": shown, "provisional": provisional}
        path = folder / f"{output_name(patient)}.png"
        fingerprint = plot_fingerprint(patient, labels, drawn)
        if not _plot_is_current(path, fingerprint):
            png = salt_over_time_png(patient, labels, salts, baseline=baseline, days=days, shown=shown,
                                     provisional=provisional, png_text={PLOT_INPUTS_KEY: fingerprint})
            atomic_write_bytes(path, png)
        written.append(path)
    # which file is whose: a label that is not a plain file name gets a hashed file name
    buffer = io.StringIO()
    table = csv.writer(buffer, lineterminator="\n")
    table.writerow(("patient", "plot"))
    table.writerows((patient, f"{output_name(patient)}.png") for patient in patients)
    atomic_write_text(folder / PLOT_INDEX, buffer.getvalue())
    return written


#: The audit trail of recomputed rows: every replaced row with when and why.
SUPERSEDED = "superseded.csv"


def _keep_superseded(out: Path, replaced: Sequence[tuple[Mapping[str, str], str]]) -> None:
    """Append the rows about to be recomputed to ``OUT/superseded.csv`` (rewritten atomically),
    with the time and the reason, so no earlier result is lost without a trace."""
    if not replaced:
        return
    path = out / SUPERSEDED
    columns = ("superseded_at", "reason", *RESULT_COLUMNS)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    if not old:
        writer.writeheader()
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for row, reason in replaced:
        writer.writerow({**row, "superseded_at": stamp, "reason": reason})
    atomic_write_text(path, old + buffer.getvalue())


def write_visit_report(out: Path, key: bytes | None, model_hash: str, options: ReportOptions, entry: VisitEntry,
                       visit, provenance: dict) -> None:
    """The report folder of one batch visit (run where the visit was scored), written as
    ``options`` say with this visit's provenance, review fields and title (``key``: a
    de-identified run's, see :mod:`.folders`); it records the same model and photograph
    checksums as the visit's row of results.csv."""
    folder = report_folder(out, entry.patient, entry.visit, key)
    meta = {**provenance, "model_sha256": model_hash, "inputs_sha256": inputs_sha256(entry.views)}
    review = {"patient_code": entry.patient, "visit_date": entry.date}  # left out when de-identified
    title = (DEFAULT_TITLE if options.deidentify
             else f"{DEFAULT_TITLE}: patient {entry.patient}, visit {entry.visit}")
    write_report(visit, folder, options=replace(options, meta=meta, review=review, title=title), overwrite=True)


def chosen_keys(entries: list[VisitEntry], only) -> set[tuple[str, str]]:
    """The ``(patient, visit)`` keys of ``only``, each checked against the manifest."""
    known = {e.key for e in entries}
    chosen = set()
    for patient, visit in only:
        key = (str(patient), str(visit))
        if key not in known:
            visits = sorted(v for p, v in known if p == key[0])
            hint = (f"patient {key[0]} has visit(s) {', '.join(visits)}" if visits
                    else f"the manifest has no patient {key[0]}")
            raise DatasetError(f"--only {key[0]} {key[1]}: no such visit in the manifest ({hint})",
                               fix="give a patient and a visit label exactly as the manifest writes them")
        chosen.add(key)
    return chosen


def _check_reports(reports: ReportOptions | None) -> None:
    """Refuse what ``run_batch`` cannot honour in ``reports``: anything but ReportOptions or
    None, and options each visit's report sets from its own visit."""
    if reports is None:
        return
    if not isinstance(reports, ReportOptions):
        raise TypeError(f"reports takes a ReportOptions or None, not {reports!r} (for reports with the default "
                        "options pass reports=ReportOptions(); de-identified: ReportOptions(deidentify=True))")
    per_visit = [name for name in ("meta", "review", "title")
                 if getattr(reports, name) != getattr(ReportOptions(), name)]
    if per_visit:
        raise InvalidValueError(f"run_batch sets each report's {', '.join(per_visit)} from its visit",
                                fix=f"leave {', '.join(per_visit)} out of the ReportOptions given as reports")


def _open_output(out: Path, *, reports: bool, deidentify: bool) -> tuple[dict, bytes | None, bytes | None]:
    """Make the output folder ready: the rows of an earlier results.csv (read first, so a bad one
    stops the run before the networks load), the data dictionary, and with reports the
    de-identified naming key and a tidy reports/. Returns the earlier rows, an earlier run's key
    and this run's key (de-identified folder names; None when not de-identified)."""
    out.mkdir(parents=True, exist_ok=True)
    done = read_results(out / "results.csv")
    atomic_write_text(out / COLUMNS_FILE, columns_csv())
    known_key = read_key(out)  # a damaged key file stops the run here
    name_key = report_key(out) if reports and deidentify else None
    if reports:
        tidy_reports(out, datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
                     key_is_new=name_key is not None and known_key is None)
    return done, known_key, name_key


def _rescore_moved_followers(run: _BatchRun, entries: list[VisitEntry], chosen: set[tuple[str, str]],
                             pending: frozenset[tuple[str, str]]) -> None:
    """After an ``only`` run: rescore the later visits of a chosen baseline whose SALT moved
    (their response columns depend on it); their old rows go to superseded.csv."""
    rows, first, summary = run.rows, run.baselines, run.summary
    followers = [e for e in entries if e.key in rows and e.key not in chosen and first[e.patient].key
                 in chosen and rows[e.key]["baseline_salt"] != rows[first[e.patient].key]["salt"]]
    if not followers:
        return
    moved = {e.key: "baseline visit changed" for e in followers}
    summary.recomputed += [(e.patient, e.visit, moved[e.key]) for e in followers]
    summary.skipped -= len({e.key for e in followers} - pending)
    summary.left_out = len(pending - {e.key for e in followers})
    _keep_superseded(run.out, [(rows[e.key], moved[e.key]) for e in followers])
    run.bar.total += len(followers)
    _score_visits(run, followers)


def _in_manifest_order(entries: Sequence[VisitEntry], rows: Mapping[tuple[str, str], Mapping[str, str]]
                       ) -> list[Mapping[str, str]]:
    """The rows of the manifest's visits in its order, then those of visits no longer in it."""
    keys = {e.key for e in entries}
    return [rows[e.key] for e in entries if e.key in rows] + [r for k, r in rows.items() if k not in keys]


def run_batch(manifest: str | Path, out_dir: str | Path, pipeline, *, plots: bool = True,
              reports: ReportOptions | None = None, progress: bool = True,
              on_row: Callable[[dict[str, str]], None] | None = None,
              provisional: bool = False, workers: int = 1, only=None) -> BatchSummary:
    """Score every visit of ``manifest`` with ``pipeline`` into ``out_dir`` (see module doc).

    ``reports``: write a report folder per visit, as these options say (``ReportOptions()``
    for the defaults; ``deidentify=True`` also names the folders ``visit-<hex>``); each
    report's provenance, review fields and title come from its visit. None (or False): no
    reports. A rerun writes the folders of the visits it scores and of those without one;
    the folders of kept visits stay as an earlier run wrote them, except that a change of
    ``deidentify`` rewrites them all (to change ``overlay`` or ``show_paths`` for every
    visit, write into a new output folder).
    ``workers > 1`` scores visits in that many processes; ``pipeline`` is then a
    ``alonet.report.batch.workers.PipelineSpec`` (each worker builds its own).
    Which visits to (re)score is decided before scoring starts: visits without a
    row, rows whose photographs or settings changed, and every visit of a patient
    whose baseline (first) visit is rescored or whose stored baseline SALT differs.

    ``only`` (``(patient, visit)`` pairs) scores just those visits, whether or not
    they changed (the old rows go to superseded.csv), and leaves every other row as it
    is; a later visit of the same patient is rescored only if the chosen baseline's
    SALT came out different. ``summary.left_out`` counts the visits not chosen that a
    full run would score.
    """
    from tqdm import tqdm

    reports = None if reports is False else reports  # the old spelling of "no reports"
    _check_reports(reports)
    deidentify = reports is not None and reports.deidentify
    entries = read_batch_manifest(manifest)
    chosen = None if only is None else chosen_keys(entries, only)
    check_output_names(entries, plots=plots, reports=reports is not None)
    out = Path(out_dir)
    with folder_lock(out, BATCH_LOCK):  # a second batch run into this folder is refused
        results = out / "results.csv"
        done, known_key, name_key = _open_output(out, reports=reports is not None, deidentify=deidentify)
        # the other naming's folders of an earlier run, to move aside when their visit is redone
        old_key = known_key if not deidentify else None
        report = (None if reports is None
                  else partial(write_visit_report, out, name_key, model_sha256(pipeline), reports))
        report_reasons = {e.key: reason for e in entries if reports is not None and e.key in done
                          and (reason := report_folder_reason(out, e, name_key, old_key)) is not None}
        if name_key is not None:  # before any scoring: an interrupted run must leave no identified report
            supersede_identified(out, datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
        with VisitScorer(pipeline, workers, report, provisional=provisional) as scorer:
            settings = batch_settings(pipeline, provisional=provisional, provenance=scorer.provenance)
            hashes = PhotoHashes.open(out, file_sha256)  # unchanged photographs are not read again
            provenance = {entry.key: {**settings, "inputs_sha256": inputs_sha256(entry.views, hashes.sha256)}
                          for entry in entries}
            hashes.save()
            plan = plan_rescoring(entries, done, provenance, chosen=chosen, report_reasons=report_reasons)
            rows, todo = dict(plan.rows), list(plan.todo)
            # the rows about to be replaced reach the audit trail before they leave results.csv
            _keep_superseded(out, [(done[e.key], plan.stale[e.key]) for e in todo
                                   if e.key in plan.stale and e.key in done])
            _write_rows(results, list(rows.values()))  # a clean file: header, kept rows, no torn line
            summary = BatchSummary(results=results, total=len(entries), recomputed=plan.recomputed,
                                   skipped=len(entries) - len(todo) - len(plan.pending),  # kept, and up to date
                                   left_out=len(plan.pending))
            with open(results, "a", encoding="utf-8", newline="") as handle, tqdm(
                total=len(todo), unit="visit", desc="scoring", disable=not progress,
            ) as bar:
                writer = results_writer(handle)
                run = _BatchRun(scorer, writer, handle, rows, plan.baselines, provenance, summary, bar, on_row, out,
                                tuple(k for k in (name_key, old_key) if k is not None))
                _score_visits(run, todo)
                if chosen is not None:
                    _rescore_moved_followers(run, entries, chosen, plan.pending)
        _write_rows(results, _in_manifest_order(entries, rows))
        listed = {e.key for e in entries}
        summary.not_in_manifest = [key for key in rows if key not in listed]
        without_salt = [rows[e.key] for e in entries if e.key in rows and not rows[e.key]["error"]]
        summary.withheld = sum(1 for row in without_salt if row_status(row) == "withheld")
        summary.unmeasured = sum(1 for row in without_salt if row_status(row) == "incomplete")
        if plots:
            summary.plots = write_plots(entries, rows, out / "plots")
        if reports is not None:
            write_index(out, [(e.patient, e.visit, report_folder(out, e.patient, e.visit, name_key).name)
                              for e in entries])
        return summary


@dataclass(frozen=True)
class _BatchRun:
    """What scoring the visits of one :func:`run_batch` call reads and writes."""

    scorer: VisitScorer
    writer: csv.DictWriter  # appends to results.csv ...
    handle: io.TextIOBase  # ... through this file, flushed and synced after each row
    rows: dict[tuple[str, str], Mapping[str, str]]  # results.csv's rows so far; each new row is added
    baselines: Mapping[str, VisitEntry]  # patient -> baseline (first) visit
    provenance: Mapping[tuple[str, str], Mapping[str, str]]  # each visit's provenance columns
    summary: BatchSummary  # counts scored rows and errors
    bar: tqdm  # the progress bar
    on_row: Callable[[dict[str, str]], None] | None
    out: Path  # the output folder, whose earlier report folders move aside
    keys: tuple[bytes, ...]  # the keys of de-identified report folder names (this run's, an earlier one's)


def _score_visits(run: _BatchRun, todo: list[VisitEntry]) -> None:
    """Score ``todo`` in order, appending each row to results.csv (flushed) and to ``run.rows``.

    A visit's earlier report folders (under ``run.out``, the output folder; named by its labels
    or, with one of ``run.keys``, de-identified), left by a recomputed row or by a run whose
    table is gone, first move to ``superseded-reports/<name>.superseded-<UTC time>``: they no
    longer match the row, and like the row in superseded.csv they are kept, never replaced,
    and out of ``reports/``.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for e in todo:
        supersede(run.out, [report_folder(run.out, e.patient, e.visit, k) for k in (None, *run.keys)],
                  stamp)
    for entry, visit, error in run.scorer.score(todo):
        baseline_entry = run.baselines[entry.patient]
        base_row = run.rows.get(baseline_entry.key)
        base_salt, base_provisional = salt_of(base_row), base_row is not None and row_status(base_row) == "provisional"
        if error is not None:
            row = result_row(entry, error=error)
        else:
            if entry is baseline_entry:
                base_salt, base_provisional = visit.salt, visit.provisional
            row = result_row(entry, visit, baseline=(baseline_entry.visit, base_salt, base_provisional))
        row.update(run.provenance[entry.key])
        row["status"] = row_status(row)
        run.writer.writerow(row)
        run.handle.flush()
        os.fsync(run.handle.fileno())
        run.rows[entry.key] = row
        if row["error"]:
            run.summary.errors += 1
        else:
            run.summary.scored += 1
        if run.on_row is not None:
            run.on_row(row)
        run.bar.update(1)
