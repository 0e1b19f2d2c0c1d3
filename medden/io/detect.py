"""Which format a file holds: DICOM by content, NIfTI and rasters by extension."""

from __future__ import annotations

import warnings
from pathlib import Path

from medden.io.image import Format
from medden.io.raster import RASTER_SUFFIXES

__all__ = ["detect_format", "NIFTI_SUFFIXES"]

NIFTI_SUFFIXES = (".nii", ".nii.gz")
_DICM_OFFSET = 128


def _has_dicm_preamble(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(_DICM_OFFSET)
        return handle.read(4) == b"DICM"


def _parses_as_dicom_image(path: Path) -> bool:
    """A DICOM file without preamble: pydicom parses it and it has image dimensions."""
    import pydicom  # imported by the files that need it: it takes a second

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True, defer_size="1 MB")
        return "Rows" in ds and "Columns" in ds
    except Exception:  # noqa: BLE001 - any parse failure means "not DICOM"
        return False


def detect_format(path: Path | str) -> Format | None:
    """The format of the file at ``path``, or ``None`` when it is not a supported image.

    DICOM is recognised by content (``DICM`` at byte 128, or a file pydicom parses with
    ``force=True`` that has Rows and Columns), so DICOM files without extension are found;
    NIfTI by the ``.nii``/``.nii.gz`` extension; rasters by ``.png``, ``.jpg``, ``.jpeg``,
    ``.tif``, ``.tiff`` (any case).  Directories and missing files give ``None``.
    """
    path = Path(path)
    if not path.is_file():
        return None
    if _has_dicm_preamble(path):
        return "dicom"
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(RASTER_SUFFIXES):
        return "raster"
    if _parses_as_dicom_image(path):
        return "dicom"
    return None
