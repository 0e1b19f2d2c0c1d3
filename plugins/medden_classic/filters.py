"""Classical denoising filters from SciPy, scikit-image and SimpleITK, as medden models.

Every filter takes one image ``(C, H, W)`` or ``(C, D, H, W)`` in about [0, 1] and returns
the same shape as float32.  Noise-level parameters are on the 0-255 scale (``sigma=25``
means 25/255), size parameters in pixels.  Each class declares a :attr:`tuning_grid` of
candidate values for per-image oracle tuning in benchmarks: the best setting is chosen
image by image against the clean reference, as the Noise2Noise X-ray/CT paper does for
its Gaussian, median and bilateral baselines.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import SimpleITK as sitk
from scipy import ndimage
from skimage.restoration import (
    denoise_nl_means,
    denoise_tv_chambolle,
    denoise_wavelet,
)

from medden.models import ClassicalDenoiser
from medden_classic._common import (
    estimate_noise,
    per_channel,
    require_positive,
)

__all__ = [
    "GaussianFilter",
    "MedianFilter",
    "BilateralFilter",
    "WaveletFilter",
    "NLMeansFilter",
    "TVFilter",
]


#: Stopping tolerance of Chambolle's iterations.  scikit-image's default (2e-4) can stop
#: far from convergence (on a 512x512 MRI slice with noise 25 it loses 2 dB at weight 0.08
#: but not at 0.07 or 0.09); 1e-5 converges within the 200 iterations.
_TV_TOLERANCE = 1e-5


def _spatial(image: np.ndarray, value: float) -> tuple[float, ...]:
    """Per-axis value for ``(C, *spatial)``: 0-extent on channels, ``value`` on space."""
    return (0.0, *([value] * (image.ndim - 1)))


class GaussianFilter(ClassicalDenoiser):
    """Gaussian smoothing of every channel (isotropic in 2D and 3D).

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian kernel, in pixels.
    """

    tuning_grid: ClassVar[dict[str, list[Any]]] = {
        "sigma": [0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0],
    }

    def __init__(self, sigma: float = 1.5) -> None:
        super().__init__()
        require_positive(sigma=sigma)
        self.sigma = sigma

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Smooth ``image`` with :func:`scipy.ndimage.gaussian_filter` (reflected borders)."""
        out = ndimage.gaussian_filter(image, sigma=_spatial(image, self.sigma), mode="reflect")
        return out.astype(np.float32, copy=False)


class MedianFilter(ClassicalDenoiser):
    """Median filter of every channel over a square (2D) or cubic (3D) window.

    Parameters
    ----------
    size : int
        Side of the window in pixels (odd sizes centre the window).
    """

    tuning_grid: ClassVar[dict[str, list[Any]]] = {"size": [3, 5, 7, 9, 11, 13]}

    def __init__(self, size: int = 5) -> None:
        super().__init__()
        require_positive(size=size)
        self.size = size

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Filter ``image`` with :func:`scipy.ndimage.median_filter` (reflected borders)."""
        size = (1, *([self.size] * (image.ndim - 1)))
        return ndimage.median_filter(image, size=size, mode="reflect").astype(np.float32)


class BilateralFilter(ClassicalDenoiser):
    """Edge-preserving bilateral filter of every channel, in 2D or 3D (SimpleITK).

    Channels are filtered independently, so the range kernel compares intensities within
    one channel (not colour distances).  Volumes get a 3D spatial kernel.  SimpleITK's
    filter is used rather than ``skimage.restoration.denoise_bilateral``, whose spatial
    lookup table (scikit-image 0.26) is one entry too wide per row, which skews the kernel
    along a diagonal and makes it no longer a Gaussian of ``sigma_spatial``.

    Parameters
    ----------
    sigma_color : float
        Standard deviation of the range (intensity) kernel, on the 0-255 scale.
    sigma_spatial : float
        Standard deviation of the spatial kernel, in pixels (the kernel is cut at 2.5
        standard deviations).
    """

    tuning_grid: ClassVar[dict[str, list[Any]]] = {
        "sigma_color": [10.0, 20.0, 35.0, 50.0, 75.0, 100.0, 150.0],
        "sigma_spatial": [1.0, 1.5, 2.0, 3.0],
    }

    def __init__(self, sigma_color: float = 75.0, sigma_spatial: float = 2.0) -> None:
        super().__init__()
        require_positive(sigma_color=sigma_color, sigma_spatial=sigma_spatial)
        self.sigma_color = sigma_color
        self.sigma_spatial = sigma_spatial

    def _filter_channel(self, channel: np.ndarray) -> np.ndarray:
        filtered = sitk.Bilateral(
            sitk.GetImageFromArray(channel.astype(np.float64)),
            domainSigma=self.sigma_spatial,
            rangeSigma=self.sigma_color / 255.0,
        )
        return sitk.GetArrayFromImage(filtered)

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Filter every channel with :func:`SimpleITK.Bilateral` (unit pixel spacing)."""
        return per_channel(image, self._filter_channel)


