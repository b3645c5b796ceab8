"""Reports for people and machines: overlays, the HTML/JSON visit report, batch scoring.

``render_report_html`` and ``report_json`` work in memory (the web app serves
them without touching disk); ``write_report`` writes a report folder
atomically; each takes a ``ReportOptions`` (de-identification, provenance, review
fields, title, file names, overlay style, time made). ``run_batch`` scores a whole
trial from a manifest.
"""

from alonet.report.html import render_report_html
from alonet.report.options import ReportOptions
from alonet.report.overlay import OverlayStyle, blur_outside_scalp, deidentify, render_overlay
from alonet.report.writer import report_json, write_report

__all__ = ["OverlayStyle", "ReportOptions", "blur_outside_scalp", "deidentify", "render_overlay", "render_report_html",
           "report_json", "write_report"]
