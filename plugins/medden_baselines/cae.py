"""CAE: shallow convolutional denoising autoencoder with max-pooling (Gondara 2016)."""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.blocks import Convolution, UpSample
from monai.networks.layers.factories import Pool
from torch import nn

from medden.models import Denoiser
from medden_baselines._common import check_spatial_dims

__all__ = ["CAE"]


class CAE(Denoiser):
    """Convolutional denoising autoencoder: conv+ReLU+max-pool down, conv+ReLU+upsample up.

    Each of the ``levels`` encoder layers is a convolution (``features`` filters, ReLU)
    followed by 2× max-pooling; each decoder layer is a convolution (ReLU) followed by 2×
    nearest-neighbour up-sampling; a last convolution with a sigmoid maps back to
    ``in_channels`` in [0, 1].  Sizes are padded internally to a multiple of
    ``2**levels``.

    Source: L. Gondara, "Medical image denoising using convolutional denoising
    autoencoders", ICDM Workshops 2016 (the "CAE" row of the two-stage paper, ref. [12]);
    as the baseline of the X-ray attention paper (§5): "one encoder and one decoder layer",
    ReLU and max pooling, hence ``levels=1`` by default (``levels=2`` stacks two such
    layers, as in Gondara's deeper network).  Assumed: 64 filters of 3×3 per layer,
    nearest-neighbour up-sampling and the final sigmoid; neither paper states them all.

    Parameters
    ----------
    in_channels : int
        Image channels (output channels are the same).
    spatial_dims : int
        2 for images, 3 for volumes.
    levels : int
        Encoder layers (each halving the size) and as many decoder layers.
    features : int
        Filters per convolution.
    kernel_size : int
        Convolution kernel size.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(self, in_channels: int = 1, spatial_dims: int = 2, levels: int = 1,
                 features: int = 64, kernel_size: int = 3) -> None:
        super().__init__()
        check_spatial_dims(type(self), spatial_dims)
        if levels < 1:
            raise ValueError(f"levels must be at least 1, got {levels}")
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(levels):
            layers += [Convolution(spatial_dims, channels, features, kernel_size=kernel_size,
                                   act="relu", norm=None),
                       Pool[Pool.MAX, spatial_dims](kernel_size=2)]
            channels = features
        for _ in range(levels):
            layers += [Convolution(spatial_dims, features, features, kernel_size=kernel_size,
                                   act="relu", norm=None),
                       UpSample(spatial_dims, scale_factor=2, mode="nontrainable",
                                interp_mode="nearest", align_corners=None)]
        layers += [Convolution(spatial_dims, features, in_channels, kernel_size=kernel_size,
                               conv_only=True),
                   nn.Sigmoid()]
        self.body = nn.Sequential(*layers)
        self.size_multiple = 2**levels

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct ``x`` (spatial sizes multiples of :attr:`size_multiple`)."""
        return self.body(x)
