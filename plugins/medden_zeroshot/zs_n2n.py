"""``zero_shot``: Zero-Shot Noise2Noise (ZS-N2N), a network fitted to the single noisy image.

Mansour Y., Heckel R., "Zero-Shot Noise2Noise: Efficient Image Denoising without any Data",
CVPR 2023.  The image ``y`` is split by two fixed 2x2 averaging filters (the mean of the
main diagonal, and of the anti-diagonal, of every 2x2 cell) into two half-resolution
images ``d1(y)``, ``d2(y)`` whose noise is independent for pixel-wise independent noise; a
three-layer network ``g`` predicting the noise (``f(x) = x - g(x)``) is fitted with the
residual loss ``(|d1(y) - f(d2(y))|^2 + |d2(y) - f(d1(y))|^2) / 2`` plus the consistency loss
``(|f(d1(y)) - d1(f(y))|^2 + |f(d2(y)) - d2(f(y))|^2) / 2``, and ``f(y)`` is the result.

The paper's network (two 3x3 convolutions of 48 channels with leaky ReLU, a 1x1 output
convolution) and optimiser (Adam, learning rate 1e-3 halved halfway) are kept; to take
seconds on a CPU instead of a GPU's 3000 full-image steps, each step fits a few random
crops (aligned with the 2x2 cells) rather than the whole image, for fewer steps and with
fewer channels (``features``).  Like every method of this kind it assumes pixel-wise
independent noise: noise correlated between neighbouring pixels (CT reconstructions) is
partly kept.  It has no stored weights (``learned = False``): ``medden denoise --model
zero_shot`` and ``medden benchmark --models zero_shot`` run it like a classical filter; a
volume gets one network, fitted to crops of all its slices.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from medden.models import ClassicalDenoiser

__all__ = ["ZeroShotN2N", "pair_downsample"]


def pair_downsample(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ZS-N2N's two half-resolution images of a batch ``(B, C, H, W)``: in every 2x2 cell
    the mean of the anti-diagonal and the mean of the main diagonal."""
    channels = x.shape[1]
    anti = torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=x.dtype, device=x.device)
    main = torch.tensor([[0.5, 0.0], [0.0, 0.5]], dtype=x.dtype, device=x.device)
    kernels = [k.expand(channels, 1, 2, 2) for k in (anti, main)]
    return (F.conv2d(x, kernels[0], stride=2, groups=channels),
            F.conv2d(x, kernels[1], stride=2, groups=channels))


class _NoisePredictor(nn.Module):
    """The paper's three-layer network: the noise of its input."""

    def __init__(self, channels: int, features: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, features, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(features, features, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(features, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted noise of ``x``."""
        return self.body(x)


def _loss(network: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """ZS-N2N's residual plus consistency loss on a batch of crops ``y``."""
    first, second = pair_downsample(y)
    denoised_first, denoised_second = first - network(first), second - network(second)
    residual = (F.mse_loss(denoised_second, first) + F.mse_loss(denoised_first, second)) / 2
    full_first, full_second = pair_downsample(y - network(y))
    consistency = (F.mse_loss(denoised_first, full_first)
                   + F.mse_loss(denoised_second, full_second)) / 2
    return residual + consistency


class ZeroShotN2N(ClassicalDenoiser):
    """Zero-Shot Noise2Noise: a tiny network fitted to the one image it denoises.

    Parameters
    ----------
    steps : int
        Optimisation steps per image (the rate is halved after half of them).
    features : int
        Channels of the two hidden convolutions (the paper: 48; 16 takes a third of the
        time on a CPU for about 1 dB less on a 512x512 X-ray at sigma 25).
    crop : int
        Side (even) of the random crops fitted at each step; images smaller than a crop
        are fitted whole.
    crops : int
        Crops per step.
    lr : float
        Adam learning rate (the paper: 1e-3).
    seed : int
        Seed of the initial weights and the crops: the same image gives the same output.
    """

    spatial_dims: ClassVar[tuple[int, ...]] = (2, 3)
    channels: ClassVar[tuple[int, ...] | None] = None

    def __init__(self, steps: int = 300, features: int = 16, crop: int = 64, crops: int = 4,
                 lr: float = 1e-3, seed: int = 0) -> None:
        super().__init__()
        if steps < 1 or features < 1 or crop < 4 or crop % 2 or crops < 1 or lr <= 0:
            raise ValueError("zero_shot needs steps >= 1, features >= 1, an even crop >= 4, "
                             "crops >= 1 and lr > 0")
        self.steps = steps
        self.features = features
        self.crop = crop
        self.crops = crops
        self.lr = lr
        self.seed = seed

    def _fit(self, planes: torch.Tensor, generator: torch.Generator) -> nn.Module:
        """A network fitted to ``planes`` ``(N, C, H, W)`` (one image, or a volume's
        slices: crops are drawn from all of them)."""
        torch.manual_seed(self.seed)
        network = _NoisePredictor(planes.shape[1], self.features)
        optimizer = torch.optim.Adam(network.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, max(1, self.steps // 2), 0.5)
        height, width = planes.shape[-2] // 2 * 2, planes.shape[-1] // 2 * 2
        side_h, side_w = min(self.crop, height), min(self.crop, width)
        for _ in range(self.steps):
            where = [torch.randint(0, top, (self.crops,), generator=generator).tolist()
                     for top in (len(planes), (height - side_h) // 2 + 1,
                                 (width - side_w) // 2 + 1)]
            batch = torch.stack([planes[n, :, 2 * r:2 * r + side_h, 2 * c:2 * c + side_w]
                                 for n, r, c in zip(*where, strict=True)])
            optimizer.zero_grad()
            _loss(network, batch).backward()
            optimizer.step()
            schedule.step()
        return network

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Fit to and denoise ``image`` ``(C, H, W)``, or a volume ``(C, D, H, W)`` (one
        fit to all its slices, each slice denoised by it)."""
        if min(image.shape[-2:]) < 4:
            return image  # too small to split into two half-resolution images
        # fitting needs autograd, also when called under inference_mode (medden denoise)
        with torch.inference_mode(False):
            x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))
            planes = x.transpose(0, 1) if x.ndim == 4 else x[None]  # (N, C, H, W)
            with torch.enable_grad():
                network = self._fit(planes, torch.Generator().manual_seed(self.seed))
            with torch.no_grad():
                out = planes - network(planes)
            return (out.transpose(0, 1) if x.ndim == 4 else out[0]).numpy()
