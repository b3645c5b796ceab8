"""Per-epoch training history: ``history.csv`` and a ``history.png`` plot."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from alonet.system.atomic import atomic_save, atomic_write_text

COLUMNS = ("epoch", "lr", "train_loss", "val_loss", "val_iou", "val_dice", "seconds", "best")


def write_history_csv(path: Path, rows: Sequence[dict]) -> None:
    """Write all rows (atomically; the file always holds whole epochs)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
    atomic_write_text(path, buffer.getvalue())


def read_history_csv(path: Path) -> list[dict]:
    """Rows of a history.csv with numbers parsed."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        parsed = {k: float(v) for k, v in row.items() if k not in ("epoch", "best")}
        parsed["epoch"] = int(row["epoch"])
        parsed["best"] = row["best"] == "1"
        out.append(parsed)
    return out


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def plot_history(path: Path, rows: Sequence[dict], title: str) -> None:
    """Two panels: train/val loss, and validation IoU/Dice, against the epoch."""
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in rows]
    fig = Figure(figsize=(10, 4), dpi=110)
    ax_loss, ax_score = fig.subplots(1, 2)
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], "o-", label="train loss")
    ax_loss.plot(epochs, [r["val_loss"] for r in rows], "s-", label="validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("weighted cross-entropy")
    ax_loss.set_title("Loss")
    ax_loss.legend()
    ax_loss.grid(alpha=0.3)
    ax_score.plot(epochs, [r["val_iou"] for r in rows], "o-", label="validation IoU")
    ax_score.plot(epochs, [r["val_dice"] for r in rows], "s-", label="validation Dice")
    best = [r for r in rows if r.get("best")]
    if best:
        b = best[-1]
        ax_score.axvline(b["epoch"], color="grey", ls="--", lw=1)
        ax_score.annotate(f"best IoU {b['val_iou']:.3f}", (b["epoch"], b["val_iou"]),
                          textcoords="offset points", xytext=(5, -15))
    ax_score.set_ylim(-0.02, 1.02)
    ax_score.set_xlabel("epoch")
    ax_score.set_ylabel("foreground overlap (pooled over validation)")
    ax_score.set_title("Validation IoU / Dice")
    ax_score.legend(loc="lower right")
    ax_score.grid(alpha=0.3)
    for ax in (ax_loss, ax_score):
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_save(path, lambda temp: fig.savefig(temp, format="png"))
