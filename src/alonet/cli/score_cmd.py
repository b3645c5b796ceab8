"""``alonet score``: the SALT score of one visit from its four photographs, with a report."""

from __future__ import annotations

from pathlib import Path

import click

from alonet.cli.options import (
    backend_option,
    build_pipeline,
    format_flags,
    max_pixels_option,
    model_option,
    speed_options,
    pipeline_config,
    threshold_options,
    view_check_option,
)
from alonet.errors import MissingViewError
from alonet.views import VIEWS


def print_visit(visit) -> None:
    """Per-view percentages and the SALT line, for people."""
    for view in VIEWS:
        result = visit.views.get(view)
        if result is None:
            click.echo(f"{view:<6} missing")
            continue
        loss = "no scalp" if result.loss_pct is None else f"{result.loss_pct:5.1f} %"
        click.echo(f"{view:<6} {loss}   confidence {100 * result.confidence:3.0f}%{format_flags(result.flags)}")
    if visit.salt is None:
        reasons = "; ".join(f["message"] for f in visit.flags if f["code"] in ("incomplete", "withheld"))
        click.echo(f"SALT n/a ({reasons})")
    else:
        marker = "   PROVISIONAL (photographs need a retake)" if getattr(visit, "provisional", False) else ""
        click.echo(f"SALT {visit.salt:.1f}   grade {visit.grade}   AA-IGA {visit.band}{marker}")
    from alonet.infer.quality import RETAKE_CODES

    for f in visit.flags:
        if f["code"] in RETAKE_CODES:
            click.echo(f"retake {f['view']}: {f['message']}")


@click.command("score")
@click.option("--top", type=click.Path(dir_okay=False, path_type=Path), help="Photograph of the top view.")
@click.option("--back", type=click.Path(dir_okay=False, path_type=Path), help="Photograph of the back view.")
@click.option("--left", type=click.Path(dir_okay=False, path_type=Path), help="Photograph of the left view.")
@click.option("--right", type=click.Path(dir_okay=False, path_type=Path), help="Photograph of the right view.")
@click.option("-o", "--output", "report_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Report folder: report.html, report.json, overlays and masks.")
@click.option("--deidentify", is_flag=True,
              help="Blur everything outside the scalp in the report images and leave out the patient code, "
                   "dates, file paths and the model folder's name (the reviewer stays).")
@click.option("--incomplete", is_flag=True,
              help="Score the views given even if some are missing (no SALT is computed then).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option("--provisional", is_flag=True,
              help="Compute the SALT even when a photograph needs a retake (marked PROVISIONAL everywhere). "
                   "Without it such a visit gets no SALT and the command exits with status 3.")
@click.option("--overlay", type=click.Choice(["fill", "light", "outline"]), default="fill", show_default=True,
              help="Hair-loss layer in the report: filled colour, a lighter fill, or outlines only.")
@click.option("--show-paths", is_flag=True, help="Name the photographs' files in the report (off: paths may hold names).")
@click.option("--patient-code", default=None, help="Patient code shown in the report (optional).")
@click.option("--visit-date", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Visit date YYYY-MM-DD (optional).")
@click.option("--photo-date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date the photographs were taken, YYYY-MM-DD (optional).")
@click.option("--reviewer", default=None, help="Who reviews the report (optional).")
@model_option
@backend_option
@max_pixels_option
@threshold_options
@speed_options
@view_check_option
def score_command(top, back, left, right, report_dir, deidentify, incomplete, overwrite, provisional, overlay,
                  show_paths, patient_code, visit_date, photo_date, reviewer, model,
                  backend, max_pixels, scalp_threshold, hairloss_threshold, precision, threads, view_checks):
    """Score a visit: per-view % of scalp with hair loss, SALT, grade and AA-IGA band.

    Writes REPORT_DIR/report.html (self-contained), report.json, <view>_overlay.jpg,
    <view>_scalp.png and <view>_hairloss.png.

    A visit with a photograph that needs a retake (unusable, too dark, blurred,
    no scalp, a view that looks mislabelled, ...) gets no SALT: the report says
    which view and why, and the exit status is 3 (see --provisional).
    """
    from alonet.system.atomic import check_can_write_directory
    from alonet.report import ReportOptions, write_report
    from alonet.report.provenance import visit_provenance
    from alonet.report.writer import REPORT_FILES

    images = {v: p for v, p in (("top", top), ("back", back), ("left", left), ("right", right)) if p}
    if not images:
        raise MissingViewError("no photograph given", fix="pass --top, --back, --left and --right")
    # fail before the slow part
    check_can_write_directory(report_dir, overwrite, inputs=[*images.values(), model], own=REPORT_FILES)
    from alonet.system.preflight import check_output_folder, report_bytes_estimate

    check_output_folder(report_dir, report_bytes_estimate(images.values()), what="report folder")
    pipeline = build_pipeline(model, backend, pipeline_config(max_pixels, scalp_threshold, hairloss_threshold,
                                                              threads=threads, precision=precision,
                                                              view_checks=view_checks))
    visit = pipeline.score_visit(images, missing="incomplete" if incomplete else "error",
                                 provisional=provisional)
    print_visit(visit)
    review = {"patient_code": patient_code, "reviewer": reviewer,
              "visit_date": visit_date.date().isoformat() if visit_date else None,
              "photo_date": photo_date.date().isoformat() if photo_date else None}
    options = ReportOptions(deidentify=deidentify, meta=visit_provenance(pipeline, images), review=review,
                            show_paths=show_paths, overlay=overlay)
    written = write_report(visit, report_dir, options=options, overwrite=overwrite)
    click.echo(f"report: {written['html']}")
    if visit.withheld:
        from alonet.errors import ScoreWithheldError

        from alonet.infer.viewcheck import MISMATCH_CODE

        mislabelled = [v for v in visit.withheld
                       if any(f.get("code") == MISMATCH_CODE for f in visit.views[v].flags)]
        retake = [v for v in visit.withheld if v not in mislabelled]
        what, fixes = [], []
        if mislabelled:
            what.append(f"the {', '.join(mislabelled)} photograph(s) look like another view")
            fixes.append("check which photograph is which view and give each under its own label")
        if retake:
            what.append(f"the {', '.join(retake)} photograph(s) need a retake")
            fixes.append("retake " + ("those photographs" if len(retake) > 1 else "that photograph"))
        raise ScoreWithheldError(f"SALT withheld: {'; '.join(what)} (see above and the report; the report was "
                                 "written)", fix="; ".join(fixes) + ", or pass --provisional for a provisional score")
    unmeasured = [view for view, result in visit.views.items() if result.loss_pct is None]
    if provisional and not visit.missing and visit.salt is None and unmeasured:  # a view not measured leaves it empty
        from alonet.errors import ScoreWithheldError

        raise ScoreWithheldError(f"no SALT: the {', '.join(unmeasured)} view(s) could not be measured, which "
                                 "--provisional cannot change (see above and the report; the report was written)",
                                 fix="retake " + ("those photographs" if len(unmeasured) > 1 else "that photograph"))
