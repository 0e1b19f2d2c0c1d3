"""The U-Net-style CNN with residual blocks of the MSE+SSIM X-ray denoising paper."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from monai.networks.nets import UNet

from medden.models import Denoiser

__all__ = ["ResidualUNet"]


class ResidualUNet(Denoiser):
    """U-Net-style encoder-decoder with residual blocks and concatenated skips (MSE+SSIM paper).

    Source: Amadi et al. 2024, "Improvement of X-Ray Biomedical Image Denoising Using
    Artificial Intelligence", §2.2 and Figure 1: an encoder of convolutions with increasing
    filter counts and strides and ReLU activations, residual blocks, a mirrored decoder of
    upsampling layers, skip connections between corresponding encoder and decoder levels,
    and an output layer producing the denoised image; trained with a weighted MSE + SSIM
    loss (the loss belongs to the training recipe, not the network).

    Assumptions (the paper gives no widths, depth or block layout): MONAI's residual
    ``UNet`` expresses the design: each level is a residual unit of two 3×3 convolutions
    (the first strided by 2 to go down a level), the decoder upsamples with 3×3 transposed
    convolutions and concatenates the skip, widths 32/64/128/256 (three 2× reductions), batch
    normalisation and a linear output.

    Parameters
    ----------
    in_channels : int
        Image channels (1 gray, 3 RGB); the output has as many.
    spatial_dims : int
        2 for images, 3 for volumes.
    features : tuple of int
        Widths per level, finest first; each further level halves the size.
    res_units : int
        Convolutions per residual unit.
    norm : {'batch', 'instance'} or None
        Normalisation after each convolution (``none`` for none).
    dropout : float
        Dropout probability.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(
        self,
        in_channels: int = 1,
        spatial_dims: int = 2,
        features: tuple[int, ...] = (32, 64, 128, 256),
        res_units: int = 2,
        norm: Literal["batch", "instance"] | None = "batch",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if len(features) < 2:
            raise ValueError("features needs at least two levels")
        self.size_multiple = 2 ** (len(features) - 1)
        self.net = UNet(
            spatial_dims,
            in_channels,
            in_channels,
            channels=features,
            strides=(2,) * (len(features) - 1),
            num_res_units=res_units,
            act="relu",
            norm=norm,
            dropout=dropout,
        )

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Run the residual U-Net on ``x`` whose sizes are multiples of :attr:`size_multiple`."""
        return self.net(x)
