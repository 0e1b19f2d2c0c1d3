"""How images read from lossy-compressed files are written: without further loss by default.

An input whose values were decoded from a lossy coding (``meta.extra["lossy_compression"]``:
JPEG, TIFF with a lossy codec, DICOM in a lossy transfer syntax) and written in that coding
again is changed a second time: noise added to it is no longer the noise asked for (JPEG
smooths it, lowers its standard deviation and correlates it across colour channels and
neighbouring pixels), and a denoised image gets compression artefacts back.  So, by default,

* a JPEG file is written as PNG (``"png"``, the default) or as TIFF with Deflate
  (``"tiff"``), and its output name changes accordingly (``a.jpg`` -> ``a.png``); JPEG holds
  8-bit values, which both store exactly;
* a TIFF compressed with a lossy codec stays TIFF, compressed with Deflate;
* DICOM is written uncompressed (Explicit VR Little Endian), keeping LossyImageCompression
  ``01`` (:mod:`medden.io.dicom`).

``"keep"`` writes rasters in their own coding again: JPEG at the quality estimated from the
input's quantisation tables (:mod:`medden.io.jpeg_quality`).  DICOM stays uncompressed
(re-encoding a lossy syntax would lose more).  :func:`prepare_write` returns what was done,
for the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from medden.choices import OUTPUT_FORMATS, OutputFormat
from medden.io.image import MedicalImage
from medden.io.raster import JPEG_SUFFIXES, lossy_encoding, store_losslessly
from medden.io.scan import ScanItem

__all__ = ["OUTPUT_FORMATS", "OutputFormat", "find_output", "lossy_note", "output_relpath",
           "prepare_write"]

_SUFFIXES = {"png": ".png", "tiff": ".tif"}
_UNCOMPRESSED_DICOM = "DICOM Explicit VR Little Endian (uncompressed)"


def output_relpath(item: ScanItem, output_format: OutputFormat) -> Path:
    """Where the output of ``item`` goes relative to OUT.

    Its own relative path, except for a JPEG file written as PNG or TIFF: its suffix is
    replaced (``.png``, ``.tif``).
    """
    relpath = item.relpath
    if (item.kind != "raster" or output_format == "keep"
            or relpath.suffix.lower() not in JPEG_SUFFIXES):
        return relpath
    return relpath.with_suffix(_SUFFIXES[output_format])


def find_output(item: ScanItem, outputs: Mapping[str, ScanItem]) -> ScanItem | None:
    """The item of ``outputs`` (keyed by :attr:`ScanItem.key`) written for ``item``.

    It is at the same key, or for a JPEG file under the name of its lossless output
    (``a.jpg`` -> ``a.png`` or ``a.tif``); None when there is none.
    """
    keys = [item.key, *(str(output_relpath(item, f)) for f in _SUFFIXES)]
    return next((outputs[key] for key in keys if key in outputs), None)


def prepare_write(image: MedicalImage, path: Path,
                  output_format: OutputFormat) -> dict[str, Any] | None:
    """Set how a lossy-compressed ``image`` is written to ``path``; say what was chosen.

    Parameters
    ----------
    image : MedicalImage
        An image as read; its ``meta.extra`` is changed for the writer when needed.
    path : Path
        Its output (from :func:`output_relpath`).
    output_format : {"png", "tiff", "keep"}
        See the module docstring.

    Returns
    -------
    dict or None
        None for an image stored without loss (written as read).  Otherwise
        ``compression`` (the input's lossy coding), ``written_as``, ``lossless`` (whether
        the output adds no loss) and, when re-encoded with loss, ``quality`` and
        ``quality_source``.
    """
    compression = image.meta.extra.get("lossy_compression")
    if compression is None:
        return None
    if image.meta.format == "dicom":
        written: dict[str, Any] = {"written_as": _UNCOMPRESSED_DICOM, "lossless": True}
    elif output_format == "keep":
        written = {**lossy_encoding(image), "lossless": False}
    else:
        written = {"written_as": store_losslessly(image, path), "lossless": True}
    return {"compression": compression, **written}


def lossy_note(record: Mapping[str, Any]) -> str:
    """A sentence for the report from a :func:`prepare_write` record."""
    decoded = f"decoded from lossy {record['compression']}"
    if record["lossless"]:
        return f"{decoded}, written without further loss as {record['written_as']}"
    quality = record["quality"]
    level = f"quality {quality}, " if quality is not None else ""
    return (f"{decoded}, re-encoded with loss as {record['written_as']} "
            f"({level}{record['quality_source']})")
