"""``alonet score``: the SALT score of one visit from its four photographs, with a report."""

from __future__ import annotations

from pathlib import Path

import click

from alonet.cli.predict_cmd import (
    backend_option,
    build_pipeline,
    format_flags,
    max_pixels_option,
    model_option,
    speed_options,
    threshold_options,
)


def print_visit(visit) -> None:
    """Per-view percentages and the SALT line, for people."""
    from alonet.views import VIEWS

    for view in VIEWS:
        result = visit.views.get(view)
        if result is None:
            click.echo(f"{view:<6} missing")
            continue
        loss = "no scalp" if result.loss_pct is None else f"{result.loss_pct:5.1f} %"
        click.echo(f"{view:<6} {loss}   confidence {100 * result.confidence:3.0f}%{format_flags(result.flags)}")
    if visit.salt is None:
        reasons = "; ".join(f["message"] for f in visit.flags if f["code"] == "incomplete")
        click.echo(f"SALT n/a ({reasons})")
    else:
        click.echo(f"SALT {visit.salt:.1f}   grade {visit.grade}   AA-IGA {visit.band}")
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
@click.option("--deidentify", is_flag=True, help="Blur everything outside the scalp in the report images.")
@click.option("--incomplete", is_flag=True,
              help="Score the views given even if some are missing (no SALT is computed then).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@model_option
@backend_option
@max_pixels_option
@threshold_options
@speed_options
def score_command(top, back, left, right, report_dir, deidentify, incomplete, overwrite, model, backend,
                  max_pixels, scalp_threshold, hairloss_threshold, precision, threads):
    """Score a visit: per-view % of scalp with hair loss, SALT, grade and AA-IGA band.

    Writes REPORT_DIR/report.html (self-contained), report.json, <view>_overlay.jpg,
    <view>_scalp.png and <view>_hairloss.png.
    """
    from alonet.data.atomic import check_can_write_directory
    from alonet.report import write_report

    images = {v: p for v, p in (("top", top), ("back", back), ("left", left), ("right", right)) if p}
    if not images:
        from alonet.errors import MissingViewError

        raise MissingViewError("no photograph given", fix="pass --top, --back, --left and --right")
    check_can_write_directory(report_dir, overwrite)  # fail before the slow part
    pipeline = build_pipeline(model, backend, max_pixels, scalp_threshold, hairloss_threshold,
                              threads=threads, precision=precision)
    visit = pipeline.score_visit(images, missing="incomplete" if incomplete else "error")
    print_visit(visit)
    written = write_report(visit, report_dir, deidentify=deidentify, overwrite=overwrite,
                           meta=pipeline.provenance())
    click.echo(f"report: {written['html']}")
