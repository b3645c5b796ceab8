"""Geometry of the SALT-over-time chart on the patient page (pure functions).

:func:`salt_chart` turns ``(ISO date, SALT)`` points into coordinates for an
SVG drawn by the template ``_salt_chart.html``: x is proportional to the days
since the first visit, y runs from SALT 0 (bottom) to 100 (top). The
horizontal guides mark SALT 50, 75 and 100 and the SALT <= 20 / <= 10 targets.
A provisional SALT (computed on request from photographs that need a retake) is
drawn as a red dashed circle labelled "provisional" and is never the baseline.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence
from dataclasses import dataclass

from alonet.scoring.salt import shown_salt


@dataclass(frozen=True)
class ChartPoint:
    x: float
    y: float
    date: str
    salt: float
    label: str
    provisional: bool = False


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: tuple[ChartPoint, ...]
    y_ticks: tuple[tuple[float, int], ...]
    #: (x, label, SVG text-anchor): the first date is anchored at its start, the last at its end.
    x_ticks: tuple[tuple[float, str, str], ...]
    baseline_y: float | None

    @property
    def polyline(self) -> str:
        """The ``points`` attribute of the SVG polyline joining the visits."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def salt_chart(points: Sequence[tuple[str, float]], width: int = 640, height: int = 260,
               provisional: Sequence[bool] | None = None) -> Chart:
    """Chart coordinates for ``points`` = [(YYYY-MM-DD, SALT 0..100), ...] in date order;
    ``provisional`` marks the points whose SALT is provisional (one bool per point)."""
    marks = list(provisional) if provisional is not None else [False] * len(points)
    if len(marks) != len(points):
        raise ValueError("give one provisional mark per point")
    left, right, top, bottom = 44.0, width - 16.0, 26.0, height - 34.0

    def y_of(salt: float) -> float:
        return bottom - (bottom - top) * max(0.0, min(100.0, salt)) / 100.0

    dates = [_dt.date.fromisoformat(d) for d, _ in points]
    span = (max(dates) - min(dates)).days if dates else 0

    def x_of(day: _dt.date) -> float:
        if span == 0:
            return (left + right) / 2
        return left + (right - left) * (day - dates[0]).days / span

    chart_points = tuple(
        ChartPoint(x=x_of(day), y=y_of(salt), date=d, salt=float(salt), provisional=bool(mark),
                   label=f"{d}: SALT {shown_salt(salt)}" + (" (provisional)" if mark else ""))
        for day, (d, salt), mark in zip(dates, points, marks)
    )
    baseline = next((p for p in chart_points if not p.provisional), None)
    y_ticks = tuple((y_of(v), v) for v in (0, 10, 20, 50, 75, 100))
    x_ticks: tuple[tuple[float, str, str], ...] = ()
    if dates and span == 0:
        x_ticks = ((x_of(dates[0]), dates[0].isoformat(), "middle"),)
    elif dates:
        x_ticks = ((left, dates[0].isoformat(), "start"), (right, dates[-1].isoformat(), "end"))
    return Chart(
        width=width, height=height, left=left, right=right, top=top, bottom=bottom,
        points=chart_points, y_ticks=y_ticks, x_ticks=x_ticks,
        baseline_y=baseline.y if baseline is not None else None,
    )
