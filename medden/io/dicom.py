"""DICOM files and series with pydicom: read to original units, write derived instances.

Reading
-------
* One file holds a single frame (``data (C, H, W)``) or several frames
  (``data (C, F, H, W)``); a series of single-frame files gives ``(C, D, H, W)`` ordered by
  ImagePositionPatient along the slice normal, then InstanceNumber.  ``C`` is
  SamplesPerPixel (3 for RGB).
* Values are modality values: stored value × RescaleSlope + RescaleIntercept (HU for CT),
  taken per frame from the Pixel Value Transformation functional group of enhanced
  multi-frame objects when present.  A Modality LUT Sequence is not applied.
* MONOCHROME1 images are *not* inverted: ``data`` follows the stored values, and the written
  file keeps MONOCHROME1, so the file displays exactly as its source did.  ``meta.inverted``
  says so, and :func:`medden.intensity.fit_intensity` turns them round for the models.
* Compressed transfer syntaxes (JPEG baseline/lossless, JPEG-LS, JPEG 2000, RLE; decoded
  by the installed pylibjpeg plugins) are decompressed on read.
  ``meta.extra["decompressed_from"]`` names the source syntax.
* Lossy syntaxes (JPEG baseline and extended; JPEG-LS near-lossless, JPEG 2000 and HTJ2K
  unless LossyImageCompression says ``00``) also set ``meta.extra["lossy_compression"]``,
  and the dataset records the loss as PS3.3 C.7.6.1.1.5 asks: LossyImageCompression
  ``01`` (never reset), LossyImageCompressionMethod and LossyImageCompressionRatio added
  when missing, so every file derived from it says that it was lossy-compressed once.
* The pixel data must be what the transfer syntax and the image size say, checked before
  decoding: uncompressed, exactly the bytes Rows × Columns × frames × samples take (one
  padding byte allowed), never encapsulated; compressed, encapsulated, and not claiming a
  decoded size beyond the ratio bound of :mod:`medden.io.claims`.  Anything else fails the
  read instead of giving shifted or made-up pixels.
* YCbCr colour (compressed or not) is converted to RGB by pydicom, and the written files
  say PhotometricInterpretation ``RGB`` accordingly.

Writing
-------
Values are converted back per frame (inverse rescale), rounded, clipped to the stored range
given by BitsStored and PixelRepresentation, and cast to the stored dtype.  Every file
written is a new derived instance (:func:`medden.io.dicom_derived.derive_instance`); all
other elements are preserved.  Uncompressed little-endian input keeps its transfer syntax;
anything else is written as Explicit VR Little Endian.

``meta.extra`` keys: ``datasets`` (pydicom datasets without Pixel Data, in plane order),
``filenames``, ``layout`` (``"file"``: write to the given path; ``"series"``: the given
path is a directory receiving one file per instance under its original name), ``rescale``
(per-plane slope and intercept, shape ``(P, 2)``), ``volume`` (data has a slice axis), and
``repairs`` (what :func:`medden.io.dicom_repair.repair` filled in) and ``series_key`` (the
series identity, folder included) when there was any.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    JPEG2000MC,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

from medden.errors import INTERRUPTS
from medden.io._values import check_shape, to_stored
from medden.io.atomic import atomic_write
from medden.io.claims import check_compressed
from medden.io.dicom_derived import derive_instance
from medden.io.dicom_repair import repair, series_identity
from medden.io.image import ImageMeta, MedicalImage

__all__ = ["read_dicom_file", "read_dicom_series", "write_dicom", "probe_dicom", "DicomProbe",
           "identify_damaged"]

_PIXEL_DATA = 0x7FE00010
#: Syntaxes whose coding always loses information, and those whose coding may (the dataset's
#: LossyImageCompression says which), with the LossyImageCompressionMethod of the coding.
_LOSSY_SYNTAXES = {JPEGBaseline8Bit: "ISO_10918_1", JPEGExtended12Bit: "ISO_10918_1"}
_MAYBE_LOSSY_SYNTAXES = {JPEGLSNearLossless: "ISO_14495_1", JPEG2000: "ISO_15444_1",
                         JPEG2000MC: "ISO_15444_1", HTJ2K: "ISO_15444_15"}


@dataclass
class _Entry:
    """One read file: its dataset (Pixel Data removed) and stored planes ``(C, F, H, W)``."""

    path: Path
    ds: Dataset
    planes: np.ndarray
    rescale: np.ndarray
    decompressed_from: str | None
    lossy_compression: str | None
    repairs: list[str]


def _stored_dtype(ds: Dataset) -> np.dtype:
    bits = int(ds.BitsAllocated)
    if bits not in (8, 16, 32):
        raise ValueError(f"BitsAllocated {bits} is not supported (8, 16 or 32)")
    return np.dtype(f"{'i' if int(ds.PixelRepresentation) == 1 else 'u'}{bits // 8}")


def _stored_limits(ds: Dataset) -> tuple[int, int]:
    bits = int(ds.BitsStored)
    if int(ds.PixelRepresentation) == 1:
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _transform(item: Dataset | None) -> tuple[float, float] | None:
    if item is None:
        return None
    slope, intercept = item.get("RescaleSlope"), item.get("RescaleIntercept")
    if slope in (None, "") or intercept in (None, ""):
        return None
    return float(slope), float(intercept)


def _functional_group(ds: Dataset, sequence: str, index: int) -> Dataset | None:
    groups = ds.get(sequence)
    if not groups or len(groups) <= index:
        return None
    transform = groups[index].get("PixelValueTransformationSequence")
    return transform[0] if transform else None


def _frame_rescale(ds: Dataset, frames: int) -> np.ndarray:
    """Slope and intercept of every frame: per-frame group, shared group, top level, identity."""
    fallback = (
        _transform(_functional_group(ds, "SharedFunctionalGroupsSequence", 0))
        or _transform(ds)
        or (1.0, 0.0)
    )
    rows = [
        _transform(_functional_group(ds, "PerFrameFunctionalGroupsSequence", f)) or fallback
        for f in range(frames)
    ]
    return np.asarray(rows, dtype=np.float64)


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Give files read without file meta (force=True) the transfer syntax they were read in."""
    if "TransferSyntaxUID" in ds.file_meta:
        return
    implicit, little = ds.original_encoding
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _lossy_method(ds: Dataset, syntax: UID) -> str | None:
    """The LossyImageCompressionMethod of ``syntax`` when ``ds`` is coded with loss, else None.

    For syntaxes that may be lossless, only an explicit LossyImageCompression ``00`` says so.
    """
    if syntax in _LOSSY_SYNTAXES:
        return _LOSSY_SYNTAXES[syntax]
    if ds.get("LossyImageCompression") == "00":
        return None
    return _MAYBE_LOSSY_SYNTAXES.get(syntax)


