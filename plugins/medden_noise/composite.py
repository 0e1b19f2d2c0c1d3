"""Noises made of other noises: multi-pattern (two-stage paper), random choice, mixture.

The defaults of :class:`RandomChoiceNoise` and :class:`MixtureNoise` are the four noises of
the X-ray attention paper (Gaussian, Poisson, salt-and-pepper, speckle): its "random noise"
and "all noises combined" settings.  The paper gives no levels; the ones used here match
scikit-image's ``random_noise`` defaults (variance 0.01, i.e. sigma ~ 25, and 5 %
impulses) for a single noise, and milder levels when all four are combined, so that the
total is of the same order as one noise alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from medden.noise import Noise
from medden.registry import noise_registry
from medden.spec import Spec
from medden_noise.sampling import check_level_range, draw_levels, per_image, standard_normal

__all__ = ["MultiPatternNoise", "RandomChoiceNoise", "MixtureNoise", "build_noises"]

XRAY_NOISES: tuple[Spec, ...] = (
    Spec("gaussian", {"sigma": 25.0}),
    Spec("poisson", {"peak": 100.0}),
    Spec("salt_pepper", {"amount": 0.05}),
    Spec("speckle", {"sigma": 25.0}),
)
"""The X-ray attention paper's four noises at single-noise levels."""

XRAY_COMBINED: tuple[Spec, ...] = (
    Spec("poisson", {"peak": 200.0}),
    Spec("speckle", {"sigma": 15.0}),
    Spec("gaussian", {"sigma": 15.0}),
    Spec("salt_pepper", {"amount": 0.02}),
)
"""The four noises in acquisition order (photons, multiplicative, detector, impulses)."""


def build_noises(specs: Sequence[Spec | str]) -> list[Noise]:
    """Build noises from SPECs through the registry.

    Raises
    ------
    ValueError
        When ``specs`` is empty.
    """
    if not specs:
        raise ValueError("at least one noise SPEC is needed")
    return [noise_registry.create(spec) for spec in specs]


class MultiPatternNoise(Noise):
    """Gaussian or speckle noise with a random level per image (two-stage paper, Algorithm 1).

    For each image: ``Std ~ U(sigma_min, sigma_max)``, ``Noise ~ N(0, (Std/255)^2)``,
    ``noisePattern ~ randint(0, 10)``; an even pattern gives Gaussian noise ``I + Noise``,
    an odd one speckle noise ``I + I * Noise`` (each with probability 1/2).

    Parameters
    ----------
    sigma_min : float
        Lower end of the standard-deviation range, 0-255 scale (the paper: 0).
    sigma_max : float
        Upper end of the standard-deviation range, 0-255 scale (the paper: 75).
    """

    def __init__(self, sigma_min: float = 0.0, sigma_max: float = 75.0) -> None:
        check_level_range(sigma_min, sigma_max, "sigma")
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return Gaussian- or speckle-noised images, the pattern drawn per image."""
        std = draw_levels(self.sigma_min, self.sigma_max, batch, generator)
        noise = standard_normal(tuple(batch.shape), generator, batch) * std
        pattern = torch.randint(0, 10, (batch.shape[0],), generator=generator)
        gaussian = per_image(pattern % 2 == 0, batch).bool()
        return batch + torch.where(gaussian, noise, batch * noise)


class RandomChoiceNoise(Noise):
    """One noise picked at random per image from a list (the X-ray paper's random noise).

    Parameters
    ----------
    noises : tuple of Spec
        The candidate noises, written ``[gaussian:sigma=25|(speckle:sigma=20)|salt_pepper]``
        in a SPEC; by default the X-ray paper's Gaussian, Poisson, salt-and-pepper and
        speckle noises.
    weights : tuple of float or None
        Relative probability of each noise (same length as ``noises``); None picks them
        with equal probability.
    """

    def __init__(
        self,
        noises: tuple[Spec | str, ...] = XRAY_NOISES,
        weights: tuple[float, ...] | None = None,
    ) -> None:
        self.noises = build_noises(noises)
        if weights is None:
            weights = (1.0,) * len(self.noises)
        if len(weights) != len(self.noises):
            raise ValueError(f"{len(weights)} weights given for {len(self.noises)} noises")
        if min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be >= 0 with a positive sum, got {weights}")
        self.weights = torch.tensor(weights, dtype=torch.float64)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return each image noised by the noise drawn for it."""
        choice = torch.multinomial(
            self.weights, batch.shape[0], replacement=True, generator=generator
        )
        noisy = batch.clone()
        for index, noise in enumerate(self.noises):
            picked = torch.nonzero(choice == index).flatten().to(batch.device)
            if picked.numel():
                noisy[picked] = noise.apply(batch[picked], generator).to(batch.dtype)
        return noisy


class MixtureNoise(Noise):
    """Several noises applied one after another (the X-ray paper's all noises combined).

    Parameters
    ----------
    noises : tuple of Spec
        The noises in the order they are applied, written ``[poisson|gaussian:sigma=10]``
        in a SPEC; by default Poisson, speckle, Gaussian then salt-and-pepper at milder
        levels than each alone.
    """

    def __init__(self, noises: tuple[Spec | str, ...] = XRAY_COMBINED) -> None:
        self.noises = build_noises(noises)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch`` passed through every noise in order."""
        for noise in self.noises:
            batch = noise.apply(batch, generator)
        return batch
