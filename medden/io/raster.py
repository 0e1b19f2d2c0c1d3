"""Raster images: PNG and JPEG with Pillow, TIFF with tifffile.

Reading
-------
``data`` is ``(C, H, W)`` (``C`` = 1 grey, 3 RGB) holding the stored values as float32;
a multi-page TIFF stack is ``(C, D, H, W)`` (``D`` = pages).  Modes:

* 8-bit grey/RGB (PNG, JPEG, TIFF), 16-bit grey (PNG ``I;16``, TIFF), and any integer or
  float TIFF (``MINISBLACK``, ``MINISWHITE`` kept as stored, ``RGB``).
* Alpha (PNG ``LA``/``RGBA``, TIFF extra samples) is *not* part of ``data``: it is kept in
  ``meta.extra["alpha"]`` and written back unchanged, so denoising never touches it.
* Palette PNG is converted to RGB (RGBA with transparency), 1-bit to 8-bit grey, CMYK JPEG
  to RGB; they are written in the converted mode (``meta.extra["converted_from"]``).
* 16-bit colour PNG is refused (Pillow would reduce it to 8 bits); use TIFF for that.
* TIFF compressed with LZW, JPEG and most codecs other than Deflate needs the optional
  ``imagecodecs`` package (tifffile raises a clear error without it).

Writing
-------
Same format and mode as read, with values rounded, clipped to the dtype range and cast
to the stored dtype; ICC profile, EXIF, DPI and PNG text chunks are kept; TIFF keeps its
photometric interpretation, planar configuration, compression, resolution and
description.  JPEG is lossy: it is written as JPEG at quality 95 with the source's chroma
subsampling, so it round-trips closely but not exactly (use PNG or TIFF input for
lossless results).

``meta.extra`` keys: ``codec`` (``"pillow"`` or ``"tifffile"``), ``format`` (Pillow format
name) or ``axes`` (tifffile series axes), ``save`` (writer options), ``shape`` (shape of
``data``), and when present ``alpha`` (stored alpha planes) and ``converted_from`` (mode).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image, JpegImagePlugin, PngImagePlugin

from medden.io._values import check_shape, dtype_limits, to_stored
from medden.io.atomic import atomic_write
from medden.io.image import ImageMeta, MedicalImage

__all__ = ["RASTER_SUFFIXES", "read_raster", "write_raster", "probe_raster"]

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
_TIFF_SUFFIXES = (".tif", ".tiff")
_CONVERSIONS = {"1": "L", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB"}
_PILLOW_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F")
_TIFF_PHOTOMETRIC = (
    tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE, tifffile.PHOTOMETRIC.RGB
)
_JPEG_QUALITY = 95
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in _TIFF_SUFFIXES


def _image(path: Path, channels: np.ndarray, extra: dict) -> MedicalImage:
    """Build the image from stored values ``(C, [D,] H, W)`` (alpha already removed)."""
    extra["shape"] = channels.shape
    dtype = channels.dtype.newbyteorder("=")
    meta = ImageMeta(
        source=path,
        format="raster",
        original_dtype=dtype,
        modality="RGB" if channels.shape[0] == 3 else None,
        value_range=dtype_limits(dtype),
        extra=extra,
    )
    return MedicalImage(channels.astype(np.float32), meta)


def _check_png_depth(path: Path) -> None:
    with open(path, "rb") as handle:
        head = handle.read(26)
    if len(head) == 26 and head[:8] == _PNG_SIGNATURE and head[24] == 16 and head[25] in (2, 4, 6):
        raise ValueError(f"{path}: 16-bit colour or grey+alpha PNG is not supported "
                         "(Pillow reads it at 8 bits); convert it to TIFF")


def _save_options(image: Image.Image) -> dict:
    """Metadata to carry over when saving (ICC profile, EXIF, DPI, PNG text)."""
    options = {k: image.info[k] for k in ("icc_profile", "exif", "dpi") if k in image.info}
    if image.format == "PNG" and image.text:
        chunks = PngImagePlugin.PngInfo()
        for key, value in image.text.items():
            chunks.add_text(key, value)
        options["pnginfo"] = chunks
    if image.format == "JPEG":
        options["quality"] = _JPEG_QUALITY
        sampling = JpegImagePlugin.get_sampling(image)
        if sampling >= 0:
            options["subsampling"] = sampling
    return options


def _read_pillow(path: Path) -> MedicalImage:
    _check_png_depth(path)
    with Image.open(path) as image:
        image.load()
        extra = {"codec": "pillow", "format": image.format, "save": _save_options(image)}
        mode = image.mode
        target = _CONVERSIONS.get(mode)
        if mode == "P":
            target = "RGBA" if "transparency" in image.info else "RGB"
        if target is not None:
            extra["converted_from"] = mode
            image = image.convert(target)
        if image.mode not in _PILLOW_MODES:
            raise ValueError(f"{path}: image mode {image.mode} is not supported")
        array = np.asarray(image)
    array = array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)
    if array.shape[0] in (2, 4):  # LA / RGBA
        extra["alpha"] = array[-1:].copy()
        array = array[:-1]
    return _image(path, array, extra)


def _read_tiff(path: Path) -> MedicalImage:
    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        page = series.keyframe
        if page.photometric not in _TIFF_PHOTOMETRIC:
            raise ValueError(f"{path}: TIFF photometric {page.photometric.name} not supported")
        array = series.asarray()
        axes = series.axes
        options = {
            "photometric": page.photometric,
            "planarconfig": page.planarconfig,
            "extrasamples": page.extrasamples or None,
            "compression": None if page.compression == 1 else page.compression,
            "resolution": page.resolution,
            "resolutionunit": page.resolutionunit,
            "description": page.description or None,
        }
    spatial = axes.replace("S", "")
    if not spatial.endswith("YX") or len(spatial) > 3:
        raise ValueError(f"{path}: TIFF axes {axes!r} not supported (YX, YXS, SYX, one stack axis)")
    array = np.moveaxis(array, axes.index("S"), 0) if "S" in axes else array[None]
    extra = {"codec": "tifffile", "axes": axes, "save": options}
    extras = len(page.extrasamples)
    if extras:
        extra["alpha"] = array[-extras:].copy()
        array = array[:-extras]
    return _image(path, array, extra)


def read_raster(path: Path) -> MedicalImage:
    """Read a PNG, JPEG or TIFF image (see module docstring)."""
    path = Path(path)
    return _read_tiff(path) if _is_tiff(path) else _read_pillow(path)


def probe_raster(path: Path) -> None:
    """Check that ``path`` opens as a supported raster (header only).

    Raises
    ------
    ValueError or OSError
        With the reason when it does not.
    """
    path = Path(path)
    if _is_tiff(path):
        with tifffile.TiffFile(path) as tif:
            if not tif.series:
                raise ValueError(f"{path}: TIFF without images")
        return
    _check_png_depth(path)
    with Image.open(path) as image:
        image.verify()


def write_raster(image: MedicalImage, path: Path) -> list[Path]:
    """Write ``image`` in the format and mode it was read in; returns the path (in a list)."""
    path = Path(path)
    meta = image.meta
    extra = meta.extra
    alpha = extra.get("alpha")
    data = np.asarray(image.data)
    check_shape(data, extra["shape"], "raster")
    stored = to_stored(data, meta.original_dtype, *meta.value_range)
    if alpha is not None:
        stored = np.concatenate([stored, alpha.astype(stored.dtype)], axis=0)
    with atomic_write(path) as handle:
        if extra["codec"] == "tifffile":
            axes = extra["axes"]
            array = np.moveaxis(stored, 0, axes.index("S")) if "S" in axes else stored[0]
            tifffile.imwrite(handle, array, metadata=None, **extra["save"])
        else:
            array = stored[0] if stored.shape[0] == 1 else np.moveaxis(stored, 0, -1)
            Image.fromarray(array).save(handle, format=extra["format"], **extra["save"])
    return [path]
