"""``alonet predict``: probability maps and overlays for single photographs.

Also holds the options shared by the inference verbs (``--model``,
``--backend``) and the helper that builds a Pipeline from them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import click

BACKEND_CHOICES = ("auto", "torch", "onnx")
VIEW_CHOICES = ("top", "back", "left", "right")


def model_option(function):
    return click.option(
        "--model", "model", default="default", show_default=True,
        help="Model set: 'default' (bundled), a model-set folder or a training-run folder.",
    )(function)


def backend_option(function):
    return click.option(
        "--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
        help="Inference engine: auto (ONNX Runtime when available, else PyTorch), torch or onnx.",
    )(function)


def max_pixels_option(function):
    return click.option(
        "--max-pixels", type=click.IntRange(min=1), default=None,
        help="Largest photograph accepted, in pixels (default 80 million; a guard against "
             "decompression bombs). Raise it only for trusted files; above about 179 million it "
             "also lifts Pillow's own guard for these reads.",
    )(function)


def speed_options(function):
    """``--precision`` and ``--threads`` (ONNX Runtime)."""
    function = click.option(
        "--threads", type=click.IntRange(1, 256), default=None,
        help="ONNX Runtime threads per network pass (default: the cores this process may use).",
    )(function)
    return click.option(
        "--precision", type=click.Choice(("fp32", "int8")), default="fp32", show_default=True,
        help="Network precision: fp32, or int8 (needs <task>.int8.onnx beside the models: "
             "alonet export --int8 --into MODEL_SET).",
    )(function)


def threshold_options(function):
    """``--scalp-threshold`` and ``--hairloss-threshold`` (post-processing step 1)."""
    between = click.FloatRange(0.0, 1.0, min_open=True, max_open=True)
    function = click.option(
        "--hairloss-threshold", type=between, default=0.5, show_default=True,
        help="Confidence at or above which a scalp pixel counts as hair loss (0.5 = even odds; "
             "lower finds more loss).",
    )(function)
    return click.option(
        "--scalp-threshold", type=between, default=0.5, show_default=True,
        help="Confidence at or above which a pixel counts as scalp.",
    )(function)


def pipeline_config(max_pixels: int | None = None, scalp_threshold: float = 0.5,
                    hairloss_threshold: float = 0.5, *, threads: int | None = None, precision: str = "fp32"):
    """The PipelineConfig that the shared command-line options describe."""
    from alonet.infer import PipelineConfig
    from alonet.infer.postprocess import PostprocessConfig

    return PipelineConfig(max_pixels=max_pixels, threads=threads, precision=precision,
                          postprocess=PostprocessConfig(
        scalp_threshold=scalp_threshold, hairloss_threshold=hairloss_threshold))


def build_pipeline(model: str, backend: str, max_pixels: int | None = None,
                   scalp_threshold: float = 0.5, hairloss_threshold: float = 0.5, *,
                   threads: int | None = None, precision: str = "fp32"):
    """Load the networks once for a command."""
    from alonet.infer import Pipeline

    return Pipeline(model, backend=backend,
                    config=pipeline_config(max_pixels, scalp_threshold, hairloss_threshold,
                                           threads=threads, precision=precision))


def format_flags(flags: list[dict]) -> str:
    return "" if not flags else "  [" + ", ".join(f["code"] for f in flags) + "]"


def read_views_csv(path: Path) -> list[tuple[Path, str]]:
    """Rows ``file,view`` (header optional; relative files resolved against the CSV's folder)."""
    from alonet.errors import DatasetError, InvalidValueError
    from alonet.views import normalize_view

    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc.__class__.__name__})",
                           fix="give a UTF-8 CSV with rows file,view") from None
    items = []
    for number, row in enumerate(rows, start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells[:2]] == ["file", "view"]:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise DatasetError(f"{path}:{number}: expected 'file,view'", fix="write one photograph and its view per row")
        try:
            view = normalize_view(cells[1])
        except InvalidValueError:
            raise DatasetError(f"{path}:{number}: unknown view {cells[1]!r}",
                               fix="use top, back, left or right") from None
        file = Path(cells[0])
        items.append((file if file.is_absolute() else path.parent / file, view))
    if not items:
        raise DatasetError(f"{path}: no rows", fix="write one photograph and its view per row: file,view")
    return items


