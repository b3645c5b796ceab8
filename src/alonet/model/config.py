"""The configuration that fully describes one AloNet network.

A saved model is this configuration (as JSON) plus its weights (safetensors),
never a pickled module, so a checkpoint does not depend on the code that wrote
it beyond the architecture named here.

Input convention (shared by training, evaluation and inference): the network
takes an RGB photograph resized to ``input_size`` x ``input_size`` as uint8,
converted to float by ``/ 255`` and then normalised per channel with ``mean``
and ``std`` (``(x / 255 - mean) / std``). For the ``hairloss`` task every pixel
outside the scalp is first painted ``fill_color`` (cyan in the study).
The output is logits of shape (N, num_classes, H, W); the softmax of class 1
is the confidence (0..1) that a pixel belongs to the region.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from types import MappingProxyType

from alonet.errors import ModelError

#: The three networks of the study.
TASKS: tuple[str, ...] = ("scalp-temporal", "scalp-midline", "hairloss")

#: Colour painted over every pixel outside the scalp in the hair-loss input (RGB).
FILL_COLOR: tuple[int, int, int] = (0, 255, 255)

#: Per-channel normalisation applied after scaling to 0..1 (ImageNet statistics).
DEFAULT_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
DEFAULT_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

#: Encoders a network can have: the study's plain U-Net encoder (trained from
#: scratch) or EfficientNet-Lite0 started from ImageNet weights.
ENCODERS: tuple[str, ...] = ("unet", "efficientnet-lite0")
#: Deepest encoder level each encoder offers (``depth`` limit).
MAX_DEPTH = MappingProxyType({"unet": 7, "efficientnet-lite0": 5})

CONFIG_FORMAT = "alonet-model-config"
CONFIG_VERSION = 1

_RESTORE_CONFIG = "restore the model's .json from its run folder, or train again"


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and input convention of one U-Net.

    The defaults are the study's network: 4 poolings with 64-128-256-512-1024
    channels, bilinear upsampling, dropout 0.25 in the up path, 320 x 320 input.
    Smaller CPU variants only change ``base_width`` (e.g. 8, 16, 32) and/or
    ``depth``; they are the same code.

    ``encoder="efficientnet-lite0"`` replaces the plain encoder by the first
    ``depth`` stages of EfficientNet-Lite0 (output stride ``2 ** depth``);
    ``base_width`` then sets the decoder's channels.
    """

    task: str = "hairloss"
    in_channels: int = 3
    num_classes: int = 2
    base_width: int = 64
    depth: int = 4
    dropout: float = 0.25
    bilinear: bool = True
    input_size: int = 320
    fill_color: tuple[int, int, int] = FILL_COLOR
    mean: tuple[float, ...] = DEFAULT_MEAN
    std: tuple[float, ...] = DEFAULT_STD
    #: Class weights of the cross-entropy the network was trained with. Weighted
    #: training inflates the softmax of the up-weighted class (with 1:5 a pixel
    #: the network thinks is 1/6 likely to be region scores 0.5);
    #: :func:`alonet.model.unet.probabilities` divides the weights out again, so
    #: the confidence maps are calibrated and 0.5 is the even-odds threshold.
    class_weights: tuple[float, ...] = (1.0, 1.0)
    encoder: str = "unet"

    def __post_init__(self) -> None:
        # Normalise sequences (JSON gives lists) so configs compare equal.
        object.__setattr__(self, "class_weights", tuple(float(v) for v in self.class_weights))
        object.__setattr__(self, "fill_color", tuple(int(v) for v in self.fill_color))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        self.validate()

    @property
    def divisor(self) -> int:
        """Input height and width must be multiples of this (``2 ** depth``)."""
        return 2 ** self.depth

    @property
    def widths(self) -> tuple[int, ...]:
        """Channel count at each level, from the top level to the bottleneck."""
        return tuple(self.base_width * 2**i for i in range(self.depth + 1))

    def validate(self) -> None:
        """Raise ModelError if a field is out of range."""
        if self.task not in TASKS:
            raise ModelError(f"unknown model task {self.task!r}", fix=f"use one of {', '.join(TASKS)}")
        if self.encoder not in ENCODERS:
            raise ModelError(f"unknown encoder {self.encoder!r}", fix=f"use one of {', '.join(ENCODERS)}")
        max_depth = MAX_DEPTH[self.encoder]
        checks = [
            (self.in_channels >= 1, f"in_channels must be >= 1 (got {self.in_channels})"),
            (self.num_classes >= 2, f"num_classes must be >= 2 (got {self.num_classes})"),
            (self.base_width >= 1, f"base_width must be >= 1 (got {self.base_width})"),
            (1 <= self.depth <= max_depth,
             f"depth must be between 1 and {max_depth} for the {self.encoder} encoder (got {self.depth})"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout})"),
            (self.input_size >= self.divisor and self.input_size % self.divisor == 0,
             f"input_size must be a positive multiple of 2**depth={self.divisor} (got {self.input_size})"),
            (len(self.fill_color) == 3 and all(0 <= v <= 255 for v in self.fill_color),
             f"fill_color must be three values in 0..255 (got {self.fill_color})"),
            (len(self.mean) == self.in_channels and len(self.std) == self.in_channels,
             "mean and std need one value per input channel"),
            (all(s > 0 for s in self.std), "std values must be > 0"),
            (len(self.class_weights) == self.num_classes and all(w > 0 for w in self.class_weights),
             f"class_weights need one positive value per class (got {self.class_weights})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ModelError(f"invalid model configuration: {message}", fix=_RESTORE_CONFIG)

    def to_dict(self) -> dict:
        """A JSON-ready dict with a format tag and version."""
        data = asdict(self)
        data["fill_color"] = list(self.fill_color)
        data["mean"] = list(self.mean)
        data["std"] = list(self.std)
        data["class_weights"] = list(self.class_weights)
        return {"format": CONFIG_FORMAT, "version": CONFIG_VERSION, **data}

    @classmethod
    def from_dict(cls, data: object) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; raises ModelError on a foreign or newer format."""
        if not isinstance(data, dict):
            raise ModelError("model configuration is not a JSON object", fix="pass a model saved by alonet train")
        data = dict(data)
        fmt = data.pop("format", CONFIG_FORMAT)
        version = data.pop("version", CONFIG_VERSION)
        if fmt != CONFIG_FORMAT:
            raise ModelError(f"not an AloNet model configuration (format {fmt!r})",
                             fix="pass a model saved by alonet train")
        if not isinstance(version, int) or version > CONFIG_VERSION:
            raise ModelError(
                f"model configuration version {version!r} is newer than this AloNet supports "
                f"({CONFIG_VERSION})",
                fix="upgrade alonet",
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown model configuration fields: {', '.join(unknown)}",
                             fix="the model was saved by a newer AloNet: upgrade alonet")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ModelError(f"invalid model configuration: {exc}", fix=_RESTORE_CONFIG) from None
