"""SkidNet: skip image denoising network for X-rays (Dutta et al. 2019)."""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import Pool
from torch import nn

from medden.models import Denoiser

__all__ = ["ShortSkipBlock", "SkidNet"]


class ShortSkipBlock(nn.Module):
    """Two 3×3 convolutions (``in → mid → out``) with a ResNet-style summed short skip.

    The shortcut is the identity when ``in_channels == out_channels`` and a 1×1 projection
    otherwise (He et al. 2016); ReLU follows the first convolution and the sum.

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    in_channels, mid_channels, out_channels : int
        Widths of the block input, the inner convolution and the output.
    """

    def __init__(
        self, spatial_dims: int, in_channels: int, mid_channels: int, out_channels: int
    ) -> None:
        super().__init__()
        self.conv1 = Convolution(spatial_dims, in_channels, mid_channels, act="relu", norm=None)
        self.conv2 = Convolution(spatial_dims, mid_channels, out_channels, conv_only=True)
        self.shortcut: nn.Module = (
            nn.Identity()
            if in_channels == out_channels
            else Convolution(spatial_dims, in_channels, out_channels, kernel_size=1,
                             conv_only=True)
        )
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``relu(conv2(relu(conv1(x))) + shortcut(x))``."""
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))


class SkidNet(Denoiser):
    """SkidNet: encoder-decoder with concatenated long skips and summed short ResNet skips.

    Source: the X-ray attention paper, §4.2.1, describing SkidNet (Dutta et al., IJCNN 2019):
    3×3 convolutions with filters alternating between 32 and 64, ReLU, a 2×2 max-pooling
    after every block of two convolutions ("five convolution layers", spatial size reduced
    16 times), an upsampling decoder mirroring the encoder with long skips concatenating
    encoder feature maps, short ResNet-style skips summing every two convolutions, and a
    final 7×7 convolution back to the image.

    Assumptions (the text and its figure leave them open): "16 times" is read as 16× fewer
    pixels, i.e. ``levels=2`` poolings (4× per side), which with a 3×3 stem gives exactly
    five encoder convolutions 32, 64, 32, 64, 32; every short-skip block is
    ``32 → 64 → 32`` so the alternation and the identity sum both hold; the decoder mirrors
    this with one block at the coarsest level and one after each nearest-neighbour 2×
    upsampling + concatenation (a 1×1 projection shortcut there, as the concatenation
    doubles the width); the 7×7 output convolution is linear (no output activation).

    Parameters
    ----------
    in_channels : int
        Image channels (1 gray, 3 RGB); the output has as many.
    spatial_dims : int
        2 for images, 3 for volumes (3×3×3 convolutions, 7×7×7 output convolution).
    filters : tuple of int
        The two alternating widths ``(outer, inner)``: blocks map ``outer → inner → outer``.
    levels : int
        Number of 2× max-poolings in the encoder (and upsamplings in the decoder).
    final_kernel_size : int
        Kernel size of the last convolution.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(
        self,
        in_channels: int = 1,
        spatial_dims: int = 2,
        filters: tuple[int, int] = (32, 64),
        levels: int = 2,
        final_kernel_size: int = 7,
    ) -> None:
        super().__init__()
        outer, inner = filters
        self.size_multiple = 2**levels
        self.stem = Convolution(spatial_dims, in_channels, outer, act="relu", norm=None)
        self.pool = Pool[Pool.MAX, spatial_dims](2)
        self.encoders = nn.ModuleList(
            [ShortSkipBlock(spatial_dims, outer, inner, outer) for _ in range(levels)]
        )
        self.bottom = ShortSkipBlock(spatial_dims, outer, inner, outer)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.decoders = nn.ModuleList(
            [ShortSkipBlock(spatial_dims, 2 * outer, inner, outer) for _ in range(levels)]
        )
        self.head = Convolution(spatial_dims, outer, in_channels,
                                kernel_size=final_kernel_size, conv_only=True)

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Run SkidNet on ``x`` whose sizes are multiples of ``2**levels``."""
        x = self.stem(x)
        skips: list[torch.Tensor] = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for i, decoder in enumerate(self.decoders):
            x = decoder(torch.cat([self.up(x), skips[len(skips) - 1 - i]], dim=1))
        return self.head(x)
