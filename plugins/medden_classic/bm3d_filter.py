"""BM3D denoising through the optional ``bm3d`` package (free for non-commercial use only:
``pip install medden[bm3d]``; see :mod:`medden_classic._block_matching`)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from medden.models import ClassicalDenoiser
from medden_classic._block_matching import TakesSpectrum, import_package
from medden_classic._common import noise_level, per_channel, require_positive, slicewise

__all__ = ["BM3DFilter"]

#: Smallest image side BM3D works on; smaller images are mirror-padded up to it.
MIN_SIDE = 16


#: Noise levels (on [0, 1]) below this are no noise: the image is returned as it is.  The
#: wavelet estimate of a flat-background image with no noise is ~1e-17, with which BM3D's
#: colour path returns NaN.
NO_NOISE = 1e-6


class BM3DFilter(TakesSpectrum, ClassicalDenoiser):
    """Block-matching and 3D filtering (BM3D); needs ``pip install medden[bm3d]``.

    Grey images and every channel of non-RGB images are filtered with ``bm3d.bm3d``;
    3-channel images with three equal channels (grey stored as RGB) as one grey image;
    other 3-channel images with ``bm3d.bm3d_rgb`` (block matching on the luminance of an
    opponent colour transform).  BM3D is 2D: a volume ``(C, D, H, W)`` is filtered in its
    ``D`` axial slices independently.

    Correlated noise (CT reconstructions, demosaiced cameras) is described to BM3D by its
    power spectrum instead of a sigma: :meth:`with_psd` returns the filter told the spectrum
    (used by ``medden benchmark --true-sigma bm3d`` for noises with a measured truth); each
    channel is then filtered as a grey image with its own spectrum.

    Parameters
    ----------
    sigma : float or None
        Noise standard deviation on the 0-255 scale; ``None`` estimates it from the image
        with ``skimage.restoration.estimate_sigma``.
    profile : {'np', 'refilter', 'vn', 'high'}
        BM3D parameter profile (``np``: the standard one; ``refilter``: a second Wiener
        pass; ``vn``/``high``: for strong noise / higher quality at more cost).
    """

    noise_sigma_parameter: ClassVar[str | None] = "sigma"
    #: The library aborts the process when two threads run it at once.
    thread_safe: ClassVar[bool] = False
    tuning_grid: ClassVar[dict[str, list[Any]]] = {
        "sigma": [None, 10.0, 15.0, 20.0, 25.0, 35.0, 50.0],
    }

    def __init__(
        self,
        sigma: float | None = None,
        profile: Literal["np", "refilter", "vn", "high"] = "np",
    ) -> None:
        super().__init__()
        import_package("bm3d")
        require_positive(sigma=sigma)
        self.sigma = sigma
        self.profile = profile

    def _filter_with_psd(self, image: np.ndarray) -> np.ndarray:
        bm3d = import_package("bm3d")
        return np.stack([bm3d.bm3d(plane.astype(np.float64), psd, profile=self.profile)
                         for plane, psd in zip(image, self.channel_spectra(image), strict=True)
                         ]).astype(np.float32)

    def filter_image(self, image: np.ndarray) -> np.ndarray:
        """Denoise ``image`` with BM3D, slice by slice for volumes."""
        if self.psd is not None:
            return self._filter_with_psd(image)
        bm3d = import_package("bm3d")
        sigma = noise_level(self.sigma, image)
        if sigma < NO_NOISE:  # nothing measured to remove; bm3d would divide by ~0 (NaN)
            return image.astype(np.float32)

        def filter_2d(image_2d: np.ndarray) -> np.ndarray:
            height, width = image_2d.shape[-2:]
            if min(height, width) < MIN_SIDE:  # bm3d needs room for its blocks
                pad = [(0, 0), (0, max(0, MIN_SIDE - height)), (0, max(0, MIN_SIDE - width))]
                return filter_2d(np.pad(image_2d, pad, mode="symmetric"))[:, :height, :width]
            if image_2d.shape[0] == 3 and np.array_equal(image_2d[0], image_2d[1]) and (
                    np.array_equal(image_2d[0], image_2d[2])):
                # Gray stored as RGB (microscopy): bm3d_rgb divides by the range of its
                # colour-difference channels, zero here (NaN); they carry nothing anyway.
                gray = bm3d.bm3d(image_2d[0].astype(np.float64), sigma, profile=self.profile)
                return np.repeat(gray[None], 3, axis=0)
            if image_2d.shape[0] == 3:
                rgb = np.moveaxis(image_2d.astype(np.float64), 0, -1)
                return np.moveaxis(bm3d.bm3d_rgb(rgb, sigma, profile=self.profile), -1, 0)
            return per_channel(
                image_2d,
                lambda plane: bm3d.bm3d(plane.astype(np.float64), sigma, profile=self.profile),
            )

        return slicewise(image, filter_2d)
