"""Impulse (salt-and-pepper) noise."""

from __future__ import annotations

import torch

from medden.noise import Noise
from medden_noise.sampling import pixel_shape, uniform

__all__ = ["SaltPepperNoise"]


class SaltPepperNoise(Noise):
    """Salt-and-pepper noise: a random fraction of pixels set to white (1) or black (0).

    A hit pixel changes in all its channels together (an RGB pixel turns white or black,
    as in the X-ray attention paper's figures); in a volume each voxel is drawn on its own.
    Each pixel is hit independently with probability ``amount``.

    Parameters
    ----------
    amount : float
        Fraction of pixels changed, in [0, 1].
    salt_ratio : float
        Fraction of the changed pixels set to salt (1); the rest are pepper (0).
    """

    def __init__(self, amount: float = 0.05, salt_ratio: float = 0.5) -> None:
        for name, value in (("amount", amount), ("salt_ratio", salt_ratio)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.amount = float(amount)
        self.salt_ratio = float(salt_ratio)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch`` with salt where ``u < amount*salt_ratio``, pepper up to ``amount``."""
        u = uniform(pixel_shape(batch), generator, batch)
        salt = u < self.amount * self.salt_ratio
        pepper = ~salt & (u < self.amount)
        noisy = batch.masked_fill(salt, 1.0)
        return noisy.masked_fill(pepper, 0.0)
