"""The in-memory image: a float32 array in original units and the metadata to write it back.

Every reader returns a :class:`MedicalImage`; every writer takes one.  ``data`` is always
``float32``, channel-first, in the image's *original* units (Hounsfield units for CT after
RescaleSlope/Intercept, the scaled values of a NIfTI file, the stored values of a raster):

* 2-D images: ``(C, H, W)``;
* volumes: ``(C, D, H, W)`` with ``D`` the slice axis (DICOM series or multi-frame: the
  frame/slice order; NIfTI: the last spatial axis; multi-page TIFF: the page order).

``C`` is 1 for grey-level images, 3 for RGB, and the number of volumes of a 4-D NIfTI.
Intensity normalisation to [0, 1] is a separate step (:mod:`medden.intensity`).

``meta.extra`` holds what the writer of the format needs; its content is private to the
format module (see :mod:`medden.io.dicom`, :mod:`medden.io.nifti`, :mod:`medden.io.raster`),
except ``extra["decompressed_from"]``: the name of the compressed DICOM transfer syntax the
image was decoded from (absent when the input was not compressed), and
``extra["lossy_compression"]``: the lossy coding the values were decoded from (``"JPEG"``,
``"TIFF JPEG"``, a DICOM transfer syntax name; absent when the input was stored without
loss), and ``extra["repairs"]``: what the reader filled in for a non-conformant file
(:mod:`medden.io.dicom_repair`; absent when nothing was).  :mod:`medden.io.lossy` decides
how such an image is written; the batch reports the repairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = ["Format", "ImageMeta", "MedicalImage"]

Format = Literal["dicom", "nifti", "raster"]


@dataclass
class ImageMeta:
    """Where an image came from and what is needed to write it back.

    Attributes
    ----------
    source : Path or None
        The file read (for a DICOM series: its first file in slice order).
    format : {"dicom", "nifti", "raster"}
        The format read; :func:`medden.io.write_image` writes the same one.
    original_dtype : numpy.dtype
        Stored dtype of the pixel values (``int16``, ``uint16``, ``uint8``, ``float32``, ...).
    modality : str or None
        DICOM Modality (``"CT"``, ``"MR"``, ``"CR"``, ``"DX"``, ...), ``"RGB"`` for colour
        rasters, ``None`` when unknown (grey rasters, NIfTI).
    value_range : tuple of float
        Range of values the file can store, in original units (e.g. HU after rescale).
        Writers clip to it, so out-of-range values saturate instead of wrapping around.
    extra : dict
        Format-specific state for the writer (datasets, header and affine, mode, ...).
    inverted : bool
        True when the smallest value displays white (DICOM ``MONOCHROME1``, TIFF
        min-is-white, as many computed and digital radiography systems store their images).
        :func:`medden.intensity.fit_intensity` turns such images round, so that models and
        noise models see them as displayed, dense tissue bright; the values written back
        keep the file's own polarity.
    """

    source: Path | None
    format: Format
    original_dtype: np.dtype
    modality: str | None
    value_range: tuple[float, float]
    extra: dict[str, Any] = field(default_factory=dict)
    inverted: bool = False


@dataclass
class MedicalImage:
    """Pixel data in original units plus metadata.

    Attributes
    ----------
    data : numpy.ndarray
        ``float32``, ``(C, H, W)`` or ``(C, D, H, W)``, original units.
    meta : ImageMeta
        Metadata needed to interpret and write the image.
    """

    data: np.ndarray
    meta: ImageMeta
