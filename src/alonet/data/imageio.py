"""Compatibility module: every public name ``alonet.data.imageio`` held before it was split.

Code outside this repository that imports ``alonet.data.imageio`` keeps working: the names
below are the very objects of the modules that now hold them. Code in the repository
imports from those modules:

- ``alonet.data.imagefile``: opening image files (sources, typed errors, the pixel cap read
  from the header, truncated files), ``image_info``, ``check_pixels``, ``pixel_count``;
- ``alonet.data.photo``: a photograph as RGB (``read_photo``: EXIF orientation, ICC to
  sRGB, 16-bit, alpha on white) and ``as_rgb_photo``;
- ``alonet.data.annotation``: an annotation as a bool mask (``read_annotation``, the
  two-level / half-range rule, ``label_map_levels``, ``grey_share``) and ``check_same_size``;
- ``alonet.data.resize``: ``fit_size``, ``resize_photo``, ``area_resize_mask``;
- ``alonet.data.encode``: ``encode_jpeg``, ``encode_png``, ``encode_mask_png``, the
  ``save_*`` helpers and the JPEG qualities.

Private helpers (``_pillow_guard``, ``_load``, ...) are not re-exported: they live, and are
patched in tests, in their own module.
"""

from __future__ import annotations

from alonet.data.annotation import (
    GREY_SHARE_MAX,
    LABEL_MAP_MAX_LEVELS,
    LABEL_MAP_MIN_MARKED,
    LABEL_MAP_MIN_SHARE,
    MASK_EXTENSIONS,
    check_same_size,
    grey_share,
    label_map_levels,
    read_annotation,
)
from alonet.data.encode import (
    EMBEDDED_JPEG_QUALITY,
    NO_CHROMA_SUBSAMPLING,
    OVERLAY_JPEG_QUALITY,
    PHOTO_JPEG_QUALITY,
    encode_jpeg,
    encode_mask_png,
    encode_png,
    save_mask_png,
    save_photo_jpeg,
)
from alonet.data.imagefile import (
    DEFAULT_MAX_PIXELS,
    READ_FORMATS,
    ImageInfo,
    ImageSource,
    check_pixels,
    image_info,
    pixel_count,
)
from alonet.data.photo import PHOTO_EXTENSIONS, as_rgb_photo, read_photo
from alonet.data.resize import Size, area_resize_mask, fit_size, resize_photo

__all__ = (
    # imagefile
    "DEFAULT_MAX_PIXELS",
    "READ_FORMATS",
    "ImageInfo",
    "ImageSource",
    "check_pixels",
    "image_info",
    "pixel_count",
    # photo
    "PHOTO_EXTENSIONS",
    "as_rgb_photo",
    "read_photo",
    # annotation
    "GREY_SHARE_MAX",
    "LABEL_MAP_MAX_LEVELS",
    "LABEL_MAP_MIN_MARKED",
    "LABEL_MAP_MIN_SHARE",
    "MASK_EXTENSIONS",
    "check_same_size",
    "grey_share",
    "label_map_levels",
    "read_annotation",
    # resize
    "Size",
    "area_resize_mask",
    "fit_size",
    "resize_photo",
    # encode
    "EMBEDDED_JPEG_QUALITY",
    "NO_CHROMA_SUBSAMPLING",
    "OVERLAY_JPEG_QUALITY",
    "PHOTO_JPEG_QUALITY",
    "encode_jpeg",
    "encode_mask_png",
    "encode_png",
    "save_mask_png",
    "save_photo_jpeg",
)
