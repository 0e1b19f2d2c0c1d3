"""Quality checks without ground truth: is the residual of a denoiser noise, or anatomy?

Computed from the normalised input ``y``, the output ``x̂`` and the image's
:class:`~medden.intensity.IntensityMap`, for every image of ``medden denoise --qc`` (a
record in ``report.json`` and a summary).  The residual ``r = y - x̂`` of a good denoiser is
the noise it removed: without structure, uncorrelated with the image.  What is measured:

* the noise level before and after (:func:`noise_sigma`: Donoho's median absolute
  deviation of the finest diagonal Haar detail), on the papers' 0-255 scale and in the
  image's units (HU for CT through :data:`~medden.intensity.CT_MAP`; stored values
  otherwise);
* the local correlation of the residual with the output: the mean over 16x16 tiles of
  ``|corr(r, x̂)|``.  A denoiser that blurs an edge leaves the edge's high-pass in ``r``,
  which correlates with the edge in ``x̂`` (the "method noise" of Buades, Coll and Morel,
  SIAM MMS 2005);
* the correlation, across tiles, of the residual's strength with the output's edge
  strength (mean gradient magnitude);
* the residual's whiteness: its lag-1 autocorrelation and the share of its power below a
  quarter of the Nyquist frequency, relative to white noise's (1 for white noise; more when
  the residual holds smooth structure).

Two flags follow: ``structure`` (the residual holds anatomy: its strength follows the
output's edges, or its power sits at low frequencies) and ``unchanged`` (the input is noisy,
yet the output is almost the input).  The local correlation with the output is reported
but does not flag: noise left in the output correlates with the noise removed (a light blur
of pure noise gives 0.3), so it cannot tell anatomy from partial denoising.  The thresholds
are the constants below, chosen on the synthetic cases of ``tests/test_qc.py`` (a
piecewise-smooth phantom with Gaussian noise, sigma 5-25): the perfect denoiser (the clean
phantom) and TV are not flagged; a strong Gaussian blur (sigma 3 pixels) and the identity
are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from medden.intensity import CT_MAP, IntensityMap
from medden.noise_correlation import diagonal_detail, row_correlation, square_tiles

__all__ = ["NOISY_SIGMA", "UNCHANGED_FRACTION", "EDGE_CORRELATION", "LOW_FREQUENCY_POWER",
           "TILE", "noise_sigma", "quality_checks", "summarise"]

#: Noise (0-255 scale) above which an input counts as noisy for the ``unchanged`` flag: the
#: level from which the bundles' noise gate hands an image to the network.
NOISY_SIGMA = 2.0
#: ``unchanged``: the residual's standard deviation is below this fraction of the input's
#: noise.  A denoiser removing any sizeable part of the noise leaves a residual of about the
#: noise level (0.8-1.1 of it on the test cases); an identity leaves 0.
UNCHANGED_FRACTION = 0.25
#: ``structure``: correlation across tiles of the residual's strength and the output's edge
#: strength above this.  About 0 for noise (-0.16 to 0.28 for the perfect and TV denoisers
#: on the test cases); 0.95 and more for a strong blur.
EDGE_CORRELATION = 0.5
#: ``structure``: the residual's power below :data:`_LOW_FREQUENCY` relative to white
#: noise's above this (white noise 1; TV 0.1-0.25, the perfect denoiser 1.07, a strong blur
#: 2.4-8 on the test cases; noise of smooth CT kernels is below 2).
LOW_FREQUENCY_POWER = 2.0
#: Side of the tiles of the local statistics.
TILE = 16
#: Planes of a volume checked (evenly spaced), to bound the cost.
_MAX_PLANES = 16
#: Relative frequency (of the sampling rate) below which residual power counts as "low".
_LOW_FREQUENCY = 0.125


def _planes(image: np.ndarray) -> np.ndarray:
    """``(C, H, W)`` or ``(C, D, H, W)`` as planes ``(N, H, W)``, at most ``_MAX_PLANES``."""
    planes = np.asarray(image, dtype=np.float64).reshape(-1, *image.shape[-2:])
    if len(planes) > _MAX_PLANES:
        planes = planes[np.linspace(0, len(planes) - 1, _MAX_PLANES).round().astype(int)]
    return planes


def noise_sigma(image: np.ndarray) -> float:
    """Standard deviation of white noise in ``image`` (planes ``(..., H, W)``), estimated as
    ``median(|HH|) / 0.6745`` of the finest diagonal Haar detail (Donoho 1995), on the
    image's scale; 0 for images smaller than 2x2."""
    detail = diagonal_detail(_planes(image))
    if detail.size == 0:
        return 0.0
    return float(np.median(np.abs(detail)) / 0.6745)


