"""A view's probability maps and masks, kept at network size and enlarged on demand.

The networks and the post-processing work at the network's resolution
(160-320 px); a camera photograph has millions of pixels. Bringing four
maps per view to the photograph's size costs more than the networks on a
9-megapixel photograph, and most callers never look at them: the % of hair
loss is measured at network size (``alonet.infer.pipeline``), a batch keeps
only numbers. :class:`ViewMaps` therefore keeps the small maps and makes a
full-size map the first time it is read, once per map.

Enlarging is bilinear on the float map, clipped to 0..1 (:func:`resize_prob`);
a mask is enlarged as 0/1 floats and re-thresholded at 0.5
(:func:`smooth_resize_mask`), which gives smooth outlines at any camera resolution.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

#: The maps a view has, in the order ``ViewMaps`` takes them.
MAP_NAMES: tuple[str, ...] = ("scalp_prob", "hairloss_prob", "scalp_mask", "hairloss_mask")
#: The two masks (bool), the maps that pages and reports show at the photograph's size.
MASK_NAMES: tuple[str, ...] = ("scalp_mask", "hairloss_mask")


def resize_prob(prob: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of a float map to ``size`` (width, height), clipped to 0..1 (a new array)."""
    width, height = size
    if prob.shape == (height, width):
        return prob.astype(np.float32, copy=True)
    out = cv2.resize(prob.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(out, 0.0, 1.0, out=out)


def smooth_resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a binary mask to ``size`` (width, height) with smooth outlines (a new bool array).

    Rule: bilinear interpolation of the bool (or 0/1) mask as floats (OpenCV), inside
    where the result is ``>= 0.5``; enlarged outlines are smooth lines rather than pixel
    stairs. Unlike ``alonet.data.resize.area_resize_mask`` it does not average areas
    when shrinking.
    """
    width, height = size
    if mask.shape == (height, width):
        return mask.astype(bool, copy=True)
    return resize_prob(mask.astype(np.float32), (width, height)) >= 0.5


def mirror(array: np.ndarray) -> np.ndarray:
    """Left-right mirror image (contiguous copy)."""
    return np.ascontiguousarray(array[:, ::-1])


@dataclass(frozen=True, eq=False)
class ViewMaps:
    """Four maps of one photograph of ``width`` x ``height`` pixels.

    ``small`` holds ``scalp_prob``, ``hairloss_prob`` (float32 0..1, or bool
    0/1 for maps made from masks: :meth:`from_masks`), ``scalp_mask`` and
    ``hairloss_mask`` (bool) at any one resolution, all of the same shape;
    ``mirrored``: they are in the mirror image of the photograph (a right view,
    processed as a left one). ``full(name)`` gives the map at the photograph's
    size and orientation (a probability map always as float32);
    ``oriented(name)`` the small map in the photograph's orientation. Safe to
    share between threads.
    """

    small: dict[str, np.ndarray]
    width: int
    height: int
    mirrored: bool = False
    _full: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        missing = [n for n in MAP_NAMES if n not in self.small]
        if missing:
            raise ValueError(f"ViewMaps needs the maps {', '.join(missing)}")
        shapes = {self.small[n].shape for n in MAP_NAMES}
        if len(shapes) != 1 or len(next(iter(shapes))) != 2:
            raise ValueError(f"ViewMaps maps must be 2-D and of one shape; got {sorted(shapes)}")

    @classmethod
    def at_full_size(cls, scalp_prob, hairloss_prob, scalp_mask, hairloss_mask) -> "ViewMaps":
        """Maps already at the photograph's size."""
        small = {"scalp_prob": np.asarray(scalp_prob, np.float32),
                 "hairloss_prob": np.asarray(hairloss_prob, np.float32),
                 "scalp_mask": np.asarray(scalp_mask, bool), "hairloss_mask": np.asarray(hairloss_mask, bool)}
        height, width = small["scalp_mask"].shape
        return cls(small=small, width=int(width), height=int(height))

    @classmethod
    def from_masks(cls, scalp_mask, hairloss_mask) -> "ViewMaps":
        """Maps of masks at the photograph's size (e.g. drawn by a person), whose probability
        maps are the masks as 0/1: kept as the very same bool arrays (a float32 copy of each
        would take 8 bytes a pixel more, and is made only when ``full`` is asked for it)."""
        scalp, hairloss = np.asarray(scalp_mask, bool), np.asarray(hairloss_mask, bool)
        height, width = scalp.shape
        return cls(small={"scalp_prob": scalp, "hairloss_prob": hairloss, "scalp_mask": scalp,
                          "hairloss_mask": hairloss}, width=int(width), height=int(height))

    def __reduce__(self):
        # Pickle (e.g. from a batch worker process) the small maps only: no lock, no enlargements.
        return (type(self), (self.small, self.width, self.height, self.mirrored))

    @property
    def shape(self) -> tuple[int, int]:
        """(height, width) of the small maps."""
        return tuple(self.small["scalp_mask"].shape)

    def oriented(self, name: str) -> np.ndarray:
        """The small map ``name`` in the photograph's orientation (not enlarged)."""
        array = self.small[name]
        return mirror(array) if self.mirrored else array

    def full(self, name: str) -> np.ndarray:
        """The map ``name`` at the photograph's size, made on first use and then kept."""
        cached = self._full.get(name)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._full.get(name)
            if cached is None:
                resize = smooth_resize_mask if name.endswith("_mask") else resize_prob
                cached = resize(self.small[name], (self.width, self.height))
                if self.mirrored:
                    cached = mirror(cached)
                self._full[name] = cached
        return cached

    def nbytes(self, enlarge: tuple[str, ...] = ()) -> int:
        """Bytes of every array these maps hold now, plus those the maps ``enlarge`` will take
        at the photograph's size where they are not made yet (``full`` always makes a new
        array: bool for a mask, 1 byte a pixel, float32 for a probability map, 4, whatever
        the small map's type)."""
        with self._lock:
            arrays = {id(a): a for a in (*self.small.values(), *self._full.values())}  # shared ones once
            held = sum(int(a.nbytes) for a in arrays.values())
            pending = [name for name in enlarge if name not in self._full]
        return held + sum(self.width * self.height * (1 if name.endswith("_mask") else 4) for name in pending)

    def is_enlarged(self, name: str) -> bool:
        """True once ``full(name)`` has been made (for tests and benchmarks)."""
        return name in self._full


def full_size_map(name: str) -> property:
    """A read-only attribute giving ``self.maps.full(name)`` (for results that hold a ViewMaps)."""
    return property(lambda self: self.maps.full(name),
                    doc=f"``{name}`` at the photograph's size (made on first read, then kept).")
