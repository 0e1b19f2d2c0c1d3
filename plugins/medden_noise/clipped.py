"""Any noise, clipped to the image range: noisy images as a file stores them.

Synthetic noise drawn on an image in [0, 1] leaves the range (Gaussian noise on black pixels
goes negative), and ``medden benchmark`` gives the methods that unclipped image, as the papers
do.  A noisy image read from a PNG, an 8/16-bit TIFF or most DICOM files cannot hold values
below black or above white: its noise is clipped, which biases dark (and bright) regions
upwards (downwards).  ``clipped:noise=gaussian`` measures a denoiser on such input and trains
a network for it.
"""

from __future__ import annotations

from typing import Any

import torch

from medden.noise import Noise
from medden.spec import Spec
from medden_noise.wrapping import inner_noise

__all__ = ["ClippedNoise"]

_DEFAULT_INNER = Spec("gaussian")


class ClippedNoise(Noise):
    """The inner noise, then every value clipped to [0, 1].

    Parameters not listed below are forwarded to the inner noise:
    ``clipped:noise=gaussian,sigma=25``.

    Parameters
    ----------
    noise : Spec
        The inner noise, any registered noise SPEC, e.g. ``gaussian`` or
        ``(masked:noise=speckle)``.
    """

    def __init__(self, noise: Spec | str = _DEFAULT_INNER, **noise_params: Any) -> None:
        self.inner: Noise = inner_noise(noise, noise_params)

    @property
    def additive_gaussian(self) -> bool:
        """The inner noise's: clipped Gaussian noise keeps the sigma drawn before clipping."""
        return self.inner.additive_gaussian

    @property
    def measured_truth(self) -> bool:
        """The inner noise's (the drawn noise is measured after clipping)."""
        return self.inner.measured_truth

    @property
    def correlated(self) -> bool:
        """The inner noise's."""
        return self.inner.correlated

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return the inner noise's output clipped to [0, 1]."""
        return self.inner.apply(batch, generator).clamp(0.0, 1.0)
