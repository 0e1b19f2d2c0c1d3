"""Rician noise: the magnitude of a complex signal with Gaussian noise (MRI)."""

from __future__ import annotations

import torch

from medden_noise.additive import NormalNoise
from medden_noise.sampling import standard_normal

__all__ = ["RicianNoise"]


class RicianNoise(NormalNoise):
    """Rician MRI magnitude noise, sqrt((I + n1)^2 + n2^2) with n1, n2 ~ N(0, (sigma/255)^2).

    Real and imaginary channels get independent Gaussian noise of the same level; on a
    zero background the result is Rayleigh distributed with mean ``sigma * sqrt(pi/2)``.

    Parameters
    ----------
    sigma : float
        Standard deviation of each Gaussian component on the 0-255 scale (the lower end
        of the range when ``sigma_max`` is given).
    sigma_max : float or None
        When given, each image of a batch draws its sigma from U(``sigma``, ``sigma_max``).
    """

    def __init__(self, sigma: float = 15.0, sigma_max: float | None = None) -> None:
        super().__init__(sigma, sigma_max)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return the magnitude of ``(batch + n1) + i * n2``."""
        std = self.levels(batch, generator)
        shape = tuple(batch.shape)
        real = batch + standard_normal(shape, generator, batch) * std
        imaginary = standard_normal(shape, generator, batch) * std
        return torch.hypot(real, imaginary)
