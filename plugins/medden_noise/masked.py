"""Spatially non-uniform noise: any noise, kept only inside a random centre-weighted mask.

Section 4.1 of the X-ray attention paper: a 2-D Gaussian centred on the image (centre
pixel 112, sigma 56 px on 224 x 224 images) is binarised against uniform random values
drawn per image, and the noise is kept where the Gaussian exceeds the random value, so
noise is dense near the centre (where X-rays interact most with tissue) and sparse at
the border.
"""

from __future__ import annotations

from typing import Any

import torch

from medden.noise import Noise
from medden.spec import Spec
from medden_noise.sampling import pixel_shape, uniform
from medden_noise.wrapping import inner_noise

__all__ = ["MaskedNoise", "centred_gaussian"]

_DEFAULT_INNER = Spec("gaussian")


def centred_gaussian(size: tuple[int, int], fraction: float) -> torch.Tensor:
    """Unnormalised 2-D Gaussian (peak 1) centred on an image of ``size`` (rows, columns).

    The centre is at coordinate ``n / 2`` of each axis of length ``n`` (pixel 112 on a
    224-pixel side) and the standard deviation is ``fraction * n`` pixels.
    """
    rows, cols = ((torch.arange(n, dtype=torch.float64) - n / 2) / (fraction * n) for n in size)
    return torch.exp(-0.5 * (rows[:, None] ** 2 + cols[None, :] ** 2))


class MaskedNoise(Noise):
    """Noise concentrated at the image centre by a random binarised Gaussian mask.

    ``noisy = where(mask, inner(I), I)`` where ``mask = G > u``: ``G`` is a Gaussian of
    peak 1 centred on the image and ``u`` ~ U[0, 1) is drawn per pixel of each image (all
    channels share a pixel's mask).  Volumes get the 2-D in-plane Gaussian (last two axes)
    on every slice, with independent random values per voxel.  Parameters not listed
    below are forwarded to the inner noise: ``masked:noise=speckle,sigma=25``.

    Parameters
    ----------
    noise : Spec
        The inner noise, any registered noise SPEC, e.g. ``speckle`` or
        ``(salt_pepper:amount=0.1)``.
    mask_sigma : float
        Standard deviation of the Gaussian as a fraction of the image side (per axis);
        0.25 gives the paper's 56 px on 224 x 224 images.
    """

    def __init__(
        self,
        noise: Spec | str = _DEFAULT_INNER,
        mask_sigma: float = 0.25,
        **noise_params: Any,
    ) -> None:
        if mask_sigma <= 0:
            raise ValueError(f"mask_sigma must be > 0, got {mask_sigma}")
        self.inner: Noise = inner_noise(noise, noise_params)
        self.mask_sigma = float(mask_sigma)

    def mask(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Boolean mask ``(B, 1, *spatial)``: True where the noise is kept."""
        gaussian = centred_gaussian(tuple(batch.shape[-2:]), self.mask_sigma)
        return gaussian.to(batch.device, batch.dtype) > uniform(
            pixel_shape(batch), generator, batch
        )

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return the inner noise inside the random mask and ``batch`` outside it."""
        noisy = self.inner.apply(batch, generator)
        return torch.where(self.mask(batch, generator), noisy, batch)
