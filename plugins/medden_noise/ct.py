"""Low-dose CT noise: photon counting on the projections, filtered back-projection.

Two noises, one physics:

``ct_lowdose`` simulates the acquisition.  The image (normalised with medden's CT window, so
``HU = x * 4095 - 1024``) is turned into linear attenuation, ``mu = mu_water * (1 + HU/1000)``,
forward-projected (parallel beam, ``views`` angles over 180 degrees, scikit-image's
:func:`~skimage.transform.radon`), the detector counts ``Poisson(i0 * exp(-p))`` plus optional
electronic (Gaussian) noise are drawn, the log is taken, and the difference between the noisy
and the noiseless line integrals is reconstructed by filtered back-projection with the chosen
kernel (:func:`~skimage.transform.iradon`).  The reconstructed noise is added to the input.

*The clean reference of a pair is the input itself.*  FBP is linear, so ``FBP(noisy) -
FBP(noiseless)`` is exactly the noise a scanner's reconstruction of the noisy projections adds
to its reconstruction of the noiseless ones: its texture (correlated, ramp-shaped noise power
spectrum, streaks behind dense bone) and its dependence on attenuation are those of the
simulated scan.  Adding it to the input instead of returning ``FBP(noisy)`` keeps the
reconstruction blur and discretisation error of a parallel-beam round trip out of the pair, so a
denoiser is scored (and trained) on the noise alone, and the reference is the image the user
has.  Pixels outside the reconstruction circle (the scanner's field of view) get no noise.

``ct_texture`` is the fast image-domain model of the same noise for training on patches:
white Gaussian noise shaped by the noise power spectrum that the FBP kernel gives (measured
once per kernel by reconstructing white projection noise), at a standard deviation given in HU,
optionally scaled by the attenuation along the rays through each pixel.  A 512x512 slice costs
milliseconds instead of the seconds of a projection round trip.

Sources: Poisson-on-line-integrals low-dose simulation as in Yu et al., "Development and
validation of a practical lower-dose-simulation tool", Med. Phys. 39 (2012); the insertion of
``dose`` fractions from the same paper; noise power spectrum of FBP: Kak & Slaney, *Principles
of Computerized Tomographic Imaging* (1988), ch. 5.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Literal

import numpy as np
import torch

from medden.intensity import CT_MAP
from medden.metrics import BODY_HU
from medden.noise import Noise
from medden_noise.sampling import check_level_range, standard_normal

__all__ = ["CTLowDoseNoise", "CTTextureNoise", "fbp_nps_profile", "KERNELS"]

#: Reconstruction kernels (scikit-image filter names): sharp to smooth.
KERNELS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")
Kernel = Literal["ramp", "shepp-logan", "cosine", "hamming", "hann"]
#: Linear attenuation of water at about 70 keV, per mm.
MU_WATER = 0.0192
#: Smallest expected count per ray before the log (a detector never reports 0).
MIN_COUNT = 0.5
#: Photons per ray of the first draw that measures an image's noise for ``hu``.
PROBE_I0 = 1.0e5


def _square(plane: np.ndarray, fill: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad a plane to a square (``fill`` outside) and return it with the original shape."""
    height, width = plane.shape
    side = max(height, width)
    square = np.full((side, side), fill, dtype=np.float64)
    top, left = (side - height) // 2, (side - width) // 2
    square[top:top + height, left:left + width] = plane
    return square, (top, left)


def _circle(side: int) -> np.ndarray:
    """Mask of the reconstruction circle of a ``side`` x ``side`` image (as scikit-image)."""
    centre = side // 2
    rows, cols = np.ogrid[:side, :side]
    return (rows - centre) ** 2 + (cols - centre) ** 2 <= centre ** 2


def _angles(views: int) -> np.ndarray:
    return np.linspace(0.0, 180.0, views, endpoint=False)


def _line_integrals(hu_plane: np.ndarray, pixel_mm: float, mu_water: float,
                    views: int) -> tuple[np.ndarray, tuple[int, int], np.ndarray]:
    """Noiseless line integrals of a square-padded HU plane (air outside the circle)."""
    from skimage.transform import radon

    square, corner = _square(hu_plane, -1000.0)
    mu = np.clip(mu_water * (1.0 + square / 1000.0), 0.0, None) * pixel_mm
    inside = _circle(square.shape[0])
    mu[~inside] = 0.0
    return radon(mu, _angles(views), circle=True), corner, inside


