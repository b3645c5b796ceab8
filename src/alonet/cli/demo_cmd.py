"""``alonet demo``: render a phantom patient, score it and write the report.

Nothing is downloaded: the patient is drawn by the built-in phantom generator
(procedural geometry) and scored with the bundled model.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from alonet.cli.options import (
    PHANTOM_MAX_SIZE,
    SEED,
    backend_option,
    build_pipeline,
    format_flags,
    model_option,
    pipeline_config,
    speed_options,
)
from alonet.errors import InvalidValueError, OutputExistsError
from alonet.views import VIEWS

#: Marker file that identifies a folder written by ``alonet demo`` (safe to replace).
DEMO_MARKER = "demo.json"


def written_by_demo(folder: Path) -> bool:
    """True when ``folder`` holds a ``demo.json`` that ``alonet demo`` wrote (not just any file of that name)."""
    try:
        info = json.loads((folder / DEMO_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(info, dict) and {"seed", "true_salt", "predicted_salt"} <= set(info)


@click.command("demo")
@click.option("-o", "--output", "out_dir", default="alonet-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the phantom photographs, their true masks and the report. An earlier demo's "
                   "folder there is replaced whole (files added to it go too); any other folder is refused.")
@click.option("--seed", type=SEED, default=7, show_default=True,
              help="Which phantom patient to draw (7: confluent patches, SALT about 36).")
@click.option("--size", type=click.IntRange(max=PHANTOM_MAX_SIZE), default=640, show_default=True,
              help=f"Longer side of the phantom photographs in pixels (64 to {PHANTOM_MAX_SIZE}).")
@click.option("--deidentify", is_flag=True,
              help="Blur everything outside the scalp in the report images and leave out the patient code, "
                   "dates, file paths and the model folder's name (the reviewer stays).")
@model_option
@backend_option
@speed_options
def demo_command(out_dir, seed, size, deidentify, model, backend, precision, threads):
    """Score a phantom patient end to end and compare with its true SALT.

    Writes OUT/photographs/<view>.jpg, OUT/truth/<view>_{scalp,hairloss}.png,
    OUT/report/ (report.html, report.json, overlays, masks) and OUT/demo.json (the
    predicted and true numbers). The last line printed is `SALT predicted <x> true <y>`.
    """
    from alonet.system.atomic import atomic_directory, atomic_write_text
    from alonet.data.encode import save_mask_png, save_photo_jpeg
    from alonet.phantom import render_patient
    from alonet.report import ReportOptions, write_report
    from alonet.report.provenance import visit_provenance

    if size < 64:
        raise InvalidValueError(f"--size {size} is too small", fix="use at least 64 pixels")
    if out_dir.exists() and any(out_dir.iterdir()) and not written_by_demo(out_dir):
        raise OutputExistsError(f"output {out_dir} already exists and was not written by alonet demo",
                                fix="choose another folder with -o")
    pipeline = build_pipeline(model, backend, pipeline_config(threads=threads, precision=precision))
    phantom = render_patient(seed=seed, visits=1, size=size)[0]
    # built under a temporary name: a stopped or failed run leaves the folder as it was
    with atomic_directory(out_dir, overwrite=True) as tmp:
        photos = {}
        for view in VIEWS:
            truth = phantom.views[view]
            photos[view] = save_photo_jpeg(tmp / "photographs" / f"{view}.jpg", truth.image)
            save_mask_png(tmp / "truth" / f"{view}_scalp.png", truth.scalp)
            save_mask_png(tmp / "truth" / f"{view}_hairloss.png", truth.hairloss)
        visit = pipeline.score_visit(photos)
        for view in VIEWS:
            result = visit.views[view]
            predicted = "no scalp" if result.loss_pct is None else f"{result.loss_pct:5.1f} %"
            click.echo(f"{view:<6} predicted {predicted}   true {phantom.views[view].loss_pct:5.1f} %"
                       f"{format_flags(result.flags)}")
        options = ReportOptions(
            deidentify=deidentify,
            meta={**visit_provenance(pipeline, photos), "phantom_seed": seed, "true_salt": round(phantom.salt, 2)},
            title=f"AloNet demo: phantom patient (seed {seed}; its true SALT is {phantom.salt:.1f})")
        written = write_report(visit, tmp / "report", options=options)
        atomic_write_text(tmp / DEMO_MARKER, json.dumps({
            "seed": seed, "size": size, "model": str(model), "backend": pipeline.backend_name,
            "true_salt": round(phantom.salt, 2),
            "predicted_salt": None if visit.salt is None else round(visit.salt, 2),
            "true_loss_pct": {v: round(phantom.views[v].loss_pct, 2) for v in VIEWS},
        }, indent=2) + "\n")
    click.echo(f"report: {out_dir / 'report' / written['html'].name}")
    predicted = "n/a" if visit.salt is None else f"{visit.salt:.1f}"
    click.echo(f"SALT predicted {predicted} true {phantom.salt:.1f}")
