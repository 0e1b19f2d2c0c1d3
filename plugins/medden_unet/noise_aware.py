"""A noise-level-aware residual U-Net that takes, or estimates, a per-pixel noise map."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from monai.networks.blocks import Convolution, ResidualUnit
from torch import nn

from medden.models import Denoiser, pad_to_multiple

__all__ = ["NoiseAwareUNet", "space_to_depth", "depth_to_space"]


def space_to_depth(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Fold ``factor``-sized spatial blocks into channels (2D: ``pixel_unshuffle``; also 3D).

    ``(B, C, *spatial)`` becomes ``(B, C * factor**d, *spatial / factor)`` with ``d`` spatial
    dims, channel order ``(c, offsets...)`` as :func:`torch.nn.functional.pixel_unshuffle`.
    """
    if x.dim() == 4:
        return F.pixel_unshuffle(x, factor)
    b, c, d, h, w = x.shape[0], x.shape[1], x.shape[2], x.shape[3], x.shape[4]
    r = factor
    x = x.reshape(b, c, d // r, r, h // r, r, w // r, r).permute(0, 1, 3, 5, 7, 2, 4, 6)
    return x.reshape(b, c * r * r * r, d // r, h // r, w // r)


def depth_to_space(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Inverse of :func:`space_to_depth`."""
    if x.dim() == 4:
        return F.pixel_shuffle(x, factor)
    r = factor
    b, c, d, h, w = x.shape[0], x.shape[1] // (r * r * r), x.shape[2], x.shape[3], x.shape[4]
    x = x.reshape(b, c, r, r, r, d, h, w).permute(0, 1, 5, 2, 6, 3, 7, 4)
    return x.reshape(b, c, d * r, h * r, w * r)


def _crop(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    """Crop the spatial dims of ``x`` back to ``size`` (undoing :func:`pad_to_multiple`)."""
    if len(size) == 2:
        return x[..., : size[0], : size[1]]
    return x[..., : size[0], : size[1], : size[2]]


def _res_blocks(spatial_dims: int, width: int, count: int) -> list[nn.Module]:
    """``count`` DRUNet residual blocks ``x + conv(relu(conv(x)))`` (no normalisation)."""
    return [
        ResidualUnit(spatial_dims, width, width, subunits=2, act="relu", norm=None,
                     last_conv_only=True)
        for _ in range(count)
    ]


class NoiseAwareUNet(Denoiser):
    """Noise-level-aware residual U-Net (FFDNet/DRUNet style) with a learned noise-map estimator.

    Not from the seed papers: the product's stronger CPU model.  Like FFDNet (Zhang et al.,
    TIP 2018) it folds 2×2 pixel blocks into channels (``space_to_depth``) and appends a
    noise-level map as an extra input channel, so one network covers many noise levels and
    spatially varying noise; like DRUNet (Zhang et al., TPAMI 2021) its body is a U-Net of
    plain residual blocks with 2× strided-convolution downsampling, transposed-convolution
    upsampling and additive skips, and it learns the residual: it predicts the noise and
    returns ``x - noise``.  When no map is given, a small CBDNet-style estimator (plain
    3×3 convolutions with ReLU on the folded image, softplus output) predicts it, so the same
    network denoises blindly; :meth:`estimate_noise_map` exposes that estimate for a
    supervised loss against the true map.

    Noise maps are standard deviations on the [0, 1] intensity scale (``sigma / 255``), one
    channel shared by all image channels: shape ``(B, 1, *spatial)`` or anything that
    broadcasts to it, e.g. ``(B, 1, 1, 1)`` for one level per image.

    Parameters
    ----------
    in_channels : int
        Image channels (1 gray, 3 RGB); the output has as many.
    spatial_dims : int
        2 for images, 3 for volumes.
    features : tuple of int
        Widths of the U-Net levels, finest first; one 2× strided reduction between levels.
    blocks : int
        Residual blocks per level (encoder, bottom and decoder alike).
    estimator_width : int
        Width of the noise-map estimator.
    estimator_depth : int
        Number of 3×3 convolutions of the estimator (its last one outputs the map).
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)
    accepts_noise_map: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int = 1,
        spatial_dims: int = 2,
        features: tuple[int, ...] = (32, 64, 128, 256),
        blocks: int = 2,
        estimator_width: int = 32,
        estimator_depth: int = 4,
    ) -> None:
        super().__init__()
        if len(features) < 1 or estimator_depth < 2:
            raise ValueError("need at least one level and an estimator of depth 2")
        self.size_multiple = 2 ** len(features)
        folded = in_channels * 2**spatial_dims
        self.estimator = nn.Sequential(
            Convolution(spatial_dims, folded, estimator_width, act="relu", norm=None),
            *[Convolution(spatial_dims, estimator_width, estimator_width, act="relu", norm=None)
              for _ in range(estimator_depth - 2)],
            Convolution(spatial_dims, estimator_width, 1, conv_only=True),
            nn.Softplus(),
        )
        self.head = Convolution(spatial_dims, folded + 1, features[0], conv_only=True)
        self.downs = nn.ModuleList(
            [nn.Sequential(*_res_blocks(spatial_dims, a, blocks),
                           Convolution(spatial_dims, a, b, strides=2, kernel_size=2,
                                       conv_only=True, padding=0))
             for a, b in zip(features[:-1], features[1:], strict=True)]
        )
        self.body = nn.Sequential(*_res_blocks(spatial_dims, features[-1], blocks))
        self.ups = nn.ModuleList(
            [nn.Sequential(Convolution(spatial_dims, b, a, strides=2, kernel_size=2,
                                       conv_only=True, is_transposed=True, padding=0,
                                       output_padding=0),
                           *_res_blocks(spatial_dims, a, blocks))
             for a, b in zip(features[-2::-1], features[:0:-1], strict=True)]
        )
        self.tail = Convolution(spatial_dims, features[0], folded, conv_only=True)

    def estimate_noise_map(self, x: torch.Tensor) -> torch.Tensor:
        """Estimated per-pixel noise level of ``x`` (``(B, 1, *spatial)``, in sigma/255)."""
        padded, size = pad_to_multiple(x, 2)
        sigma = self.estimator(space_to_depth(padded, 2))
        return _crop(F.interpolate(sigma, scale_factor=2.0, mode="nearest"), size)

    def _run(self, x: torch.Tensor, folded: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        h = self.head(torch.cat([folded, sigma], dim=1))
        skips: list[torch.Tensor] = [h]
        for down in self.downs:
            h = down(h)
            skips.append(h)
        h = self.body(h)
        for up in self.ups:
            h = up(h + skips.pop())
        noise = depth_to_space(self.tail(h + skips.pop()), 2)
        return x - noise

    def denoise(self, x: torch.Tensor) -> torch.Tensor:
        """Blind denoising of ``x`` (sizes multiples of :attr:`size_multiple`)."""
        folded = space_to_depth(x, 2)
        return self._run(x, folded, self.estimator(folded))

    def forward(self, x: torch.Tensor, noise_map: torch.Tensor | None = None) -> torch.Tensor:
        """Denoise ``x`` of any size, with the given noise map or an estimated one."""
        padded, size = pad_to_multiple(x, self.size_multiple)
        folded = space_to_depth(padded, 2)
        if noise_map is None:
            sigma = self.estimator(folded)
        else:
            shape = [x.shape[0], 1] + [int(s) for s in x.shape[2:]]
            sigma_map, _ = pad_to_multiple(noise_map.to(x.dtype).expand(shape), self.size_multiple)
            if x.dim() == 4:
                sigma = F.avg_pool2d(sigma_map, 2)
            else:
                sigma = F.avg_pool3d(sigma_map, 2)
        return _crop(self._run(padded, folded, sigma), size)
