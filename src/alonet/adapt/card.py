"""What ``adapt`` writes beside the model: the before/after table, plot and model card."""

from __future__ import annotations

import csv
from pathlib import Path
from types import MappingProxyType

import numpy as np

from alonet.evaluate.agreement import FEW_PATIENTS
from alonet.evaluate.evaluate import metric_text
from alonet.views import VIEWS

ROWS = (("scalp IoU (micro)", "scalp_iou", ".3f"), ("hair-loss IoU (micro)", "hairloss_iou", ".3f"),
        ("mean |Δ % loss| per photograph", "mean_abs_diff_pct", ".2f"),
        ("SALT MAE (complete visits)", "salt_mae", ".2f"))


def _model_words(name: str) -> str:
    """A recorded name in the card: a name given as such in code type (``default``), words that
    describe one ("an own model set (…)", "a converted dataset") as they are."""
    return name if " " in str(name) else f"`{name}`"


def _fingerprint_note(info: dict) -> str:
    """`` (fingerprint 1a2b3c4d5e6f…)`` of the source's contents, when adapt.json has one."""
    fingerprint = info.get("source_fingerprint")
    return f" (contents' fingerprint {fingerprint[:12]}…)" if fingerprint else ""


def table_rows(before: dict, after: dict) -> list[tuple[str, str, str]]:
    """(what, before, after) rows: overall numbers, then |Δ % loss| per view (scalp IoU per view
    for scalp-only corrections, whose hair loss is not annotated)."""
    if before.get("scalp_only"):
        rows = [("scalp IoU (micro)", metric_text(before.get("scalp_iou"), ".3f"),
                 metric_text(after.get("scalp_iou"), ".3f"))]
        for view in VIEWS:
            b, a = before["views_scalp_iou"].get(view), after["views_scalp_iou"].get(view)
            if b is not None or a is not None:
                rows.append((f"scalp IoU, {view}", metric_text(b, ".3f"), metric_text(a, ".3f")))
        rows.append(("hair loss", "not annotated", "not annotated"))
        rows.append(("photographs tested", str(before["images"]), str(after["images"])))
        return rows
    rows = [(label, metric_text(before.get(key), spec), metric_text(after.get(key), spec)) for label, key, spec in ROWS]
    for view in VIEWS:
        b = before["views_mean_abs_diff_pct"].get(view)
        a = after["views_mean_abs_diff_pct"].get(view)
        if b is not None or a is not None:
            rows.append((f"mean |Δ % loss|, {view}", metric_text(b, ".2f"), metric_text(a, ".2f")))
    rows.append(("photographs tested", str(before["images"]), str(after["images"])))
    rows.append(("complete visits", str(before["salt_visits"]), str(after["salt_visits"])))
    return rows



CHANGE_LABELS = MappingProxyType({"mean_abs_diff_pct": "mean |Δ % loss| per photograph",
                                  "salt_mae": "SALT error per visit"})


def unclear(changes: dict | None) -> bool:
    """True when some change's interval includes 0 or rests on too few patients (the
    held-back patients cannot tell)."""
    return any(c and (not c["clear"] or c["groups"] < FEW_PATIENTS) for c in (changes or {}).values())


def change_lines(changes: dict | None) -> list[str]:
    """One line per error: after - before, its 95 % interval over patients, and whether it is clear."""
    lines = []
    for key, label in CHANGE_LABELS.items():
        c = (changes or {}).get(key)
        if not c:
            continue
        if c["groups"] < FEW_PATIENTS:
            verdict = f"too few patients to tell: with {c['groups']} the interval says little"
        else:
            verdict = "clear" if c["clear"] else "not clear: the interval includes 0"
        lines.append(f"change in {label}: {c['change']:+.2f} points (95 % interval {c['low']:+.2f} to "
                     f"{c['high']:+.2f}, bootstrap over {c['groups']} patients) - {verdict}")
    return lines


