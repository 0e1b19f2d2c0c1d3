"""NIfTI-1/NIfTI-2 files (``.nii``, ``.nii.gz``) with nibabel, header kept byte for byte.

Axis convention
---------------
The NIfTI array is indexed ``(i, j, k[, t])`` (x fastest on disk).  ``data`` reverses the
spatial axes and puts volumes first: a 3-D file ``(X, Y, Z)`` becomes ``(1, Z, Y, X)``,
a 4-D file ``(X, Y, Z, T)`` becomes ``(T, Z, Y, X)`` (``C`` = number of volumes), so the slice
axis ``D`` is the last NIfTI spatial axis ``k`` and a slice ``data[c, z]`` is ``(Y, X)``.
A 2-D file ``(X, Y)`` or a single slice ``(X, Y, 1[, T])`` gives ``(C, Y, X)``.  The writer
applies the exact inverse.  No reorientation is done: the affine is untouched, so the data
stay in voxel order (a slice may look flipped or rotated compared with a radiological view;
this does not matter for denoising).

Values
------
``data`` holds the scaled values ``stored * scl_slope + scl_inter`` (physical units).  The
writer converts back with the same slope and intercept, rounds for integer types, clips to
the on-disk dtype and writes the original header (affine, qform/sform codes, pixdim,
dtype, scl_slope/scl_inter, extensions) unchanged.

Damaged files
-------------
Before any voxel is read, the size the header claims must fit the file
(:mod:`medden.io.claims`: the bytes after ``vox_offset``, or the gzip ratio bound), and a
``.nii.gz`` is decompressed to its end, so that a gzip CRC or length error fails the read
instead of passing altered voxels.

``meta.extra`` keys: ``header`` (nibabel header), ``affine`` (4×4 voxel-to-world),
``shape`` (on-disk array shape), ``slope``, ``intercept``.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.openers import Opener
from nibabel.volumeutils import array_from_file, array_to_file

from medden.io._values import check_shape, dtype_limits, to_stored
from medden.io.atomic import atomic_write
from medden.io.claims import check_compressed, check_stored
from medden.io.image import ImageMeta, MedicalImage

__all__ = ["read_nifti", "write_nifti", "probe_nifti"]

_CHUNK = 1 << 20  # bytes decompressed at a time when checking a gzip stream to its end


def _load(path: Path) -> nib.Nifti1Image:
    image = nib.load(path)
    if not isinstance(image, nib.Nifti1Image | nib.Nifti2Image):
        raise ValueError(f"{path}: not a NIfTI-1/NIfTI-2 image ({type(image).__name__})")
    if not 2 <= len(image.shape) <= 4:
        raise ValueError(f"{path}: {len(image.shape)}-D NIfTI is not supported (2-D to 4-D)")
    if image.header.get_data_dtype().kind not in "iuf":
        raise ValueError(f"{path}: NIfTI data type {image.header.get_data_dtype()} unsupported")
    _check_claimed_size(path, image)
    return image


def _is_gzip(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _check_claimed_size(path: Path, image: nib.Nifti1Image) -> None:
    """Refuse a header whose voxels cannot be in the file (before reading them)."""
    header = image.header
    needed = math.prod(image.shape) * header.get_data_dtype().itemsize
    offset = int(header.get_data_offset())
    size = path.stat().st_size
    if _is_gzip(path):
        check_compressed("NIfTI (gzip)", offset + needed, size)
    else:
        check_stored("NIfTI", needed, size - offset)


def _stored_voxels(path: Path, image: nib.Nifti1Image, header: nib.Nifti1Header) -> np.ndarray:
    """The stored (unscaled) voxels; a gzip stream is read to its end, checking its CRC."""
    if not _is_gzip(path):
        return np.asanyarray(image.dataobj.get_unscaled())
    with gzip.open(path, "rb") as stream:
        voxels = array_from_file(image.shape, header.get_data_dtype(), stream,
                                 offset=header.get_data_offset(), order="F")
        while stream.read(_CHUNK):  # the end of the stream checks its CRC and length
            pass
    return voxels


def probe_nifti(path: Path) -> int:
    """Check that ``path`` is a NIfTI image this module can read (header only); return its
    number of voxels (all volumes of a 4-D file).

    Raises
    ------
    ValueError
        With the reason when it is not.
    """
    return math.prod(_load(Path(path)).shape)


def _to_channel_first(array: np.ndarray) -> np.ndarray:
    """``(X, Y[, Z[, T]])`` -> ``(C, Z, Y, X)``, or ``(C, Y, X)`` when ``Z`` is 1 or absent."""
    x, y = array.shape[:2]
    z = array.shape[2] if array.ndim > 2 else 1
    volumes = array.shape[3] if array.ndim > 3 else 1
    array = array.reshape(x, y, z, volumes)
    if z == 1:
        return array[:, :, 0, :].transpose(2, 1, 0)
    return array.transpose(3, 2, 1, 0)


def _expected_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    x, y = shape[:2]
    z = shape[2] if len(shape) > 2 else 1
    volumes = shape[3] if len(shape) > 3 else 1
    return (volumes, y, x) if z == 1 else (volumes, z, y, x)


def read_nifti(path: Path) -> MedicalImage:
    """Read a NIfTI file into ``(C, [D,] H, W)`` physical values (see module docstring)."""
    path = Path(path)
    image = _load(path)
    # nibabel moves scl_slope/scl_inter from image.header into the data proxy on load;
    # read the header as stored so that it is written back byte for byte.
    with Opener(path) as handle:
        header = image.header_class.from_fileobj(handle)
    slope, intercept = header.get_slope_inter()
    slope = 1.0 if slope is None else float(slope)
    intercept = 0.0 if intercept is None else float(intercept)
    stored = _stored_voxels(path, image, header)
    data = _to_channel_first(stored).astype(np.float32)
    if (slope, intercept) != (1.0, 0.0):
        data *= np.float32(slope)
        data += np.float32(intercept)
    dtype = header.get_data_dtype().newbyteorder("=")
    ends = np.asarray(dtype_limits(dtype)) * slope + intercept
    meta = ImageMeta(
        source=path,
        format="nifti",
        original_dtype=dtype,
        modality=None,
        value_range=(float(ends.min()), float(ends.max())),
        extra={
            "header": header,
            "affine": image.affine.copy(),
            "shape": tuple(image.shape),
            "slope": slope,
            "intercept": intercept,
        },
    )
    return MedicalImage(data, meta)


def write_nifti(image: MedicalImage, path: Path) -> list[Path]:
    """Write ``image`` with its original header; gzip-compressed when ``path`` ends in .gz.

    Returns the written path (in a list).
    """
    path = Path(path)
    extra = image.meta.extra
    header = extra["header"].copy()
    shape = extra["shape"]
    data = np.asarray(image.data)
    check_shape(data, _expected_shape(shape), "NIfTI")
    disk_dtype = header.get_data_dtype()
    low, high = dtype_limits(disk_dtype)
    stored = to_stored(
        data, disk_dtype, low, high, slope=extra["slope"], intercept=extra["intercept"]
    )
    stored = stored.transpose(tuple(reversed(range(stored.ndim)))).reshape(shape)
    with atomic_write(path) as handle:
        if path.name.lower().endswith(".gz"):
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=handle, mtime=0,
                compresslevel=Opener.default_compresslevel,
            ) as stream:
                _write(header, stored, stream)
        else:
            _write(header, stored, handle)
    return [path]


def _write(header: nib.Nifti1Header, stored: np.ndarray, stream) -> None:
    header.write_to(stream)
    array_to_file(stored, stream, out_dtype=header.get_data_dtype(),
                  offset=header.get_data_offset(), order="F")
