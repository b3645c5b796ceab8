"""AloNet: scalp hair-loss segmentation and SALT scoring for alopecia areata.

The package is laid out by pipeline stage, earliest first; a module imports only from its
own stage or earlier ones (``tests/test_imports.py`` holds the order)::

    errors, views  the error types and the four views with their SALT weights
    scoring   pure SALT arithmetic and segmentation metrics (no torch)
    data      reading photographs and annotations, dataset conversion, atomic writes
    store     the visit store (SQLite + image files) and its export as a dataset
    phantom   synthetic clinical photographs rendered from mask geometry
    model     U-Net definitions, save/load, the bundled default model
    train     training loop, augmentation, fine-tuning
    infer     photograph -> masks -> SALT (the Pipeline), quality and view checks
    evaluate  evaluation of a model on a dataset
    adapt     a clinic's corrected visits -> a fine-tuned model set (before/after)
    report    HTML/JSON reports, overlays, batch scoring
    web       the Flask application
    cli       the ``alonet`` command, one verb per task

Heavy modules (torch, onnxruntime, flask) are imported lazily so that
``import alonet`` and the pure SALT functions stay fast.
"""

import logging

from alonet.errors import AloNetError
from alonet.views import VIEWS, VIEW_WEIGHTS, View

__version__ = "0.1.0"

# A library's own logger stays silent until the program configures logging (the `alonet`
# command does, in alonet.cli.console_log); without this, Python would print its warnings.
logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = ["AloNetError", "VIEWS", "VIEW_WEIGHTS", "View", "__version__"]
