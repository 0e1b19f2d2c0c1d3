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

Damaged files
-------------
Before decoding, the size a header claims must fit the file (:mod:`medden.io.claims`: the
stored bytes, or the decompression ratio bound), and every TIFF strip or tile must lie in
the file: a tiled TIFF with tiles missing (offset or byte count 0) is refused rather than
read with zero-filled holes.

Writing
-------
Same format and mode as read, with values rounded, clipped to the dtype range and cast
to the stored dtype; ICC profile, EXIF, DPI and PNG text chunks are kept (PNG written at
zlib level :data:`PNG_COMPRESS_LEVEL`); TIFF keeps its photometric interpretation, planar
configuration, compression, resolution and description.  JPEG is lossy: as read, it is
written as JPEG again at the quality estimated from its quantisation tables
(:mod:`medden.io.jpeg_quality`; 95 without tables) with the source's chroma subsampling, so
it round-trips closely but not exactly.
:func:`store_losslessly` makes the writer store a lossy-compressed image without loss
instead: a JPEG as PNG or TIFF (Deflate), a TIFF compressed with a lossy codec with Deflate.

``meta.extra`` keys: ``codec`` (``"pillow"`` or ``"tifffile"``), ``format`` (Pillow format
name) or ``axes`` (tifffile series axes), ``save`` (writer options), ``shape`` (shape of
``data``), and when present ``alpha`` (stored alpha planes), ``converted_from`` (mode),
``lossy_compression`` (see :mod:`medden.io.image`) and ``quality_source`` (how the JPEG
quality in ``save`` was chosen).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image, ImageMode, JpegImagePlugin, PngImagePlugin

from medden.io._values import check_shape, dtype_limits, to_stored
from medden.io.atomic import atomic_write
from medden.io.claims import check_compressed, check_stored
from medden.io.image import ImageMeta, MedicalImage
from medden.io.jpeg_check import libjpeg_warnings
from medden.io.jpeg_quality import DEFAULT_JPEG_QUALITY, estimate_jpeg_quality

