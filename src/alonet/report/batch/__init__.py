"""Batch scoring of a whole trial from a manifest (``alonet batch``), one module per part:

* :mod:`.run` -- :func:`run_batch`: score the visits, write results.csv, plots and reports;
* :mod:`.manifest` -- read the manifest (one row per photograph) into visits in order;
* :mod:`.plan` -- which visits a rerun scores, keeps or recomputes (pure);
* :mod:`.rows` -- results.csv rows: made from a visit, read back and checked;
* :mod:`.columns` -- results.csv's columns and what each means (the data dictionary);
* :mod:`.folders` -- report folder names, de-identified names, superseded folders;
* :mod:`.workers` -- scoring visits in worker processes.

The names most callers need are importable from here.
"""

from __future__ import annotations

from alonet.report.batch.columns import RESULT_COLUMNS
from alonet.report.batch.run import (
    MAX_NAME,
    PLOT_INDEX,
    BatchSummary,
    chosen_keys,
    output_name,
    run_batch,
    write_plots,
)

__all__ = ["MAX_NAME", "PLOT_INDEX", "RESULT_COLUMNS", "BatchSummary", "chosen_keys", "output_name", "run_batch",
           "write_plots"]
