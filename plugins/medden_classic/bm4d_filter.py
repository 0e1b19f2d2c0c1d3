"""BM4D denoising through the optional ``bm4d`` package (free for non-commercial use only:
``pip install medden[bm4d]``; see :mod:`medden_classic._block_matching`).

BM4D groups similar 3-D blocks of a volume, so it uses the slices above and below, and it is
built for correlated noise given by its power spectrum (Maggioni et al., "Nonlocal
transform-domain filter for volumetric data denoising and reconstruction", IEEE TIP 22, 2013;
Mäkinen, Azzari & Foi, "Collaborative filtering of correlated noise", IEEE TIP 29, 2020).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from medden.models import ClassicalDenoiser
from medden_classic._block_matching import TakesSpectrum, import_package
from medden_classic._common import noise_level, require_positive

__all__ = ["BM4DFilter"]

#: Noise levels (on [0, 1]) below this are no noise: the image is returned as it is.
NO_NOISE = 1e-6


class BM4DFilter(TakesSpectrum, ClassicalDenoiser):
    """Block-matching and 4D filtering (BM4D) of volumes; needs ``pip install medden[bm4d]``.

    A volume ``(C, D, H, W)`` is filtered as one 3-D image per channel (blocks span slices);
    a 2-D image ``(C, H, W)`` as a one-slice volume per channel.  :meth:`with_psd` tells it the
    noise power spectrum of a 2-D image's correlated noise (``medden benchmark --true-sigma
    bm4d``).

    Parameters
    ----------
    sigma : float or None
        Noise standard deviation on the 0-255 scale; ``None`` estimates it from the image
        with ``skimage.restoration.estimate_sigma``.
    profile : {'np', 'refilter'}
        BM4D parameter profile (``np``: the standard one; ``refilter``: a second Wiener pass).
    """

    noise_sigma_parameter: ClassVar[str | None] = "sigma"
    #: Built like BM3D's library, which aborts the process when two threads run it at once.
    thread_safe: ClassVar[bool] = False
    tuning_grid: ClassVar[dict[str, list[Any]]] = {
        "sigma": [None, 10.0, 15.0, 20.0, 25.0, 35.0, 50.0],
    }

    def __init__(self, sigma: float | None = None,
                 profile: Literal["np", "refilter"] = "np") -> None:
        super().__init__()
        import_package("bm4d")
        require_positive(sigma=sigma)
        self.sigma = sigma
        self.profile = profile

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Denoise ``image`` ``(C, H, W)`` or ``(C, D, H, W)`` with BM4D, channel by channel."""
        bm4d = import_package("bm4d")
        if self.psd is not None:
            return np.stack([
                bm4d.bm4d(plane.astype(np.float64)[..., None], psd[..., None],
                          profile=self.profile)[..., 0]
                for plane, psd in zip(image, self.channel_spectra(image), strict=True)
            ]).astype(np.float32)
        sigma = noise_level(self.sigma, image)
        if sigma < NO_NOISE:
            return image.astype(np.float32)
        out = []
        for channel in image:
            volume = channel[None] if channel.ndim == 2 else channel  # (D, H, W)
            filtered = bm4d.bm4d(np.moveaxis(volume.astype(np.float64), 0, -1), sigma,
                                 profile=self.profile)
            out.append(np.moveaxis(filtered, -1, 0).reshape(channel.shape))
        return np.stack(out).astype(np.float32)