def markdown_table(before: dict, after: dict) -> str:
    lines = ["| on the held-back patients | before | after |", "|---|---|---|"]
    lines += [f"| {what} | {b} | {a} |" for what, b, a in table_rows(before, after)]
    return "\n".join(lines)


def _per_photo(report: Path) -> tuple[np.ndarray, np.ndarray]:
    """(true, predicted) % loss of each photograph with both, from a report's per_image.csv."""
    true, pred = [], []
    with open(report / "per_image.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["true_loss_pct"] and row["pred_loss_pct"]:
                true.append(float(row["true_loss_pct"]))
                pred.append(float(row["pred_loss_pct"]))
    return np.asarray(true), np.asarray(pred)


def write_comparison(folder: Path, before: dict, after: dict) -> None:
    """comparison.csv (the table) and comparison.png (per-view error bars, per-photograph Bland-Altman)."""
    with open(folder / "comparison.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["what", "before", "after"])
        writer.writerows(table_rows(before, after))

    from matplotlib.figure import Figure

    if before.get("scalp_only"):
        _scalp_only_plot(folder, before, after)
        return
    fig = Figure(figsize=(11, 4.2), dpi=110)
    ax_bar, ax_ba = fig.subplots(1, 2)
    views = [v for v in VIEWS if v in before["views_mean_abs_diff_pct"]]
    x = np.arange(len(views))
    for shift, (name, data, colour) in zip((-0.2, 0.2), (("before", before, "0.6"), ("after", after, "C0"))):
        ax_bar.bar(x + shift, [data["views_mean_abs_diff_pct"].get(v, np.nan) for v in views], 0.4,
                   label=name, color=colour)
    ax_bar.set_xticks(x, views)
    ax_bar.set_ylabel("mean |predicted - true| % hair loss")
    ax_bar.set_title("error per view, held-back patients")
    ax_bar.legend()
    ax_bar.grid(axis="y", alpha=0.3)
    for name, colour in (("before", "0.55"), ("after", "C0")):
        true, pred = _per_photo(folder / name)
        if len(true):
            mean, diff = (true + pred) / 2, pred - true
            ax_ba.scatter(mean, diff, s=16, alpha=0.7, color=colour,
                          label=f"{name}: bias {diff.mean():+.1f}, SD {diff.std(ddof=1) if len(diff) > 1 else 0:.1f}")
            ax_ba.axhline(diff.mean(), color=colour, lw=1)
    ax_ba.axhline(0, color="black", lw=0.6)
    ax_ba.set_xlabel("mean of predicted and true % hair loss")
    ax_ba.set_ylabel("predicted - true % hair loss")
    ax_ba.set_title("Bland-Altman per photograph")
    if ax_ba.get_legend_handles_labels()[0]:
        ax_ba.legend(fontsize=8)
    else:
        ax_ba.text(0.5, 0.5, "no photograph with a % loss on both sides", ha="center",
                   transform=ax_ba.transAxes)
    ax_ba.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "comparison.png", format="png")


def _scalp_only_plot(folder: Path, before: dict, after: dict) -> None:
    """comparison.png for scalp-only corrections: scalp IoU per view, before vs after."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4.2), dpi=110)
    ax = fig.subplots()
    views = [v for v in VIEWS if v in before["views_scalp_iou"]]
    x = np.arange(len(views))
    for shift, (name, data, colour) in zip((-0.2, 0.2), (("before", before, "0.6"), ("after", after, "C0"))):
        ax.bar(x + shift, [data["views_scalp_iou"].get(v, np.nan) for v in views], 0.4, label=name, color=colour)
    ax.set_xticks(x, views)
    ax.set_ylim(0, 1)
    ax.set_ylabel("scalp IoU (micro)")
    ax.set_title("scalp region per view, held-back patients (hair loss not annotated)")
    ax.legend(loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "comparison.png", format="png")


def write_model_card(path: Path, info: dict, model_dir: Path | None = None) -> None:
    """A model card of the adapted model set: data, recipe, before/after on held-back patients.

    ``model_dir``: where the set will live (the card may be written in a temporary folder
    that is renamed when complete); default: the card's own folder.
    """
    model_dir = path.parent if model_dir is None else model_dir
    c, r = info["counts"], info["recipe"]
    plots = ("the scalp IoU per view" if r.get("scalp_only") else
             "the error per view and a per-photograph Bland-Altman plot")
    verdict = ("**After is better than before** on the held-back patients." if info["better"] else
               "**After is NOT better than before** on the held-back patients: keep using the previous "
               "model, or correct more photographs and adapt again.")
    notes = "".join(f"- {n}\n" for n in info["notes"])
    changes = change_lines(info.get("changes"))
    if info["better"] and unclear(info.get("changes")):
        verdict += (" But by less than these few patients can tell apart (see the intervals "
                    "below): check the adapted model on your next visits before relying on it.")
    change_text = ("\nAfter minus before (negative = fewer errors), with 95 % intervals from resampling "
                   "the held-back patients:\n\n" + "".join(f"- {line}\n" for line in changes)) if changes else ""
    keep = ("the last epoch's weights" if r.get("keep") == "last" else
            "the best epoch by validation IoU")
    replay = (f"\nEvery epoch mixed in photographs of {_model_words(r['replay'])} (1 : {r['replay_weight']:g} against the "
              "clinic's photographs) so the networks keep what they knew; they never validated or tested."
              if r.get("replay") else "")
    if r.get("scalp_only"):
        notes += ("- Scalp-only corrections: the photographs' scalp regions were annotated, their hair loss "
                  "was not, so only the scalp networks were fine-tuned and the verdict uses the scalp IoU.\n")
    kept = list(info.get("kept_start") or [])
    changed = [t for t in info["trained"] if t not in kept]
    kept_text = (f"fine-tuned but kept their starting weights (no epoch validated better): {', '.join(kept)}; "
                 if kept else "")
    tested_note = ""
    corrected = c.get("photographs_test_corrected")
    if corrected is not None and corrected < c["photographs_test"]:
        tested_note += (f" ({corrected} with masks corrected by hand; the other {c['photographs_test'] - corrected} "
                        "were accepted as the model drew them, which favours \"before\")")
    if c.get("patients_kept_out_of_test"):
        tested_note += (f"; {c['patients_kept_out_of_test']} patients the starting model learnt from were kept "
                        "out of the test")
    n_val = c.get("patients_validated")
    validated = (f"of these, {n_val} validated each epoch" if n_val is not None
                 else f"of these, a {r['val_fraction']:.0%} share of patients validated each epoch")
    text = f"""# Adapted AloNet model set

Fine-tuned by `alonet adapt` on {info['created']} from the model {_model_words(info['init'])}
with the photographs of {info['source']}{_fingerprint_note(info)}.

## Data
- Learnt from: {c['photographs_learn']} photographs of {c['patients_learn']} patients
  ({validated}).
- Tested on: {c['photographs_test']} photographs of {c['patients_test']} other patients, never trained on{tested_note}.
- Networks fine-tuned: {', '.join(changed) or 'none'}; {kept_text}copied unchanged from the starting model:
  {', '.join(info['carried_over']) or 'none'}.
{notes}
## Recipe
`alonet train --init` (the starting model): {r['steps']} steps of batch {r['batch_size']}, Adam
learning rate {r['lr']:g} (constant), BatchNorm statistics frozen on fewer than 200
photographs, horizontal flips and photometric jitter; {keep}.{replay}

## Before vs after (held-back patients)
{verdict}

{markdown_table(info['before'], info['after'])}
{change_text}
`comparison.png` shows {plots};
`before/` and `after/` hold the full evaluation reports.

## Use it
`alonet score ... --model {model_dir}` and `alonet serve --model {model_dir}`.

## Limits
The test patients are few; the numbers above describe this clinic's photographs and may
move by several points with other patients. Review the overlays of every scored visit.
"""
    path.write_text(text, encoding="utf-8")