class _HUNoise(Noise):
    """Base of the CT noises: the scan geometry and reading planes in HU."""

    @property
    def measured_truth(self) -> bool:
        """True: benchmarks give filters the drawn noise's standard deviation."""
        return True

    @property
    def correlated(self) -> bool:
        """True: benchmarks also give filters the drawn noise's power spectrum."""
        return True

    def __init__(self, pixel_mm: float, mu_water: float, hu_offset: float,
                 hu_scale: float) -> None:
        for name, value in (("pixel_mm", pixel_mm), ("mu_water", mu_water),
                            ("hu_scale", hu_scale)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        self.pixel_mm = float(pixel_mm)
        self.mu_water = float(mu_water)
        self.hu_offset = float(hu_offset)
        self.hu_scale = float(hu_scale)

    def map_planes(self, batch: torch.Tensor,
                   function: Callable[[np.ndarray], np.ndarray]) -> torch.Tensor:
        """``function`` of every 2-D plane of ``batch`` read in HU, stacked back to the batch's
        shape (a float64 CPU tensor)."""
        data = batch.detach().cpu().double().numpy()
        planes = data.reshape(-1, *data.shape[-2:]) * self.hu_scale + self.hu_offset
        return torch.from_numpy(np.stack([function(p) for p in planes]).reshape(data.shape))


class CTLowDoseNoise(_HUNoise):
    """Low-dose CT noise simulated on the projections: Poisson counts, log, FBP (in HU).

    The input is read in HU through medden's CT window (``hu_offset``/``hu_scale``, the
    defaults of :data:`medden.intensity.CT_MAP`), forward-projected, given Poisson photon
    noise (and electronic noise), and the reconstructed noise is added to it: the pair's clean
    reference is the input (see the module docstring for why).  Each channel and each slice of
    a volume is simulated separately (2-D parallel beam).  About 3 s per 512x512 slice at 360
    views on one CPU core.

    Parameters
    ----------
    i0 : float
        Incident photons per detector ray and view of the simulated scan (the input is taken
        as noiseless).  Noise in HU scales as ``1/sqrt(i0)``.  Ignored when ``dose`` is given.
    dose : float or None
        Instead of ``i0``: the fraction (0 < dose < 1) of the input's own dose to simulate,
        for an input that is itself a scan at ``full_dose_i0`` photons; the noise added is
        that of ``i0 = full_dose_i0 * dose / (1 - dose)``, so that input and added noise
        together are the noise of a scan at ``dose * full_dose_i0`` (0.25 = quarter dose).
    full_dose_i0 : float
        Photons per ray of the input's acquisition (used with ``dose``).
    hu : float or None
        Instead of ``i0`` and ``dose``: the noise standard deviation to reach inside the body
        (HU above -500), image by image.  A first draw at 1e5 photons measures how noisy this
        image's projections make it, and ``i0`` is scaled by ``(measured / hu)^2`` for the
        draw returned (noise in HU goes as ``1/sqrt(i0)``); twice the cost.
    electronic : float
        Standard deviation of the electronic (detector read) noise, in photon counts per ray.
    kernel : {'ramp', 'shepp-logan', 'cosine', 'hamming', 'hann'}
        Reconstruction kernel, sharp to smooth: sharper kernels give finer, stronger noise.
    views : int
        Projection angles over 180 degrees.
    pixel_mm : float
        Pixel size in millimetres (the path length of a ray through one pixel).
    mu_water : float
        Linear attenuation of water, per mm (0.0192: about 70 keV).
    hu_offset, hu_scale : float
        The intensity map of the normalised input (``HU = x * hu_scale + hu_offset``).
    """

    spatial_dims = (2, 3)

    def __init__(self, i0: float = 1.0e5, dose: float | None = None,
                 full_dose_i0: float = 3.0e5, hu: float | None = None,
                 electronic: float = 0.0,
                 kernel: Kernel = "ramp", views: int = 360, pixel_mm: float = 0.7,
                 mu_water: float = MU_WATER, hu_offset: float = CT_MAP.offset,
                 hu_scale: float = CT_MAP.scale) -> None:
        if dose is not None and not 0.0 < dose < 1.0:
            raise ValueError(f"dose must be a fraction in (0, 1), got {dose}")
        super().__init__(pixel_mm, mu_water, hu_offset, hu_scale)
        for name, value in (("i0", i0), ("full_dose_i0", full_dose_i0), ("views", views)):
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if electronic < 0:
            raise ValueError(f"electronic must be >= 0, got {electronic}")
        if hu is not None and not hu > 0:
            raise ValueError(f"hu must be > 0, got {hu}")
        self.hu = None if hu is None else float(hu)
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
        self.i0 = float(full_dose_i0 * dose / (1.0 - dose) if dose is not None else i0)
        self.electronic = float(electronic)
        self.kernel = kernel
        self.views = int(views)

    def noise_hu(self, hu_plane: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """The reconstructed noise (HU) of one 2-D plane given in HU; zero outside the circle."""
        integrals, (top, left), inside = _line_integrals(hu_plane, self.pixel_mm,
                                                         self.mu_water, self.views)
        height, width = hu_plane.shape
        inside = inside[top:top + height, left:left + width]

        def draw(i0: float) -> np.ndarray:
            noise = self._reconstructed_noise(integrals, i0, generator)
            noise = noise[top:top + height, left:left + width]
            noise[~inside] = 0.0
            return noise / (self.pixel_mm * self.mu_water) * 1000.0

        if self.hu is None:
            return draw(self.i0)
        probe = draw(PROBE_I0)
        body = inside & (hu_plane > BODY_HU)
        measured = float(probe[body].std()) if body.sum() > 1 else 0.0
        return draw(PROBE_I0 * (measured / self.hu) ** 2) if measured > 0 else probe

    def _reconstructed_noise(self, integrals: np.ndarray, i0: float,
                             generator: torch.Generator) -> np.ndarray:
        """FBP of the noisy minus the noiseless line integrals at ``i0`` photons per ray."""
        from skimage.transform import iradon

        expected = torch.from_numpy(i0 * np.exp(-integrals))
        counts = torch.poisson(expected, generator=generator)
        if self.electronic > 0:
            counts = counts + self.electronic * torch.randn(
                counts.shape, generator=generator, dtype=counts.dtype)
        noisy = -np.log(counts.clamp_min(MIN_COUNT).numpy() / i0)
        return iradon(noisy - integrals, _angles(self.views), filter_name=self.kernel,
                      circle=True)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch`` plus the reconstructed low-dose noise of each plane."""
        noise = self.map_planes(batch, lambda plane: self.noise_hu(plane, generator))
        return batch + (noise / self.hu_scale).to(device=batch.device, dtype=batch.dtype)


@cache
def fbp_nps_profile(kernel: str, size: int = 128, repeats: int = 24,
                    bins: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """Radial noise power spectrum of FBP noise with ``kernel``, measured (cached).

    White, unit-variance noise is added to the projections of a ``size`` x ``size`` image
    (``size`` views), reconstructed with ``kernel``, and the periodogram of the central square
    of the reconstruction (inside the circle) is averaged over ``repeats`` draws (fixed seed)
    and over rings of radial frequency.

    Returns
    -------
    tuple of numpy.ndarray
        ``(frequency, power)``: ring centres in cycles per pixel (0 to sqrt(0.5)) and the mean
        power in each ring, normalised to a mean of 1 over the 2-D spectrum.
    """
    from skimage.transform import iradon

    rng = np.random.default_rng(0)
    angles = _angles(size)
    crop = int(size / math.sqrt(2)) // 2 * 2 - 2
    start = (size - crop) // 2
    power = np.zeros((crop, crop))
    for _ in range(repeats):
        noise = iradon(rng.standard_normal((size, size)), angles, filter_name=kernel,
                       circle=True)[start:start + crop, start:start + crop]
        power += np.abs(np.fft.fft2(noise - noise.mean())) ** 2
    power /= power.mean()
    radius = _radial_frequency(crop, crop)
    edges = np.linspace(0.0, math.sqrt(0.5) + 1e-9, bins + 1)
    which = np.digitize(radius.ravel(), edges) - 1
    sums = np.bincount(which, power.ravel(), minlength=bins)[:bins]
    counts = np.bincount(which, minlength=bins)[:bins]
    centres = (edges[:-1] + edges[1:]) / 2
    keep = counts > 0
    return centres[keep], sums[keep] / counts[keep]


def _radial_frequency(height: int, width: int) -> np.ndarray:
    """Radial frequency (cycles per pixel) of each bin of an ``height`` x ``width`` FFT."""
    rows = np.fft.fftfreq(height)[:, None]
    cols = np.fft.fftfreq(width)[None, :]
    return np.sqrt(rows ** 2 + cols ** 2)


@lru_cache(maxsize=64)
def _shaping_filter(kernel: str, height: int, width: int) -> torch.Tensor:
    """Amplitude filter (``rfft2`` layout) that turns unit white noise into unit FBP noise."""
    frequency, power = fbp_nps_profile(kernel)
    full = np.sqrt(np.interp(_radial_frequency(height, width), frequency, power,
                             left=power[0], right=power[-1]))
    full /= math.sqrt(np.mean(full ** 2))  # unit output variance
    amplitude = full[:, : width // 2 + 1]  # the rfft2 half of the symmetric spectrum
    return torch.from_numpy(amplitude.astype(np.float32))


def _attenuation_std(hu_plane: np.ndarray, pixel_mm: float, mu_water: float,
                     body: np.ndarray) -> np.ndarray:
    """Relative noise standard deviation of FBP at each pixel of a plane given in HU.

    The variance of a log-transformed count is ``exp(p) / i0``; back-projecting it (without
    the filter) sums it over the rays through each pixel.  Done on a copy at most 64 pixels
    wide, normalised to a mean variance of 1 inside ``body``.
    """
    from skimage.transform import iradon, resize

    height, width = hu_plane.shape
    factor = max(1, math.ceil(max(height, width) / 64))
    small = resize(hu_plane, (max(2, height // factor), max(2, width // factor)),
                   anti_aliasing=True, preserve_range=True)
    views = max(small.shape) * 2
    integrals, (top, left), _ = _line_integrals(small, pixel_mm * factor, mu_water, views)
    variance = iradon(np.exp(integrals), _angles(views), filter_name=None, circle=True)
    variance = variance[top:top + small.shape[0], left:left + small.shape[1]]
    variance = resize(np.clip(variance, 1e-12, None), (height, width), order=1)
    region = variance[body] if body.any() else variance
    return np.sqrt(variance / region.mean())


class CTTextureNoise(_HUNoise):
    """Fast image-domain CT noise: FBP-kernel-shaped Gaussian noise at a level in HU.

    White Gaussian noise filtered to the noise power spectrum of filtered back-projection with
    ``kernel`` (measured once per kernel, see :func:`fbp_nps_profile`) and scaled to ``hu``
    standard deviation.  With ``attenuation`` the standard deviation also varies across the
    image as the projection noise does (higher where the rays cross more tissue; ``hu`` is then
    the mean over the body, HU > -500).  It matches ``ct_lowdose`` in noise power spectrum and
    standard deviation (tests/test_ct_noise.py) at milliseconds per slice, so training draws it
    on the fly.  Channels and slices get independent draws.

    Parameters
    ----------
    hu : float
        Noise standard deviation in HU (the lower end of the range when ``hu_max`` is given).
    hu_max : float or None
        When given, each image draws its level log-uniformly from [``hu``, ``hu_max``].
    kernel : {'ramp', 'shepp-logan', 'cosine', 'hamming', 'hann', 'random'}
        Reconstruction kernel whose noise texture is drawn; ``random`` picks one per image.
    attenuation : bool
        Scale the noise by the attenuation along the rays through each pixel (for whole
        slices; a training patch shows too little of the body for it to mean anything).
    pixel_mm, mu_water, hu_offset, hu_scale : float
        As for ``ct_lowdose`` (used for ``attenuation`` and to read HU).
    """

    def __init__(self, hu: float = 20.0, hu_max: float | None = None,
                 kernel: Literal["ramp", "shepp-logan", "cosine", "hamming", "hann",
                                 "random"] = "ramp",
                 attenuation: bool = False, pixel_mm: float = 0.7, mu_water: float = MU_WATER,
                 hu_offset: float = CT_MAP.offset,
                 hu_scale: float = CT_MAP.scale) -> None:
        super().__init__(pixel_mm, mu_water, hu_offset, hu_scale)
        check_level_range(hu, hu_max, "hu")
        if hu_max is not None and hu <= 0:
            raise ValueError("hu must be > 0 when hu_max is given (the range is log-uniform)")
        if kernel != "random" and kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {', '.join(KERNELS)} or 'random', "
                             f"got {kernel!r}")
        self.hu = float(hu)
        self.hu_max = None if hu_max is None else float(hu_max)
        self.kernel = kernel
        self.attenuation = bool(attenuation)

    def _level(self, generator: torch.Generator) -> float:
        if self.hu_max is None:
            return self.hu
        low, high = math.log(self.hu), math.log(self.hu_max)
        return math.exp(low + (high - low) * torch.rand((), generator=generator,
                                                        dtype=torch.float64).item())

    def _kernel(self, generator: torch.Generator) -> str:
        if self.kernel != "random":
            return self.kernel
        return KERNELS[int(torch.randint(len(KERNELS), (), generator=generator))]

    def shaped_noise(self, shape: tuple[int, ...], kernel: str, generator: torch.Generator,
                     like: torch.Tensor) -> torch.Tensor:
        """Unit-variance noise with ``kernel``'s FBP texture over the last two axes."""
        height, width = shape[-2:]
        white = standard_normal(shape, generator, torch.empty(0))
        spectrum = torch.fft.rfft2(white) * _shaping_filter(kernel, height, width)
        return torch.fft.irfft2(spectrum, s=(height, width)).to(like.device, like.dtype)

    def apply(self, batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Return ``batch`` plus textured noise, one level and kernel per image."""
        noisy = []
        for image in batch:
            level = self._level(generator) / self.hu_scale
            noise = self.shaped_noise(tuple(image.shape), self._kernel(generator), generator,
                                      image) * level
            if self.attenuation:
                noise = noise * self._std_map(image)
            noisy.append(image + noise)
        return torch.stack(noisy)

    def _std_map(self, image: torch.Tensor) -> torch.Tensor:
        maps = self.map_planes(image, lambda plane: _attenuation_std(
            plane, self.pixel_mm, self.mu_water, plane > -500.0))
        return maps.to(image.device, image.dtype)
