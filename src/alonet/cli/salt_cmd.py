"""``alonet salt``: SALT arithmetic from per-view percentages, or from mask files.

Example::

    alonet salt --top 50 --back 20 --left 0 --right 100
    alonet salt --top 50 --back 20 --left 0 --right 100 --baseline 85 --json
    alonet salt --masks reports/visit1              # <view>_scalp.png + <view>_hairloss.png
    alonet salt --mask top t_scalp.png t_loss.png --mask back b_scalp.png b_loss.png ...
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from alonet.cli.options import VIEW_CHOICES, max_pixels_option
from alonet.errors import EmptyAnnotationError, InvalidValueError
from alonet.views import VIEW_WEIGHTS, VIEWS

#: Percentages are plain floats here; alonet.scoring.salt checks 0..100 with typed errors.
_PERCENT = float


def _view_options(prefix: str, what: str):
    """One float option per view, e.g. --top / --regrowth-top."""

    def decorate(command):
        for view in reversed(VIEWS):
            command = click.option(
                f"--{prefix}{view}",
                f"{prefix.replace('-', '_')}{view}",
                type=_PERCENT,
                multiple=True,
                callback=_once,
                metavar="PCT",
                help=f"{what} of the {view} view's scalp (0-100; weight {VIEW_WEIGHTS[view]:.2f}).",
            )(command)
        return command

    return decorate


def _once(ctx, param, values: tuple) -> float | None:
    """A view's percent, given at most once (click would keep the last of several silently)."""
    if len(values) > 1:
        raise click.BadParameter(f"given {len(values)} times ({', '.join(f'{v:g}' for v in values)}); give it once")
    return values[0] if values else None


def _mask_line(pair) -> str:
    """One text line on where a view's percent came from (masks only)."""
    height, width = pair.scalp.shape
    files = f"  masks {pair.view + ':':<6} {pair.scalp_path}, {pair.hairloss_path} ({width}x{height})"
    if pair.scalp_pixels == 0:
        return f"{files}: the scalp mask is empty, the view counts as missing"
    line = f"{files}: {pair.hairloss_pixels} of {pair.scalp_pixels} scalp pixels with hair loss"
    if pair.outside_pixels:
        line += f"; {pair.outside_pixels} hair-loss pixels outside the scalp not counted"
    return line


def _read_masks(masks_dir, mask_files, max_pixels) -> dict:
    """{view: ViewMaskPair} from --masks DIR and --mask VIEW SCALP HAIRLOSS (each view once)."""
    from alonet.data.imagefile import DEFAULT_MAX_PIXELS
    from alonet.data.maskpairs import read_mask_folder, read_mask_pair

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    pairs = dict(read_mask_folder(masks_dir, limit)) if masks_dir is not None else {}
    for view, scalp, hairloss in mask_files:
        view = view.lower()
        if view in pairs:
            raise InvalidValueError(f"the {view} view's masks are given twice ({pairs[view].scalp_path} and "
                                    f"{scalp})", fix=f"give the {view} view once: in --masks DIR or with --mask")
        pairs[view] = read_mask_pair(view, scalp, hairloss, limit)
    return {view: pairs[view] for view in VIEWS if view in pairs}


def _format_text(result, response, rw, pairs=None) -> str:
    lines = [f"SALT {result.salt:.1f}  grade {result.grade}  AA-IGA {result.band}"]
    renormalised = bool(result.missing) and result.missing_policy == "renormalize"
    # --missing renormalize divides the weights of the views given by their sum, written out as a
    # fraction (0.40/0.64, not 0.62 for 0.625, so each line's arithmetic is the one that was done)
    given = f"/{sum(VIEW_WEIGHTS[v] for v in VIEWS if v not in result.missing):.2f}" if renormalised else ""
    for view in VIEWS:
        value = result.per_view[view]
        shown = "missing" if value is None else f"{value:5.1f} %"
        weight = "0" if renormalised and value is None else f"{VIEW_WEIGHTS[view]:.2f}{given}"
        lines.append(f"  {view:<5} {shown:>8}  x {weight:>{4 + len(given)}} = {result.contributions[view]:5.2f}")
    lines.extend(_mask_line(pair) for pair in (pairs or {}).values())
    if result.missing:
        lines.append(f"  missing view(s) {', '.join(result.missing)} treated as: {result.missing_policy}")
    if rw is not None:
        lines.append(f"rwSALT {rw.salt:.1f}  grade {rw.grade}  AA-IGA {rw.band}  (partial regrowth counts x0.5)")
    if response is not None:
        # two decimals, as results.csv has them: with one, a change of -19.99 from 40 printed
        # "-20.0 points (-50.0 %)" above "SALT50 no" (the flags come from the unrounded numbers)
        change = f"{response.absolute_change:+.2f} points"
        if response.percent_change is not None:
            change += f" ({response.percent_change:+.2f} %)"
        yes = lambda flag: "yes" if flag else "no"  # noqa: E731
        lines.append(f"Response vs baseline {response.baseline:.2f}: {change}")
        lines.append(
            f"  SALT50 {yes(response.salt50)}  SALT75 {yes(response.salt75)}  SALT90 {yes(response.salt90)}"
            f"  SALT100 {yes(response.salt100)}  SALT<=20 {yes(response.salt_le_20)}"
            f"  SALT<=10 {yes(response.salt_le_10)}  worsening>=20 {yes(response.loss_of_benefit)}"
        )
    return "\n".join(lines)


