"""Which model set the web app serves: its name, model card and adaptation numbers.

:func:`describe_model_set` reads, from the folder of the model set (the bundled
``default``, a model-set folder or a training run):

* the model card, the first of ``MODEL_CARD.md``, ``model_card.md`` and
  ``README.md`` found; its first heading is the title and its first paragraph
  the summary (Markdown emphasis and links reduced to plain text);
* ``adapt.json``, written by ``alonet adapt`` (``created``, ``source``,
  ``counts``, ``before`` and ``after`` metrics, ``better``); the metrics are
  shown side by side (:func:`adapt_rows`); a change over fewer than
  :data:`FEW_PATIENTS` held-back patients is never clear (:func:`patient_rule`).

Nothing here needs Flask or torch; a folder without a card or ``adapt.json``
simply has none (a broken ``adapt.json`` is reported as such, never raised).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from alonet.evaluate.agreement import FEW_PATIENTS
from alonet.model.io import default_model_dir

CARD_NAMES: tuple[str, ...] = ("MODEL_CARD.md", "model_card.md", "README.md")
ADAPT_NAME = "adapt.json"
#: Longest card text kept for the page (a card is a few kB; this bounds a stray large file).
MAX_CARD_CHARS = 200_000


@dataclass(frozen=True)
class ModelSetInfo:
    """What the page and ``GET /api/model`` say about the model set in use."""

    name: str
    spec: str
    folder: str | None
    backend: str | None = None
    card_file: str | None = None
    card_title: str | None = None
    card_summary: str | None = None
    card_text: str | None = None
    adapt: dict[str, Any] | None = None
    adapt_error: str | None = None
    adapt_rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, with_card_text: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name, "spec": self.spec, "folder": self.folder, "backend": self.backend,
            "card": None if self.card_file is None else {
                "file": self.card_file, "title": self.card_title, "summary": self.card_summary,
            },
            "adapt": self.adapt, "adapt_error": self.adapt_error,
        }
        if with_card_text and data["card"] is not None:
            data["card"]["text"] = self.card_text
        return data


def model_folder(spec: str | Path) -> Path | None:
    """The folder of a model-set spec (``default`` = the bundled one), or None
    when the models were given in memory."""
    text = str(spec)
    if text.startswith("<"):
        return None
    if text == "default":
        return default_model_dir()
    return Path(text)


def model_set_name(spec: str | Path) -> str:
    """A short name of the model set: ``default (bundled)`` or its folder's name."""
    text = str(spec)
    if text == "default":
        return "default (bundled)"
    folder = model_folder(spec)
    return text if folder is None else (folder.resolve().name or text)


_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")


def plain(text: str) -> str:
    """Markdown inline markup reduced to plain text (links keep their label)."""
    return " ".join(_EMPHASIS.sub("", _LINK.sub(r"\1", text)).split())


def card_summary(markdown: str) -> tuple[str | None, str | None]:
    """(title, summary) of a model card: its first heading and first paragraph
    of prose (tables, lists and further headings are not summaries)."""
    title = None
    paragraph: list[str] = []
    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            if paragraph:
                break
            if title is None:
                title = plain(stripped.lstrip("#"))
            continue
        if not stripped:
            if paragraph:
                break
            continue
        if stripped.startswith(("|", "-", "*", ">", "```")) and not stripped.startswith("**"):
            if paragraph:
                break
            continue
        paragraph.append(stripped)
    return title, (plain(" ".join(paragraph)) or None)


#: Readable names of the metrics ``alonet adapt`` records (others keep their key).
METRIC_LABELS: Mapping[str, str] = MappingProxyType({
    "images": "photographs",
    "scalp_iou": "scalp IoU",
    "hairloss_iou": "hair-loss IoU",
    "mean_abs_diff_pct": "mean |Δ % loss|",
    "views_mean_abs_diff_pct": "mean |Δ % loss|",
    "views_scalp_iou": "scalp IoU",
    "salt_visits": "visits with a SALT",
    "salt_mae": "SALT MAE",
})
#: Which way is better, by the end of a metric's name (+1 higher, -1 lower).
_DIRECTIONS: tuple[tuple[str, int], ...] = (
    ("iou", 1), ("dice", 1), ("accuracy", 1), ("mae", -1), ("abs_diff_pct", -1), ("error", -1),
)


