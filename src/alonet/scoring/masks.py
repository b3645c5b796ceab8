"""What counts as a binary mask when scoring: one rule for SALT and for the overlap metrics.

bool arrays as they are; integer arrays with 0 and at most one other value (0/1, 0/255:
every non-zero pixel is inside); float arrays only when they hold nothing but 0 and 1.
Anything else is refused with a one-line error rather than read: a probability map or an
8-bit probability PNG would count every pixel above 0 as inside, and a label map
(0 background, 1 scalp, 2 hair loss) would count both regions as one.
"""

from __future__ import annotations

import numpy as np

from alonet.errors import InvalidValueError


def as_bool_mask(mask, what: str, *, two_d: bool = True) -> np.ndarray:
    """``mask`` as a bool array (see module doc); ``two_d`` also requires (height, width)."""
    array = np.asarray(mask)
    if two_d and array.ndim != 2:
        raise InvalidValueError(f"{what} must be a 2-D mask, got shape {array.shape}",
                                fix="pass one (height, width) mask per view")
    if array.dtype == bool:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all((array == 0) | (array == 1)):
            raise InvalidValueError(f"{what} holds values other than 0 and 1 (a probability map?)",
                                    fix="threshold it first, e.g. prob >= 0.5, or pass the pipeline's *_mask")
        return array == 1
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidValueError(f"{what} has dtype {array.dtype}, not a mask", fix="pass a bool or 0/1 array")
    inside = array != 0
    if inside.any():
        first = array[inside].flat[0]
        if np.any(inside & (array != first)):
            levels = np.unique(array)
            shown = ", ".join(str(v) for v in levels[:6]) + (", ..." if len(levels) > 6 else "")
            raise InvalidValueError(
                f"{what} holds {len(levels)} values ({shown}): a probability or label map, not a mask",
                fix="threshold it first (e.g. png >= 128) or pick one label (e.g. labels == 2)")
    return inside
