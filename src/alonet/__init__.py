"""AloNet: scalp hair-loss segmentation and SALT scoring for alopecia areata.

The package is laid out by pipeline stage::

    data      reading photographs and annotations, dataset conversion
    phantom   synthetic clinical photographs rendered from mask geometry
    scoring   pure SALT arithmetic and segmentation metrics (no torch)
    model     U-Net definitions, save/load, the bundled default model
    train     training loop, augmentation, distributed training
    evaluate  evaluation of a model on a dataset
    infer     photograph -> masks -> SALT (the Pipeline)
    report    HTML/JSON reports, overlays, batch scoring
    web       the Flask application
    cli       the ``alonet`` command, one verb per stage

Heavy modules (torch, onnxruntime, flask) are imported lazily so that
``import alonet`` and the pure SALT functions stay fast.
"""

from alonet.errors import AloNetError
from alonet.views import VIEWS, VIEW_WEIGHTS, View

__version__ = "0.1.0"

__all__ = ["AloNetError", "VIEWS", "VIEW_WEIGHTS", "View", "__version__"]
