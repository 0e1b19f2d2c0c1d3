"""Multi-coil MRI magnitude noise: non-central chi statistics of a root-sum-of-squares image.

A receive array of ``coils`` coils sees the image through smooth complex sensitivities; each
coil's complex image gets independent complex Gaussian noise, and the magnitude image is their
root-sum-of-squares, as most scanners reconstruct it.  Where the signal is zero the result is
chi distributed with ``2 * coils`` degrees of freedom (Rayleigh for one coil); elsewhere it is
non-central chi (Rician for one coil).  Source: Constantinides, Atalar & McVeigh, "Signal-to-
noise measurements in magnitude images from NMR phased arrays", Magn. Reson. Med. 38 (1997);
Aja-Fernandez & Vegas-Sanchez-Ferrero, *Statistical Analysis of Noise in MRI* (2016), ch. 3.
"""

from __future__ import annotations

import math

import torch

from medden_noise.additive import NormalNoise
from medden_noise.sampling import per_image, standard_normal

__all__ = ["MRICoilNoise", "coil_sensitivities", "chi_background_mean"]

#: Pixels above this fraction of an image's maximum are its foreground (for ``snr``).
FOREGROUND = 0.1


def chi_background_mean(sigma: float, coils: int) -> float:
    """Mean of the root-sum-of-squares of ``coils`` complex zero-mean Gaussians of
    per-component standard deviation ``sigma`` (chi with ``2 * coils`` degrees of freedom)."""
    return sigma * math.sqrt(2.0) * math.exp(math.lgamma(coils + 0.5) - math.lgamma(coils))


def coil_sensitivities(coils: int, height: int, width: int) -> torch.Tensor:
    """Complex sensitivities ``(coils, H, W)``, normalised so that their root-sum-of-squares is
    1 at every pixel (the noiseless combination returns the image unchanged).

    Coils sit evenly on a ring around the image centre; each has a broad Gaussian magnitude
    profile and a phase that varies linearly across the image.
    """
    rows = torch.linspace(-1.0, 1.0, height, dtype=torch.float64)[:, None]
    cols = torch.linspace(-1.0, 1.0, width, dtype=torch.float64)[None, :]
    maps = []
    for index in range(coils):
        angle = 2.0 * math.pi * index / coils
        centre_row, centre_col = 1.2 * math.sin(angle), 1.2 * math.cos(angle)
        magnitude = torch.exp(-((rows - centre_row) ** 2 + (cols - centre_col) ** 2) / 2.0)
        phase = angle + math.pi * (0.5 * rows * math.cos(angle) + 0.5 * cols * math.sin(angle))
        maps.append(torch.polar(magnitude, phase.expand_as(magnitude)))
    stack = torch.stack(maps)
    return stack / stack.abs().pow(2).sum(dim=0).sqrt()


class MRICoilNoise(NormalNoise):
    """Multi-coil MRI magnitude noise (non-central chi), root-sum-of-squares combined.

    ``noisy = sqrt(sum_l |S_l * I + n_l|^2)`` with complex sensitivities ``S_l`` normalised so
    that ``sum_l |S_l|^2 = 1`` (see :func:`coil_sensitivities`) and ``n_l`` complex Gaussian
    with standard deviation ``sigma`` per real and imaginary component.  In bright tissue the
    noise standard deviation is about ``sigma``; on a zero background the mean is
    :func:`chi_background_mean` (``sigma * 2.78`` for 8 coils).  With one coil this is exactly
    ``rician``.  Channels and slices get independent draws; sensitivities vary in-plane.

    Parameters
    ----------
    coils : int
        Number of receive coils (1 gives Rician noise).
    sigma : float
        Per-component noise standard deviation on the 0-255 scale (the lower end of the
        range when ``sigma_max`` is given).  Ignored when ``snr`` is given.
    sigma_max : float or None
        When given, each image draws its sigma from U(``sigma``, ``sigma_max``).
    snr : float or None
        Instead of ``sigma``: the signal-to-noise ratio, mean foreground intensity (pixels
        above 10 % of the image's maximum) over ``sigma``, per image.
    """

    level_alternatives = ("snr",)

    def __init__(self, coils: int = 8, sigma: float = 10.0, sigma_max: float | None = None,
                 snr: float | None = None) -> None:
        super().__init__(sigma, sigma_max)
        if coils < 1:
            raise ValueError(f"coils must be >= 1, got {coils}")
        if snr is not None and not snr > 0:
            raise ValueError(f"snr must be > 0, got {snr}")
        self.coils = int(coils)
        self.snr = None if snr is None else float(snr)

    @property
    def measured_truth(self) -> bool:
        """True: benchmarks give filters the drawn noise's standard deviation."""
        return True

    def levels(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-image sigma on the [0, 1] scale, from ``snr`` when it is given."""
        if self.snr is None:
            return super().levels(batch, generator)
        flat = batch.detach().flatten(1).double()
        peak = flat.max(dim=1, keepdim=True).values
        foreground = flat > FOREGROUND * peak
        signal = (flat * foreground).sum(dim=1) / foreground.sum(dim=1).clamp_min(1)
        return per_image(signal / self.snr, batch)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return the root-sum-of-squares magnitude of the noisy coil images."""
        std = self.levels(batch, generator)
        shape = tuple(batch.shape)
        sensitivities = coil_sensitivities(self.coils, *shape[-2:]).to(batch.device)
        power = torch.zeros_like(batch)
        for sensitivity in sensitivities:
            real = batch * sensitivity.real.to(batch.dtype) + standard_normal(
                shape, generator, batch) * std
            imaginary = batch * sensitivity.imag.to(batch.dtype) + standard_normal(
                shape, generator, batch) * std
            power = power + real ** 2 + imaginary ** 2
        return power.sqrt()
