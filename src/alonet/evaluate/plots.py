"""Evaluation plots (matplotlib, Agg backend, PNG).

* ``bland_altman.png``: SALT difference (predicted - true) against the mean of
  the two, with the bias and 95 % limits of agreement (visits with 2+ scores);
* ``salt_scatter.png``: predicted vs true SALT with the identity line and the
  responder thresholds;
* ``loss_pct_by_view.png``: per-photograph predicted vs true % hair loss,
  one panel per view.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alonet.evaluate.agreement import bland_altman
from alonet.views import VIEWS


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110)


def bland_altman_plot(path: Path, pred, true, title: str = "SALT: Bland-Altman") -> None:
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    stats = bland_altman(pred, true)
    mean, diff = (pred + true) / 2, pred - true
    fig = _figure(6.5, 4.5)
    ax = fig.subplots()
    ax.scatter(mean, diff, s=18, alpha=0.7)
    ax.axhline(stats.bias, color="C1", label=f"bias {stats.bias:+.2f}")
    ax.axhline(stats.upper, color="C3", ls="--", label=f"upper limit (bias + 1.96 SD) {stats.upper:+.2f}")
    ax.axhline(stats.lower, color="C3", ls="--", label=f"lower limit (bias - 1.96 SD) {stats.lower:+.2f}")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("mean of predicted and true SALT")
    ax.set_ylabel("predicted - true SALT")
    ax.set_title(f"{title} (n = {stats.n})")
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def salt_scatter_plot(path: Path, pred, true, summary: dict) -> None:
    pred, true = np.asarray(pred, float), np.asarray(true, float)
    fig = _figure(5.5, 5.5)
    ax = fig.subplots()
    ax.plot([0, 100], [0, 100], color="grey", lw=1, label="identity")
    for t, style in ((20, "--"), (10, ":")):
        ax.axvline(t, color="C3", ls=style, lw=0.8)
        ax.axhline(t, color="C3", ls=style, lw=0.8, label=f"SALT {t}")
    ax.scatter(true, pred, s=18, alpha=0.7)
    icc = summary.get("icc_2_1")
    text = f"MAE {summary.get('mae', float('nan')):.2f}"
    if icc is not None and np.isfinite(icc):
        text += f", ICC(2,1) {icc:.3f}"
    ax.set_title(f"Predicted vs true SALT ({text})", fontsize=10)
    ax.set_xlabel("true SALT")
    ax.set_ylabel("predicted SALT")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png")


def loss_pct_plot(path: Path, rows) -> None:
    views = [v for v in VIEWS if any(r["view"] == v for r in rows)] or ["all"]
    fig = _figure(3.2 * len(views), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(views)))
    for ax, view in zip(axes, views):
        pts = [(r["true_loss_pct"], r["pred_loss_pct"]) for r in rows
               if (view == "all" or r["view"] == view)
               and r["true_loss_pct"] is not None and r["pred_loss_pct"] is not None]
        ax.plot([0, 100], [0, 100], color="grey", lw=1)
        if pts:
            t, p = np.asarray(pts).T
            ax.scatter(t, p, s=10, alpha=0.6)
            ax.set_title(f"{view} (n = {len(pts)}, mean |Δ| {np.mean(np.abs(p - t)):.1f})", fontsize=9)
        else:
            ax.set_title(f"{view} (no scorable images)", fontsize=9)
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_xlabel("true % hair loss")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("predicted % hair loss")
    fig.tight_layout()
    fig.savefig(path, format="png")


def write_evaluation_plots(result, folder: Path) -> list[Path]:
    """Write the plots that the result has data for; return their paths."""
    folder = Path(folder)
    written = [folder / "loss_pct_by_view.png"]
    loss_pct_plot(written[0], result.images)
    if result.visits:
        pred = [v["pred_salt"] for v in result.visits]
        true = [v["true_salt"] for v in result.visits]
        salt_scatter_plot(folder / "salt_scatter.png", pred, true, result.summary["salt"])
        written.append(folder / "salt_scatter.png")
        if len(result.visits) >= 2:
            bland_altman_plot(folder / "bland_altman.png", pred, true)
            written.append(folder / "bland_altman.png")
    return written


#: The name ``write_evaluation_plots`` had before 2026-12-08, kept for code that imports it.
write_plots = write_evaluation_plots
