"""Which visits a batch run scores, decided before any is scored (:func:`plan_rescoring`).

A rerun of ``alonet batch`` keeps every finished row of the earlier results.csv that still
fits, and scores the rest:

* a visit without a finished row (new, or an error row of the earlier run: those are not
  read back) is scored;
* a row that no longer fits is recomputed, and says why: a number edited by hand, other
  photographs or settings (``alonet.report.provenance.stale_reason``), another date or
  baseline visit (:func:`alonet.report.batch.rows.table_reason`), or a report folder that
  is gone or de-identified otherwise (``report_reasons``, from the caller);
* the baseline of a patient is the patient's first visit in the manifest's scoring order
  (``alonet.report.batch.manifest``), the one visit the response columns of
  ``alonet.scoring.salt.baseline_response`` compare with; when it is recomputed for its
  SALT, or a later row's stored baseline SALT is not the baseline row's, the patient's
  later visits are recomputed too ("baseline visit changed"). A baseline redone for the
  table alone (:data:`alonet.report.batch.rows.TABLE_ONLY_REASONS`) keeps its SALT, so the
  later rows stand.

With ``chosen`` (``--only``) just the chosen visits are scored, changed or not, and every
other row is kept; the visits not chosen that a full run would score are ``pending``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from alonet.report.batch.manifest import VisitEntry
from alonet.report.batch.rows import TABLE_ONLY_REASONS, format_number, row_problem, salt_of, table_reason
from alonet.report.provenance import stale_reason

#: A visit's key in results.csv and the manifest: ``(patient, visit)``.
Key = tuple[str, str]


@dataclass(frozen=True)
class RescorePlan:
    """What a batch run does with each visit of the manifest and each row of the earlier table."""

    #: The rows results.csv is rewritten with before scoring starts, in the earlier table's order
    #: (rows of visits no longer in the manifest included): every finished row but those
    #: recomputed for a reason of their own (and, with ``chosen``, the chosen ones). A row redone
    #: only because its baseline visit changed stays until its new row replaces it.
    rows: Mapping[Key, Mapping[str, str]]
    #: Visits to score, in manifest (scoring) order.
    todo: tuple[VisitEntry, ...]
    #: Why each row about to be replaced is recomputed (only visits of ``todo`` that had a row).
    stale: Mapping[Key, str]
    #: With ``chosen``: visits not chosen that are unscored or out of date (empty otherwise).
    pending: frozenset[Key]
    #: Patient -> the patient's baseline (first) visit.
    baselines: Mapping[str, VisitEntry]

    @property
    def recomputed(self) -> list[tuple[str, str, str]]:
        """``(patient, visit, reason)`` of the finished rows to be recomputed, in scoring order."""
        return [(e.patient, e.visit, self.stale[e.key]) for e in self.todo if e.key in self.stale]


def baselines_of(entries: list[VisitEntry]) -> Mapping[str, VisitEntry]:
    """Each patient's first visit of ``entries`` (in scoring order): the patient's baseline."""
    first: dict[str, VisitEntry] = {}
    for entry in entries:
        first.setdefault(entry.patient, entry)
    return MappingProxyType(first)


def plan_rescoring(entries: list[VisitEntry], done: Mapping[Key, Mapping[str, str]],
                   provenance: Mapping[Key, Mapping[str, str]], *, chosen: set[Key] | None = None,
                   report_reasons: Mapping[Key, str] | None = None) -> RescorePlan:
    """Which visits to score and which rows to keep (see the module doc).

    ``entries``: the manifest's visits in scoring order; ``done``: the finished rows of the
    earlier results.csv (``alonet.report.batch.rows.read_results``); ``provenance``: each
    visit's provenance columns in this run; ``chosen``: the keys given with ``--only``;
    ``report_reasons``: why a visit's report folder no longer fits its row (a run with
    reports). Reads no file and changes none of its arguments.
    """
    report_reasons = report_reasons or {}
    first = baselines_of(entries)
    by_key = {entry.key: entry for entry in entries}
    stale = {key: reason for key, row in done.items() if key in provenance
             and (reason := row_problem(row) or stale_reason(row, provenance[key])
                  or table_reason(row, by_key[key], first[key[0]]) or report_reasons.get(key))
             is not None}
    pending: set[Key] = set()
    if chosen is None:
        rows = {key: row for key, row in done.items() if key not in stale}
        todo_keys = {e.key for e in entries if e.key not in rows}
        # a baseline redone for the table alone (its date, its report folder) keeps its SALT:
        # the later visits' response columns stand; another baseline visit reaches them through
        # their own baseline_visit (table_reason)
        rebased = {e.patient for e in entries if e.key in todo_keys and first[e.patient] is e
                   and stale.get(e.key) not in TABLE_ONLY_REASONS}
        for entry in entries:
            if entry.key in todo_keys or first[entry.patient] is entry:
                continue
            base_key = first[entry.patient].key
            base_row = rows.get(base_key) or (done.get(base_key) if stale.get(base_key) in TABLE_ONLY_REASONS
                                              else None)  # redone for the table: its SALT stands
            if entry.patient in rebased or rows[entry.key]["baseline_salt"] != format_number(salt_of(base_row)):
                todo_keys.add(entry.key)
                stale[entry.key] = "baseline visit changed"
    else:
        for key in chosen & done.keys():
            stale.setdefault(key, "chosen with --only")
        pending = {e.key for e in entries if e.key not in chosen and (e.key not in done or e.key in stale)}
        stale = {key: reason for key, reason in stale.items() if key in chosen}
        rows = {key: row for key, row in done.items() if key not in chosen}
        todo_keys = set(chosen)
    return RescorePlan(rows=MappingProxyType(rows), todo=tuple(e for e in entries if e.key in todo_keys),
                       stale=MappingProxyType(stale), pending=frozenset(pending), baselines=first)
