"""Building blocks shared by AloNet's networks: the study's double conv, the decoder's
up-step, and the input check with its how-to-fix message."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alonet.errors import InvalidValueError
from alonet.model.config import ModelConfig


class DoubleConv(nn.Sequential):
    """(3x3 conv -> BatchNorm -> ReLU) twice."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """Upsample x2, concatenate the skip tensor, dropout, double conv."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int,
                 dropout: float, bilinear: bool):
        super().__init__()
        self.bilinear = bilinear
        self.skip_channels = skip_channels  # the first conv reads [skip, upsampled]
        if bilinear:
            self.transpose = None
            up_channels = in_channels
        else:
            self.transpose = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
            up_channels = in_channels // 2
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv = DoubleConv(up_channels + skip_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.transpose is None:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        else:
            x = self.transpose(x)
        x = torch.cat([skip, x], dim=1)
        return self.conv(self.dropout(x))


def check_input(cfg: ModelConfig, x: torch.Tensor) -> None:
    """Raise InvalidValueError with the fix if ``x`` is not a valid input for ``cfg``."""
    if x.dim() != 4:
        raise InvalidValueError(
            f"model input must be a 4-D tensor (N, C, H, W); got shape {tuple(x.shape)}"
        )
    n, c, h, w = (int(v) for v in x.shape)
    if c != cfg.in_channels:
        raise InvalidValueError(
            f"model input must have {cfg.in_channels} channels; got {c} "
            f"(pass RGB images as (N, 3, H, W))"
        )
    d = cfg.divisor
    if h % d or w % d or h == 0 or w == 0:
        fit_h = max(d, math.ceil(h / d) * d)
        fit_w = max(d, math.ceil(w / d) * d)
        raise InvalidValueError(
            f"model input height and width must be divisible by 2**depth={d}; "
            f"got {h}x{w}, pad or resize to {fit_h}x{fit_w}"
        )
