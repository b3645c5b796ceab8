"""The network rearranged for export: the same function with fewer memory copies.

A decoder step (``alonet.model.blocks.Up``) concatenates the skip tensor with the
upsampled features and convolves the result. A convolution of a concatenation
is the sum of two convolutions, one over each part (the weight split the same
way), so the export form does that and never builds the concatenated tensor.

Why it pays: ONNX Runtime runs convolutions in a blocked channel layout
(NCHWc) when the channel counts allow it. The last decoder step joins the
3-channel photograph to the features, a 35-channel tensor at full resolution
that cannot take that layout, so its convolution ran in the plain layout with
reorders before and after it. Split, both halves take the fast path, and ONNX
Runtime fuses the sum into the second convolution. The weights are the
trained ones, only cut in two, so float16-saved weights stay float16 in the
file. (Folding the batch normalisation into the halves as well was measured:
no faster, and the folded weights need float32.)

The outputs are those of the network as trained up to float rounding
(``export_onnx`` checks each export against it). Training and the torch
backend use the network as trained; only ``alonet.infer.export`` uses this form.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from alonet.model.blocks import Up


class SplitUp(nn.Module):
    """An ``Up`` step (eval mode) whose first convolution reads the skip tensor and
    the upsampled features separately and adds the two results."""

    def __init__(self, up: Up):
        super().__init__()
        conv, *rest = list(up.conv)
        assert isinstance(conv, nn.Conv2d)
        weight = conv.weight.detach()
        skip_channels = up.skip_channels
        out_channels, in_channels, kh, kw = (int(n) for n in weight.shape)
        ph, pw = (int(n) for n in conv.padding)
        self.transpose = up.transpose
        self.skip_conv = nn.Conv2d(skip_channels, out_channels, (kh, kw), padding=(ph, pw), bias=False)
        self.up_conv = nn.Conv2d(in_channels - skip_channels, out_channels, (kh, kw), padding=(ph, pw),
                                 bias=conv.bias is not None)
        with torch.no_grad():  # Up concatenates [skip, upsampled]: the weight splits the same way
            self.skip_conv.weight.copy_(weight[:, :skip_channels])
            self.up_conv.weight.copy_(weight[:, skip_channels:])
            if conv.bias is not None and self.up_conv.bias is not None:  # the study's convs have none
                self.up_conv.bias.copy_(conv.bias)
        self.rest = nn.Sequential(*rest)  # BatchNorm, ReLU, the second conv, its BatchNorm, ReLU

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.transpose is None:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        else:
            x = self.transpose(x)
        return self.rest(self.skip_conv(skip) + self.up_conv(x))


def export_form(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) with every decoder step split (:class:`SplitUp`).

    Works for both network families (``UNet``, ``EncoderUNet``): their decoder
    steps are the ``Up`` modules in ``model.up``. ``model`` is left as it is.
    """
    form = copy.deepcopy(model).eval()
    steps = getattr(form, "up", None)
    if isinstance(steps, nn.ModuleList):
        for i, step in enumerate(steps):
            if isinstance(step, Up):
                steps[i] = SplitUp(step)
    return form

