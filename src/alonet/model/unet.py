"""The study's U-Net, with width and depth as parameters.

Encoder: ``depth`` levels of (double 3x3 conv + BatchNorm + ReLU, then 2x2
max-pool), then a bottleneck double conv. Decoder: ``depth`` levels of
(upsample x2, concatenate the skip connection, dropout, double conv). Head: a
1x1 convolution to ``num_classes`` logits. With the defaults (width 64,
depth 4) the channels are 64-128-256-512-1024, as in the study.

Only operations that ``torch.onnx.export`` handles are used: the upsampling is
``F.interpolate(scale_factor=2, mode="bilinear", align_corners=False)`` and the
spatial sizes always match because the input is required to be divisible by
``2 ** depth``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from alonet.model.blocks import DoubleConv, Up, check_input
from alonet.model.efficientnet import load_imagenet_encoder
from alonet.model.encoder_unet import EncoderUNet
from alonet.model.config import ModelConfig


class UNet(nn.Module):
    """U-Net returning logits of shape (N, num_classes, H, W)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        widths = cfg.widths
        self.stem = DoubleConv(cfg.in_channels, widths[0])
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(cfg.depth))
        self.pool = nn.MaxPool2d(2)
        self.up = nn.ModuleList(
            Up(widths[i + 1], widths[i], widths[i], cfg.dropout, cfg.bilinear)
            for i in reversed(range(cfg.depth))
        )
        self.head = nn.Conv2d(widths[0], cfg.num_classes, kernel_size=1)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise InvalidValueError with the fix if ``x`` has the wrong shape."""
        check_input(self.cfg, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            self.check_input(x)
        skips = []
        x = self.stem(x)
        for block in self.down:
            skips.append(x)
            x = block(self.pool(x))
        for block, skip in zip(self.up, reversed(skips)):
            x = block(x, skip)
        return self.head(x)


def build_model(cfg: ModelConfig, pretrained: bool = False) -> nn.Module:
    """Create a network for ``cfg`` (train mode), freshly initialised.

    ``pretrained=True`` loads the ImageNet weights into a pretrained encoder
    (``cfg.encoder`` other than ``"unet"``); it needs ``alonet[pretrained]``.
    """
    if cfg.encoder == "unet":
        return UNet(cfg)
    model = EncoderUNet(cfg)
    if pretrained:
        load_imagenet_encoder(model.encoder)
    return model


def probabilities(logits: torch.Tensor, cfg: ModelConfig | None = None) -> torch.Tensor:
    """Confidence map (N, H, W) in 0..1 that each pixel belongs to the region (class 1).

    With ``cfg`` the training loss's class weights are divided out of the
    softmax (``p_c ∝ exp(logit_c) / w_c``), which undoes the shift that
    weighted cross-entropy gives the posterior, so 0.5 means even odds.
    """
    logits = logits.float()
    if logits.shape[1] != 2:
        if cfg is not None and any(w != 1.0 for w in cfg.class_weights):
            log_w = torch.log(torch.tensor(cfg.class_weights, dtype=logits.dtype, device=logits.device))
            logits = logits - log_w.view(1, -1, *([1] * (logits.dim() - 2)))
        return torch.softmax(logits, dim=1)[:, 1]
    # two classes: the softmax of class 1 is the sigmoid of the logit difference
    # (one channel instead of two, and a cheaper operation in the exported graph)
    shift = 0.0
    if cfg is not None and any(w != 1.0 for w in cfg.class_weights):
        shift = math.log(cfg.class_weights[1]) - math.log(cfg.class_weights[0])
    return torch.sigmoid(logits[:, 1] - logits[:, 0] - shift)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
