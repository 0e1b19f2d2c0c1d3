"""Conversions between float data in original units and stored (on-disk) values."""

from __future__ import annotations

import numpy as np

__all__ = ["dtype_limits", "to_stored", "check_shape"]

_CHUNK = 1 << 20  # values converted at a time


def dtype_limits(dtype: np.dtype) -> tuple[float, float]:
    """Smallest and largest value a numeric dtype can hold."""
    dtype = np.dtype(dtype)
    info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
    return float(info.min), float(info.max)


def to_stored(
    values: np.ndarray,
    dtype: np.dtype,
    low: float,
    high: float,
    *,
    slope: float = 1.0,
    intercept: float = 0.0,
) -> np.ndarray:
    """Stored values ``(values - intercept) / slope``, rounded, clipped and cast to ``dtype``.

    Rounding applies to integer dtypes; clipping to ``[low, high]`` (stored units) happens
    before the cast, so out-of-range values saturate instead of wrapping around.  The work
    is done in float64 (32-bit integer limits stay exact) in chunks, so that large volumes
    never need a whole float64 copy.

    Raises
    ------
    ValueError
        When ``values`` contains NaN and ``dtype`` is an integer type.
    """
    dtype = np.dtype(dtype)
    flat = np.ascontiguousarray(values).reshape(-1)
    out = np.empty(flat.shape, dtype=dtype)
    for start in range(0, flat.size, _CHUNK):
        stored = (flat[start : start + _CHUNK].astype(np.float64) - intercept) / slope
        if dtype.kind in "iu":
            if np.isnan(stored).any():
                raise ValueError(f"cannot store NaN values as {dtype}")
            stored = np.rint(stored)
        out[start : start + _CHUNK] = np.clip(stored, low, high)
    return out.reshape(np.shape(values))


def check_shape(data: np.ndarray, expected: tuple[int, ...], what: str) -> None:
    """Raise ``ValueError`` unless ``data`` has the shape the writer of ``what`` needs."""
    if tuple(data.shape) != tuple(expected):
        raise ValueError(
            f"{what}: data shape {tuple(data.shape)} does not match the image read "
            f"{tuple(expected)}"
        )
