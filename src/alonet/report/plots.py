"""Charts: a patient's SALT over the visits of a trial.

Uses matplotlib's object interface (``Figure``, Agg canvas) and never pyplot,
so it holds no global state and works from threads and without a display.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from functools import lru_cache


@lru_cache(maxsize=1)
def _default_font():
    """The FT2Font matplotlib draws text with (DejaVu Sans unless configured otherwise)."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    return FT2Font(font_manager.findfont(font_manager.FontProperties()))


def drawable(text: str) -> str:
    """``text`` as it can be drawn: when the font lacks a character (中文 in DejaVu Sans would
    come out as empty boxes, so nobody could tell whose chart it is), the text with those
    characters written as escapes (``\\u4e2d``), which still tell one label from another."""
    font = _default_font()
    if all(ch.isspace() or font.get_char_index(ord(ch)) for ch in text):
        return text
    return "".join(ch if ch.isspace() or font.get_char_index(ord(ch)) else ch.encode("ascii", "backslashreplace")
                   .decode("ascii") for ch in text)


def salt_over_time_png(patient: str, visits: Sequence[str], salts: Sequence[float | None],
                       *, baseline: float | None = None, days: Sequence[int] | None = None,
                       shown: Sequence[str | None] | None = None, provisional: Sequence[bool] | None = None,
                       dpi: int = 110, png_text: Mapping[str, str] | None = None) -> bytes:
    """PNG of SALT per visit for one patient.

    Visits without a SALT (errors, incomplete) are shown as gaps and marked
    "n/a". Dashed lines show SALT 20 and, when ``baseline`` is given, the
    SALT50 and SALT75 response levels relative to it. With ``days`` (days since
    the first visit, one per visit, ascending) the visits sit at their real
    distances in time, so a gap between follow-ups looks like one; without
    them they are evenly spaced. ``shown`` (one per visit) are the numbers written beside the
    points, as the reports show them (``shown_salt`` of the unrounded SALT); without it, or where
    one is None, the value in ``salts`` with one decimal. ``provisional`` (one per visit) marks
    the SALTs given on request although a photograph needs a retake: a hollow point labelled so.
    ``png_text``: text chunks to store in the PNG file (key -> value).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.6 if days is None else 4.4), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    if days is not None and len(days) != len(visits):
        raise ValueError("days must give one number per visit")
    if shown is not None and len(shown) != len(visits):
        raise ValueError("shown must give one label per visit")
    if provisional is not None and len(provisional) != len(visits):
        raise ValueError("provisional must give one flag per visit")
    x = list(range(len(visits))) if days is None else [int(d) for d in days]
    y = [float("nan") if s is None else float(s) for s in salts]
    ax.plot(x, y, marker="o", color="#3b5bdb", linewidth=2, label="SALT")
    marked = [i for i, flag in enumerate(provisional or ()) if flag and salts[i] is not None]
    if marked:
        ax.plot([x[i] for i in marked], [y[i] for i in marked], marker="o", linestyle="none", color="#3b5bdb",
                markerfacecolor="white", markersize=8, label="provisional (retake needed)")
    for i, (xi, s) in enumerate(zip(x, salts)):
        if s is None:
            ax.annotate("n/a", (xi, 2), ha="center", color="#c92a2a", fontsize=9)
        else:
            text = (shown[i] if shown is not None else None) or f"{s:.1f}"
            ax.annotate(text + (" provisional" if i in marked else ""), (xi, s), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    ax.axhline(20, color="#2f9e44", linestyle="--", linewidth=1, label="SALT 20")
    if baseline is not None and baseline > 0:
        ax.axhline(baseline * 0.5, color="#f08c00", linestyle=":", linewidth=1, label="SALT50 level")
        ax.axhline(baseline * 0.25, color="#e8590c", linestyle=":", linewidth=1, label="SALT75 level")
    ax.set_xticks(x)
    if days is None:
        ax.set_xticklabels([drawable(str(v)) for v in visits], rotation=30 if len(visits) > 6 else 0, ha="right"
                           if len(visits) > 6 else "center")
    else:  # upright labels at real distances would run into each other (week 2 beside week 4)
        ax.set_xticklabels([drawable(str(v)) for v in visits], rotation=90, fontsize=7)
    ax.set_ylim(0, 105)
    if days is None:
        ax.set_xlim(-0.5, max(0.5, len(visits) - 0.5))
        ax.set_xlabel("visit")
    else:
        margin = max(1.0, 0.05 * (max(x) - min(x)))
        ax.set_xlim(min(x) - margin, max(x) + margin)
        ax.set_xlabel("visit (date), placed by days since the first visit")
    ax.set_ylabel("SALT (% scalp hair loss)")
    # a long patient code wraps (at 150 characters it ran off both sides of the picture)
    ax.set_title("\n".join(textwrap.wrap(f"Patient {drawable(patient)}", 60, break_on_hyphens=False)) or "Patient",
                 fontsize=11 if len(patient) > 60 else None)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata=dict(png_text or {}))
    return buffer.getvalue()
