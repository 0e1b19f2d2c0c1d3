"""Damaged and lying inputs (issue 25, items 4 and 5): a header's claimed size never drives
memory, ``--max-pixels`` bounds what is read, and silent corruption is a failure with a
reason instead of an "ok" with wrong pixels."""

from __future__ import annotations

import gzip
import io
import json
import struct
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import tifffile
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

from medden.cli import main

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
MEDIAN = ["--model", "median:size=3", "--quiet"]
_RNG = np.random.default_rng(0)


def _reasons(out: Path) -> dict[str, tuple[str, str | None]]:
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return {f["input"]: (f["status"], f["reason"]) for f in report["files"]}


def _denoise(folder: Path, out: Path, *options: str) -> dict[str, tuple[str, str | None]]:
    assert main(["denoise", str(folder), str(out), *MEDIAN, *options]) == 1
    return _reasons(out)


def _good_png(folder: Path) -> None:
    Image.fromarray(_RNG.integers(0, 256, (16, 16), np.uint8)).save(folder / "good.png")


def _lying_nifti(folder: Path) -> None:
    """A small .nii and .nii.gz whose headers claim 2048 x 2048 x 16 int16 (128 MiB)."""
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 2), np.int16), np.eye(4)), folder / "lie.nii")
    header = bytearray((folder / "lie.nii").read_bytes())
    struct.pack_into("<4h", header, 40, 3, 2048, 2048, 16)  # dim[0..3]
    (folder / "lie.nii").write_bytes(header)
    (folder / "lie.nii.gz").write_bytes(gzip.compress(bytes(header)))


def _lying_tiff(folder: Path) -> None:
    tifffile.imwrite(folder / "lie.tif", np.zeros((32, 32), np.uint8))
    with tifffile.TiffFile(folder / "lie.tif", mode="r+") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(12000)
        tif.pages[0].tags["ImageLength"].overwrite(12000)


def _sof_patched(source: bytes, height: int, width: int) -> bytes:
    """``source`` (a baseline JPEG) with its frame header claiming another size."""
    data = bytearray(source)
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _jpeg(size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(_RNG.integers(0, 256, size, np.uint8)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def test_lying_headers_fail_before_allocating(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _good_png(folder)
    _lying_nifti(folder)
    _lying_tiff(folder)
    (folder / "lie.jpg").write_bytes(_sof_patched(_jpeg(), 12000, 12000))
    tracemalloc.start()
    try:
        reasons = _denoise(folder, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20  # each lie claims at least 128 MiB
    assert reasons.pop("good.png") == ("ok", None)
    assert set(reasons) == {"lie.nii", "lie.nii.gz", "lie.tif", "lie.jpg"}
    for name, (status, reason) in reasons.items():
        assert status == "failed" and "the header claims" in reason, name


def test_max_pixels_fails_larger_images_without_reading_them(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    _good_png(folder)  # 256 pixels
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(folder / "large.png")  # 1024
    reasons = _denoise(folder, tmp_path / "out", "--max-pixels", "1000")
    assert reasons["good.png"] == ("ok", None)
    assert reasons["large.png"] == (
        "failed", "its headers claim 1024 pixels per channel, more than --max-pixels 1000")
    assert main(["denoise", str(folder), str(tmp_path / "o2"), *MEDIAN,
                 "--max-pixels", "0"]) == 2
    assert "--max-pixels must be at least 1" in capsys.readouterr().err


def _tiled_tiff_with_missing_tiles(path: Path) -> None:
    tifffile.imwrite(path, _RNG.integers(0, 256, (64, 64), np.uint8), tile=(16, 16),
                     compression="zlib")
    with tifffile.TiffFile(path, mode="r+") as tif:
        page = tif.pages[0]
        offsets, counts = list(page.dataoffsets), list(page.databytecounts)
        offsets[1:], counts[1:] = [0] * (len(offsets) - 1), [0] * (len(counts) - 1)
        page.tags["TileOffsets"].overwrite(offsets)
        page.tags["TileByteCounts"].overwrite(counts)


def _nifti_gz_with_bad_crc(path: Path) -> None:
    volume = _RNG.integers(0, 1000, (16, 16, 4)).astype(np.int16)
    nib.save(nib.Nifti1Image(volume, np.eye(4)), path)
    data = bytearray(path.read_bytes())
    data[-6] ^= 0xFF  # the gzip trailer's CRC-32
    path.write_bytes(data)


def _ct_small() -> pydicom.Dataset:
    ds = pydicom.dcmread(CT_SMALL)
    ds.SeriesInstanceUID = generate_uid()  # one series per file
    return ds


def _dicom_variants(folder: Path) -> None:
    ds = _ct_small()
    ds.PixelData = b"\0" * 20 + ds.PixelData  # longer than the image: shifted pixels
    ds.save_as(folder / "shifted.dcm", enforce_file_format=True)
    ds = _ct_small()
    ds.compress(RLELossless)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # fragments read as pixels
    ds.save_as(folder / "encapsulated.dcm", enforce_file_format=True)
    _ct_small().save_as(folder / "not_encapsulated.dcm", enforce_file_format=True)
    data = (folder / "not_encapsulated.dcm").read_bytes()
    native = pydicom.dcmread(CT_SMALL).file_meta.TransferSyntaxUID
    padded = native.encode() + b"\0" * (len(native) % 2)
    rle = RLELossless.encode() + b"\0" * (len(RLELossless) % 2)
    assert len(padded) == len(rle)
    (folder / "not_encapsulated.dcm").write_bytes(data.replace(padded, rle, 1))


def test_silent_corruption_is_a_failure_with_a_reason(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    _good_png(folder)
    _tiled_tiff_with_missing_tiles(folder / "tiles.tif")
    _nifti_gz_with_bad_crc(folder / "crc.nii.gz")
    _dicom_variants(folder)
    reasons = _denoise(folder, tmp_path / "out")
    assert reasons.pop("good.png") == ("ok", None)
    expected = {
        "tiles.tif": "15 of 16 tiles missing",
        "crc.nii.gz": "CRC check failed",
        "shifted.dcm": "the pixel data holds 32788 bytes",
        "encapsulated.dcm": "pixel data",
        "not_encapsulated.dcm": "is not encapsulated",
    }
    assert set(reasons) == set(expected)
    for name, text in expected.items():
        status, reason = reasons[name]
        assert status == "failed" and text in reason, (name, reason)


@pytest.mark.parametrize("size", [(64, 48), (64, 80), (40, 64), (72, 64)])
def test_a_jpeg_with_a_patched_frame_size_fails(tmp_path, size):
    """Pillow decodes such a file without an error (grey rows added, or coded rows dropped);
    libjpeg's corruption warning makes it a failure with a reason."""
    folder = tmp_path / "in"
    folder.mkdir()
    _good_png(folder)
    (folder / "intact.jpg").write_bytes(_jpeg())
    (folder / "patched.jpg").write_bytes(_sof_patched(_jpeg(), *size))
    reasons = _denoise(folder, tmp_path / "out")
    assert reasons["intact.jpg"][0] == "ok" and reasons["good.png"][0] == "ok"
    status, reason = reasons["patched.jpg"]
    assert status == "failed" and "damaged JPEG data" in reason, reason
