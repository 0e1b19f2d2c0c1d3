"""Whether the noise of an image is correlated between neighbouring pixels.

Self-supervised recipes that learn from one noisy image (Neighbor2Neighbor's sub-sampled
pairs, Noise2Void's blind spot) assume noise that is independent from pixel to pixel. CT noise
after filtered back-projection, and the noise of most real files (demosaicing, resampling,
compression), is not: a network then learns to keep the noise, and its self-supervised loss
improves while the image gets worse (measured in docs/adapt.md).

The measure: the finest diagonal Haar detail of 2x2 blocks (mostly noise, as in Donoho's
estimator) is computed on non-overlapping blocks, so white noise gives independent
coefficients, and the correlation of horizontally and vertically adjacent coefficients is
taken per 32x32 tile; the median over tiles discounts the edges of the image. White noise
gives |correlation| below about 0.03, the ramp-kernel CT noise of ``ct_lowdose`` -0.13 to -0.29.
Real files measured the same way: chest X-ray PNGs -0.23, brain MR JPEGs +0.10 to +0.15, CT
slices with their own noise -0.24 to +0.08 (resampling, compression, reconstruction); added
white, Poisson, Rician, multi-coil and camera noise within 0.03 of 0. A limitation: block
differences cancel some correlations (noise minus its own 3x3 mean reads as white).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["CORRELATED", "detail_correlation", "diagonal_detail", "noise_is_correlated",
           "row_correlation", "square_tiles"]

#: |correlation| from which noise counts as correlated (white noise stays below about 0.03).
CORRELATED = 0.08


def row_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of the rows (last axis) of ``a`` and ``b``; NaN where either is
    constant."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((a * a).sum(axis=-1) * (b * b).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 1e-12, (a * b).sum(axis=-1) / denominator, np.nan)


def diagonal_detail(planes: np.ndarray) -> np.ndarray:
    """The finest diagonal Haar detail of 2x2 blocks, ``(..., H // 2, W // 2)`` of planes
    ``(..., H, W)`` (an odd last row or column is left out): almost all noise in a natural
    image, so ``median(|detail|) / 0.6745`` estimates white noise's standard deviation."""
    p = planes[..., : planes.shape[-2] // 2 * 2, : planes.shape[-1] // 2 * 2]
    return (p[..., 0::2, 0::2] - p[..., 0::2, 1::2] - p[..., 1::2, 0::2] + p[..., 1::2, 1::2]) / 2


def square_tiles(planes: np.ndarray, side: int) -> np.ndarray:
    """Non-overlapping ``side x side`` tiles of planes ``(N, H, W)``: ``(T, side, side)``
    (a remainder narrower than a tile is left out)."""
    count, height, width = planes.shape
    rows, cols = height // side, width // side
    cut = planes[:, : rows * side, : cols * side].reshape(count, rows, side, cols, side)
    return cut.transpose(0, 1, 3, 2, 4).reshape(-1, side, side)


def detail_correlation(image: np.ndarray, tile: int = 32) -> float:
    """Median over tiles of the correlation of neighbouring finest diagonal Haar details.

    Parameters
    ----------
    image : np.ndarray
        A 2-D image (any intensity scale).
    tile : int
        Side of the tiles (even, at least 4).

    Returns
    -------
    float
        About 0 for noise independent between pixels; NaN for an image too small or flat.
    """
    detail = diagonal_detail(np.asarray(image, dtype=np.float64))
    tiles = square_tiles(detail[None], tile // 2)
    if len(tiles) == 0:
        return float("nan")
    across = row_correlation(tiles[:, :, 1:].reshape(len(tiles), -1),
                               tiles[:, :, :-1].reshape(len(tiles), -1))
    down = row_correlation(tiles[:, 1:].reshape(len(tiles), -1),
                             tiles[:, :-1].reshape(len(tiles), -1))
    values = ((across + down) / 2)[np.isfinite(across + down)]
    return float(np.median(values)) if values.size else float("nan")


def noise_is_correlated(images: Iterable[np.ndarray]) -> tuple[bool, float]:
    """Whether the noise of ``images`` is correlated, and the median correlation measured.

    Parameters
    ----------
    images : iterable of np.ndarray
        2-D images of one acquisition kind.

    Returns
    -------
    (bool, float)
        ``|median| >= CORRELATED``, and the median of :func:`detail_correlation` over the
        images (NaN, and False, when none could be measured).
    """
    values = [v for v in (detail_correlation(image) for image in images) if np.isfinite(v)]
    if not values:
        return False, float("nan")
    median = float(np.median(values))
    return abs(median) >= CORRELATED, median
