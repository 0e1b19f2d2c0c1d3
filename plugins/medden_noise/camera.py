"""Camera sensor noise: photon shot noise, gain, offset, read noise and quantisation.

The photon-transfer model of a CCD/CMOS camera (EMVA 1288): a pixel of normalised intensity
``I`` collects ``Poisson(photons * I)`` photo-electrons; the electronics multiply them by the
``gain`` (ADU per electron), add a dark ``offset`` and Gaussian ``read_noise`` (ADU), and the
converter rounds to whole ADU within ``bits``.  The variance of a pixel is therefore linear in
its mean: ``var = gain * (mean - offset) + read_noise^2`` (plus 1/12 for rounding), the
photon-transfer curve.  The result is returned on the input's scale:
``(ADU - offset) / (gain * photons)``.  Source: EMVA Standard 1288, release 4.0 (2021);
Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for single-image
raw-data", IEEE TIP 17 (2008).
"""

from __future__ import annotations

import math

import torch

from medden.noise import Noise
from medden_noise.sampling import per_image, standard_normal, uniform

__all__ = ["CameraNoise"]


class CameraNoise(Noise):
    """Camera noise: Poisson photons, gain, offset, Gaussian read noise, quantisation.

    Every channel and pixel is an independent photosite.  ``photons`` is the expected number
    of photo-electrons at intensity 1, so the image is as noisy as a photograph taken with
    that many photons at its brightest point (fluorescence microscopy: 5-1000).

    Parameters
    ----------
    photons : float
        Expected photo-electrons at intensity 1 (the lower end of the range when
        ``photons_max`` is given): lower is noisier.
    photons_max : float or None
        When given, each image draws its photon count log-uniformly from [``photons``,
        ``photons_max``].
    gain : float
        ADU per photo-electron (the slope of the photon-transfer curve).
    offset : float
        Dark offset, ADU.
    read_noise : float
        Standard deviation of the Gaussian read noise, ADU.
    bits : int
        Bit depth of the converter; values are rounded and clipped to [0, 2^bits - 1] ADU.
    hot_pixels : float
        Fraction of pixels stuck at full scale (hot pixels), 0 for none.
    monochrome : bool
        A monochrome sensor (fluorescence microscopy) whose image is stored in several
        channels: the sensor sees the channels' mean and its noise is added to every channel
        alike, instead of one independent photosite per channel (a colour camera).
    """

    def __init__(self, photons: float = 100.0, photons_max: float | None = None,
                 gain: float = 1.0, offset: float = 100.0, read_noise: float = 2.0,
                 bits: int = 16, hot_pixels: float = 0.0, monochrome: bool = False) -> None:
        if not photons > 0:
            raise ValueError(f"photons must be > 0, got {photons}")
        if photons_max is not None and photons_max < photons:
            raise ValueError(f"photons_max ({photons_max}) must be >= photons ({photons})")
        if not gain > 0:
            raise ValueError(f"gain must be > 0, got {gain}")
        if offset < 0 or read_noise < 0:
            raise ValueError("offset and read_noise must be >= 0")
        if not 1 <= bits <= 32:
            raise ValueError(f"bits must be in 1..32, got {bits}")
        if not 0.0 <= hot_pixels < 1.0:
            raise ValueError(f"hot_pixels must be a fraction in [0, 1), got {hot_pixels}")
        self.photons = float(photons)
        self.photons_max = None if photons_max is None else float(photons_max)
        self.gain = float(gain)
        self.offset = float(offset)
        self.read_noise = float(read_noise)
        self.full_scale = float(2 ** bits - 1)
        self.hot_pixels = float(hot_pixels)
        self.monochrome = bool(monochrome)

    @property
    def measured_truth(self) -> bool:
        """True: benchmarks give filters the drawn noise's standard deviation."""
        return True

    def photon_levels(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Per-image photons at intensity 1, shape ``(B, 1, ..., 1)``."""
        size = batch.shape[0]
        if self.photons_max is None:
            levels = torch.full((size,), self.photons, dtype=torch.float64)
        else:
            low, high = math.log(self.photons), math.log(self.photons_max)
            levels = torch.exp(low + (high - low) * torch.rand(size, generator=generator,
                                                               dtype=torch.float64))
        return per_image(levels, batch)

    def adu(self, batch: torch.Tensor, generator: torch.Generator
            ) -> tuple[torch.Tensor, torch.Tensor]:
        """The raw camera values (ADU, float64 on the CPU) of ``batch`` and the photons of
        each image (see :meth:`photon_levels`)."""
        work = batch.detach().to("cpu", torch.float64)
        photons = self.photon_levels(work, generator)
        electrons = torch.poisson(work.clamp_min(0) * photons, generator=generator)
        signal = self.gain * electrons + self.offset
        if self.read_noise > 0:
            signal = signal + self.read_noise * standard_normal(tuple(work.shape), generator,
                                                                work)
        signal = signal.round().clamp(0.0, self.full_scale)
        if self.hot_pixels > 0:
            hot = uniform(tuple(work.shape), generator, work) < self.hot_pixels
            signal = torch.where(hot, torch.full_like(signal, self.full_scale), signal)
        return signal, photons

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return the camera's values converted back to the input's scale."""
        if self.monochrome and batch.shape[1] > 1:
            sensed = batch.mean(dim=1, keepdim=True)
            return batch + (self.apply(sensed, generator) - sensed)
        signal, photons = self.adu(batch, generator)
        out = (signal - self.offset) / (self.gain * photons)
        return out.to(device=batch.device, dtype=batch.dtype)