def metric_label(name: str) -> str:
    """``views_mean_abs_diff_pct.top`` -> ``mean |Δ % loss| (top)``."""
    head, _, rest = name.partition(".")
    label = METRIC_LABELS.get(head, head.replace("_", " "))
    return f"{label} ({rest.replace('.', ', ')})" if rest else label


def metric_direction(name: str) -> int:
    """+1 if higher is better, -1 if lower is better, 0 if unknown (a count, say)."""
    head = name.partition(".")[0].lower()
    return next((sign for suffix, sign in _DIRECTIONS if head.endswith(suffix)), 0)


def _flatten(metrics: Any, prefix: str = "") -> dict[str, int | float]:
    """Numbers of a (nested) metrics dict under dotted names; other values dropped."""
    flat: dict[str, int | float] = {}
    if not isinstance(metrics, dict):
        return flat
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
            flat[name] = value
        elif isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
    return flat


def adapt_rows(adapt: dict[str, Any]) -> list[dict[str, Any]]:
    """The before/after metrics side by side, in the order the file gives them:
    ``[{"metric", "label", "before", "after", "change", "improved"}]``; ``None``
    where one side lacks the metric; ``improved`` is True/False for metrics with
    a known better direction (IoU up, errors down) that changed, else None."""
    before, after = _flatten(adapt.get("before")), _flatten(adapt.get("after"))
    names = list(before) + [k for k in after if k not in before]
    rows = []
    for name in names:
        b, a = before.get(name), after.get(name)
        change = None if a is None or b is None else a - b
        sign = metric_direction(name)
        improved = None if not change or not sign else (change * sign > 0)
        rows.append({"metric": name, "label": metric_label(name), "before": b, "after": a,
                     "change": change, "improved": improved})
    return rows




def patient_rule(adapt: dict[str, Any]) -> dict[str, Any]:
    """``adapt.json`` with every change over fewer than :data:`FEW_PATIENTS` held-back patients
    marked ``"clear": false, "too_few": true``, as ``alonet adapt`` writes it now; files written
    before may call such a change clear. Other entries are kept as they are (a copy)."""
    changes = adapt.get("changes")
    if not isinstance(changes, dict):
        return adapt
    fixed = {}
    for key, change in changes.items():
        groups = change.get("groups") if isinstance(change, dict) else None
        if isinstance(groups, int) and not isinstance(groups, bool) and groups < FEW_PATIENTS:
            change = {**change, "clear": False, "too_few": True}
        fixed[key] = change
    return {**adapt, "changes": fixed}


def read_adapt(folder: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(``adapt.json`` as a dict, or None; a one-line problem, or None)."""
    path = folder / ADAPT_NAME
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path.name} cannot be read ({' '.join(str(exc).split())})"
    if not isinstance(data, dict):
        return None, f"{path.name} is not a JSON object"
    return patient_rule(data), None


def describe_model_set(spec: str | Path, backend: str | None = None) -> ModelSetInfo:
    """Describe the model set ``spec`` (see the module doc)."""
    folder = model_folder(spec)
    if folder is None:
        return ModelSetInfo(name=str(spec), spec=str(spec), folder=None, backend=backend)
    name = model_set_name(spec)
    card_file = card_title = summary = text = None
    for candidate in CARD_NAMES:
        path = folder / candidate
        if path.is_file():
            try:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read(MAX_CARD_CHARS)
            except OSError:
                continue
            card_file = candidate
            card_title, summary = card_summary(text)
            break
    adapt, problem = read_adapt(folder)
    return ModelSetInfo(
        name=name, spec=str(spec), folder=str(folder), backend=backend, card_file=card_file,
        card_title=card_title, card_summary=summary, card_text=text, adapt=adapt, adapt_error=problem,
        adapt_rows=adapt_rows(adapt) if adapt else [],
    )


__all__ = ["ADAPT_NAME", "CARD_NAMES", "METRIC_LABELS", "ModelSetInfo", "adapt_rows", "card_summary",
           "describe_model_set", "metric_direction", "metric_label", "model_folder", "model_set_name", "patient_rule",
           "plain", "read_adapt"]
