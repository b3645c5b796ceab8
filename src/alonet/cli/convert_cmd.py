"""``alonet convert``: photographs + scalp and hair-loss annotations -> dataset folder
(or the reviewed visits of a web-app store, ``--from-store``)."""

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
@click.option("--from-store", "store_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="A web-app store (`alonet serve --store DIR`): its visits marked reviewed, with the "
                   "corrected masks, become the dataset.")
@click.option("--all", "include_all", is_flag=True,
              help="With --from-store: every stored visit, reviewed or not.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=str), default=None,
              help="CSV with stem (or file), patient, visit (or visit_date), view.")
@click.option("--size", type=click.IntRange(min=8, max=4096), default=320, show_default=True,  # dataset.MAX_SIZE
              help="Side of the square arrays (the study used 320; at most 4096: 48 MiB per photograph).")
@click.option("--skip-invalid", is_flag=True, help="Convert the valid pairs and list the others in skipped.csv.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder (only once the new one is complete).")
@click.option("--allow-empty-scalp", is_flag=True, help="Accept scalp annotations with no marked pixel.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images with more pixels than this (default 80 million).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Threads decoding images.")
def convert(photos, scalp, hairloss, out, phantom_dir, store_dir, include_all, manifest, size, skip_invalid,
            overwrite, allow_empty_scalp, max_pixels, workers) -> None:
    """Convert PHOTOS, SCALP and HAIRLOSS folders (paired by file stem) into a dataset.

    Every pair is checked first and all problems are listed at once; nothing is
    written unless all pairs are valid (or --skip-invalid is given).

    With --from-store DIR, the visits saved in the web app and marked "reviewed"
    (all of them with --all) are exported instead, with the masks as corrected;
    the photographs, full-size masks and a manifest are kept beside the arrays.
    """
    folders = [p for p in (photos, scalp, hairloss) if p is not None]
    if store_dir is not None:
        if folders or phantom_dir is not None or manifest:
            raise click.UsageError("give --from-store DIR alone, without PHOTOS SCALP HAIRLOSS, --from or --manifest")
        _convert_store(store_dir, out, include_all=include_all, size=size, overwrite=overwrite)
        return
    if include_all:
        raise click.UsageError("--all goes with --from-store DIR")

    from alonet.data.convert import ConvertOptions, convert_folders, convert_phantom
    from alonet.data.imagefile import DEFAULT_MAX_PIXELS

    if phantom_dir is not None and (folders or manifest):
        raise click.UsageError("give either --from PHANTOM_DIR or PHOTOS SCALP HAIRLOSS [--manifest], not both")
    if phantom_dir is None and len(folders) != 3:
        raise click.UsageError("give three folders PHOTOS SCALP HAIRLOSS, --from PHANTOM_DIR or --from-store DIR")

    from alonet.system.preflight import check_output_folder

    check_output_folder(out, what="dataset folder")  # before reading a single image

    options = ConvertOptions(
        size=size,
        skip_invalid=skip_invalid,
        overwrite=overwrite,
        allow_empty_scalp=allow_empty_scalp,
        max_pixels=max_pixels or DEFAULT_MAX_PIXELS,
        workers=workers,
    )
    if phantom_dir is not None:
        path = convert_phantom(phantom_dir, out, options)
    else:
        path = convert_folders(photos, scalp, hairloss, out, options, manifest=manifest)

    from alonet.data.dataset import open_dataset

    dataset = open_dataset(path)
    skipped = dataset.info.get("skipped", 0)
    note = f"; {skipped} skipped (see {path / 'skipped.csv'})" if skipped else ""
    click.echo(f"converted {len(dataset)} pairs into {path} ({dataset.size}x{dataset.size}){note}")


def _convert_store(store_dir: str, out: str, *, include_all: bool, size: int, overwrite: bool) -> None:
    from alonet.store.export import export_store, left_out_text

    summary = export_store(store_dir, out, include_all=include_all, size=size, overwrite=overwrite)
    click.echo(
        f"exported {summary['views_exported']} views of {summary['visits_exported']} visits "
        f"({summary['patients']} patients, {summary['views_corrected']} views with corrected masks) "
        f"into {summary['dataset']} ({summary['size']}x{summary['size']})"
    )
    if summary["skip_reasons"]:
        click.echo(f"left out: {left_out_text(summary['skip_reasons'])} (listed in {summary['dataset']}/skipped.csv)")
