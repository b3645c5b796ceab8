"""Command-line options shared by the verbs, and the one way they become a pipeline.

Every verb that runs the networks (predict, score, batch, evaluate, demo,
serve) takes the same ``--model``/``--backend`` options and builds its
``alonet.infer.PipelineConfig`` with :func:`pipeline_config`, so an option
means the same everywhere and its default lives in one place: the config
dataclasses (an option left out keeps the dataclass default).

This module is imported by ``alonet --help``; it imports nothing heavy.
"""

from __future__ import annotations

import click

BACKEND_CHOICES = ("auto", "torch", "onnx")
VIEW_CHOICES = ("top", "back", "left", "right")
#: Random seeds: what every random generator used here takes (numpy, torch, Python).
SEED = click.IntRange(0, 2**32 - 1)
#: Longest side of a phantom photograph that ``alonet phantom`` and ``alonet demo`` draw (a
#: 4-view visit at 4096 px needs about 2 GB; 30000 px would need some 60 GB, and photographs
#: above about 10000 px are more pixels than any AloNet reader takes by default).
PHANTOM_MAX_SIZE = 4096


def model_option(function):
    return click.option(
        "--model", "model", default="default", show_default=True,
        help="Model set: 'default' (bundled), a model-set folder or a training-run folder.",
    )(function)


def backend_option(function):
    return click.option(
        "--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
        help="Inference engine: auto (ONNX Runtime when available, else PyTorch), torch or onnx.",
    )(function)


def max_pixels_option(function):
    return click.option(
        "--max-pixels", type=click.IntRange(min=1), default=None,
        help="Largest photograph accepted, in pixels (default 80 million; a guard against "
             "decompression bombs). Raise it only for trusted files; above about 179 million it "
             "also lifts Pillow's own guard for these reads.",
    )(function)


def speed_options(function):
    """``--precision`` and ``--threads`` (ONNX Runtime)."""
    function = click.option(
        "--threads", type=click.IntRange(1, 256), default=None,
        help="ONNX Runtime threads per network pass (default: the cores this process may use).",
    )(function)
    return click.option(
        "--precision", type=click.Choice(("fp32", "int8")), default=None,
        help="Network precision: fp32 (default), or int8 (needs <task>.int8.onnx beside the models: "
             "alonet export --int8 --into MODEL_SET).",
    )(function)


def view_check_option(function):
    """``--view-checks/--no-view-checks`` (``PipelineConfig.check_views``)."""
    return click.option(
        "--view-checks/--no-view-checks", "view_checks", default=True, show_default=True,
        help="Check that each photograph shows the view it is labelled as and that no photograph is "
             "given twice. Off skips 8 of the 16 network passes of a visit (about a third of the time); "
             "use it only when the labels are known to be right.",
    )(function)


def threshold_options(function):
    """``--scalp-threshold`` and ``--hairloss-threshold`` (post-processing step 1).

    Both default to None: the pipeline's own default (``PostprocessConfig``, 0.5).
    """
    between = click.FloatRange(0.0, 1.0, min_open=True, max_open=True)
    function = click.option(
        "--hairloss-threshold", type=between, default=None,
        help="Confidence at or above which a scalp pixel counts as hair loss (default 0.5 = even "
             "odds; lower finds more loss).",
    )(function)
    return click.option(
        "--scalp-threshold", type=between, default=None,
        help="Confidence at or above which a pixel counts as scalp (default 0.5).",
    )(function)


def pipeline_config(max_pixels: int | None = None, scalp_threshold: float | None = None,
                    hairloss_threshold: float | None = None, *, threads: int | None = None,
                    precision: str | None = None, view_checks: bool = True):
    """The ``PipelineConfig`` the shared options describe (None keeps the default)."""
    from alonet.infer import PipelineConfig, PostprocessConfig

    thresholds = {name: value for name, value in (("scalp_threshold", scalp_threshold),
                                                  ("hairloss_threshold", hairloss_threshold))
                  if value is not None}
    extra = {} if precision is None else {"precision": precision}
    # the ignores: only the keys named above; mypy checks a dict's values against every parameter
    return PipelineConfig(max_pixels=max_pixels, threads=threads,
                          postprocess=PostprocessConfig(**thresholds),  # type: ignore[arg-type]
                          check_views=view_checks, **extra)  # type: ignore[arg-type]


def build_pipeline(model: str, backend: str, config=None):
    """Load the networks once for a command (``config``: a PipelineConfig or None)."""
    from alonet.infer import Pipeline

    return Pipeline(model, backend=backend, config=config)


def format_flags(flags: list[dict]) -> str:
    return "" if not flags else "  [" + ", ".join(f["code"] for f in flags) + "]"
