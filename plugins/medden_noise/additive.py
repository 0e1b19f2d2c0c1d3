"""Zero-mean normal noise: additive Gaussian and multiplicative speckle.

Both follow the two-stage multi-pattern paper (eq. 2 and 3): ``I_N = I_C + n`` and
``I_N = I_C + I_C * n`` with ``n ~ N(0, (sigma/255)^2)``.
"""

from __future__ import annotations

import torch

from medden.noise import Noise
from medden_noise.sampling import check_level_range, draw_levels, standard_normal

__all__ = ["NormalNoise", "GaussianNoise", "SpeckleNoise"]


class NormalNoise(Noise):
    """Base of noises built from zero-mean normal draws with a fixed or per-image sigma.

    ``sigma`` is on the 0-255 scale; with ``sigma_max`` each image of a batch draws its
    sigma from U(``sigma``, ``sigma_max``).  Subclasses implement :meth:`apply` and
    document both parameters for ``medden list``.
    """

    def __init__(self, sigma: float = 25.0, sigma_max: float | None = None) -> None:
        check_level_range(sigma, sigma_max, "sigma")
        self.sigma = float(sigma)
        self.sigma_max = None if sigma_max is None else float(sigma_max)

    def levels(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-image standard deviations on the [0, 1] scale, shape ``(B, 1, ..., 1)``."""
        return draw_levels(self.sigma, self.sigma_max, batch, generator)

    def scaled_normal(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Noise ``n`` shaped like ``batch`` with each image's standard deviation."""
        std = self.levels(batch, generator)
        return standard_normal(tuple(batch.shape), generator, batch) * std


class GaussianNoise(NormalNoise):
    """Additive white Gaussian noise, I + n with n ~ N(0, (sigma/255)^2).

    Parameters
    ----------
    sigma : float
        Standard deviation on the 0-255 scale (the lower end of the range when
        ``sigma_max`` is given).
    sigma_max : float or None
        When given, each image of a batch draws its sigma from U(``sigma``, ``sigma_max``)
        (blind training over a range of levels).
    """

    @property
    def additive_gaussian(self) -> bool:
        """True: the benchmark's true-sigma rows apply."""
        return True

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch + n``."""
        return batch + self.scaled_normal(batch, generator)


class SpeckleNoise(NormalNoise):
    """Multiplicative speckle noise, I + I * n with n ~ N(0, (sigma/255)^2).

    The noise standard deviation at a pixel is proportional to its intensity (eq. 3 of the
    two-stage multi-pattern paper; also scikit-image's ``speckle`` mode).

    Parameters
    ----------
    sigma : float
        Standard deviation of ``n`` on the 0-255 scale (the lower end of the range when
        ``sigma_max`` is given); at intensity 1 the noise has this standard deviation.
    sigma_max : float or None
        When given, each image of a batch draws its sigma from U(``sigma``, ``sigma_max``).
    """

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch + batch * n``."""
        return batch + batch * self.scaled_normal(batch, generator)
