"""Train with one more augmentation: dim, warm light over the whole photograph.

On real bald tops the default reads darker-looking bald skin lower (``norwood_check.py``
``tone``: Norwood 6-7 tops whose marked skin has L* under 50 are read 63.8 % on average,
those at 55 and above 86.4 %), and that skin is dark skin or dim, warm household light.
Training already varies brightness by 0.7-1.3 (``alonet.train.augment``); this script adds,
with probability ``--dim-p``, a darker light (brightness times 0.4-0.7) that is often warmer
(more red, less blue), so bald skin of every phantom look is also seen at the lightness of
dark bald skin, beside hair darkened alike. It changes the augmentation of this process only
(the dataset loader must run in it: ``--workers 0``); once an experiment shows an effect on
real heads, ``TrainConfig`` is the place for it::

    PYTHONPATH=src python scripts/dev/train_dim.py --dim-p 0.3 DATASETS... -o RUN --task hairloss ...

Arguments after the script's own are passed to ``alonet train``.
"""

from __future__ import annotations

import argparse

import alonet.train.data as train_data
from alonet.cli.main import main as alonet_main

#: Brightness factor of the dim light, and the warm shift's limits per channel (0..255 levels).
DIM_BRIGHTNESS = (0.4, 0.7)
WARM_SHIFT = {"r_shift_limit": (0, 12), "g_shift_limit": (-2, 4), "b_shift_limit": (-18, -4)}


def dim_light(p: float):
    """The albumentations step: brightness times ``DIM_BRIGHTNESS`` and, 7 times in 10, a warm shift."""
    import albumentations as A

    return A.Sequential([
        A.ColorJitter(brightness=DIM_BRIGHTNESS, contrast=(1.0, 1.0), saturation=(1.0, 1.0), hue=(0.0, 0.0), p=1.0),
        A.RGBShift(**WARM_SHIFT, p=0.7),
    ], p=p)


def with_dim_light(build, p: float):
    """``build`` (``build_augmentation``) with ``dim_light(p)`` appended to training pipelines."""
    import albumentations as A

    def build_with_dim(cfg, train: bool):
        compose = build(cfg, train)
        if not train:
            return compose
        return A.Compose([*compose.transforms, dim_light(p)],
                         additional_targets={"scalp": "mask", "hairloss": "mask"}, seed=cfg.seed)

    return build_with_dim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dim-p", type=float, required=True, help="probability of dim, warm light (0..1]")
    args, rest = parser.parse_known_args(argv)
    if not 0.0 < args.dim_p <= 1.0:
        parser.error("--dim-p must be in (0, 1]")
    if "--workers" in rest and rest[rest.index("--workers") + 1 : rest.index("--workers") + 2] != ["0"]:
        parser.error("give --workers 0: the changed augmentation applies only in this process")
    original = train_data.build_augmentation
    train_data.build_augmentation = with_dim_light(original, args.dim_p)
    try:
        return alonet_main(["train", *rest, "--workers", "0"])
    finally:
        train_data.build_augmentation = original


if __name__ == "__main__":
    raise SystemExit(main())