@click.command("predict")
@click.argument("images", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--view", type=click.Choice(VIEW_CHOICES, case_sensitive=False),
              help="View of every IMAGE (use --views-csv for mixed views).")
@click.option("--views-csv", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="CSV with rows file,view (instead of IMAGE... --view).")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <stem>_scalp.png, <stem>_hairloss.png and <stem>_overlay.jpg.")
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@model_option
@backend_option
@max_pixels_option
@threshold_options
@speed_options
def predict_command(images, view, views_csv, out_dir, overwrite, model, backend, max_pixels,
                    scalp_threshold, hairloss_threshold, precision, threads):
    """Segment photographs: probability maps (8-bit, the photograph's size) and overlays.

    For each input, writes <stem>_scalp.png and <stem>_hairloss.png (probability
    0..1 stored as 0..255) and <stem>_overlay.jpg (scalp outline, hair loss filled).
    """
    from alonet.data.atomic import atomic_write_bytes
    from alonet.errors import AloNetError, InvalidValueError, OutputExistsError
    from alonet.report.overlay import encode_jpeg, encode_png, probability_to_uint8, render_overlay

    if views_csv is not None:
        if images or view:
            raise InvalidValueError("give either IMAGE... --view or --views-csv, not both")
        items = read_views_csv(views_csv)
    else:
        if not images:
            raise InvalidValueError("no photograph given", fix="pass IMAGE... --view VIEW or --views-csv FILE")
        if not view:
            raise InvalidValueError("--view is required with IMAGE arguments",
                                    fix="add --view top|back|left|right, or use --views-csv")
        items = [(Path(p), view.lower()) for p in images]
    stems = [p.stem for p, _ in items]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise InvalidValueError(f"several inputs share the name {clashes[0]!r}; their outputs would collide",
                                fix="rename the files or run them into different output folders")
    kinds = ("_scalp.png", "_hairloss.png", "_overlay.jpg")
    if not overwrite:
        for stem in stems:
            for kind in kinds:
                if (out_dir / f"{stem}{kind}").exists():
                    raise OutputExistsError(f"output {out_dir / (stem + kind)} already exists",
                                            fix="choose another output folder or pass --overwrite")
    from alonet.data.preflight import check_output_folder, report_bytes_estimate

    check_output_folder(out_dir, report_bytes_estimate(p for p, _ in items))  # before loading networks
    pipeline = build_pipeline(model, backend, max_pixels, scalp_threshold, hairloss_threshold,
                              threads=threads, precision=precision)
    failures = 0
    for path, item_view in items:
        try:
            result = pipeline.predict_view(path, item_view)
        except AloNetError as exc:
            failures += 1
            click.echo(f"error: {exc}", err=True)
            continue
        stem = path.stem
        atomic_write_bytes(out_dir / f"{stem}_scalp.png", encode_png(probability_to_uint8(result.scalp_prob)))
        atomic_write_bytes(out_dir / f"{stem}_hairloss.png", encode_png(probability_to_uint8(result.hairloss_prob)))
        overlay = render_overlay(result.image, result.scalp_mask, result.hairloss_mask)
        atomic_write_bytes(out_dir / f"{stem}_overlay.jpg", encode_jpeg(overlay, quality=90))
        loss = "no scalp" if result.loss_pct is None else f"{result.loss_pct:5.1f} % hair loss"
        click.echo(f"{path.name}  {item_view:<5}  {loss}  confidence {100 * result.confidence:3.0f}%"
                   f"{format_flags(result.flags)}")
    if failures:
        raise AloNetError(f"{failures} of {len(items)} photograph(s) could not be processed (see above)",
                          fix="fix or remove those files and run them again")