def _tiles(planes: np.ndarray) -> np.ndarray:
    """Non-overlapping ``TILE x TILE`` tiles of planes: ``(T, TILE * TILE)``."""
    return square_tiles(planes, TILE).reshape(-1, TILE * TILE)


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else 0.0


def _whiteness(residual: np.ndarray) -> tuple[float, float]:
    """Lag-1 autocorrelation (mean of rows and columns) and the low-frequency power share
    relative to white noise's."""
    r = residual - residual.mean(axis=(-2, -1), keepdims=True)
    power = float((r * r).sum())
    if power <= 1e-20:
        return 0.0, 0.0
    lag = float((r[:, :, 1:] * r[:, :, :-1]).sum() + (r[:, 1:] * r[:, :-1]).sum()) / (2 * power)
    spectrum = np.abs(np.fft.fft2(r)) ** 2
    fy = np.fft.fftfreq(r.shape[-2])[:, None]
    fx = np.fft.fftfreq(r.shape[-1])[None, :]
    low = np.hypot(fy, fx) < _LOW_FREQUENCY
    share = float(spectrum[:, low].sum() / spectrum.sum())
    return lag, share / float(low.mean())


def quality_checks(noisy: np.ndarray, denoised: np.ndarray, mapping: IntensityMap,
                   ) -> dict[str, Any]:
    """The checks of one image (see the module docstring).

    Parameters
    ----------
    noisy, denoised : numpy.ndarray
        Normalised input and output, ``(C, H, W)`` or ``(C, D, H, W)``.
    mapping : IntensityMap
        The image's normalisation (for the noise in its own units).

    Returns
    -------
    dict
        ``noise_before``, ``noise_after`` (0-255 scale), ``noise_before_units``,
        ``noise_after_units`` and ``units``, ``residual_std`` (0-255 scale),
        ``residual_output_correlation``, ``residual_edge_correlation``,
        ``residual_autocorrelation``, ``residual_low_frequency_power``, and ``flags``: a list
        of ``"structure"`` and/or ``"unchanged"``.
    """
    y, x = _planes(noisy), _planes(denoised)
    residual = y - x
    before, after = noise_sigma(y), noise_sigma(x)
    r_tiles, x_tiles = _tiles(residual), _tiles(x)
    local = _nanmean(np.abs(row_correlation(r_tiles, x_tiles)))
    gradient = np.hypot(*np.gradient(x, axis=(-2, -1)))
    edges = float(row_correlation(r_tiles.std(axis=-1), _tiles(gradient).mean(axis=-1))) \
        if len(r_tiles) > 2 else 0.0
    edges = 0.0 if np.isnan(edges) else edges
    lag, low = _whiteness(residual)
    spread = float(residual.std())
    flags = []
    if edges > EDGE_CORRELATION or low > LOW_FREQUENCY_POWER:
        flags.append("structure")
    if before * 255 > NOISY_SIGMA and spread < UNCHANGED_FRACTION * before:
        flags.append("unchanged")
    return {
        "noise_before": round(before * 255, 3), "noise_after": round(after * 255, 3),
        "noise_before_units": round(before * abs(mapping.scale), 3),
        "noise_after_units": round(after * abs(mapping.scale), 3),
        "units": "HU" if mapping == CT_MAP else "stored value",
        "residual_std": round(spread * 255, 3),
        "residual_output_correlation": round(local, 4),
        "residual_edge_correlation": round(edges, 4),
        "residual_autocorrelation": round(lag, 4),
        "residual_low_frequency_power": round(low, 3),
        "flags": flags,
    }


def summarise(records: Iterable[dict[str, Any] | None]) -> str:
    """One line: images checked, flagged, and the count per flag."""
    checked = [r for r in records if r is not None]
    flagged = [r for r in checked if r["flags"]]
    reasons = Counter(flag for r in checked for flag in r["flags"])
    detail = ", ".join(f"{count} {flag}" for flag, count in sorted(reasons.items()))
    return (f"quality checks: {len(checked)} image(s) checked, {len(flagged)} flagged"
            + (f" ({detail})" if detail else ""))
