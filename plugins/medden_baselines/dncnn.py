"""DnCNN: a deep residual-learning denoiser with batch normalisation (Zhang et al. 2017)."""

from __future__ import annotations

from typing import ClassVar

import torch
from monai.networks.blocks import Convolution
from torch import nn

from medden.models import Denoiser
from medden_baselines._common import check_spatial_dims

__all__ = ["DnCNN"]


class DnCNN(Denoiser):
    """DnCNN residual denoiser: a plain CNN predicts the noise, which is subtracted.

    ``depth`` convolutions (3×3, ``features`` filters): Conv+ReLU, ``depth - 2`` ×
    Conv+BN+ReLU, and a last Conv back to ``in_channels`` that outputs the residual (noise)
    ``v``; the output is ``x - v``.  Zero padding keeps the size.

    Source: K. Zhang, W. Zuo, Y. Chen, D. Meng and L. Zhang, "Beyond a Gaussian Denoiser:
    Residual Learning of Deep CNN for Image Denoising", IEEE TIP 26(7), 2017 (ref. [19] of
    the two-stage paper; its "DnCNN" table row cites Jiang et al. 2018 [26], a multi-channel
    DnCNN for 3-D MRI with the same layer recipe).  Defaults are the paper's DnCNN-S: depth
    17, 64 filters.  Assumed: no bias in the convolutions followed by batch normalisation
    (it would be cancelled by it) and PyTorch's default BN momentum and epsilon; the 3-D
    variant simply uses 3×3×3 convolutions.

    Parameters
    ----------
    in_channels : int
        Image channels (output channels are the same).
    spatial_dims : int
        2 for images, 3 for volumes.
    depth : int
        Number of convolution layers (at least 2).
    features : int
        Filters per hidden layer.
    kernel_size : int
        Convolution kernel size.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)

    def __init__(self, in_channels: int = 1, spatial_dims: int = 2, depth: int = 17,
                 features: int = 64, kernel_size: int = 3) -> None:
        super().__init__()
        check_spatial_dims(type(self), spatial_dims)
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        layers: list[nn.Module] = [
            Convolution(spatial_dims, in_channels, features, kernel_size=kernel_size,
                        act="relu", norm=None)
        ]
        layers += [
            Convolution(spatial_dims, features, features, kernel_size=kernel_size,
                        act="relu", norm="batch", bias=False)
            for _ in range(depth - 2)
        ]
        layers.append(Convolution(spatial_dims, features, in_channels,
                                  kernel_size=kernel_size, conv_only=True))
        self.body = nn.Sequential(*layers)

    def estimate_noise(self, x: torch.Tensor) -> torch.Tensor:
        """The predicted residual (noise) ``v`` of noisy ``x``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoised ``x - v``."""
        return x - self.estimate_noise(x)
