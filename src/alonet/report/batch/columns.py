"""The columns of ``alonet batch``'s results.csv and what each one means.

:data:`RESULT_COLUMNS` is the table's header, in order. :data:`COLUMN_MEANINGS`
says in one line what each column holds; a batch run writes it next to the
table as ``results_columns.csv`` (the data dictionary a trial's statistician
asks for), so the meaning travels with the numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from types import MappingProxyType

from alonet.report.provenance import PROVENANCE_COLUMNS

RESULT_COLUMNS: tuple[str, ...] = (
    "patient", "visit", "date",
    "top_pct", "back_pct", "left_pct", "right_pct",
    "salt", "salt_shown", "grade", "band",
    "baseline_visit", "baseline_salt", "change", "percent_change",
    "salt50", "salt75", "salt90", "salt100", "salt_le_20", "salt_le_10", "worsening_20",
    "retake", "flags", "withheld", "error", "status",
    *PROVENANCE_COLUMNS,
)
#: Columns of results.csv added after its first version that are not provenance.
TABLE_ADDED_COLUMNS = MappingProxyType({"status": "", "salt_shown": ""})

_RESPONSE = "empty for the baseline visit itself and when either SALT is missing"

#: column -> (meaning, values). Kept beside :data:`RESULT_COLUMNS`; a test checks both list the same columns.
COLUMN_MEANINGS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "patient": ("patient label as written in the manifest", "text"),
    "visit": ("visit label as written in the manifest", "text"),
    "date": ("visit date from the manifest", "YYYY-MM-DD or empty"),
    "top_pct": ("hair loss in the top view, % of that view's scalp region", "0-100, 2 decimals"),
    "back_pct": ("hair loss in the back view, % of that view's scalp region", "0-100, 2 decimals"),
    "left_pct": ("hair loss in the left view, % of that view's scalp region", "0-100, 2 decimals"),
    "right_pct": ("hair loss in the right view, % of that view's scalp region", "0-100, 2 decimals"),
    "salt": ("SALT score: 0.40 top + 0.24 back + 0.18 left + 0.18 right (% of the whole scalp with hair "
             "loss); empty when withheld, incomplete or an error", "0-100, 2 decimals"),
    "salt_shown": ("the SALT as every report shows it: the unrounded SALT with one decimal; grade, band and "
                   "the <= 20 / <= 10 columns come from it (the 2-decimal salt column can round across a "
                   "boundary: 20.452 is salt 20.45 but shown 20.5)", "0.0-100.0, 1 decimal"),
    "grade": ("Olsen SALT grade of the SALT as shown (salt_shown, rounded half up)",
              "S0 (0), S1 (1-24), S2 (25-49), S3 (50-74), S4 (75-99), S5 (100)"),
    "band": ("AA-IGA band of the SALT as shown (salt_shown, rounded half up)",
             "none (0), limited (1-20), moderate (21-49), severe (50-94), very severe (95-100)"),
    "baseline_visit": ("the patient's first visit (by date, else numeric label, else manifest order)", "text"),
    "baseline_salt": ("SALT of the baseline visit", "0-100, 2 decimals, or empty"),
    "change": (f"SALT minus baseline SALT (negative = regrowth); {_RESPONSE}", "points, 2 decimals"),
    "percent_change": (f"change as % of the baseline SALT (also empty when the baseline SALT is 0); {_RESPONSE}",
                       "%, 2 decimals"),
    "salt50": (f"SALT improved by at least 50 % of the baseline SALT (0 when the baseline is 0); {_RESPONSE}",
               "0 or 1"),
    "salt75": (f"SALT improved by at least 75 % of the baseline SALT (0 when the baseline is 0); {_RESPONSE}",
               "0 or 1"),
    "salt90": (f"SALT improved by at least 90 % of the baseline SALT (0 when the baseline is 0); {_RESPONSE}",
               "0 or 1"),
    "salt100": (f"SALT improved by 100 % of the baseline SALT (0 when the baseline is 0); {_RESPONSE}",
                "0 or 1"),
    "salt_le_20": (f"SALT as shown (salt_shown, then half up) at most 20; {_RESPONSE}", "0 or 1"),
    "salt_le_10": (f"SALT as shown (salt_shown, then half up) at most 10; {_RESPONSE}", "0 or 1"),
    "worsening_20": (f"SALT at least 20 points above the baseline; {_RESPONSE}", "0 or 1"),
    "retake": ("1 when a photograph of the visit should be retaken (see flags)", "0 or 1"),
    "flags": ("quality and view-check findings, as view: code; separated by '; '", "text"),
    "withheld": ("why the visit has no SALT (a view needs a retake or looks like another view), or "
                 "'provisional ...' when --provisional gave one anyway", "text or empty"),
    "error": ("why the visit could not be scored (unreadable or missing photograph)", "text or empty"),
    "status": ("what became of the visit: scored; provisional (SALT given with --provisional despite a retake); "
               "withheld (a view needs a retake or looks like another view); incomplete (a view missing or "
               "without scalp); error (a photograph could not be read)",
               "scored, provisional, withheld, incomplete, error"),
    "model": ("the model set as given on the command line", "default or a folder"),
    "model_sha256": ("SHA-256 over the model set's JSON and weight files (a retrained model differs)",
                     "64 hex digits"),
    "backend": ("inference engine", "torch or onnx"),
    "scalp_threshold": ("confidence at or above which a pixel counts as scalp", "0-1"),
    "hairloss_threshold": ("confidence at or above which a scalp pixel counts as hair loss", "0-1"),
    "provisional": ("1 when the run gave SALTs also for photographs needing a retake", "0 or 1"),
    "view_checks": ("1 when the view checks ran (--no-view-checks: 0)", "0 or 1"),
    "inputs_sha256": ("SHA-256 over the visit's photographs (view name + file hash)", "64 hex digits"),
    "precision": ("network arithmetic", "fp32 or int8"),
    "alonet_version": ("AloNet version that wrote the row (a record: a new version recomputes nothing)",
                       "version string"),
})

#: File name of the data dictionary written next to results.csv.
COLUMNS_FILE = "results_columns.csv"


def columns_csv() -> str:
    """The data dictionary as CSV text: ``column,meaning,values``, one row per results.csv column."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("column", "meaning", "values"))
    for column in RESULT_COLUMNS:
        meaning, values = COLUMN_MEANINGS[column]
        writer.writerow((column, meaning, values))
    return buffer.getvalue()
