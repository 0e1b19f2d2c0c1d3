"""Names the command line offers as choices, in a module that imports nothing heavy.

``medden --help`` builds every sub-command's parser; its choices come from here, so that
building it imports neither numpy nor torch.  :mod:`medden.intensity` and
:mod:`medden.io.lossy` re-export these names where they are used.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["DEFAULT_TILE", "MODALITIES", "OUTPUT_FORMATS", "OutputFormat"]

#: Names accepted for ``fit_intensity(..., modality=...)`` and the strategy they select.
MODALITIES = {
    "ct": "window",
    "mr": "magnitude",
    "mri": "magnitude",
    "xray": "percentile",
    "x-ray": "percentile",
    "cr": "percentile",
    "dx": "percentile",
    "dr": "percentile",
    "mg": "percentile",
    "rgb": "full_range",
}

#: 2-D tile edge of learned networks (``--tile``, a bundle's ``tile``): images of up to this
#: squared many pixels are denoised in one call, larger ones in overlapping blended tiles.
DEFAULT_TILE = 1024

#: How lossy-compressed inputs are written (see :mod:`medden.io.lossy`).
OutputFormat = Literal["png", "tiff", "keep"]
OUTPUT_FORMATS: tuple[str, ...] = get_args(OutputFormat)
