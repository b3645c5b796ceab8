"""Writing a visit's report folder: report.html, report.json, masks and overlays.

Layout of a report folder::

    report.html               self-contained page (see alonet.report.html)
    report.json               the numbers, flags and file names (report_json)
    <view>_overlay.jpg        scalp outline + hair loss on the photograph
    <view>_scalp.png          scalp mask at the photograph's size (0 / 255)
    <view>_hairloss.png       hair-loss mask at the photograph's size (0 / 255)

The folder is built under a temporary name and moved into place when
complete, so a crash never leaves half a report.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from alonet import __version__
from alonet.system.atomic import atomic_directory
from alonet.data.encode import OVERLAY_JPEG_QUALITY, encode_jpeg, encode_mask_png
from alonet.report.html import (
    REPORT_IMAGE_SIDE,
    SYNTHETIC_WARNING,
    shown_created,
    shown_model,
    shown_review,
    render_report_html,
    report_meta,
    uses_bundled_model,
    view_overlay,
)
from alonet.report.options import REVIEW_FIELDS, ReportOptions
from alonet.report.overlay import fit_within

REPORT_FORMAT = "alonet-report"
REPORT_VERSION = 1


#: What marks a folder as a report (``--overwrite`` replaces only such a folder).
REPORT_FILES = ("report.json",)


def report_files(view: str) -> dict[str, str]:
    """File names of one view's pictures inside a report folder."""
    return {"overlay": f"{view}_overlay.jpg", "scalp_mask": f"{view}_scalp.png",
            "hairloss_mask": f"{view}_hairloss.png"}


def report_json(visit, *, options: ReportOptions = ReportOptions()) -> dict:
    """The JSON document of a report (a dict ready for ``json.dumps``), as ``options`` say.

    The photographs' file paths are left out unless ``options.show_paths`` (and never
    when de-identified): paths often hold patients' names. The review fields are stored
    under ``"review"``; a de-identified report keeps only the reviewer (``shown_review``).
    """
    deidentify = options.deidentify
    meta = report_meta(visit, options.meta)
    body = visit.to_dict()
    for view, summary in body["views"].items():
        if deidentify or not options.show_paths:
            summary["source"] = None
        summary["files"] = report_files(view)
    review = shown_review(options.review, deidentify)
    body["review"] = {key: review.get(key) or None for key, _ in REVIEW_FIELDS}
    if uses_bundled_model(meta):
        body["warning"] = SYNTHETIC_WARNING
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "alonet_version": __version__,
        "created": shown_created(options.created or datetime.now(timezone.utc), deidentify, iso=True),
        "deidentified": bool(deidentify),
        # a de-identified report leaves out the photographs' checksum: it would link the
        # report to the identified original files; the model's path becomes a generic name
        **{k: (shown_model(v, deidentify) if k == "model" else v) for k, v in dict(meta or {}).items()
           if k not in ("format", "version") and not (deidentify and k == "inputs_sha256")},
        **body,
    }


def stamp_year_start(folder: Path, created: datetime) -> None:
    """Set the modification and access times of ``folder`` and the files in it to noon UTC on
    1 January of ``created``'s year (the same date in every time zone): a de-identified report
    says only the year, and its files' modification times (kept by ``cp -p``, zip and most file
    sharing) would otherwise tell the day it was made, usually the visit's. The change time
    cannot be set, and reading a file sets its access time again."""
    moment = datetime(created.year, 1, 1, 12, tzinfo=timezone.utc).timestamp()
    for path in folder.iterdir():
        os.utime(path, (moment, moment))
    os.utime(folder, (moment, moment))


def write_report(visit, out_dir: str | Path, images: Mapping[str, np.ndarray] | None = None, *,
                 options: ReportOptions = ReportOptions(), overwrite: bool = False) -> dict[str, Path]:
    """Write the report folder of ``visit`` to ``out_dir`` atomically, as ``options`` say.

    ``out_dir`` must not hold anything yet unless ``overwrite=True``
    (OutputExistsError). Returns ``{"html": ..., "json": ..., "<view>_<kind>": ...}``.
    report.html and report.json state the same time made: ``options.created``, else now.
    """
    created = options.created or datetime.now(timezone.utc)
    options = replace(options, meta=report_meta(visit, options.meta), created=created)
    target = Path(out_dir)
    written: dict[str, Path] = {}
    with atomic_directory(target, overwrite=overwrite, own=REPORT_FILES) as tmp:
        shown: dict[str, np.ndarray] = {}  # the page's overlays; each full-size one goes after its file
        for view, result in visit.views.items():
            names = report_files(view)
            overlay = view_overlay(visit, view, images, deidentify=options.deidentify, style=options.style)
            (tmp / names["overlay"]).write_bytes(encode_jpeg(overlay, OVERLAY_JPEG_QUALITY))
            shown[view] = fit_within(overlay, REPORT_IMAGE_SIDE)
            del overlay
            for key, mask in (("scalp_mask", result.scalp_mask), ("hairloss_mask", result.hairloss_mask)):
                (tmp / names[key]).write_bytes(encode_mask_png(mask))
            for key, name in names.items():
                written[f"{view}_{key}"] = target / name
        html = render_report_html(visit, images, options=options, max_side=REPORT_IMAGE_SIDE, overlays=shown)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        document = report_json(visit, options=options)
        (tmp / "report.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        if options.deidentify:
            stamp_year_start(tmp, created)
    written["html"] = target / "report.html"
    written["json"] = target / "report.json"
    return written
