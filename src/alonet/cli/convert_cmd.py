"""``alonet convert``: photographs + scalp and hair-loss annotations -> dataset folder."""

from __future__ import annotations

import click


@click.command("convert")
@click.argument("photos", required=False, type=click.Path(file_okay=False, path_type=str))
@click.argument("scalp", required=False, type=click.Path(file_okay=False, path_type=str))
@click.argument("hairloss", required=False, type=click.Path(file_okay=False, path_type=str))
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=str),
              help="Dataset folder to create (appears only when complete).")
@click.option("--from", "phantom_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="A phantom folder (photographs/, scalp/, hairloss/, manifest.csv) instead of three folders.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="CSV with stem (or file), patient, visit (or visit_date), view.")
@click.option("--size", type=click.IntRange(min=8), default=320, show_default=True,
              help="Side of the square arrays (the study used 320).")
@click.option("--skip-invalid", is_flag=True, help="Convert the valid pairs and list the others in skipped.csv.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder (only once the new one is complete).")
@click.option("--allow-empty-scalp", is_flag=True, help="Accept scalp annotations with no marked pixel.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images with more pixels than this (default 80 million).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Threads decoding images.")
def convert(photos, scalp, hairloss, out, phantom_dir, manifest, size, skip_invalid, overwrite,
            allow_empty_scalp, max_pixels, workers) -> None:
    """Convert PHOTOS, SCALP and HAIRLOSS folders (paired by file stem) into a dataset.

    Every pair is checked first and all problems are listed at once; nothing is
    written unless all pairs are valid (or --skip-invalid is given).
    """
    from alonet.data.convert import convert_folders, convert_phantom
    from alonet.data.imageio import DEFAULT_MAX_PIXELS

    folders = [p for p in (photos, scalp, hairloss) if p is not None]
    if phantom_dir is not None and (folders or manifest):
        raise click.UsageError("give either --from PHANTOM_DIR or PHOTOS SCALP HAIRLOSS [--manifest], not both")
    if phantom_dir is None and len(folders) != 3:
        raise click.UsageError("give three folders PHOTOS SCALP HAIRLOSS, or --from PHANTOM_DIR")

    def log(line: str) -> None:
        click.echo(line, err=True)

    kwargs = dict(
        size=size,
        skip_invalid=skip_invalid,
        overwrite=overwrite,
        allow_empty_scalp=allow_empty_scalp,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
        workers=workers,
        log=log,
    )
    if phantom_dir is not None:
        path = convert_phantom(phantom_dir, out, **kwargs)
    else:
        path = convert_folders(photos, scalp, hairloss, out, manifest=manifest, **kwargs)

    from alonet.data.dataset import open_dataset

    dataset = open_dataset(path)
    skipped = dataset.info.get("skipped", 0)
    note = f"; {skipped} skipped (see {path / 'skipped.csv'})" if skipped else ""
    click.echo(f"converted {len(dataset)} pairs into {path} ({dataset.size}x{dataset.size}){note}")
