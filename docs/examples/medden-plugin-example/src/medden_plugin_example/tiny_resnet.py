"""``tiny_resnet``: a small residual CNN that predicts the noise and subtracts it."""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn

from medden.models import Denoiser

__all__ = ["TinyResNet"]


class TinyResNet(Denoiser):
    """Small residual CNN: predicts the noise and subtracts it from the input.

    A 3x3 convolution lifts the image to ``features`` channels, ``blocks`` MONAI residual
    units (two 3x3 convolutions with ReLU and an identity skip each) process it, and a
    linear 3x3 convolution projects back to the image channels; the result is the noise
    estimate, so the network returns ``x - estimate`` (residual learning, as in DnCNN).
    Any image size works (no down-sampling).

    Parameters
    ----------
    in_channels : int
        Image channels (1 gray, 3 RGB); the output has as many.
    spatial_dims : int
        2 for images, 3 for volumes.
    features : int
        Width of every hidden layer.
    blocks : int
        Number of residual units.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)
    channels: ClassVar[tuple[int, ...] | None] = (1, 3)

    def __init__(
        self, in_channels: int = 1, spatial_dims: int = 2, features: int = 32, blocks: int = 4
    ) -> None:
        super().__init__()
        if spatial_dims not in type(self).spatial_dims:
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if features < 1 or blocks < 1:
            raise ValueError(f"features and blocks must be >= 1, got {features}, {blocks}")
        self.body = nn.Sequential(
            Convolution(spatial_dims, in_channels, features, act="relu", norm=None),
            *(
                ResidualUnit(spatial_dims, features, features, act="relu", norm=None)
                for _ in range(blocks)
            ),
            Convolution(spatial_dims, features, in_channels, conv_only=True),
        )

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Return ``x`` minus the predicted noise."""
        return x - self.body(x)
