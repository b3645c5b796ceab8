"""The inference pipeline: photographs -> scalp and hair-loss masks -> SALT.

For each view::

    read (EXIF orientation, RGB)
      -> [right view: mirror, so that it looks like a left view]
      -> resize to the scalp model's input size
      -> scalp model (temporal for left/right, midline for top/back)
      -> scalp post-processing (threshold, largest region, holes, smooth edge)
      -> paint everything outside the scalp with the hair-loss model's fill colour
      -> hair-loss model -> hair-loss post-processing (threshold, inside scalp, specks)
      -> % of the scalp with hair loss, confidence, quality flags (at network size)
      -> probabilities and masks at the photograph's own size, when read
         (and for a right view mirrored back)

and for a visit the SALT score, its grade and AA-IGA band.

Post-processing and measuring run at the network's resolution, where the
information is; maps are brought to the photograph's size only when someone
reads them (``alonet.infer.viewmaps``: bilinear interpolation of the clean
masks and re-thresholding at 0.5, smooth outlines at any camera resolution).
A right view is processed entirely in the
mirrored frame (both networks), so ``predict_view(img, "right")`` equals the
mirror image of ``predict_view(mirror(img), "left")`` exactly.

A :class:`Pipeline` loads its networks once. ``predict_view`` and
``score_visit`` keep no state between calls, so one pipeline can serve
concurrent requests from several threads.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from alonet.data.imagefile import DEFAULT_MAX_PIXELS, check_pixels
from alonet.data.photo import as_rgb_photo, read_photo
from alonet.errors import InvalidValueError, MissingViewError, NotAnImageError
from alonet.infer.backends import create_backend
from alonet.infer.gate import GateConfig, gate_photo, required_side
from alonet.infer.postprocess import PostprocessConfig, clean_hairloss, clean_scalp, confidence
from alonet.infer.quality import (
    CHECK_CODE,
    QualityConfig,
    check_bald_skin,
    check_photo,
    check_scalp,
    flag,
    needs_retake,
)
from alonet.infer.results import ViewResult, VisitResult, refused_view, visit_from_views
from alonet.infer.viewcheck import KnownPasses, view_check_config_for
from alonet.infer.viewcheck import check_views as run_view_checks
from alonet.infer.viewmaps import ViewMaps, mirror, resize_prob, smooth_resize_mask
from alonet.model import paint_outside_scalp
from alonet.model.io import has_bundled_network
from alonet.model.preprocess import prepare_input, to_working_size
from alonet.scoring.salt import loss_percent_or_none
from alonet.views import SCALP_TASK_FOR_VIEW, VIEWS, normalize_view, seen_mirrored

#: How ``score_visit`` treats absent views: raise, or return a result without SALT.
MISSING_MODES: tuple[str, ...] = ("error", "incomplete")


@dataclass(frozen=True)
class PipelineConfig:
    """Settings of a :class:`Pipeline`.

    ``cache_dir``: where ONNX exports are cached (None: ``$ALONET_CACHE_DIR`` or
    ``~/.cache/alonet``); ``threads``: ONNX Runtime intra-op threads (None: all
    available cores); ``precision``: ``fp32`` or ``int8`` (an int8 export beside
    the models, see ``alonet export --int8``); ``max_pixels``: largest photograph
    accepted (None: the reader's default cap); ``check_quality``: run the exposure
    and blur checks; ``gate``: the photograph gate run before the networks
    (``alonet.infer.gate``; None switches it off); ``check_views``: ``score_visit``
    runs the view checks (``alonet.infer.viewcheck``: duplicates, label/content mismatch).
    """

    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    cache_dir: str | Path | None = None
    threads: int | None = None
    precision: str = "fp32"
    max_pixels: int | None = None
    check_quality: bool = True
    gate: GateConfig | None = field(default_factory=GateConfig)
    check_views: bool = True


# --------------------------------------------------------------------------- helpers


def _as_photo(image, max_pixels: int | None, view: str = "") -> tuple[np.ndarray, str | None]:
    """Photograph as (H, W, 3) uint8 RGB plus a name for messages (``view`` names
    arrays and bytes in errors, which have no file name)."""
    label = f"the {view} photograph" if view else "the photograph"
    if isinstance(image, np.ndarray):
        as_rgb_photo(image, label)
        check_pixels(image.shape[1], image.shape[0], max_pixels, label)  # the cap files have, for arrays too
        return np.ascontiguousarray(image), None

    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels  # None: the reader's default cap
    if isinstance(image, (bytes, bytearray, memoryview)):
        return read_photo(io.BytesIO(bytes(image)), limit, name=f"{label} (bytes)"), None
    if not isinstance(image, (str, Path)) and not hasattr(image, "read"):
        raise NotAnImageError(f"{label}: cannot read an image from a {type(image).__name__}",
                              fix="pass a path, bytes, a binary file object or an (H, W, 3) uint8 RGB array "
                                  "(a PIL image: numpy.asarray(image.convert('RGB')))")
    name = str(image) if isinstance(image, (str, Path)) else getattr(image, "name", None)
    if name is None:  # a file object without a name: the view names it
        return read_photo(image, limit, name=label), None
    return read_photo(image, limit), str(name)


def _model_input(working: np.ndarray, size: int) -> np.ndarray:
    """Network input from a photograph already at the working size (see ``prepare_input``)."""
    return prepare_input(working, size)


# --------------------------------------------------------------------------- pipeline


class Pipeline:
    """Photographs -> masks -> SALT with one loaded model set.

    ``models``: ``"default"`` (the bundled model), a model-set folder, a training
    run folder, or a dict ``{task: (model, ModelConfig)}``.
    ``backend``: ``"auto"`` (ONNX Runtime where possible, else PyTorch),
    ``"torch"`` or ``"onnx"`` (see ``alonet.infer.backends``), or a ready
    backend object (then ``models`` is ignored and may be None).
    """

    def __init__(self, models="default", backend="auto", config: PipelineConfig | None = None):
        self.config = config or PipelineConfig()
        self.models_spec = models if isinstance(models, (str, Path)) else "<in memory>"
        if isinstance(backend, str):
            self.backend = create_backend(models, backend, cache_dir=self.config.cache_dir,
                                          threads=self.config.threads, precision=self.config.precision)
        elif hasattr(backend, "predict") and hasattr(backend, "configs"):
            self.backend = backend  # a ready engine (alonet.infer.backends)
        else:
            raise InvalidValueError(f"backend must be 'auto', 'torch', 'onnx' or a loaded engine, not {backend!r}",
                                    fix="leave backend out (auto)")
        #: The view checks' thresholds: the midline network's own (its JSON's
        #: ``metadata.view_check``) or the defaults (``alonet.infer.viewcheck``).
        self.view_check_config = view_check_config_for(models)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def provenance(self) -> dict:
        """What a report should record about how its numbers were made."""
        post = self.config.postprocess
        return {"model": str(self.models_spec), "backend": self.backend_name,
                "precision": getattr(self.backend, "precision", "fp32"),
                "thresholds": {"scalp": post.scalp_threshold, "hairloss": post.hairloss_threshold},
                "view_checks": bool(self.config.check_views),
                "synthetic_hair_loss": self.synthetic_hair_loss}

    @functools.cached_property
    def synthetic_hair_loss(self) -> bool:
        """True when the hair-loss network is the bundled one (learnt from phantoms), whatever
        the model set is called: a copy or an adaptation that kept it carries the warning too."""
        spec = self.models_spec
        return isinstance(spec, (str, Path)) and has_bundled_network(spec, "hairloss")

    def gate(self, photo: np.ndarray) -> list[dict]:
        """The photograph gate's flags for ``photo`` (empty: usable; see ``alonet.infer.gate``)."""
        if self.config.gate is None:
            return []
        return gate_photo(photo, self.config.gate, model_side=self._model_side())

    def _model_side(self) -> int:
        return min(c.input_size for c in self.backend.configs.values())

    def min_photo_side(self) -> int | None:
        """The fewest pixels on a photograph's shorter side that the gate lets through
        (None: the gate is off)."""
        if self.config.gate is None:
            return None
        return required_side(self.config.gate, self._model_side())

    # -- single photographs ------------------------------------------------------

    def predict_view(self, image, view: str) -> ViewResult:
        """Segment one photograph (array, path, bytes or binary file) of ``view``."""
        return self.predict_views([(image, view)])[0]

    def predict_views(self, items) -> list[ViewResult]:
        """Segment several ``(image, view)`` pairs, batching each network's passes."""
        return self._predict_views(items)[0]

    def _predict_views(self, items) -> tuple[list[ViewResult], list[KnownPasses | None]]:
        """``predict_views`` plus, per item, the working-size photograph and the scalp
        network's raw output (None for refused photographs), which the view checks
        reuse instead of computing them again."""
        prepared: list[tuple[str, np.ndarray, np.ndarray, str | None]] = []  # (view, photo, work, name)
        refused: list[ViewResult] = []
        order: list[tuple[str, int]] = []
        for image, view in items:
            view = normalize_view(view)
            photo, name = _as_photo(image, self.config.max_pixels, view)
            gate_flags = self.gate(photo)
            if gate_flags:  # unusable: the networks never see it
                order.append(("refused", len(refused)))
                refused.append(refused_view(view, photo, name, gate_flags))
                continue
            work = mirror(photo) if seen_mirrored(view) else photo
            order.append(("scored", len(prepared)))
            prepared.append((view, photo, work, name))
        if not prepared:
            return list(refused), [None for _ in refused]
        scored, raw = self._predict_prepared(prepared)
        results = [scored[i] if kind == "scored" else refused[i] for kind, i in order]
        known = [raw[i] if kind == "scored" else None for kind, i in order]
        return results, known

    def _predict_prepared(self, prepared) -> tuple[list[ViewResult], list[KnownPasses]]:
        """Run the networks on gated ``(view, photo, work, name)`` items."""
        cfgs = self.backend.configs
        pp = self.config.postprocess

        resized: list[dict[int, np.ndarray]] = [{} for _ in prepared]  # per item: size -> input
        # Same route as training (prepare_input): photo -> working size -> network size.
        # Every item's scalp network input needs its working size, so all are made here.
        working = [to_working_size(work) for _, _, work, _ in prepared]

        def model_input(i: int, size: int) -> np.ndarray:
            if size not in resized[i]:
                resized[i][size] = _model_input(working[i], size)
            return resized[i][size]

        # Scalp networks, one batch per task (each item belongs to exactly one).
        scalp_by_item: dict[int, np.ndarray] = {}
        for task in sorted({SCALP_TASK_FOR_VIEW[v] for v, *_ in prepared}):
            idx = [i for i, (v, *_) in enumerate(prepared) if SCALP_TASK_FOR_VIEW[v] == task]
            batch = np.stack([model_input(i, cfgs[task].input_size) for i in idx])
            scalp_by_item.update(zip(idx, self.backend.predict(task, batch)))
        scalp_prob = [scalp_by_item[i] for i in range(len(prepared))]
        raw = [KnownPasses(working=mirror(working[i]) if seen_mirrored(v) else working[i],
                           outputs={(SCALP_TASK_FOR_VIEW[v], seen_mirrored(v)): scalp_prob[i]},
                           inputs={(size, seen_mirrored(v)): image for size, image in resized[i].items()})
               for i, (v, *_) in enumerate(prepared)]

        # Hair-loss network on the scalp-masked photographs, one batch.
        hl_cfg = cfgs["hairloss"]
        hl_size = hl_cfg.input_size
        scalp_small, hl_inputs = [], []
        for i in range(len(prepared)):
            mask = clean_scalp(scalp_prob[i], pp)
            if mask.shape != (hl_size, hl_size):
                mask = smooth_resize_mask(mask, (hl_size, hl_size))
                scalp_prob[i] = resize_prob(scalp_prob[i], (hl_size, hl_size))
            scalp_small.append(mask)
            hl_inputs.append(paint_outside_scalp(model_input(i, hl_size), mask, hl_cfg.fill_color))
        hairloss_prob = self.backend.predict("hairloss", np.stack(hl_inputs))

        results = [
            self._finish(view, photo, name, scalp_prob[i], hairloss_prob[i], scalp_small[i])
            for i, (view, photo, _, name) in enumerate(prepared)
        ]
        return results, raw

    def _finish(self, view: str, photo: np.ndarray, name: str | None, scalp_p: np.ndarray,
                hairloss_p: np.ndarray, scalp_small: np.ndarray) -> ViewResult:
        """Post-process and measure at model size; the maps reach the photograph's
        size only when read (``ViewMaps``)."""
        pp = self.config.postprocess
        hairloss_small = clean_hairloss(hairloss_p, scalp_small, pp)
        conf = confidence(scalp_p, hairloss_p, scalp_small, pp)
        height, width = photo.shape[:2]
        maps = ViewMaps(small={"scalp_prob": scalp_p, "hairloss_prob": hairloss_p,
                               "scalp_mask": scalp_small, "hairloss_mask": hairloss_small},
                        width=width, height=height, mirrored=seen_mirrored(view))
        return self._result(view, photo, name, maps, conf)

    def _result(self, view, photo, name, maps: ViewMaps, conf, corrected: bool = False,
                drawn: bool = False) -> ViewResult:
        """Assemble a ViewResult: restrict hair loss to the scalp, measure, flag.

        Everything is measured on ``maps.small``: the % of hair loss, the scalp's
        share of the picture and the exposure of the scalp (the quality checks
        reduce the photograph to their own analysis size anyway). ``drawn``: the
        masks are a person's, so the checks of the model's own reading are skipped.
        """
        s_mask, h_mask = maps.small["scalp_mask"], maps.small["hairloss_mask"]
        if self.config.postprocess.restrict_to_scalp and np.any(h_mask & ~s_mask):
            maps = ViewMaps(small={**maps.small, "hairloss_mask": h_mask & s_mask}, width=maps.width,
                            height=maps.height, mirrored=maps.mirrored)
            h_mask = maps.small["hairloss_mask"]
        flags = check_scalp(s_mask, self.config.quality)
        scalp_pixels = int(np.count_nonzero(s_mask))
        loss = loss_percent_or_none(h_mask, s_mask, view=view)
        if self.config.check_quality:
            flags += check_photo(photo, maps.oriented("scalp_mask") if scalp_pixels else None,
                                 self.config.quality)
            if not drawn and loss is not None:
                flags += check_bald_skin(photo, maps.oriented("scalp_mask"), maps.oriented("hairloss_mask"),
                                         self.config.quality)
        if scalp_pixels and conf < self.config.postprocess.min_confidence:
            flags.append(flag(CHECK_CODE, f"the networks are unsure about "
                                          f"{100 * (1 - conf):.0f}% of the scalp; review the overlay"))
        return ViewResult(view=view, image=photo, maps=maps, loss_pct=loss, confidence=conf,
                          flags=flags, retake=needs_retake(flags), source=name, corrected=corrected)

    def result_from_masks(self, image, view: str, scalp_mask: np.ndarray,
                          hairloss_mask: np.ndarray, *, confidence_value: float = 1.0,
                          corrected: bool = False) -> ViewResult:
        """A ViewResult for masks given by a person (e.g. corrected in the web app).

        The masks (bool, the photograph's size) are taken as they are, except that
        hair loss is restricted to the scalp; the probability maps are the masks
        as 0/1. Quality checks run as for predictions; ``confidence_value`` is
        reported as given (1.0: a person drew it); ``corrected=True`` marks the
        result as a person's correction of the model's masks.
        """
        view = normalize_view(view)
        photo, name = _as_photo(image, self.config.max_pixels, view)
        masks = []
        for what, mask in (("scalp", scalp_mask), ("hair-loss", hairloss_mask)):
            mask = np.asarray(mask)
            if mask.shape != photo.shape[:2]:
                raise InvalidValueError(
                    f"{what} mask of the {view} view has size {mask.shape[1]}x{mask.shape[0]}, "
                    f"the photograph {photo.shape[1]}x{photo.shape[0]}",
                    fix="draw the mask on the same photograph")
            masks.append(mask.astype(bool))
        s_mask, h_mask = masks
        maps = ViewMaps.from_masks(s_mask, h_mask)
        result = self._result(view, photo, name, maps, float(confidence_value), corrected=bool(corrected),
                              drawn=True)
        if not s_mask.any():  # a person drew no scalp: say that, not "check the view and frame the scalp"
            result = replace(result, flags=[
                flag("scalp_not_found", "the scalp mask drawn for this view is empty; draw the scalp region "
                                        "(or leave the view out)") if f.get("code") == "scalp_not_found" else f
                for f in result.flags])
        refused = self.gate(photo)  # drawn masks do not make an unusable photograph usable
        if refused:
            result = replace(result, flags=[*refused, *result.flags], retake=True)
        return result

    # -- visits ------------------------------------------------------------------

    def score_visit(self, images: Mapping[str, Any], missing: str = "error", *,
                    provisional: bool = False, check_views: bool | None = None) -> VisitResult:
        """Score a visit: ``{view: image, array, path or bytes}`` -> VisitResult.

        ``missing="error"`` raises MissingViewError unless all four views are
        given; ``missing="incomplete"`` scores the views given and leaves SALT None.
        A view that needs a retake withholds the SALT unless ``provisional``
        (``alonet.infer.policy``). ``check_views`` (default: the config's) runs
        the view checks (``alonet.infer.viewcheck``): the same photograph given
        for two views raises DuplicateViewError; a photograph that looks like
        another view gets a ``view_mismatch`` flag.
        """
        if missing not in MISSING_MODES:
            raise InvalidValueError(f"unknown missing-view mode {missing!r}", fix="use error or incomplete")
        if not isinstance(images, Mapping):
            raise InvalidValueError(f"a visit is a mapping {{view: photograph}}, not {type(images).__name__}",
                                    fix='e.g. {"top": "top.jpg", "back": ..., "left": ..., "right": ...}')
        given: dict[str, Any] = {}
        for name, image in images.items():
            view = normalize_view(name)
            if view in given:
                raise InvalidValueError(f"view {view!r} is given twice", fix="give each view once")
            if image is not None:
                given[view] = image
        absent = [v for v in VIEWS if v not in given]
        if absent and missing == "error":
            raise MissingViewError("missing view(s) " + ", ".join(absent) + " for the SALT score",
                                   fix="give photographs of all four views: top, back, left, right (or, on "
                                       "the command line, --incomplete to score the others without a SALT)")
        order = [v for v in VIEWS if v in given]
        results = self.predict_checked([(given[v], v) for v in order], check_views=check_views)
        return self.visit_from_views(results, provisional=provisional)

    def predict_checked(self, items, *, check_views: bool | None = None) -> dict[str, ViewResult]:
        """``{view: ViewResult}`` for ``(image, view)`` pairs (one per view), with the
        view checks run when ``check_views`` (default: the config's) asks for them.
        The checks reuse the scalp passes the prediction made."""
        items = [(image, normalize_view(view)) for image, view in items]
        scored, known = self._predict_views(items)
        views = [v for _, v in items]
        results = dict(zip(views, scored))
        if self.config.check_views if check_views is None else check_views:
            results = run_view_checks(results, self, self.view_check_config, known=dict(zip(views, known)))
        return results

    def visit_from_views(self, views: Mapping[str, ViewResult], *, provisional: bool = False) -> VisitResult:
        """Combine per-view results into a VisitResult (SALT when all four are scorable),
        carrying this pipeline's :meth:`provenance`."""
        return replace(visit_from_views(views, provisional=provisional), provenance=self.provenance())