__all__ = ["RASTER_SUFFIXES", "JPEG_SUFFIXES", "read_raster", "write_raster", "probe_raster",
           "store_losslessly", "lossy_encoding"]

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
#: Suffixes of JPEG files (renamed when written losslessly: :mod:`medden.io.lossy`).
JPEG_SUFFIXES = (".jpg", ".jpeg")
_TIFF_SUFFIXES = (".tif", ".tiff")
#: Pillow formats of JPEG files (MPO: a JPEG with more frames, as cameras write).
_JPEG_FORMATS = ("JPEG", "MPO")
#: TIFF compressions that may lose information; lossless writing replaces them by Deflate.
_LOSSY_TIFF = frozenset(c for c in tifffile.COMPRESSION if c.name in {
    "OJPEG", "JPEG", "JPEG_99", "ALT_JPEG", "JPEG_LOSSY", "JPEG_2000_LOSSY", "JPEGXR",
    "JPEGXR_NDPI", "WEBP", "WEBP_DEPRECATED", "LERC", "JPEGXL", "JPEGXL_DNG", "JPEG2000",
})
#: Metadata Pillow carries over into every format it writes.
_CARRIED = ("icc_profile", "exif", "dpi")
#: zlib level of written PNGs (Pillow's default is 6).  The pixels are the same at any level;
#: 4 writes a denoised 512² X-ray 2.8x faster than 6 (13 ms instead of 36) for 1.5 % more
#: bytes, a noisy one 2.6x faster for the same size, a 16-bit one 1.6x faster for the same
#: size, an RGB microscopy image 1.6x faster for 6 % more; levels 1-3 cost 10-20 % more
#: bytes (docs/benchmarks.md, issue 25).
PNG_COMPRESS_LEVEL = 4
_DEFLATE_TIFF = "TIFF (Deflate)"
_CONVERSIONS = {"1": "L", "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB"}
_PILLOW_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "I", "F")
_TIFF_PHOTOMETRIC = (
    tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.MINISWHITE, tifffile.PHOTOMETRIC.RGB
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_tiff(path: Path) -> bool:
    return path.suffix.lower() in _TIFF_SUFFIXES


def _image(path: Path, channels: np.ndarray, extra: dict, inverted: bool = False) -> MedicalImage:
    """Build the image from stored values ``(C, [D,] H, W)`` (alpha already removed);
    ``inverted``: the smallest value displays white."""
    extra["shape"] = channels.shape
    dtype = channels.dtype.newbyteorder("=")
    meta = ImageMeta(
        source=path,
        format="raster",
        original_dtype=dtype,
        modality="RGB" if channels.shape[0] == 3 else None,
        value_range=dtype_limits(dtype),
        extra=extra,
        inverted=inverted,
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
    options = {k: image.info[k] for k in _CARRIED if k in image.info}
    if image.format == "PNG" and image.text:
        chunks = PngImagePlugin.PngInfo()
        for key, value in image.text.items():
            chunks.add_text(key, value)
        options["pnginfo"] = chunks
    return options


def _jpeg_options(image: Image.Image) -> tuple[dict[str, Any], str]:
    """Quality and chroma subsampling to write a JPEG as ``image`` was, and the quality's
    source (estimated from the quantisation tables, or the default)."""
    quality = estimate_jpeg_quality(image.quantization)
    source = "estimated from the input's quantisation tables"
    if quality is None:
        quality, source = DEFAULT_JPEG_QUALITY, f"default ({DEFAULT_JPEG_QUALITY})"
    options: dict[str, Any] = {"quality": quality}
    sampling = JpegImagePlugin.get_sampling(image)
    if sampling >= 0:
        options["subsampling"] = sampling
    return options, source


def _check_pillow_size(path: Path, image: Image.Image) -> None:
    """Refuse a PNG/JPEG header whose size the file's bytes cannot decode to."""
    width, height = image.size
    bits = 1 if image.mode == "1" else np.dtype(ImageMode.getmode(image.mode).typestr).itemsize * 8
    decoded = -(-width * height * len(image.getbands()) * bits // 8)
    check_compressed(image.format or "raster", decoded, path.stat().st_size)


def _tiff_blocks(path: Path, series: tifffile.TiffPageSeries) -> int:
    """Check that every strip or tile of ``series`` lies in the file; their coded bytes."""
    size = path.stat().st_size
    kind = "tiles" if series.keyframe.is_tiled else "strips"
    coded = 0
    for number, page in enumerate(series.pages):
        blocks = list(zip(page.dataoffsets, page.databytecounts, strict=True))
        missing = sum(offset == 0 or count == 0 for offset, count in blocks)
        if missing:
            raise ValueError(f"TIFF page {number}: {missing} of {len(blocks)} {kind} missing "
                             "(offset or byte count 0)")
        if any(offset + count > size for offset, count in blocks):
            raise ValueError(f"TIFF page {number}: {kind} past the end of the file (truncated)")
        coded += sum(count for _, count in blocks)
    return coded


def _check_tiff_size(path: Path, series: tifffile.TiffPageSeries) -> None:
    """Refuse a TIFF whose pixel data cannot be what its tags claim (before decoding)."""
    coded = _tiff_blocks(path, series)
    if series.keyframe.compression == tifffile.COMPRESSION.NONE:
        check_stored("TIFF", series.nbytes, coded)
    else:
        check_compressed("TIFF", series.nbytes, coded)


def _check_jpeg_data(path: Path) -> None:
    """Refuse a JPEG whose coded data libjpeg finds damaged (e.g. a frame header patched to
    another size), which Pillow decodes without an error."""
    warnings = libjpeg_warnings(path)
    if warnings:
        raise ValueError(f"{path}: damaged JPEG data (libjpeg: {warnings[0]}); the frame "
                         "size or the coded data is wrong")


def _read_pillow(path: Path) -> MedicalImage:
    _check_png_depth(path)
    with Image.open(path) as image:
        _check_pillow_size(path, image)
        image.load()
        extra = {"codec": "pillow", "format": image.format, "save": _save_options(image)}
        if image.format in _JPEG_FORMATS:
            _check_jpeg_data(path)
            jpeg, extra["quality_source"] = _jpeg_options(image)
            extra["save"].update(jpeg)
            extra["lossy_compression"] = "JPEG"
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
        if not tif.series:
            raise ValueError(f"{path}: TIFF without images")
        series = tif.series[0]
        page = series.keyframe
        if page.photometric not in _TIFF_PHOTOMETRIC:
            raise ValueError(f"{path}: TIFF photometric {page.photometric.name} not supported")
        _check_tiff_size(path, series)
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
    if page.compression in _LOSSY_TIFF:
        extra["lossy_compression"] = f"TIFF {page.compression.name}"
    extras = len(page.extrasamples)
    if extras:
        extra["alpha"] = array[-extras:].copy()
        array = array[:-extras]
    return _image(path, array, extra,
                  inverted=options["photometric"] == tifffile.PHOTOMETRIC.MINISWHITE)


def read_raster(path: Path) -> MedicalImage:
    """Read a PNG, JPEG or TIFF image (see module docstring)."""
    path = Path(path)
    return _read_tiff(path) if _is_tiff(path) else _read_pillow(path)


def probe_raster(path: Path) -> int:
    """Check that ``path`` opens as a supported raster (header only); return its number of
    pixels (per channel: width x height, times the pages of a TIFF stack).

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
            series = tif.series[0]
            _check_tiff_size(path, series)
            return math.prod(n for n, axis in zip(series.shape, series.axes, strict=True)
                             if axis != "S")
    _check_png_depth(path)
    with Image.open(path) as image:
        width, height = image.size
        _check_pillow_size(path, image)
        image.verify()
    return width * height


def store_losslessly(image: MedicalImage, path: Path) -> str:
    """Make :func:`write_raster` store a lossy-compressed ``image`` at ``path`` without loss.

    A JPEG is written as TIFF (Deflate) when ``path`` ends in ``.tif``/``.tiff`` and as PNG
    otherwise, keeping its ICC profile, EXIF and DPI; a TIFF keeps its layout and metadata,
    its lossy compression replaced by Deflate.  ``image.meta.extra`` is changed in place.

    Parameters
    ----------
    image : MedicalImage
        A raster read with ``meta.extra["lossy_compression"]`` set.
    path : Path
        Where it will be written.

    Returns
    -------
    str
        The format it will be written in: ``"PNG"`` or ``"TIFF (Deflate)"``.

    Raises
    ------
    ValueError
        When the image was not read from a lossy-compressed raster.
    """
    extra = image.meta.extra
    if "lossy_compression" not in extra:
        raise ValueError("store_losslessly needs a raster read from a lossy-compressed file")
    if extra["codec"] == "tifffile":
        extra["save"]["compression"] = tifffile.COMPRESSION.ADOBE_DEFLATE
        return _DEFLATE_TIFF
    carried = {k: extra["save"][k] for k in _CARRIED if k in extra["save"]}
    if _is_tiff(Path(path)):
        extra["format"], extra["save"] = "TIFF", {**carried, "compression": "tiff_adobe_deflate"}
        return _DEFLATE_TIFF
    extra["format"], extra["save"] = "PNG", carried
    return "PNG"


def lossy_encoding(image: MedicalImage) -> dict[str, Any]:
    """How :func:`write_raster` re-encodes a lossy-compressed ``image`` in its own format.

    Returns
    -------
    dict
        ``written_as`` (``"JPEG"``, or ``"TIFF"`` and its compression), ``quality`` (JPEG:
        1-100; other codecs: None, their default) and ``quality_source``.
    """
    extra = image.meta.extra
    if extra["codec"] == "tifffile":
        compression = extra["save"]["compression"]
        return {"written_as": f"TIFF {compression.name}", "quality": None,
                "quality_source": "the codec's default"}
    return {"written_as": extra["format"], "quality": extra["save"]["quality"],
            "quality_source": extra["quality_source"]}


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
            options = extra["save"]
            if extra["format"] == "PNG":
                options = {"compress_level": PNG_COMPRESS_LEVEL, **options}
            Image.fromarray(array).save(handle, format=extra["format"], **options)
    return [path]
