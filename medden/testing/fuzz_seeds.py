"""The valid files the fuzz corpus (:mod:`medden.testing.fuzz`) damages, made from the
repository's sample images (``samples/``), cropped to 64² so that a corpus of 10,000 files
stays small and quick to process.

Every seed is a file medden must process: DICOM (uncompressed, RLE, a 3-slice series),
PNG (grey and RGB), JPEG (grey and RGB), TIFF (tiled with Deflate, and stripped),
NIfTI (``.nii``, ``.nii.gz``).
"""

from __future__ import annotations

import copy
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import tifffile
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import RLELossless, generate_uid

__all__ = ["SAMPLES", "SIDE", "make_seeds", "write_series"]

#: The repository's sample images.
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
#: Edge of every seed image.
SIDE = 64
_CT = "ct_chest_tcga_50_6591.dcm"
_GREY_PNG = "xray_chest_00026402_000.png"
_RGB_PNG = "microscopy_stained_a31deaf0ac279d5f.png"
_GREY_JPEG = "mri_brain_t1ce_0_1000.jpg"
_RGB_JPEG = "skin_dermoscopy_isic_0000000.jpg"


def _centre(array: np.ndarray) -> np.ndarray:
    top, left = (array.shape[0] - SIDE) // 2, (array.shape[1] - SIDE) // 2
    return np.ascontiguousarray(array[top : top + SIDE, left : left + SIDE])


def _ct(samples: Path) -> Dataset:
    ds = pydicom.dcmread(samples / _CT)
    pixels = _centre(ds.pixel_array)
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelData = pixels.tobytes()
    return ds


def _alone(ds: Dataset) -> Dataset:
    """A copy of ``ds`` that no other file joins into a volume: no position, new UIDs."""
    ds = copy.deepcopy(ds)
    del ds.ImagePositionPatient
    ds.SeriesInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def write_series(source: Dataset, folder: Path, count: int, **changes: object) -> list[Path]:
    """Write ``count`` slices of a new series made from ``source`` into ``folder``.

    Each slice gets its own SOP Instance UID, InstanceNumber and a z position one
    millimetre apart; ``changes`` (keyword -> value) are set on every slice after that.

    Returns
    -------
    list of Path
        The slices, ``slice0.dcm`` ... in z order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    series, paths = generate_uid(), []
    x, y, z = (float(v) for v in source.get("ImagePositionPatient") or (0, 0, 0))
    for index in range(count):
        ds = copy.deepcopy(source)
        instance = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = instance
        values = {"SeriesInstanceUID": series, "SOPInstanceUID": instance,
                  "InstanceNumber": index + 1, "ImagePositionPatient": [x, y, z + index]}
        for keyword, value in {**values, **changes}.items():
            setattr(ds, keyword, value)
        paths.append(folder / f"slice{index}.dcm")
        pydicom.dcmwrite(paths[-1], ds, enforce_file_format=True)
    return paths


def _rasters(samples: Path, folder: Path) -> None:
    grey = _centre(np.asarray(Image.open(samples / _GREY_PNG).convert("L")))
    rgb = _centre(np.asarray(Image.open(samples / _RGB_PNG).convert("RGB")))
    Image.fromarray(grey).save(folder / "xray.png")
    Image.fromarray(rgb).save(folder / "microscopy.png")
    mri = _centre(np.asarray(Image.open(samples / _GREY_JPEG).convert("L")))
    Image.fromarray(mri).save(folder / "mri.jpg", quality=90)
    skin = _centre(np.asarray(Image.open(samples / _RGB_JPEG).convert("RGB")))
    Image.fromarray(skin).save(folder / "skin.jpg", quality=90)
    tifffile.imwrite(folder / "xray_tiled.tif", grey, tile=(16, 16), compression="zlib")
    tifffile.imwrite(folder / "xray_strips.tif", grey, rowsperstrip=16)
    volume = np.stack([mri.T.astype(np.int16) * (k + 1) for k in range(4)], axis=-1)
    for name in ("mri.nii", "mri.nii.gz"):
        nib.save(nib.Nifti1Image(volume, np.diag([0.5, 0.5, 2.0, 1.0])), folder / name)


def make_seeds(folder: Path, samples: Path = SAMPLES) -> list[Path]:
    """Write the seed files under ``folder`` (created); returns them, series slices included.

    Raises
    ------
    FileNotFoundError
        When ``samples`` lacks one of the repository's sample images.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ct = _ct(samples)
    _alone(ct).save_as(folder / "ct.dcm", enforce_file_format=True)
    compressed = _alone(ct)
    compressed.compress(RLELossless, generate_instance_uid=False)
    compressed.save_as(folder / "ct_rle.dcm", enforce_file_format=True)
    write_series(ct, folder / "ct_series", 3)
    _rasters(samples, folder)
    return sorted(p for p in folder.rglob("*") if p.is_file())
