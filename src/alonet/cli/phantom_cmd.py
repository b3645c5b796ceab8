"""``alonet phantom``: write synthetic clinical photographs with exact annotations."""

from __future__ import annotations

import click

from alonet.cli.options import PHANTOM_MAX_SIZE, SEED


class CountOrAll(click.ParamType):
    """A whole number ≥ 1, or ``all``."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "all":
            return "all"
        try:
            number = int(text)
        except ValueError:
            self.fail(f"{value!r} is neither a whole number nor 'all'", param, ctx)
        if number < 1:
            self.fail(f"{value!r} must be at least 1", param, ctx)
        return number


class SizeOrRandom(click.ParamType):
    """A long side in pixels (64 to :data:`alonet.cli.options.PHANTOM_MAX_SIZE`), or ``random``."""

    name = "PX|random"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "random":
            return "random"
        try:
            number = int(text)
        except ValueError:
            self.fail(f"{value!r} is neither a size in pixels nor 'random'", param, ctx)
        if number < 64:
            self.fail(f"{value!r} is too small (use at least 64)", param, ctx)
        if number > PHANTOM_MAX_SIZE:
            self.fail(f"{value!r} is too large (use at most {PHANTOM_MAX_SIZE})", param, ctx)
        return number


@click.command("phantom")
@click.option("-o", "--output", "out", required=True, type=click.Path(path_type=str),
              help="Folder to create: photographs/, scalp/, hairloss/, manifest.csv (appears only when complete).")
@click.option("--patients", type=CountOrAll(), default=None,
              help="Phantom patients to write [default: 10; with --masks: all of the split].")
@click.option("--visits", type=CountOrAll(), default=None,
              help="Visits per patient [default: 1; with --masks: all recorded visits].")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Same seed, same files (byte for byte).")
@click.option("--masks", "masks_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Real annotations (mask/, target/, manifest.csv, e.g. ../shared/data/alonet-annotations) "
                   "to use as geometry instead of the procedural generator.")
@click.option("--size", type=SizeOrRandom(), default="320", show_default=True,
              help=f"Long side of the photographs in pixels (64 to {PHANTOM_MAX_SIZE}), or 'random' (320 px to about "
                   "7 MP). With --masks, at most each annotation's own size (masks are never enlarged).")
@click.option("--split", type=click.Choice(["train", "val", "test", "all"]), default="all", show_default=True,
              help="With --masks: which patient-level split of the real annotations to use.")
@click.option("--pattern", type=click.Choice(["none", "single", "multiple", "confluent", "ophiasis", "diffuse",
                                               "near_total", "total"]), default=None,
              help="Force one procedural hair-loss pattern (default: a mix weighted towards heavy loss). With "
                   "--masks it applies only to views drawn procedurally (where a visit lacks a real one).")
@click.option("--style", type=click.Choice(["train", "heldout"]), default="train", show_default=True,
              help="Look style: 'heldout' renders appearance training never sees (copper-dyed hair, black "
                   "backdrop, low side light), for a style-held-out test set.")
@click.option("--preview", is_flag=True, help="Also write preview.png, a contact sheet (one row per visit).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes rendering patients in parallel (output does not depend on it).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder (once the new one is complete).")
def phantom_command(out, patients, visits, seed, masks_dir, size, split, pattern, style, preview, workers,
                    overwrite) -> None:
    """Write phantom patients: photographs with scalp and hair-loss annotations.

    The folder has the layout a real user brings, so `alonet convert --from
    OUT -o DATASET` and every later command treat it like real data. The
    manifest holds each view's true % hair loss and each visit's true SALT.
    """
    from pathlib import Path

    from alonet.phantom.writer import PhantomSpec, write_phantoms

    real = masks_dir is not None
    if split != "all" and not real:
        from alonet.errors import InvalidValueError

        raise InvalidValueError(f"--split {split} picks patients of real annotations, but no --masks folder was given "
                                "(procedural patients have no split)",
                                fix="add --masks ../shared/data/alonet-annotations, or leave out --split")
    n_patients = None if patients == "all" else patients
    n_visits = None if visits == "all" else visits
    if patients is None:
        n_patients = None if real else 10
    if visits is None:
        n_visits = None if real else 1
    if pattern is not None and real:
        click.echo(f"note: --pattern {pattern} applies only to views drawn procedurally; the real annotations "
                   "keep their own hair loss", err=True)
    spec = PhantomSpec(
        out=Path(out), patients=n_patients, visits=n_visits, seed=seed, size=size,
        masks_dir=Path(masks_dir) if real else None, split=split, preview=preview,
        workers=workers, overwrite=overwrite, pattern=pattern, style=style,
    )
    result = write_phantoms(spec)
    click.echo(f"wrote {result.patients} patients, {result.visits} visits, {result.views} photographs to {result.out}")
    if result.preview is not None:
        click.echo(f"contact sheet: {result.preview}")
