"""The shallow encoder-decoder pair of the X-ray attention paper: FCN-style sum vs U-Net concat.

The paper (Attention based X-ray Image Denoising with Non-Uniform Noise Distribution, §4.2)
trains "a shallow encoder-decoder network with summation and concatenation operations" to
show that merging long skips by concatenation (U-Net, Ronneberger et al. 2015) beats
element-wise summation (FCN, Long et al. 2015).  Both networks here are identical except for
that merge, so the comparison isolates it.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.blocks import Convolution, UpSample
from monai.networks.nets.basic_unet import TwoConv
from torch import nn

from medden_skidnet.pooled_unet import PooledUNet

__all__ = ["FCNSum", "UNetConcat"]

_DOC = """
The paper gives no widths or depth for this pair.  Assumed here: two 2×2 max-poolings
(three levels), blocks of two 3×3 convolutions with ReLU and no normalisation, 2×2
transposed-convolution ("up-convolution") upsampling, a linear 1×1 output convolution, and
the widths 32/64/128 of SkidNet's range.

Parameters
----------
in_channels : int
    Image channels (1 gray, 3 RGB); the output has as many.
spatial_dims : int
    2 for images, 3 for volumes.
features : tuple of int
    Widths per level, finest first; one max-pooling between consecutive levels.
"""


class _MergeUp(nn.Module):
    """Decoder level: 2× transposed conv, merge with the skip (sum or concat), two convs."""

    def __init__(self, spatial_dims: int, coarse: int, fine: int, concat: bool) -> None:
        super().__init__()
        self.concat = concat
        self.up = UpSample(spatial_dims, coarse, fine, scale_factor=2, mode="deconv")
        self.block = TwoConv(spatial_dims, 2 * fine if concat else fine, fine, act="relu",
                             norm=None, bias=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        """Upsample ``x``, merge ``skip`` into it and convolve."""
        up = self.up(x)
        return self.block(torch.cat([up, skip], dim=1) if self.concat else up + skip)


class _ShallowEncoderDecoder(PooledUNet):
    """Shallow encoder-decoder whose long skips are merged by :attr:`merge`."""

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)
    #: How a decoder level merges the upsampled path with the encoder skip.
    merge: ClassVar[str] = "sum"

    def __init__(
        self,
        in_channels: int = 1,
        spatial_dims: int = 2,
        features: tuple[int, ...] = (32, 64, 128),
    ) -> None:
        widths = [in_channels, *features]
        super().__init__(
            spatial_dims,
            encoders=[TwoConv(spatial_dims, a, b, act="relu", norm=None, bias=True)
                      for a, b in zip(widths[:-1], widths[1:], strict=True)],
            decoders=[_MergeUp(spatial_dims, coarse, fine, self.merge == "concat")
                      for coarse, fine in zip(features[:0:-1], features[-2::-1], strict=True)],
            head=Convolution(spatial_dims, features[0], in_channels, kernel_size=1,
                             conv_only=True),
        )


class FCNSum(_ShallowEncoderDecoder):
    __doc__ = (
        "Shallow encoder-decoder with long skips merged by summation (FCN-style baseline).\n\n"
        "Source: the X-ray attention paper, §4.2 (FCN, Long et al. 2015), its summation arm."
        + _DOC
    )

    merge: ClassVar[str] = "sum"


class UNetConcat(_ShallowEncoderDecoder):
    __doc__ = (
        "Shallow encoder-decoder with long skips merged by concatenation (U-Net-style).\n\n"
        "Source: the X-ray attention paper, §4.2 (U-Net, Ronneberger et al. 2015), its "
        "concatenation arm." + _DOC
    )

    merge: ClassVar[str] = "concat"
