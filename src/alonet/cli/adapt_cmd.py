"""``alonet adapt``: fine-tune the model on a clinic's corrected photographs, with before/after."""

from __future__ import annotations

import click

from alonet.cli.options import SEED


@click.command("adapt")
@click.argument("source", type=click.Path(file_okay=False, path_type=str))
@click.option("-o", "--output", "out", required=True, type=click.Path(file_okay=False),
              help="Model-set folder to create (appears only when complete).")
@click.option("--init", "init", default="default", show_default=True,
              help="Model to start from: 'default', a model-set or run folder (e.g. an earlier adaptation).")
@click.option("--task", "tasks", multiple=True,
              type=click.Choice(["scalp-temporal", "scalp-midline", "hairloss"]),
              help="Network(s) to fine-tune (repeatable) [default: every one with enough photographs].")
@click.option("--steps", type=int, default=80, show_default=True, help="Optimiser steps per network.")
@click.option("--batch", "batch_size", type=int, default=8, show_default=True)
@click.option("--lr", type=float, default=2e-4, show_default=True)
@click.option("--test-fraction", type=float, default=0.3, show_default=True,
              help="Share of patients held back to test before vs after.")
@click.option("--scalp-only", is_flag=True,
              help="The corrections mark the scalp region only (hair loss not annotated): fine-tune the scalp "
                   "networks and judge them by scalp IoU.")
@click.option("--replay", type=click.Path(file_okay=False), default=None,
              help="A converted dataset (e.g. phantoms: `alonet phantom` + `alonet convert`) mixed into every "
                   "epoch so the networks keep what they knew; its patients never validate or test.")
@click.option("--replay-weight", type=float, default=0.3, show_default=True,
              help="Draws from --replay per clinic draw (1 : weight).")
@click.option("--keep", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="Which epoch each network keeps: best validation IoU on the clinic's validation patients, "
                   "or the last.")
@click.option("--all", "include_all", is_flag=True, help="Store: use every stored visit, not only reviewed ones.")
@click.option("--work", type=click.Path(file_okay=False), default=None,
              help="Work folder (default: OUTPUT.work); rerun with the same one to resume.")
@click.option("--keep-work", is_flag=True,
              help="Keep the work folder after success (it holds a copy of every photograph with its patient "
                   "code and dates; removed by default).")
@click.option("--patient-key", "patient_key", type=click.Path(dir_okay=False), envvar="ALONET_PATIENT_KEY",
              show_envvar=True, default=None,
              help="Key file for the model set's patient hashes [default: your own key, made on first use: "
                   "$XDG_CONFIG_HOME/alonet/patient-key or ~/.config/alonet/patient-key; "
                   "%APPDATA%\\alonet\\patient-key on Windows]. It never goes into the model set; adapting "
                   "the set again needs the same key.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def adapt_command(source, out, init, tasks, steps, batch_size, lr, test_fraction, scalp_only, replay, replay_weight,
                  keep, include_all, work, keep_work, patient_key, seed, overwrite, quiet):
    """Adapt AloNet to your photographs: SOURCE is a store (`alonet serve --store`; reviewed visits)
    or a dataset (`alonet convert`).

    Holds back a share of patients, fine-tunes the current model on the others,
    and compares before vs after on the held-back patients (IoU, |Δ % loss| per
    view, SALT MAE, Bland-Altman). Writes a model set with its own model card.
    The set names patients only by keyed hashes; the key stays on this machine.
    """
    from alonet.adapt import AdaptConfig, adapt
    from alonet.adapt.card import change_lines, table_rows, unclear

    cfg = AdaptConfig(init=init, tasks=tuple(tasks) or None, steps=steps, batch_size=batch_size, lr=lr,
                      test_fraction=test_fraction, scalp_only=scalp_only, include_all=include_all, seed=seed,
                      replay=replay, replay_weight=replay_weight, keep=keep)
    try:
        result = adapt(source, out, cfg, work=work, overwrite=overwrite, progress=not quiet, keep_work=keep_work,
                       patient_key=patient_key)
    except KeyboardInterrupt:
        from pathlib import Path

        folder = Path(work) if work else Path(out).with_name(Path(out).name + ".work")
        if folder.is_dir():
            click.echo(f"adapt stopped: rerun the same command to resume from {folder}", err=True)
        else:  # stopped before its work folder was kept (e.g. during the store's export)
            click.echo("adapt stopped before training; nothing was kept: rerun the same command to start again",
                       err=True)
        raise
    c = result.counts
    click.echo(f"learnt from {c['photographs_learn']} photographs ({c['patients_learn']} patients); "
               f"tested on {c['photographs_test']} photographs of {c['patients_test']} held-back patients")
    changed = [t for t in result.trained if t not in result.kept_start]
    click.echo(f"fine-tuned: {', '.join(changed) or 'none'}"
               + (f"; kept their starting weights (no better epoch): {', '.join(result.kept_start)}"
                  if result.kept_start else "")
               + (f"; unchanged: {', '.join(result.carried)}" if result.carried else ""))
    if c.get("photographs_test_corrected") is not None and c["photographs_test_corrected"] < c["photographs_test"]:
        click.echo(f"  note: {c['photographs_test'] - c['photographs_test_corrected']} of the "
                   f"{c['photographs_test']} test photographs were accepted as the model drew them, not "
                   "corrected; they favour 'before'")
    for note in result.notes:
        click.echo(f"  note: {note}")
    rows = table_rows(result.before, result.after)
    width = max(len(r[0]) for r in rows)
    col = max(8, *(len(r[i]) for r in rows for i in (1, 2)))
    click.echo(f"{'':<{width}}  {'before':>{col}}  {'after':>{col}}")
    for what, b, a in rows:
        click.echo(f"{what:<{width}}  {b:>{col}}  {a:>{col}}")
    for line in change_lines(result.changes):
        click.echo(line)
    if result.better:
        click.echo("after is better than before on the held-back patients."
                   + (" But by less than these patients can tell apart: check the adapted model "
                      "on your next visits." if unclear(result.changes) else ""))
    else:
        click.echo("after is NOT better than before on the held-back patients: keep the previous model, "
                   "or correct more photographs and adapt again.")
    click.echo(f"model set: {result.out} (see MODEL_CARD.md, comparison.png)")
    click.echo(f"patient key: {result.patient_key_file} ({'made now, ' if result.patient_key_new else ''}key id "
               f"{result.patient_key_id}); adapting this set again needs it: keep it, and on another machine "
               "copy it there or pass --patient-key")
    click.echo(f"use it: alonet score ... --model {result.out}   |   alonet serve --model {result.out}")