class WaveletFilter(ClassicalDenoiser):
    """Wavelet shrinkage (BayesShrink, soft thresholds) of every channel, in 2D or 3D.

    Parameters
    ----------
    sigma : float or None
        Noise standard deviation on the 0-255 scale; ``None`` estimates it per channel
        from the finest wavelet coefficients.
    wavelet : str
        PyWavelets wavelet name, e.g. ``db1``, ``db2``, ``sym4``.
    levels : int or None
        Number of decomposition levels; ``None`` uses three fewer than the maximum.
    """

    noise_sigma_parameter: ClassVar[str | None] = "sigma"
    tuning_grid: ClassVar[dict[str, list[Any]]] = {
        "levels": [2, 3, 4, 5],
        "wavelet": ["db1", "db2", "db4", "sym4", "sym8"],
    }

    def __init__(
        self, sigma: float | None = None, wavelet: str = "sym4", levels: int | None = None
    ) -> None:
        super().__init__()
        require_positive(sigma=sigma, levels=levels)
        self.sigma = sigma
        self.wavelet = wavelet
        self.levels = levels

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Denoise ``image`` with :func:`denoise_wavelet` (channels along axis 0)."""
        out = denoise_wavelet(
            image,
            sigma=None if self.sigma is None else self.sigma / 255.0,
            wavelet=self.wavelet,
            mode="soft",
            wavelet_levels=self.levels,
            method="BayesShrink",
            rescale_sigma=True,
            channel_axis=0,
        )
        return out.astype(np.float32, copy=False)


class NLMeansFilter(ClassicalDenoiser):
    """Non-local means (scikit-image), in 2D or 3D; colour images are matched jointly.

    The filter strength is ``h``; by default it is ``h_factor`` times the noise level
    estimated from the image, and the estimated noise variance is removed from patch
    distances (scikit-image's ``sigma`` argument), as scikit-image recommends.  The cost
    grows with ``(2 * patch_distance + 1) ** ndim``: on large volumes lower
    ``patch_distance``.

    Parameters
    ----------
    h : float or None
        Filter strength (decay of patch weights) on the 0-255 scale; ``None`` uses
        ``h_factor`` times the estimated noise level.
    h_factor : float
        Strength relative to the estimated noise level, used when ``h`` is ``None``.
    patch_size : int
        Side of the compared patches, in pixels.
    patch_distance : int
        Largest distance, in pixels, at which patches are searched.
    fast_mode : bool
        Use scikit-image's fast algorithm (uniform patch weights).
    """

    tuning_grid: ClassVar[dict[str, list[Any]]] = {
        "h_factor": [0.4, 0.5, 0.6, 0.7, 0.8, 1.0],
        "patch_size": [5, 7],
    }

    def __init__(
        self,
        h: float | None = None,
        h_factor: float = 0.6,
        patch_size: int = 7,
        patch_distance: int = 6,
        fast_mode: bool = True,
    ) -> None:
        super().__init__()
        require_positive(h=h, h_factor=h_factor, patch_size=patch_size,
                         patch_distance=patch_distance)
        self.h = h
        self.h_factor = h_factor
        self.patch_size = patch_size
        self.patch_distance = patch_distance
        self.fast_mode = fast_mode

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Denoise ``image`` with :func:`denoise_nl_means` (channels along axis 0)."""
        sigma = estimate_noise(image)
        h = self.h_factor * sigma if self.h is None else self.h / 255.0
        # grey images go in without their channel axis: given channel_axis, scikit-image
        # 0.26 returns a single-channel image transposed
        colour = image.shape[0] > 1
        out = denoise_nl_means(
            image if colour else image[0],
            h=max(h, 1e-6),
            sigma=sigma,
            patch_size=self.patch_size,
            patch_distance=self.patch_distance,
            fast_mode=self.fast_mode,
            channel_axis=0 if colour else None,
        )
        return out.reshape(image.shape).astype(np.float32, copy=False)


class TVFilter(ClassicalDenoiser):
    """Total-variation denoising (Chambolle's algorithm) of every channel, in 2D or 3D.

    Runs until the relative change of the energy falls below 1e-5 or 200 iterations.

    Parameters
    ----------
    weight : float
        Denoising weight for images in [0, 1]: larger is smoother (flatter regions).
    """

    tuning_grid: ClassVar[dict[str, list[Any]]] = {
        "weight": [0.03, 0.05, 0.07, 0.1, 0.14, 0.2, 0.28, 0.4],
    }

    def __init__(self, weight: float = 0.1) -> None:
        super().__init__()
        require_positive(weight=weight)
        self.weight = weight

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Denoise ``image`` with :func:`denoise_tv_chambolle` (channels along axis 0)."""
        out = denoise_tv_chambolle(
            image, weight=self.weight, eps=_TV_TOLERANCE, max_num_iter=200, channel_axis=0
        )
        return out.astype(np.float32, copy=False)

