"""Would a fixed "where is the scalp in the frame" prior help the scalp networks?

The clinical feedback of 2026-11-26 (issue 14) says a *no-learning* baseline -- the mean
annotated scalp shape plus a colour rule -- reached scalp IoU 0.885 on real clinical
photographs, above the bundled networks' 0.828, and that the networks' regions are too
large (failure mode 4). This script measures the obvious combination: the per-pixel
frequency of the scalp region in the frame (the real annotated regions of the training
patients, right-looking side views mirrored; square frame, as the networks see it) added
to a scalp network's logit with weight ``w``::

    region = logit(p_network) + w * logit(clip(frequency, 0.02, 0.98)) > 0

and reports scalp IoU for several ``w`` on phantom sets (``alonet phantom`` folders with
``manifest.csv``, ``photographs/``, ``scalp/``) and the hand-drawn real back views of
``real_scalp_regions.py`` (IoU and ``below``, the area under the drawn bottom edge).
Everything is measured at the networks' input size.

    PYTHONPATH=src python scripts/dev/frame_prior_check.py ../shared/data/alonet-annotations \\
        --real ../shared/data/real-heads-cc-by --phantoms /tmp/ph_test --phantoms /tmp/ph_test_heldout

Result (docs/history.md, fifteenth session): every ``w > 0`` lowered IoU on every set, real
backs included, so no prior was shipped. The frequency map is written to ``--prior``
(an .npz, reused on the next run: reading the 2,222 training masks takes about 15 minutes).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from alonet.data.photo import read_photo
from alonet.infer import Pipeline
from alonet.infer.viewmaps import mirror
from alonet.model.preprocess import prepare_input, prepare_mask
from alonet.phantom.realmasks import RealMaskSet
from alonet.scoring.metrics import iou

KINDS = ("midline", "temporal")
FRAME = 64


def frame_frequency(masks: Path, split: str = "train") -> dict[str, np.ndarray]:
    """Per kind, the share of annotated regions covering each pixel of a FRAME x FRAME frame."""
    real = RealMaskSet(masks)
    total = {k: np.zeros((FRAME, FRAME)) for k in KINDS}
    count = dict.fromkeys(KINDS, 0)
    records = [r for group in real.patients(split).values() for r in group]
    for record in tqdm(records, desc="annotated regions", unit="mask"):
        scalp, _ = real.load(record.file, 256)
        info = real.shape(record.file)
        region = scalp[:, ::-1] if info.mirrored else scalp
        total[info.kind] += cv2.resize(region.astype(np.float32), (FRAME, FRAME), interpolation=cv2.INTER_AREA)
        count[info.kind] += 1
    return {k: total[k] / max(count[k], 1) for k in KINDS}


def prior_logit(frequency: np.ndarray, size: int) -> np.ndarray:
    """The frequency map at ``size`` as a clipped logit."""
    p = np.clip(cv2.resize(frequency.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR), 0.02, 0.98)
    return np.log(p / (1.0 - p))


def blended(prob: np.ndarray, prior: np.ndarray, weight: float) -> np.ndarray:
    """The region where the network's logit plus ``weight`` x the prior's logit is positive."""
    prob = np.clip(prob, 1e-4, 1.0 - 1e-4)
    return np.log(prob / (1.0 - prob)) + weight * prior > 0


def check_phantoms(pipeline: Pipeline, folder: Path, priors: dict, weights: list[float]) -> dict:
    """Mean scalp IoU per kind and weight on one phantom folder."""
    scores: dict[tuple[str, float], list[float]] = {}
    rows = list(csv.DictReader((folder / "manifest.csv").open(encoding="utf-8")))
    for row in tqdm(rows, desc=folder.name, unit="photo"):
        view = row["view"]
        kind = "midline" if view in ("top", "back") else "temporal"
        size = pipeline.backend.configs[f"scalp-{kind}"].input_size
        x = prepare_input(read_photo(folder / "photographs" / row["photo"]), size)
        truth = prepare_mask(cv2.imread(str(folder / "scalp" / row["scalp"]), cv2.IMREAD_GRAYSCALE) > 0, size)
        if view == "right":
            x, truth = mirror(x), mirror(truth)
        prob = pipeline.backend.predict(f"scalp-{kind}", x[None])[0]
        for w in weights:
            scores.setdefault((kind, w), []).append(iou(blended(prob, priors[kind], w), truth))
    return {key: float(np.mean(v)) for key, v in scores.items()}


def check_real_backs(pipeline: Pipeline, root: Path, priors: dict, weights: list[float]) -> dict:
    """Mean IoU and ``below`` per weight on the hand-drawn real back views (test part)."""
    sys.path.insert(0, str(Path(__file__).parent))
    import real_scalp_regions as drawn

    size = pipeline.backend.configs["scalp-midline"].input_size
    scores: dict[tuple[str, float], list[float]] = {}
    for region in drawn.load_regions("test"):
        photo = drawn.upright_photo(root, region)
        truth = drawn.region_mask(region, photo.shape[:2])
        prob = pipeline.backend.predict("scalp-midline", prepare_input(photo, size)[None])[0]
        for w in weights:
            pred = cv2.resize(blended(prob, priors["midline"], w).astype(np.uint8), truth.shape[::-1],
                              interpolation=cv2.INTER_NEAREST) > 0
            for key, value in drawn.compare(pred, truth).items():
                scores.setdefault((key, w), []).append(value)
    return {key: float(np.mean(v)) for key, v in scores.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("masks", type=Path, help="the shared AloNet annotations folder")
    parser.add_argument("--phantoms", type=Path, action="append", default=[], help="phantom folder (repeat)")
    parser.add_argument("--real", type=Path, help="the real-head folder (hand-drawn back views)")
    parser.add_argument("--model", default="default")
    parser.add_argument("--weights", default="0,0.25,0.5,1,2")
    parser.add_argument("--prior", type=Path, default=Path("frame_prior.npz"))
    args = parser.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")]
    if args.prior.exists():
        frequency = dict(np.load(args.prior))
    else:
        frequency = frame_frequency(args.masks)
        np.savez(args.prior, **frequency)
    pipeline = Pipeline(args.model)
    size = pipeline.backend.configs["scalp-midline"].input_size
    priors = {k: prior_logit(frequency[k], size) for k in KINDS}
    header = " ".join(f"{'w=' + format(w, 'g'):>7}" for w in weights)
    print(f"{'set':<36} {header}")
    if args.real is not None:
        real = check_real_backs(pipeline, args.real, priors, weights)
        for key in ("iou", "below"):
            print(f"{'real backs (test) ' + key:<36} " + " ".join(f"{real[(key, w)]:7.3f}" for w in weights))
    for folder in args.phantoms:
        result = check_phantoms(pipeline, folder, priors, weights)
        for kind in KINDS:
            print(f"{folder.name + ' ' + kind + ' IoU':<36} " + " ".join(f"{result[(kind, w)]:7.3f}" for w in weights))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
