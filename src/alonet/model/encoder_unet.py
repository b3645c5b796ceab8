"""U-Net with a pretrained encoder: EfficientNet-Lite0 features + the study's decoder.

The encoder (``alonet.model.efficientnet``) gives features at strides 2, 4, ...
``2 ** depth``. The decoder climbs back with the same ``Up`` blocks as the
study's U-Net (upsample x2, concatenate the skip, dropout, double conv); its
last level joins the photograph itself at full resolution, so mask borders are
placed on the input's own pixels. Decoder channels are ``cfg.widths[:depth]``
(``base_width`` doubling per level, coarsest last).
"""

from __future__ import annotations

import torch
from torch import nn

from alonet.model.config import ModelConfig
from alonet.model.efficientnet import EfficientNetLite0Encoder
from alonet.model.blocks import Up, check_input


class EncoderUNet(nn.Module):
    """Pretrained-encoder U-Net returning logits of shape (N, num_classes, H, W)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = EfficientNetLite0Encoder(depth=cfg.depth, in_channels=cfg.in_channels)
        feats = self.encoder.channels                      # strides 2 .. 2**depth
        skips = (cfg.in_channels, *feats[:-1])             # strides 1 .. 2**(depth-1)
        widths = cfg.widths[: cfg.depth]                   # decoder output per level
        ups, channels = [], feats[-1]
        for level in reversed(range(cfg.depth)):
            ups.append(Up(channels, skips[level], widths[level], cfg.dropout, cfg.bilinear))
            channels = widths[level]
        self.up = nn.ModuleList(ups)
        self.head = nn.Conv2d(widths[0], cfg.num_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()):
            check_input(self.cfg, x)
        feats = self.encoder(x)
        skips = [x, *feats[:-1]]
        y = feats[-1]
        for block, skip in zip(self.up, reversed(skips)):
            y = block(y, skip)
        return self.head(y)
