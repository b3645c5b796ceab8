"""``alonet predict``: probability maps and overlays for single photographs, and on
request the final masks (``--masks``, the ones ``alonet score`` uses) and float32
probabilities (``--npy``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import click

from alonet.cli.options import (
    VIEW_CHOICES,
    backend_option,
    build_pipeline,
    format_flags,
    max_pixels_option,
    model_option,
    pipeline_config,
    speed_options,
    threshold_options,
)
from alonet.data.csvtable import row_reader
from alonet.errors import AloNetError, DatasetError, InvalidValueError, OutputExistsError, ScoreWithheldError
from alonet.views import normalize_view


#: Output file endings: always, with --masks, with --npy.
MAP_KINDS = ("_scalp.png", "_hairloss.png", "_overlay.jpg")
MASK_KINDS = ("_scalp_mask.png", "_hairloss_mask.png")
NPY_KINDS = ("_scalp_prob.npy", "_hairloss_prob.npy")


def npy_bytes(array) -> bytes:
    """``array`` in NumPy's .npy format (for an atomic write)."""
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def npy_bytes_estimate(paths) -> int:
    """Bytes of the two float32 maps per photograph (8 per pixel), read from the headers."""
    from alonet.data.imagefile import image_info

    total = 0
    for path in paths:
        try:
            width, height = image_info(path, max_pixels=None).oriented_size
        except AloNetError:
            continue  # reported when the photograph is processed
        total += 8 * width * height
    return total


#: The columns of a --views-csv file, and its optional header row.
VIEWS_CSV_COLUMNS = ("file", "view")


def read_views_csv(path: Path) -> list[tuple[Path, str]]:
    """Rows ``file,view``; relative files are resolved against the CSV's folder.

    The first row may be the header ``file,view`` (case-insensitive; further
    columns are ignored). Any other first row is read as a photograph, so a
    first row whose view is not a view is an error that names the expected
    header, rather than a guess at what the columns mean.
    """
    try:
        reader, first_line = row_reader(path.read_text(encoding="utf-8-sig"), VIEWS_CSV_COLUMNS)
        rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read ({exc.__class__.__name__})",
                           fix="give a UTF-8 CSV with rows file,view") from None
    header = ",".join(VIEWS_CSV_COLUMNS)
    items = []
    for number, row in enumerate(rows, start=first_line):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == first_line and tuple(c.lower() for c in cells[:2]) == VIEWS_CSV_COLUMNS:
            continue
        if len(cells) < 2 or not cells[0] or not cells[1]:
            raise DatasetError(f"{path}:{number}: expected '{header}'", fix="write one photograph and its view per row")
        try:
            view = normalize_view(cells[1])
        except InvalidValueError:
            if number == first_line:
                raise DatasetError(f"{path}:{number}: {','.join(cells)!r} is neither the header '{header}' nor a "
                                   f"photograph row (unknown view {cells[1]!r})",
                                   fix=f"name the columns exactly {header}, or leave the header out; "
                                       "views are top, back, left or right") from None
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
              help="CSV with rows file,view (instead of IMAGE... --view); an optional first row "
                   "file,view is the header; relative file paths are read from the CSV's folder.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for <stem>_scalp.png, <stem>_hairloss.png and <stem>_overlay.jpg.")
@click.option("--masks", "write_masks", is_flag=True,
              help="Also write the final masks (after post-processing; the ones alonet score uses) as "
                   "<stem>_scalp_mask.png and <stem>_hairloss_mask.png (0/255, the photograph's size); "
                   "alonet salt --masks finds them when the stems end in the view (top, P01_top).")
@click.option("--npy", "write_npy", is_flag=True,
              help="Also write the probabilities as float32 .npy arrays at the photograph's size: "
                   "<stem>_scalp_prob.npy and <stem>_hairloss_prob.npy (8 bytes per pixel).")
@click.option("--overwrite", is_flag=True, help="Replace output files that already exist.")
@model_option
@backend_option
@max_pixels_option
@threshold_options
@speed_options
def predict_command(images, view, views_csv, out_dir, write_masks, write_npy, overwrite, model, backend, max_pixels,
                    scalp_threshold, hairloss_threshold, precision, threads):
    """Segment photographs: probability maps (8-bit, the photograph's size) and overlays.

    For each input, writes <stem>_scalp.png and <stem>_hairloss.png (probability
    0..1 stored as 0..255) and <stem>_overlay.jpg (scalp outline, hair loss filled).
    Thresholding these maps is not the final result: --masks writes the masks after
    post-processing, --npy the probabilities unrounded.
    Exit status 2 when a file could not be processed; 3 when all were, but a
    photograph needs a retake (its flags are printed; its outputs are still written).
    """
    items = _predict_items(images, view, views_csv)
    kinds = MAP_KINDS + (MASK_KINDS if write_masks else ()) + (NPY_KINDS if write_npy else ())
    _check_output_names([p.stem for p, _ in items], out_dir, kinds, overwrite)
    from alonet.system.preflight import check_output_folder, report_bytes_estimate

    need = report_bytes_estimate(p for p, _ in items) + (npy_bytes_estimate(p for p, _ in items) if write_npy else 0)
    check_output_folder(out_dir, need)  # before loading networks
    pipeline = build_pipeline(model, backend, pipeline_config(max_pixels, scalp_threshold, hairloss_threshold,
                                                              threads=threads, precision=precision))
    failures, retakes = 0, 0
    for path, item_view in items:
        try:
            result = pipeline.predict_view(path, item_view)
        except AloNetError as exc:
            failures += 1
            click.echo(f"error: {exc}", err=True)
            continue
        _write_prediction(out_dir, path.stem, result, write_masks=write_masks, write_npy=write_npy)
        loss = "no scalp" if result.loss_pct is None else f"{result.loss_pct:5.1f} % hair loss"
        click.echo(f"{path.name}  {item_view:<5}  {loss}  confidence {100 * result.confidence:3.0f}%"
                   f"{format_flags(result.flags)}")
        retakes += bool(result.retake)
    _raise_for_failures(failures, retakes, len(items))


