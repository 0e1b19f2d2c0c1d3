"""Estimate the quality setting a JPEG file was saved with, from its quantisation tables.

Encoders built on the Independent JPEG Group's library (libjpeg, libjpeg-turbo, Pillow,
most cameras' and scanners' software) scale two standard tables (ITU-T T.81 Annex K) by a
quality factor 1-100.  :func:`estimate_jpeg_quality` finds the factor whose scaled tables
are closest to the file's; for files saved with other tables it is the nearest IJG quality.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["DEFAULT_JPEG_QUALITY", "estimate_jpeg_quality", "ijg_tables"]

#: Quality used when a JPEG holds no quantisation table to estimate from.
DEFAULT_JPEG_QUALITY = 95

# ITU-T T.81 Annex K tables K.1 (luminance) and K.2 (chrominance), natural (row) order.
_LUMINANCE = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMINANCE = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
) + (99,) * 32  # fmt: skip
_STANDARD = np.array([_LUMINANCE, _CHROMINANCE], dtype=np.int64)


def ijg_tables(quality: int) -> np.ndarray:
    """The two quantisation tables libjpeg writes at ``quality`` (baseline, 8-bit).

    Parameters
    ----------
    quality : int
        1 to 100.

    Returns
    -------
    numpy.ndarray
        ``(2, 64)``: luminance and chrominance tables in natural order.
    """
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return np.clip((_STANDARD * scale + 50) // 100, 1, 255)


def estimate_jpeg_quality(quantization: Mapping[int, Sequence[int]]) -> int | None:
    """The IJG quality whose tables are closest to ``quantization`` (sum of differences).

    Parameters
    ----------
    quantization : mapping of int to sequence of int
        Table id -> 64 values in natural order, as Pillow's ``JpegImageFile.quantization``.
        Table 0 is compared with the luminance table, table 1 with the chrominance table;
        others are ignored.

    Returns
    -------
    int or None
        1 to 100 (the highest of equally close qualities), or None without table 0 or 1.
    """
    ids = [i for i in (0, 1) if len(quantization.get(i, ())) == 64]
    if not ids:
        return None
    tables = np.array([quantization[i] for i in ids], dtype=np.int64)
    distance = [np.abs(ijg_tables(q)[ids] - tables).sum() for q in range(100, 0, -1)]
    return 100 - int(np.argmin(distance))
