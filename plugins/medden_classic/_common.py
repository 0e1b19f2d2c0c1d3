"""Shared helpers of the classical filters: noise levels, per-channel and slice-wise filtering.

Images here are numpy arrays ``(C, H, W)`` or ``(C, D, H, W)``; noise levels given by users
are on the 0-255 scale and converted to the [0, 1] intensity scale of the images.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["estimate_noise", "noise_level", "per_channel", "slicewise", "require_positive"]


def estimate_noise(image: np.ndarray) -> float:
    """Gaussian noise standard deviation of ``image`` on its own intensity scale.

    Uses :func:`skimage.restoration.estimate_sigma` (median absolute deviation of the finest
    wavelet detail coefficients), averaged over channels.
    """
    from skimage.restoration import estimate_sigma  # seconds to import: only when estimating

    return float(estimate_sigma(image, average_sigmas=True, channel_axis=0))


def noise_level(sigma: float | None, image: np.ndarray) -> float:
    """``sigma`` (0-255 scale) converted to [0, 1] intensities, or estimated when ``None``."""
    return estimate_noise(image) if sigma is None else sigma / 255.0


def per_channel(image: np.ndarray, filter_one: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``filter_one`` (one channel ``(*spatial)`` in, same shape out) to every channel."""
    return np.stack([filter_one(channel) for channel in image]).astype(np.float32, copy=False)


def slicewise(image: np.ndarray, filter_2d: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply a 2D filter (``(C, H, W)`` in, same shape out) to an image or each depth slice.

    A 2D image ``(C, H, W)`` is filtered directly; a volume ``(C, D, H, W)`` slice by slice
    along ``D``.
    """
    if image.ndim == 3:
        return filter_2d(image).astype(np.float32, copy=False)
    slices = [filter_2d(image[:, d]) for d in range(image.shape[1])]
    return np.stack(slices, axis=1).astype(np.float32, copy=False)


def require_positive(**values: float | None) -> None:
    """Raise :class:`ValueError` naming the first given value that is not positive."""
    for name, value in values.items():
        if value is not None and value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
