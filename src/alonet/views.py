"""The four standard views of a SALT assessment and their weights."""

from __future__ import annotations

from enum import Enum
from types import MappingProxyType

from alonet.errors import InvalidValueError


class View(str, Enum):
    TOP = "top"
    BACK = "back"
    LEFT = "left"
    RIGHT = "right"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


VIEWS: tuple[str, ...] = ("top", "back", "left", "right")

#: Fraction of the scalp surface each photograph represents (Olsen et al.).
VIEW_WEIGHTS = MappingProxyType({"top": 0.40, "back": 0.24, "left": 0.18, "right": 0.18})

#: Which scalp-area network handles a view.
SCALP_TASK_FOR_VIEW = MappingProxyType(
    {"top": "scalp-midline", "back": "scalp-midline", "left": "scalp-temporal", "right": "scalp-temporal"}
)


#: The view the networks see mirrored, so that it looks like a left view: the temporal scalp
#: network and the hair-loss network, in training (``alonet.train.data``), inference
#: (``alonet.infer.pipeline``) and int8 calibration (``alonet.infer.quantize``) alike.
MIRRORED_VIEW = "right"


def seen_mirrored(view: str) -> bool:
    """True for the view the networks see mirrored (:data:`MIRRORED_VIEW`)."""
    return view == MIRRORED_VIEW


def normalize_view(name: str) -> str:
    """Return the canonical view name for ``name`` (case-insensitive) or raise."""
    key = str(name).strip().lower()
    if key not in VIEW_WEIGHTS:
        raise InvalidValueError(
            f"unknown view {name!r}", fix="use one of top, back, left, right"
        )
    return key
