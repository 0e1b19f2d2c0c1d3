"""Medical image input/output: DICOM, NIfTI and raster formats.

Read any supported file with :func:`read_image` (or a DICOM series with
:func:`read_dicom_series`), get a :class:`MedicalImage` (float32, channel-first, original
units), and write it back in the same format with :func:`write_image` (lossy-compressed
rasters without further loss after :func:`medden.io.lossy.prepare_write`).  :func:`scan` finds
the images of a folder tree.  See :mod:`medden.io.image` for the data convention and the
format modules for details.

The DICOM and NIfTI modules are imported when a file needs them: pydicom and nibabel take
about a second to import, which a run over PNG files does not pay.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medden.io.atomic import atomic_write
from medden.io.detect import detect_format
from medden.io.image import Format, ImageMeta, MedicalImage
from medden.io.scan import ScanItem, ScanResult, scan

__all__ = [
    "Format",
    "ImageMeta",
    "MedicalImage",
    "ScanItem",
    "ScanResult",
    "atomic_write",
    "detect_format",
    "read_dicom_series",
    "read_image",
    "scan",
    "write_image",
]

#: Format -> the module and function reading a file of it (imported when first used).
_READERS = {"dicom": ("medden.io.dicom", "read_dicom_file"),
            "nifti": ("medden.io.nifti", "read_nifti"),
            "raster": ("medden.io.raster", "read_raster")}


def _function(module: str, name: str) -> Callable[..., Any]:
    return getattr(importlib.import_module(module), name)


def __getattr__(name: str) -> Any:
    """:func:`~medden.io.dicom.read_dicom_series`, imported with pydicom when asked for."""
    if name == "read_dicom_series":
        return _function("medden.io.dicom", name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_image(path: Path | str) -> MedicalImage:
    """Read one file: DICOM (single- or multi-frame), NIfTI (2-D to 4-D), PNG/JPEG/TIFF.

    Raises
    ------
    ValueError
        When the file is not a supported image or its content cannot be decoded (the
        decoding libraries may also raise ``OSError`` for damaged files).
    """
    path = Path(path)
    kind = detect_format(path)
    if kind is None:
        raise ValueError(f"{path}: not a supported image file")
    return _function(*_READERS[kind])(path)


def write_image(
    image: MedicalImage,
    path: Path | str,
    *,
    derivation: str = "denoised by medden",
    series_suffix: str = "denoised",
    series_uid_map: dict[str, str] | None = None,
    uid_salt: str | None = None,
) -> list[Path]:
    """Write ``image`` in the format it was read from; returns the written paths.

    A raster read from a lossy-compressed file is written in its lossy coding again unless
    :func:`medden.io.lossy.prepare_write` chose a lossless one first (DICOM is always
    written uncompressed).

    Values are converted back to the stored representation (inverse rescale, rounding
    for integer types, clipping to the representable range, original dtype).  Every file is
    written atomically (temporary file in the destination folder, then :func:`os.replace`).

    Parameters
    ----------
    image : MedicalImage
        An image from :func:`read_image` or :func:`read_dicom_series`, ``data`` possibly
        replaced by an array of the same shape.
    path : Path
        Output file; for a DICOM series read from several files, the output *directory*
        (each instance keeps its original file name).  Parent folders are created.
    derivation : str
        DICOM Derivation Description of the new derived instances.
    series_suffix : str
        Appended to their Series Description: what they are (``"denoised"``, ``"noisy"``).
    series_uid_map : dict, optional
        DICOM source SeriesInstanceUID -> new one, filled in as needed; pass the same dict
        to several calls to keep the images of one source series in one new series.
    uid_salt : str, optional
        Derive new DICOM UIDs from it and the source UIDs instead of drawing them
        (:func:`medden.io.dicom_derived.derived_uid`): the same salt, the same UIDs.

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    fmt = image.meta.format
    if fmt == "dicom":
        uid_map = {} if series_uid_map is None else series_uid_map
        return _function("medden.io.dicom", "write_dicom")(
            image, path, derivation=derivation, series_suffix=series_suffix,
            series_uid_map=uid_map, uid_salt=uid_salt)
    if fmt == "nifti":
        return _function("medden.io.nifti", "write_nifti")(image, path)
    if fmt == "raster":
        return _function("medden.io.raster", "write_raster")(image, path)
    raise ValueError(f"unknown image format {fmt!r}")
