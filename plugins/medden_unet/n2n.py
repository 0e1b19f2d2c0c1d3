"""The six-level U-Net of Noise2Noise (Lehtinen et al. 2018), as used for X-ray and CT."""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.blocks import Convolution
from monai.networks.layers import Pool
from torch import nn

from medden.models import Denoiser

__all__ = ["Noise2NoiseUNet"]


class Noise2NoiseUNet(Denoiser):
    """Noise2Noise U-Net: six levels, 48 maps in the encoder, 96 in the decoder, LeakyReLU(0.1).

    Source: "Denoising of X-ray projections and computed tomography images using
    convolutional neural networks without clean data", §III-C, which takes the network of
    Lehtinen et al. (ICML 2018): a U-Net with six levels whose encoder reduces the size by
    3×3 convolutions of 48 feature maps and 2×2 max-pooling, whose decoder upsamples and
    applies two 3×3 convolutions of 96 maps, with each encoder level concatenated to the
    decoder level of the same size, LeakyReLU (slope 0.1) everywhere and a linear output.

    Layout as in Lehtinen et al.'s appendix: two convolutions before the first pooling and
    one before each further pooling, one at the coarsest level, nearest-neighbour
    upsampling, skips taken after each pooling (and the input itself at full size), and a
    full-size output head of 64 and 32 maps before the linear output convolution.

    Parameters
    ----------
    in_channels : int
        Image channels (1 gray, 3 RGB); the output has as many.
    spatial_dims : int
        2 for images, 3 for volumes.
    encoder_width : int
        Feature maps of every encoder convolution.
    decoder_width : int
        Feature maps of the decoder convolutions below full size.
    head_widths : tuple of int
        Feature maps of the two full-size decoder convolutions before the output.
    depth : int
        Number of 2× max-poolings (levels minus one).
    negative_slope : float
        LeakyReLU slope.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(
        self,
        in_channels: int = 1,
        spatial_dims: int = 2,
        encoder_width: int = 48,
        decoder_width: int = 96,
        head_widths: tuple[int, int] = (64, 32),
        depth: int = 5,
        negative_slope: float = 0.1,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.size_multiple = 2**depth
        act = ("leakyrelu", {"negative_slope": negative_slope})

        def conv(a: int, b: int) -> Convolution:
            return Convolution(spatial_dims, a, b, act=act, norm=None)

        enc, dec = encoder_width, decoder_width
        self.pool = Pool[Pool.MAX, spatial_dims](2)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.first = nn.Sequential(conv(in_channels, enc), conv(enc, enc))
        self.encoders = nn.ModuleList([conv(enc, enc) for _ in range(depth - 1)])
        self.bottom = conv(enc, enc)
        self.decoders = nn.ModuleList(
            [nn.Sequential(conv((enc if i == 0 else dec) + enc, dec), conv(dec, dec))
             for i in range(depth - 1)]
        )
        upper = dec if depth > 1 else enc
        self.head = nn.Sequential(
            conv(upper + in_channels, head_widths[0]),
            conv(head_widths[0], head_widths[1]),
            Convolution(spatial_dims, head_widths[1], in_channels, conv_only=True),
        )

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Run the U-Net on ``x`` whose sizes are multiples of ``2**depth``."""
        skips: list[torch.Tensor] = [x]
        h = self.pool(self.first(x))
        skips.append(h)
        for encoder in self.encoders:
            h = self.pool(encoder(h))
            skips.append(h)
        h = self.bottom(skips.pop())
        for decoder in self.decoders:
            h = decoder(torch.cat([self.up(h), skips.pop()], dim=1))
        return self.head(torch.cat([self.up(h), skips.pop()], dim=1))