def _predict_items(images, view: str | None, views_csv: Path | None) -> list[tuple[Path, str]]:
    """(photograph, view) pairs from IMAGE... --view or from --views-csv (one of the two)."""
    if views_csv is not None:
        if images or view:
            raise InvalidValueError("give either IMAGE... --view or --views-csv, not both")
        return read_views_csv(views_csv)
    if not images:
        raise InvalidValueError("no photograph given", fix="pass IMAGE... --view VIEW or --views-csv FILE")
    if not view:
        raise InvalidValueError("--view is required with IMAGE arguments",
                                fix="add --view top|back|left|right, or use --views-csv")
    return [(Path(p), view.lower()) for p in images]


def _check_output_names(stems: list[str], out_dir: Path, kinds: tuple[str, ...], overwrite: bool) -> None:
    """Refuse inputs whose outputs would collide, and (without ``overwrite``) outputs that exist."""
    from alonet.data.pairs import stem_key

    # compared without case and with accents composed: IMG_1 and img_1 are one file on macOS and Windows
    keys = [stem_key(s) for s in stems]
    clashes = sorted({s for s, k in zip(stems, keys) if keys.count(k) > 1})
    if clashes:
        raise InvalidValueError(f"several inputs share the name {clashes[0]!r} (ignoring case); their outputs "
                                "would collide", fix="rename the files or run them into different output folders")
    if not overwrite:
        for stem in stems:
            for kind in kinds:
                if (out_dir / f"{stem}{kind}").exists():
                    raise OutputExistsError(f"output {out_dir / (stem + kind)} already exists",
                                            fix="choose another output folder or pass --overwrite")


def _write_prediction(out_dir: Path, stem: str, result, *, write_masks: bool, write_npy: bool) -> None:
    """Write one photograph's outputs (atomically): the 8-bit probability maps (marked
    as such), on request the final masks and float32 probabilities, and the overlay."""
    from alonet.system.atomic import atomic_write_bytes
    from alonet.data.encode import OVERLAY_JPEG_QUALITY, encode_jpeg, encode_png, save_mask_png
    from alonet.data.maskpairs import PROBABILITY_PNG_KEY, PROBABILITY_PNG_VALUE
    from alonet.report.overlay import probability_to_uint8, render_overlay

    marker = {PROBABILITY_PNG_KEY: PROBABILITY_PNG_VALUE}  # alonet salt --masks refuses these files
    atomic_write_bytes(out_dir / f"{stem}_scalp.png", encode_png(probability_to_uint8(result.scalp_prob), text=marker))
    atomic_write_bytes(out_dir / f"{stem}_hairloss.png",
                       encode_png(probability_to_uint8(result.hairloss_prob), text=marker))
    if write_masks:
        save_mask_png(out_dir / f"{stem}_scalp_mask.png", result.scalp_mask)
        save_mask_png(out_dir / f"{stem}_hairloss_mask.png", result.hairloss_mask)
    if write_npy:
        atomic_write_bytes(out_dir / f"{stem}_scalp_prob.npy", npy_bytes(result.scalp_prob))
        atomic_write_bytes(out_dir / f"{stem}_hairloss_prob.npy", npy_bytes(result.hairloss_prob))
    overlay = render_overlay(result.image, result.scalp_mask, result.hairloss_mask)
    atomic_write_bytes(out_dir / f"{stem}_overlay.jpg", encode_jpeg(overlay, OVERLAY_JPEG_QUALITY))


def _raise_for_failures(failures: int, retakes: int, total: int) -> None:
    """Exit status 2 when a photograph could not be processed, 3 when one needs a retake."""
    retaken = f"; {retakes} need a retake" if retakes else ""
    if failures:
        raise AloNetError(f"{failures} of {total} photograph(s) could not be processed (see above){retaken}",
                          fix="fix or remove those files and run them again")
    if retakes:
        raise ScoreWithheldError(f"{retakes} of {total} photograph(s) need a retake (flags above); "
                                 "their maps and overlays were written all the same",
                                 fix="retake those photographs before relying on their masks")