@click.command("salt")
@_view_options("", "Percent hair loss")
@_view_options("regrowth-", "Percent partial regrowth (not counted as hair loss)")
@click.option("--missing", type=click.Choice(["error", "zero", "renormalize"]), default="error", show_default=True,
              help="How to treat views not given: an error, 0 % hair loss, or rescale the weights of the others.")
@click.option("--baseline", type=_PERCENT, default=None, metavar="SALT",
              help="Baseline SALT: also print the response (change, SALT50/75/90/100, SALT<=20/10, worsening by 20 points or more).")
@click.option("--masks", "masks_dir", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Folder of mask files to measure the percents from: <view>_scalp.png and "
                   "<view>_hairloss.png (an alonet score report folder), or <view>_scalp_mask.png and "
                   "<view>_hairloss_mask.png, also with a prefix such as P01_top_scalp_mask.png (alonet "
                   "predict --masks of photographs whose names end in the view); .gif/.tif/.bmp too.")
@click.option("--mask", "mask_files", multiple=True, metavar="VIEW SCALP HAIRLOSS",
              type=(click.Choice(VIEW_CHOICES, case_sensitive=False), click.Path(path_type=Path),
                    click.Path(path_type=Path)),
              help="One view's scalp mask and hair-loss mask, any file names (repeat per view).")
@max_pixels_option
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of text.")
def salt(missing: str, baseline: float | None, masks_dir: Path | None, mask_files: tuple,
         max_pixels: int | None, as_json: bool, **values: float | None) -> None:
    """Compute SALT from each view's percent of scalp with hair loss.

    SALT = 0.40 x top + 0.24 x back + 0.18 x left + 0.18 x right. The grade
    (S0-S5), AA-IGA band and SALT<=20/10 are read from the SALT as shown (one
    decimal) rounded half up to a whole number.
    --regrowth-VIEW options add the regrowth-weighted SALT (rwSALT).

    With --masks/--mask a view's percent is measured on black-and-white masks
    (0/1, 0/255, palette GIF) of one photograph: 100 x hair-loss pixels inside
    the scalp / scalp pixels. Hair loss drawn outside the scalp is not counted;
    a view with an empty scalp mask counts as missing. A view may come from
    masks or a percent option, not both.
    """
    from alonet.scoring.salt import response as salt_response
    from alonet.scoring.salt import rw_salt, salt_result

    percents = {view: values[view] for view in VIEWS if values[view] is not None}
    pairs = _read_masks(masks_dir, mask_files, max_pixels) if masks_dir is not None or mask_files else {}
    for view, pair in pairs.items():
        if view in percents:
            raise InvalidValueError(f"the {view} view is given twice: --{view} {percents[view]:g} and the mask "
                                    f"{pair.scalp_path}", fix=f"leave out --{view} or the {view} view's masks")
        if pair.loss_pct is None:
            if missing == "error":
                raise EmptyAnnotationError(
                    f"the {view} view's scalp mask {pair.scalp_path} is empty, so its hair loss cannot be measured",
                    fix="check that mask, or pass --missing zero|renormalize to score the other views")
            continue
        percents[view] = pair.loss_pct
    result = salt_result(percents, missing=missing)
    regrowth = {view: values[f"regrowth_{view}"] for view in VIEWS if values[f"regrowth_{view}"] is not None}
    rw = rw_salt(percents, regrowth, missing=missing) if regrowth else None
    if baseline is not None and result.missing:
        raise InvalidValueError(
            f"--baseline needs all four views; {', '.join(result.missing)} missing makes the SALT "
            + ("a lower bound" if missing == "zero" else "an estimate") + ", and response endpoints from it "
            "would not be trial endpoints", fix="give every view's percent, or leave out --baseline")
    response = salt_response(baseline, result.salt) if baseline is not None else None

    if as_json:
        data = result.to_dict()
        if rw is not None:
            data["rw_salt"] = rw.to_dict()
        if response is not None:
            data["response"] = response.to_dict()
        if pairs:
            data["masks"] = {view: pair.to_dict() for view, pair in pairs.items()}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(_format_text(result, response, rw, pairs))
