"""``alonet batch``: score every visit of a trial listed in a manifest."""

from __future__ import annotations

from pathlib import Path

import click

from alonet.cli.options import (
    backend_option,
    max_pixels_option,
    model_option,
    pipeline_config,
    speed_options,
    threshold_options,
    view_check_option,
)


@click.command("batch")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: results.csv, results_columns.csv, superseded.csv, plots/, reports/ and "
                   "superseded-reports/ (a rerun continues where it stopped).")
@click.option("--plots/--no-plots", default=True, show_default=True, help="One SALT-over-time PNG per patient.")
@click.option("--reports", is_flag=True, help="Also write a report folder per visit under reports/.")
@click.option("--deidentify", is_flag=True,
              help="With --reports: blur everything outside the scalp in the report pictures, leave labels and "
                   "dates out of the reports and name their folders reports/visit-<hash> (reports_index.csv says "
                   "whose); an error without --reports; results.csv and the plots keep the labels.")
@click.option("--provisional", is_flag=True,
              help="Give a (provisional) SALT also for visits whose photographs need a retake.")
@model_option
@backend_option
@max_pixels_option
@threshold_options
@speed_options
@view_check_option
@click.option("--only", nargs=2, multiple=True, metavar="PATIENT VISIT",
              help="Score just this visit (repeat for more), even if nothing changed; every other row of "
                   "results.csv stays as it is, except later visits of a chosen baseline whose SALT moved.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Visits scored at once, each in its own process (default: one per available core). "
                   "With several workers --threads defaults to 1.")
def batch_command(manifest, out_dir, plots, reports, deidentify, provisional, model, backend, max_pixels,
                  scalp_threshold, hairloss_threshold, precision, threads, view_checks, only, workers):
    """Score a trial: MANIFEST is a CSV with columns patient,visit,view,path[,date].

    Writes OUT/results.csv (one row per visit: per-view %, SALT, grade, band and
    response against the patient's first visit), OUT/results_columns.csv (what
    each column means) and OUT/plots/<patient>.png (OUT/plots/index.csv: whose).
    A photograph that cannot be read becomes an error row; the run continues.
    Rerunning keeps visits already in results.csv whose photographs, date,
    baseline, model, backend and thresholds are unchanged, recomputes the others
    (and says why; the old rows go to OUT/superseded.csv, old report folders to
    OUT/superseded-reports/<name>.superseded-<time>) and retries error rows.

    Exit status: 0 when every visit has a SALT; 3 when any visit failed (error
    column) or has no SALT (status withheld: a photograph needs a retake; or
    incomplete: a view not measured, which --provisional cannot change); 2 when
    nothing could be scored (bad manifest, output, model).
    """
    from alonet.system.preflight import check_output_folder, report_bytes_estimate
    from alonet.errors import InvalidValueError
    from alonet.report import ReportOptions
    from alonet.report.batch import chosen_keys, run_batch
    from alonet.report.batch.manifest import read_batch_manifest
    from alonet.report.batch.workers import PipelineSpec, default_workers

    if deidentify and not reports:
        # results.csv and the plots hold no pictures; silently ignoring the option
        # would let someone believe they had a de-identified output.
        raise InvalidValueError("--deidentify only blurs the pictures of the report folders, and without "
                                "--reports none are written", fix="add --reports, or leave out --deidentify")
    entries = read_batch_manifest(manifest)  # check the manifest before loading the networks
    if only:  # unknown labels are refused here; only the chosen visits' photographs are scored
        chosen = chosen_keys(entries, only)
        entries = [e for e in entries if e.key in chosen]
    photos = [p for e in entries for p in e.views.values()]
    check_output_folder(out_dir, report_bytes_estimate(photos) if reports else 200_000 * len(entries))
    workers = workers or default_workers(len(entries))
    if workers > 1 and threads is None:
        threads = 1
    config = pipeline_config(max_pixels, scalp_threshold, hairloss_threshold, threads=threads, precision=precision,
                             view_checks=view_checks)
    spec = PipelineSpec(model, backend, config)
    try:
        summary = run_batch(manifest, out_dir, spec, plots=plots,
                            reports=ReportOptions(deidentify=deidentify) if reports else None,
                            provisional=provisional, workers=workers, only=only or None)
    except KeyboardInterrupt:
        click.echo(f"batch stopped: the visits finished so far are kept in {out_dir}/results.csv; rerun the "
                   "same command to score the rest", err=True)
        raise
    for patient, visit, reason in summary.recomputed:
        click.echo(f"recomputed patient {patient} visit {visit}: {reason}")
    why = ", reasons above" if summary.recomputed else ""
    click.echo(f"scored {summary.scored} visit(s) ({len(summary.recomputed)} recomputed{why}), "
               f"{summary.errors} error(s), {summary.skipped} unchanged and kept -> {summary.results}")
    if reports:
        click.echo(f"reports: {summary.results.parent / 'reports'}")
    if summary.left_out:
        click.echo(f"{summary.left_out} visit(s) not chosen with --only are not scored yet or out of date: "
                   "rerun without --only to score them")
    if summary.not_in_manifest:
        shown = ", ".join(f"{p} visit {v}" for p, v in summary.not_in_manifest[:3])
        more = " ..." if len(summary.not_in_manifest) > 3 else ""
        click.echo(f"warning: {len(summary.not_in_manifest)} row(s) of {summary.results} are of visits no longer "
                   f"in the manifest ({shown}{more}): kept as they were, not in the plots or the reports index, "
                   "and a later visit may now count another as its baseline (use a new output folder to drop "
                   "them)", err=True)
    if summary.plots:
        click.echo(f"plots: {summary.plots[0].parent} ({len(summary.plots)} patient(s))")
    if summary.errors or summary.withheld or summary.unmeasured:
        from alonet.errors import ScoreWithheldError

        unmeasured = (f", {summary.unmeasured} visit(s) have no SALT (a view could not be measured, which "
                      "--provisional cannot change)" if summary.unmeasured else "")
        raise ScoreWithheldError(f"{summary.errors} visit(s) failed, {summary.withheld} visit(s) have no SALT "
                                 f"(a photograph needs a retake){unmeasured}",
                                 fix=f"see the status, error, withheld and flags columns of {summary.results}")
