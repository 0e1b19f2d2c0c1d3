"""Photon-counting noise: Poisson shot noise, alone or with Gaussian detector read noise."""

from __future__ import annotations

import torch

from medden.noise import Noise
from medden_noise.additive import GaussianNoise

__all__ = ["PoissonNoise", "PoissonGaussianNoise"]


class PoissonNoise(Noise):
    """Poisson shot noise of photon counting, Poisson(I * peak) / peak (low-dose X-ray).

    The noisy value keeps the clean mean and has variance ``I / peak``, so the noise
    grows with the signal.  Negative inputs (possible after another noise) count as 0.

    Parameters
    ----------
    peak : float
        Expected photon count at intensity 1 (the dose level): lower is noisier.
    """

    def __init__(self, peak: float = 100.0) -> None:
        if peak <= 0:
            raise ValueError(f"peak must be > 0, got {peak}")
        self.peak = float(peak)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return photon counts drawn at rate ``batch * peak``, divided by ``peak``."""
        work_dtype = torch.promote_types(batch.dtype, torch.float32)
        rates = batch.detach().to("cpu", work_dtype).clamp_min(0) * self.peak
        counts = torch.poisson(rates, generator=generator)
        return (counts / self.peak).to(device=batch.device, dtype=batch.dtype)


class PoissonGaussianNoise(Noise):
    """Poisson shot noise plus Gaussian detector read noise (signal-dependent + constant).

    ``noisy = Poisson(I * peak) / peak + n`` with ``n ~ N(0, (sigma/255)^2)``, so the
    variance is ``I / peak + (sigma/255)^2``.

    Parameters
    ----------
    peak : float
        Expected photon count at intensity 1 (the dose level): lower is noisier.
    sigma : float
        Standard deviation of the read noise on the 0-255 scale.
    """

    def __init__(self, peak: float = 100.0, sigma: float = 5.0) -> None:
        self.shot = PoissonNoise(peak)
        self.read = GaussianNoise(sigma)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return shot noise, then read noise added to it."""
        return self.read.apply(self.shot.apply(batch, generator), generator)
