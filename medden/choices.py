"""Names the command line offers as choices, in a module that imports nothing heavy.

``medden --help`` builds every sub-command's parser; its choices come from here, so that
building it imports neither numpy nor torch.  :mod:`medden.intensity` and
:mod:`medden.io.lossy` re-export these names where they are used.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["MODALITIES", "OUTPUT_FORMATS", "OutputFormat"]

#: Names accepted for ``fit_intensity(..., modality=...)`` and the strategy they select.
MODALITIES = {
    "ct": "window",
    "mr": "percentile",
    "mri": "percentile",
    "xray": "percentile",
    "x-ray": "percentile",
    "cr": "percentile",
    "dx": "percentile",
    "dr": "percentile",
    "mg": "percentile",
    "rgb": "full_range",
}

#: How lossy-compressed inputs are written (see :mod:`medden.io.lossy`).
OutputFormat = Literal["png", "tiff", "keep"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
