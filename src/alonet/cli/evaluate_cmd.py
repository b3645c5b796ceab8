"""``alonet evaluate``: score a model set against an annotated dataset."""

from __future__ import annotations

import click

from alonet.cli.options import backend_option, model_option, pipeline_config, threshold_options


@click.command("evaluate")
@click.argument("dataset", type=click.Path(file_okay=False, path_type=str))
@model_option
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Report folder: per_image.csv, per_visit.csv, summary.json, plots.")
@click.option("--split", type=click.Choice(["all", "val", "train"]), default="all", show_default=True,
              help="Only the validation/training patients of the run given as --model.")
@click.option("--views", default=None,
              help="Comma-separated views to evaluate (default: all rows; rows without a view are refused).")
@backend_option
@click.option("--precision", type=click.Choice(("fp32", "int8")), default=None,
              help="Network precision: fp32 (default), or int8 (needs an int8 export: alonet export --int8 --into MODEL_SET).")
@click.option("--batch", "batch_size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Photographs per network pass (memory against speed; the numbers do not change).")
@click.option("--overwrite", is_flag=True, help="Replace an existing report folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@threshold_options
def evaluate_command(dataset, model, out, split, views, backend, precision, batch_size, overwrite, quiet,
                     scalp_threshold, hairloss_threshold):
    """Predict every photograph of DATASET (from `alonet convert`) and compare with its annotations.

    Reports foreground IoU/Dice of scalp and hair loss per photograph, the
    error in % hair loss per view, and for complete visits the SALT error:
    MAE, bias, ICC(2,1), Bland-Altman limits and responder-status flips.
    """
    from alonet.evaluate import evaluate
    from alonet.evaluate.evaluate import describe_refused, metric_text

    view_list = None if views is None else [v.strip().lower() for v in views.split(",") if v.strip()]
    result = evaluate(dataset, model, out, backend=backend, views=view_list, split=split,
                      batch_size=batch_size, overwrite=overwrite, progress=not quiet,
                      pipeline_config=pipeline_config(None, scalp_threshold, hairloss_threshold,
                                                      precision=precision))
    s = result.summary
    salt = s["salt"]
    click.echo(f"images: {s['images']}  scalp IoU {metric_text(s['scalp']['iou_micro'])} "
               f"Dice {metric_text(s['scalp']['dice_micro'])}  hair-loss IoU {metric_text(s['hairloss']['iou_micro'])} "
               f"Dice {metric_text(s['hairloss']['dice_micro'])} (micro)")
    refused = s["photographs_refused"]["photographs"]
    if refused:
        click.echo(f"left out of every figure: {describe_refused(refused)}")
    for view, v in s["views"].items():
        click.echo(f"  {view:<6} n={v['images']:<4} mean |Δ loss %| {metric_text(v['mean_abs_diff_pct'], '.2f')}")
    skipped = {k: v for k, v in salt["visits_skipped"].items() if v}
    words = {"refused_photograph": "with a refused photograph"}
    left_out = ("; left out: " + ", ".join(f"{v} {words.get(k, k.replace('_', ' '))}" for k, v in skipped.items())
                if skipped else "")
    if salt["visits_scored"]:
        ba = salt["bland_altman"]
        flips = salt["responder_flips"]
        plural = "visit" if salt["visits_scored"] == 1 else "visits"
        click.echo(f"SALT over {salt['visits_scored']} {plural}: MAE {metric_text(salt['mae'], '.2f')}, "
                   f"bias {metric_text(salt['bias'], '+.2f')}, ICC(2,1) {metric_text(salt['icc_2_1'])}, "
                   f"limits of agreement {metric_text(ba['lower'], '+.1f')}..{metric_text(ba['upper'], '+.1f')}, "
                   f"responder flips: {flips['salt<=20']['count']} at <=20, {flips['salt<=10']['count']} at <=10"
                   + left_out)
    else:
        click.echo("SALT: no visit could be scored (a visit needs top, back, left and right of the same patient "
                   "and visit, each with a true and a predicted scalp)" + left_out)
    click.echo(f"report: {out}")
