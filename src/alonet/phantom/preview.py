"""Contact sheet of phantom visits: one row per visit, the four views side by
side, each with its view and % hair loss, each row with patient, visit and
true SALT. Meant for a quick look by eye (and for the README)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from alonet.views import VIEWS


@dataclass(frozen=True)
class PreviewRow:
    """One visit on the sheet: a label and a thumbnail + caption per view."""

    label: str
    thumbs: dict[str, np.ndarray]  # view -> (h, w, 3) uint8
    captions: dict[str, str]


def thumbnail(image: np.ndarray, cell: int) -> np.ndarray:
    """``image`` shrunk to fit a ``cell``-pixel square (aspect kept)."""
    picture = Image.fromarray(np.ascontiguousarray(image))
    picture.thumbnail((cell, cell), Image.Resampling.LANCZOS)
    return np.asarray(picture)


def contact_sheet(rows: list[PreviewRow], cell: int = 150, label_width: int = 86) -> Image.Image:
    """Lay ``rows`` out as an RGB image (white background, small dark labels)."""
    font = ImageFont.load_default()
    caption_h = 13
    pad = 4
    width = label_width + len(VIEWS) * (cell + pad) + pad
    height = pad + max(1, len(rows)) * (cell + caption_h + pad)
    sheet = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        y = pad + r * (cell + caption_h + pad)
        draw.multiline_text((pad, y + cell // 2 - 12), row.label, fill=(30, 30, 30), font=font, spacing=2)
        for c, view in enumerate(VIEWS):
            x = label_width + c * (cell + pad)
            thumb = row.thumbs.get(view)
            if thumb is not None:
                th, tw = thumb.shape[:2]
                sheet.paste(Image.fromarray(thumb), (x + (cell - tw) // 2, y + (cell - th) // 2))
            draw.text((x + 2, y + cell + 1), row.captions.get(view, view), fill=(30, 30, 30), font=font)
    return sheet