def _record_lossy_compression(ds: Dataset, method: str) -> None:
    """Say in ``ds`` that its compressed pixel data were coded with loss (before decoding).

    LossyImageCompression becomes ``01``; the method and the compression ratio (decoded
    bytes over coded bytes) are added when the dataset does not give them.
    """
    ds.LossyImageCompression = "01"
    if "LossyImageCompressionMethod" not in ds:
        ds.LossyImageCompressionMethod = method
    if "LossyImageCompressionRatio" not in ds:
        decoded = (int(ds.get("NumberOfFrames") or 1) * int(ds.Rows) * int(ds.Columns)
                   * int(ds.SamplesPerPixel) * int(ds.BitsAllocated) // 8)
        ds.LossyImageCompressionRatio = f"{decoded / len(ds.PixelData):.2f}"


def _decoded_bytes(ds: Dataset) -> int:
    """Bytes of the pixel data once decoded, from the image size the dataset states."""
    bits = (int(ds.get("NumberOfFrames") or 1) * int(ds.Rows) * int(ds.Columns)
            * int(ds.get("SamplesPerPixel") or 1) * int(ds.BitsAllocated))
    return -(-bits // 8)


def _check_pixel_data(ds: Dataset, syntax: UID) -> None:
    """Refuse pixel data that does not match the transfer syntax and the image size."""
    element = ds["PixelData"]
    encapsulated = element.is_undefined_length
    decoded = _decoded_bytes(ds)
    if syntax.is_compressed:
        if not encapsulated:
            raise ValueError(f"the transfer syntax is {syntax.name} (compressed) but the pixel "
                             "data is not encapsulated")
        check_compressed(f"DICOM {syntax.name}", decoded, len(ds.PixelData))
    elif encapsulated:
        raise ValueError(f"the pixel data is encapsulated (compressed) but the transfer syntax "
                         f"is {syntax.name}")
    elif len(ds.PixelData) not in (decoded, decoded + decoded % 2):
        raise ValueError(f"the pixel data holds {len(ds.PixelData)} bytes; the image size and "
                         f"{syntax.name} need {decoded}")


def _read_entry(path: Path) -> _Entry:
    ds = pydicom.dcmread(path, force=True)
    if "PixelData" not in ds:
        raise ValueError(f"{path}: no integer Pixel Data (not an image, or float pixel data)")
    _ensure_transfer_syntax(ds)
    repairs = repair(ds)
    dtype = _stored_dtype(ds)
    syntax = ds.file_meta.TransferSyntaxUID
    _check_pixel_data(ds, syntax)
    decompressed_from = lossy_compression = None
    if syntax.is_compressed:
        decompressed_from = syntax.name
        method = _lossy_method(ds, syntax)
        if method is not None:
            lossy_compression = syntax.name
            _record_lossy_compression(ds, method)
        ds.decompress(generate_instance_uid=False)
    frames = int(ds.get("NumberOfFrames") or 1)
    rows, cols, samples = int(ds.Rows), int(ds.Columns), int(ds.SamplesPerPixel)
    planes = ds.pixel_array.reshape(frames, rows, cols, samples).transpose(3, 0, 1, 2)
    if samples == 3 and str(ds.PhotometricInterpretation).startswith("YBR"):
        ds.PhotometricInterpretation = "RGB"  # pixel_array converted YCbCr to RGB
    del ds.PixelData  # the writer sets new pixel data; frees the decoded buffer
    return _Entry(path, ds, planes.astype(dtype, copy=False), _frame_rescale(ds, frames),
                  decompressed_from, lossy_compression, repairs)


def _slice_order(entries: list[_Entry]) -> list[int]:
    """Indices sorted by position along the slice normal, then InstanceNumber."""

    def instance(ds: Dataset) -> int:
        value = ds.get("InstanceNumber")
        return int(value) if value not in (None, "") else 0

    orientation = entries[0].ds.get("ImageOrientationPatient")
    positions = [e.ds.get("ImagePositionPatient") for e in entries]
    if orientation and len(orientation) == 6 and all(p and len(p) == 3 for p in positions):
        cosines = np.asarray(orientation, dtype=np.float64)
        normal = np.cross(cosines[:3], cosines[3:])
        keys = [
            (float(normal @ np.asarray(p, dtype=np.float64)), instance(e.ds))
            for p, e in zip(positions, entries, strict=True)
        ]
    else:
        keys = [(0.0, instance(e.ds)) for e in entries]
    return sorted(range(len(entries)), key=keys.__getitem__)


def _image(entries: list[_Entry], layout: str) -> MedicalImage:
    """The image of ``entries`` (in slice order); their stored planes are released.

    Each file's planes are converted into the float volume and dropped at once, so a large
    series is never held twice in its stored type (peak memory: the float volume plus the
    stored planes not converted yet).
    """
    channels, _, rows, columns = entries[0].planes.shape
    stored_dtype = entries[0].planes.dtype
    rescale = np.concatenate([e.rescale for e in entries], axis=0)
    depth = len(rescale)  # one (slope, intercept) per frame
    data = np.empty((channels, depth, rows, columns), dtype=np.float32)
    start = 0
    for entry in entries:
        for f, (slope, intercept) in enumerate(entry.rescale):
            data[:, start + f] = entry.planes[:, f] * slope + intercept
        start += entry.planes.shape[1]
        entry.planes = np.empty((0, 0, 0, 0), stored_dtype)  # release this file's pixels
    ends = []
    for entry in entries:
        low, high = _stored_limits(entry.ds)
        ends.append(entry.rescale @ np.array([[low, high], [1.0, 1.0]]))
    ends = np.concatenate(ends)
    volume = depth > 1
    extra = {
        "datasets": [e.ds for e in entries],
        "filenames": [e.path.name for e in entries],
        "layout": layout,
        "rescale": rescale,
        "volume": volume,
    }
    for key in ("decompressed_from", "lossy_compression"):
        names = sorted({getattr(e, key) for e in entries} - {None})
        if names:
            extra[key] = ", ".join(names)
    repairs = list(dict.fromkeys(note for e in entries for note in e.repairs))
    if repairs:
        extra["repairs"] = repairs
        extra["series_key"] = series_identity(entries[0].ds, str(entries[0].path.parent))
    first = entries[0].ds
    meta = ImageMeta(
        source=entries[0].path,
        format="dicom",
        original_dtype=stored_dtype,
        modality=str(first.get("Modality") or "") or None,
        value_range=(float(ends.min()), float(ends.max())),
        extra=extra,
        inverted=str(first.get("PhotometricInterpretation") or "").upper() == "MONOCHROME1",
    )
    return MedicalImage(data if volume else data[:, 0], meta)


def read_dicom_file(path: Path) -> MedicalImage:
    """Read one DICOM file (single- or multi-frame); it is written back to a file path."""
    return _image([_read_entry(Path(path))], "file")


def read_dicom_series(paths: list[Path]) -> MedicalImage:
    """Read the single-frame files of one series as a volume ``(C, D, H, W)``.

    Files are ordered by ImagePositionPatient projected on the slice normal (from
    ImageOrientationPatient), then InstanceNumber; by InstanceNumber alone when geometry is
    missing.  The image is written back into a directory, one file per instance under its
    original name.  A single path is read as :func:`read_dicom_file` reads it.

    Raises
    ------
    ValueError
        When the files are of different series, sizes or stored types, or a file of several
        holds more than one frame.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_dicom_series needs at least one file")
    if len(paths) == 1:
        return read_dicom_file(paths[0])
    entries = [_read_entry(p) for p in paths]
    first = entries[0]
    for entry in entries[1:]:
        if series_identity(entry.ds) != series_identity(first.ds):
            raise ValueError(f"{entry.path} and {first.path} belong to different series")
        if entry.planes.shape[1] != 1:
            raise ValueError(f"{entry.path}: a multi-frame file cannot be part of a series")
        if entry.planes.shape != first.planes.shape or entry.planes.dtype != first.planes.dtype:
            raise ValueError(
                f"{entry.path}: image size or stored type differs from {first.path} "
                f"({entry.planes.shape[::2]} {entry.planes.dtype} vs "
                f"{first.planes.shape[::2]} {first.planes.dtype})"
            )
    if first.planes.shape[1] != 1:
        raise ValueError(f"{first.path}: a multi-frame file cannot be part of a series")
    return _image([entries[i] for i in _slice_order(entries)], "series")


def _pixel_bytes(ds: Dataset, stored: np.ndarray) -> bytes:
    """Encode stored planes ``(C, F, H, W)`` in the dataset's layout, little endian."""
    if int(ds.get("PlanarConfiguration") or 0) == 1:
        ordered = stored.transpose(1, 0, 2, 3)
    else:
        ordered = stored.transpose(1, 2, 3, 0)
    raw = np.ascontiguousarray(ordered, dtype=stored.dtype.newbyteorder("<")).tobytes()
    return raw + b"\0" if len(raw) % 2 else raw


def write_dicom(
    image: MedicalImage, path: Path, *, derivation: str, series_uid_map: dict[str, str],
    series_suffix: str = "denoised", uid_salt: str | None = None,
) -> list[Path]:
    """Write ``image`` as derived DICOM instance(s); returns the written paths.

    ``derivation``, ``series_suffix``, ``series_uid_map`` and ``uid_salt`` are those of
    :func:`medden.io.dicom_derived.derive_instance`.

    ``path`` is the output file for an image read from one file, and the output directory
    for a series (files keep their original names).  Each file is written atomically.
    """
    extra = image.meta.extra
    datasets: list[Dataset] = extra["datasets"]
    rescale: np.ndarray = extra["rescale"]
    first = datasets[0]
    shape = (int(first.SamplesPerPixel), rescale.shape[0], int(first.Rows), int(first.Columns))
    data = np.asarray(image.data)
    if extra["volume"]:
        check_shape(data, shape, "DICOM")
    else:
        check_shape(data, shape[:1] + shape[2:], "DICOM")
        data = data[:, None]
    names = extra["filenames"]
    if extra["layout"] == "file":
        targets = [Path(path)]
    elif len(set(names)) == len(names):
        targets = [Path(path) / name for name in names]
    else:
        raise ValueError("the series' files share file names; they cannot go into one folder")
    per_file = shape[1] // len(datasets)
    written = []
    for index, (ds, target) in enumerate(zip(datasets, targets, strict=True)):
        span = slice(index * per_file, (index + 1) * per_file)
        dtype, (low, high) = _stored_dtype(ds), _stored_limits(ds)
        block = data[:, span]
        stored = np.empty(block.shape, dtype=dtype)
        for p, (slope, intercept) in enumerate(rescale[span]):
            stored[:, p] = to_stored(block[:, p], dtype, low, high, slope=slope,
                                     intercept=intercept)
        out = derive_instance(ds, derivation=derivation, series_uid_map=series_uid_map,
                              series_key=extra.get("series_key"),
                              series_suffix=series_suffix, uid_salt=uid_salt)
        out.PixelData = _pixel_bytes(ds, stored)
        out["PixelData"].VR = "OB" if dtype.itemsize == 1 else "OW"
        with atomic_write(target) as handle:
            pydicom.dcmwrite(handle, out, enforce_file_format=True)
        written.append(target)
    return written


@dataclass(frozen=True)
class DicomProbe:
    """What :func:`medden.io.scan` needs to group a DICOM file without decoding pixels.

    Attributes
    ----------
    series_uid : str or None
        SeriesInstanceUID.
    stack_key : tuple or None
        Files with equal keys are slices of one volume; ``None`` for files that stand alone
        (multi-frame files, images without patient geometry such as radiographs).
    pixels : int
        Rows x Columns x frames of the file.
    """

    series_uid: str | None
    stack_key: tuple | None
    pixels: int = 0


def probe_dicom(path: Path) -> DicomProbe:
    """Check a DICOM file's header and pixel data length; group it for scanning.

    Raises
    ------
    ValueError
        With the reason when the file holds no image or its pixel data is truncated.
    """
    path = Path(path)
    with open(path, "rb") as handle:
        ds = pydicom.dcmread(handle, force=True, stop_before_pixels=True)
        start = handle.tell()
        tag = handle.read(4)
    if "Rows" not in ds or "Columns" not in ds:
        raise ValueError("DICOM object without an image (no Rows/Columns), e.g. a report")
    implicit, little = ds.original_encoding
    order = "little" if little in (None, True) else "big"
    if len(tag) < 4 or (int.from_bytes(tag[:2], order) << 16) + int.from_bytes(
        tag[2:], order
    ) != _PIXEL_DATA:
        raise ValueError("DICOM file without integer Pixel Data")
    syntax = ds.file_meta.get("TransferSyntaxUID")
    frames = int(ds.get("NumberOfFrames") or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel") or 1)
    if syntax is None or not (syntax.is_compressed or syntax.is_deflated):
        needed = -(-rows * cols * samples * frames * int(ds.BitsAllocated) // 8)
        available = path.stat().st_size - start - (8 if implicit else 12)
        if available < needed:
            raise ValueError(
                f"truncated DICOM: pixel data needs {needed} bytes, the file holds {available}"
            )
    series_uid = str(ds.get("SeriesInstanceUID") or "") or None
    identity = series_identity(ds, str(path.parent))
    position, orientation = ds.get("ImagePositionPatient"), ds.get("ImageOrientationPatient")
    if frames > 1 or identity is None or not position or not orientation:
        return DicomProbe(series_uid, None, rows * cols * frames)
    key = (
        identity, rows, cols, samples,
        tuple(round(float(v), 4) for v in orientation),
        str(ds.get("EchoNumbers", "")), str(ds.get("TemporalPositionIdentifier", "")),
    )
    return DicomProbe(series_uid, key, rows * cols)


def identify_damaged(path: Path) -> str | None:
    """The series identity (:func:`medden.io.dicom_repair.series_identity`) of a DICOM file
    :func:`probe_dicom` refused, when its header still gives one; else None."""
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        return series_identity(ds, str(Path(path).parent))
    except INTERRUPTS:
        raise
    except BaseException:  # noqa: BLE001 - a header too damaged to name its series
        return None
