"""Tests of medden.io: DICOM, NIfTI and raster round trips, clipping, scanning, atomic writes."""

from __future__ import annotations

import gzip
import io
import json
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import tifffile
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from medden.io import (
    detect_format,
    read_dicom_series,
    read_image,
    scan,
    write_image,
)
from medden.io.dicom_derived import DERIVED_KEYWORDS
from medden.io.jpeg_quality import estimate_jpeg_quality, ijg_tables
from medden.io.lossy import find_output, prepare_write
from medden.io.raster import store_losslessly

DATA = Path(__file__).parent / "data"
REAL_CT = DATA / "ct_slice_tcga_60_2724.dcm"


# --------------------------------------------------------------------------- DICOM builders
def make_dataset(
    pixels: np.ndarray,
    *,
    signed: bool = True,
    bits_stored: int | None = None,
    intercept: float | None = -1024.0,
    photometric: str = "MONOCHROME2",
    modality: str = "CT",
    series_uid: str | None = None,
    position: tuple[float, float, float] = (-10.0, 20.0, 5.0),
    instance: int = 1,
) -> Dataset:
    """A CT-like dataset built from scratch; ``pixels`` is (H, W), (F, H, W) or (H, W, 3)."""
    rgb = photometric == "RGB"
    frames = pixels.shape[0] if pixels.ndim == 3 and not rgb else 1
    bits = pixels.dtype.itemsize * 8
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop_class = CTImageStorage if modality == "CT" else MRImageStorage
    if rgb:
        sop_class = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = "1.2.3.4.5"
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = "1.2.3.4.6"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Modality = modality
    ds.PatientName = "Phantom^Test"
    ds.PatientID = "PHANTOM-001"
    ds.SeriesDescription = "test series"
    ds.SeriesNumber = 3
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = list(position)
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.75, 0.5]
    ds.SliceThickness = 2.5
    ds.Rows, ds.Columns = pixels.shape[-3:-1] if rgb else pixels.shape[-2:]
    ds.SamplesPerPixel = 3 if rgb else 1
    if rgb:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits
    ds.BitsStored = bits_stored or bits
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    if frames > 1:
        ds.NumberOfFrames = frames
    if intercept is not None:
        ds.RescaleIntercept = intercept
        ds.RescaleSlope = 1
        ds.WindowCenter = 40
        ds.WindowWidth = 400
    block = ds.private_block(0x0011, "MEDDEN TEST", create=True)
    block.add_new(0x01, "LO", "kept private value")
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    return ds


def save(ds: Dataset, path: Path) -> Path:
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def ramp(shape: tuple[int, ...], low: int, high: int, dtype: str) -> np.ndarray:
    """Deterministic values spanning [low, high] (inclusive)."""
    values = np.linspace(low, high, int(np.prod(shape)))
    return np.rint(values).astype(dtype).reshape(shape)


def assert_same_except_derived(source: Dataset, written: Dataset) -> None:
    """Every element equal except Pixel Data, group lengths and the derived-instance tags."""
    changed = {source.data_element(k).tag for k in DERIVED_KEYWORDS if k in source}
    changed |= {written.data_element(k).tag for k in DERIVED_KEYWORDS if k in written}
    changed.add(pydicom.tag.Tag(0x7FE00010))

    def kept(ds: Dataset) -> set:
        return {e.tag for e in ds if e.tag not in changed and e.tag.element != 0}

    assert kept(source) == kept(written)
    for tag in kept(source):
        assert written[tag].value == source[tag].value, tag


def assert_derived(source: Dataset, written: Dataset, new_series: str) -> None:
    assert written.SOPInstanceUID != source.SOPInstanceUID
    assert written.file_meta.MediaStorageSOPInstanceUID == written.SOPInstanceUID
    assert written.SeriesInstanceUID == new_series != source.SeriesInstanceUID
    assert list(written.ImageType) == ["DERIVED", "SECONDARY", *list(source.ImageType)[2:]]
    assert written.DerivationDescription == "denoised by medden"
    assert written.SeriesDescription == f"{source.get('SeriesDescription', '')} denoised".strip()
    ref = written.SourceImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert ref.ReferencedSOPClassUID == source.SOPClassUID
    series_ref = written.ReferencedSeriesSequence[0]
    assert series_ref.SeriesInstanceUID == source.SeriesInstanceUID
    assert series_ref.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == (
        source.SOPInstanceUID
    )


# --------------------------------------------------------------------------- DICOM
def test_ct_int16_rescale_round_trip(tmp_path):
    pixels = ramp((12, 10), -200, 3000, "int16")
    source = make_dataset(pixels)
    path = save(source, tmp_path / "ct.dcm")
    image = read_image(path)
    assert image.data.shape == (1, 12, 10) and image.data.dtype == np.float32
    np.testing.assert_array_equal(image.data[0], pixels - 1024.0)
    assert image.meta.format == "dicom" and image.meta.modality == "CT"
    assert image.meta.original_dtype == np.int16
    assert image.meta.value_range == (-32768 - 1024.0, 32767 - 1024.0)
    assert "decompressed_from" not in image.meta.extra

    uid_map: dict[str, str] = {}
    written = write_image(image, tmp_path / "out" / "ct.dcm", series_uid_map=uid_map)
    assert written == [tmp_path / "out" / "ct.dcm"]
    out = pydicom.dcmread(written[0])
    np.testing.assert_array_equal(out.pixel_array, pixels)
    assert_same_except_derived(source, out)
    assert_derived(source, out, uid_map[source.SeriesInstanceUID])
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(read_image(written[0]).data, image.data)


def test_unsigned_12bit_clips_to_bits_stored(tmp_path):
    pixels = ramp((8, 8), 0, 4095, "uint16")
    image = read_image(save(make_dataset(pixels, signed=False, bits_stored=12), tmp_path / "a"))
    assert image.meta.value_range == (-1024.0, 3071.0)
    image.data[0, 0, :3] = [5000.0, -3000.0, 3070.6]  # beyond 12 bits, below 0, rounding
    out = pydicom.dcmread(write_image(image, tmp_path / "b.dcm")[0]).pixel_array
    assert out.dtype == np.uint16
    # saturates at 4095 (not 65535, not wrapped to 12 bits) and at 0 (not 65535-...)
    assert out[0, :3].tolist() == [4095, 0, 4095]
    np.testing.assert_array_equal(out[1:], pixels[1:])


def test_signed_int16_clips_without_wrap_around(tmp_path):
    image = read_image(save(make_dataset(np.zeros((4, 4), np.int16)), tmp_path / "a.dcm"))
    image.data[0, 0, :2] = [40000.0, -40000.0]
    out = pydicom.dcmread(write_image(image, tmp_path / "b.dcm")[0]).pixel_array
    assert out[0, :2].tolist() == [32767, -32768]


def test_monochrome1_is_not_inverted(tmp_path):
    pixels = ramp((6, 7), 0, 1000, "uint16")
    source = make_dataset(pixels, signed=False, intercept=None, photometric="MONOCHROME1",
                          modality="CR")
    image = read_image(save(source, tmp_path / "cr.dcm"))
    np.testing.assert_array_equal(image.data[0], pixels)  # stored values, not 1000 - x
    assert image.meta.inverted  # the models see it turned round (medden.intensity)
    out = pydicom.dcmread(write_image(image, tmp_path / "o.dcm")[0])
    assert out.PhotometricInterpretation == "MONOCHROME1"
    np.testing.assert_array_equal(out.pixel_array, pixels)
    assert_same_except_derived(source, out)


def test_multiframe_is_a_volume_written_as_one_file(tmp_path):
    pixels = ramp((3, 5, 4), -1000, 2000, "int16")
    source = make_dataset(pixels)
    image = read_image(save(source, tmp_path / "mf.dcm"))
    assert image.data.shape == (1, 3, 5, 4)
    np.testing.assert_array_equal(image.data[0], pixels - 1024.0)
    written = write_image(image, tmp_path / "mf_out.dcm")
    out = pydicom.dcmread(written[0])
    assert len(written) == 1 and int(out.NumberOfFrames) == 3
    np.testing.assert_array_equal(out.pixel_array, pixels)
    assert_same_except_derived(source, out)


def test_multiframe_functional_group_rescale(tmp_path):
    pixels = ramp((2, 4, 4), 0, 1000, "int16")
    source = make_dataset(pixels, intercept=None)

    def transform(slope: float, intercept: float) -> Dataset:
        group, item = Dataset(), Dataset()
        item.RescaleSlope, item.RescaleIntercept, item.RescaleType = slope, intercept, "HU"
        group.PixelValueTransformationSequence = [item]
        return group

    source.SharedFunctionalGroupsSequence = [transform(1.0, -1024.0)]
    source.PerFrameFunctionalGroupsSequence = [Dataset(), transform(2.0, -100.0)]
    image = read_image(save(source, tmp_path / "enh.dcm"))
    np.testing.assert_array_equal(image.data[0, 0], pixels[0] - 1024.0)  # shared group
    np.testing.assert_array_equal(image.data[0, 1], pixels[1] * 2.0 - 100.0)  # per frame
    out = pydicom.dcmread(write_image(image, tmp_path / "o.dcm")[0])
    np.testing.assert_array_equal(out.pixel_array, pixels)


@pytest.mark.parametrize("planar", [0, 1])
def test_rgb_dicom_round_trip(tmp_path, planar):
    pixels = ramp((4, 5, 3), 0, 255, "uint8")
    source = make_dataset(pixels, signed=False, intercept=None, photometric="RGB",
                          modality="XC")
    if planar:
        source.PlanarConfiguration = 1
        source.PixelData = pixels.transpose(2, 0, 1).tobytes()
    image = read_image(save(source, tmp_path / "rgb.dcm"))
    assert image.data.shape == (3, 4, 5)
    np.testing.assert_array_equal(image.data, pixels.transpose(2, 0, 1))
    out = pydicom.dcmread(write_image(image, tmp_path / "o.dcm")[0])
    assert out.PlanarConfiguration == planar
    np.testing.assert_array_equal(out.pixel_array, pixels)


def test_ybr_dicom_is_read_and_written_as_rgb(tmp_path):
    rgb = ramp((4, 5, 3), 0, 255, "uint8")
    source = make_dataset(convert_color_space(rgb, "RGB", "YBR_FULL"), signed=False,
                          intercept=None, photometric="RGB", modality="XC")
    source.PhotometricInterpretation = "YBR_FULL"
    image = read_image(save(source, tmp_path / "ybr.dcm"))
    assert np.abs(image.data - rgb.transpose(2, 0, 1)).max() <= 1  # colour conversion rounding
    out = pydicom.dcmread(write_image(image, tmp_path / "o.dcm")[0])
    assert out.PhotometricInterpretation == "RGB"
    np.testing.assert_array_equal(out.pixel_array.transpose(2, 0, 1), image.data)


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless])
def test_compressed_dicom_is_decoded_and_written_uncompressed(tmp_path, syntax):
    pixels = ramp((32, 32), -500, 1500, "int16")
    source = make_dataset(pixels)
    compressed = make_dataset(pixels)
    compressed.compress(syntax, generate_instance_uid=False)
    image = read_image(save(compressed, tmp_path / "c.dcm"))
    assert image.meta.extra["decompressed_from"] == syntax.name
    assert "lossy_compression" not in image.meta.extra
    np.testing.assert_array_equal(image.data[0], pixels - 1024.0)
    out = pydicom.dcmread(write_image(image, tmp_path / "o.dcm")[0])
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(out.pixel_array, pixels)
    assert out.PatientID == source.PatientID and out.WindowWidth == source.WindowWidth


def test_jpeg_baseline_dicom_is_decoded(tmp_path):
    yy, xx = np.mgrid[0:32, 0:40]
    gray = (xx * 6 + yy).astype(np.uint8)
    encoded = io.BytesIO()
    Image.fromarray(gray).save(encoded, format="JPEG", quality=90)
    ds = make_dataset(gray, signed=False, intercept=None)
    ds.PixelData = encapsulate([encoded.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    coded_bytes = len(ds.PixelData)
    image = read_image(save(ds, tmp_path / "jpeg.dcm"))
    assert image.meta.extra["decompressed_from"] == "JPEG Baseline (Process 1)"
    assert image.meta.extra["lossy_compression"] == "JPEG Baseline (Process 1)"
    decoded_by_pillow = np.asarray(Image.open(encoded)).astype(np.float32)
    assert np.abs(image.data[0] - decoded_by_pillow).max() <= 1  # IDCTs differ by 1 at most
    out = pydicom.dcmread(write_image(image, tmp_path / "o.dcm")[0])
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(out.pixel_array, image.data[0])
    # the derived file says it was lossy-compressed once (PS3.3 C.7.6.1.1.5)
    assert out.LossyImageCompression == "01"
    assert out.LossyImageCompressionMethod == "ISO_10918_1"
    assert out.LossyImageCompressionRatio == pytest.approx(32 * 40 / coded_bytes, abs=0.01)


@pytest.mark.parametrize(("stated", "lossy"), [(None, True), ("01", True), ("00", False)])
def test_jpeg_2000_dicom_is_lossy_unless_it_says_otherwise(tmp_path, stated, lossy):
    pixels = ramp((32, 32), -500, 1500, "int16")
    ds = make_dataset(pixels)
    ds.compress(JPEG2000, j2k_cr=[20], generate_instance_uid=False)
    if stated is not None:
        ds.LossyImageCompression = stated
    image = read_image(save(ds, tmp_path / "j2k.dcm"))
    assert ("lossy_compression" in image.meta.extra) == lossy
    out = pydicom.dcmread(write_image(image, tmp_path / "o.dcm")[0])
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert out.get("LossyImageCompression") == ("01" if lossy else stated)
    assert ("LossyImageCompressionMethod" in out) == lossy


def test_dicom_without_preamble_or_extension_is_detected(tmp_path):
    ds = make_dataset(ramp((4, 4), 0, 100, "int16"))
    ds.file_meta = FileMetaDataset()
    path = tmp_path / "IM0001"
    pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    assert path.read_bytes()[128:132] != b"DICM"
    assert detect_format(path) == "dicom"
    image = read_image(path)
    np.testing.assert_array_equal(image.data[0], ramp((4, 4), 0, 100, "int16") - 1024.0)
    out = pydicom.dcmread(write_image(image, tmp_path / "out.dcm")[0])
    assert out.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert out.preamble == b"\0" * 128


def _write_series(folder: Path, z_positions: list[float]) -> tuple[list[Path], list[Dataset]]:
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    paths, datasets = [], []
    for index, z in enumerate(z_positions):
        pixels = np.full((6, 5), int(z * 10), np.int16)
        pixels[0, 0] = index  # makes every slice distinct
        ds = make_dataset(pixels, series_uid=series_uid, position=(-10.0, 20.0, z),
                          instance=len(z_positions) - index)
        paths.append(save(ds, folder / f"slice_{index}.dcm"))
        datasets.append(ds)
    return paths, datasets


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_series_order_uids_and_geometry(tmp_path):
    paths, datasets = _write_series(tmp_path / "in", [7.5, 2.5, 5.0])
    image = read_dicom_series(paths)
    assert image.data.shape == (1, 3, 6, 5)
    # ordered by position along the normal (z): 2.5, 5.0, 7.5
    np.testing.assert_array_equal(image.data[0, :, 1, 1], [25 - 1024, 50 - 1024, 75 - 1024])
    assert image.meta.source == paths[1]

    uid_map: dict[str, str] = {}
    written = write_image(image, tmp_path / "out", series_uid_map=uid_map)
    assert sorted(p.name for p in written) == sorted(p.name for p in paths)
    new_series = uid_map[datasets[0].SeriesInstanceUID]
    by_name = {p.name: pydicom.dcmread(p) for p in written}
    sop_uids = set()
    for path, source in zip(paths, datasets, strict=True):
        out = by_name[path.name]
        np.testing.assert_array_equal(out.pixel_array, source.pixel_array)
        assert_same_except_derived(source, out)
        assert_derived(source, out, new_series)
        sop_uids.add(out.SOPInstanceUID)
    assert len(sop_uids) == 3

    before, after = _sitk_series(tmp_path / "in"), _sitk_series(tmp_path / "out")
    assert after.GetOrigin() == before.GetOrigin()
    assert after.GetSpacing() == before.GetSpacing()
    assert after.GetDirection() == before.GetDirection()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(after), sitk.GetArrayFromImage(before))

    # the same map keeps a second write of the series in the same new series
    again = write_image(image, tmp_path / "again", series_uid_map=uid_map)
    assert pydicom.dcmread(again[0]).SeriesInstanceUID == new_series


def test_series_rejects_files_of_different_series(tmp_path):
    a = save(make_dataset(np.zeros((4, 4), np.int16)), tmp_path / "a.dcm")
    b = save(make_dataset(np.zeros((4, 4), np.int16)), tmp_path / "b.dcm")
    with pytest.raises(ValueError, match="different series"):
        read_dicom_series([a, b])


def test_real_ct_slice_round_trip(tmp_path):
    source = pydicom.dcmread(REAL_CT)
    image = read_image(REAL_CT)
    assert image.data.shape == (1, 512, 512) and image.meta.modality == "CT"
    assert image.meta.value_range == (-1024.0, 3071.0)  # 12-bit unsigned, intercept -1024
    assert -1024 <= image.data.min() < -900 and 500 < image.data.max() <= 3071  # air to bone
    out_path = write_image(image, tmp_path / "ct.dcm")[0]
    out = pydicom.dcmread(out_path)
    np.testing.assert_array_equal(out.pixel_array, source.pixel_array)
    assert_same_except_derived(source, out)
    before, after = sitk.ReadImage(str(REAL_CT)), sitk.ReadImage(str(out_path))
    assert after.GetOrigin() == before.GetOrigin()
    assert after.GetSpacing() == before.GetSpacing()
    assert after.GetDirection() == before.GetDirection()


# --------------------------------------------------------------------------- NIfTI
def _oblique_affine() -> np.ndarray:
    angle = np.deg2rad(20)
    rotation = np.array([[np.cos(angle), -np.sin(angle), 0],
                         [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 0.9, 2.5])
    affine[:3, 3] = [-30.0, 12.5, 40.0]
    return affine


def test_nifti_int16_scaled_oblique_round_trip(tmp_path):
    stored = ramp((7, 6, 5), -3000, 3000, "int16")
    image = nib.Nifti1Image(stored, _oblique_affine())
    image.header.set_data_dtype(np.int16)
    image.header.set_slope_inter(0.5, 10.0)
    image.set_qform(_oblique_affine(), code=1)
    source = tmp_path / "in.nii.gz"
    nib.save(image, source)

    read = read_image(source)
    assert read.meta.format == "nifti" and read.meta.original_dtype == np.int16
    assert read.data.shape == (1, 5, 6, 7)  # (C, Z, Y, X)
    np.testing.assert_array_equal(read.data[0], stored.T * 0.5 + 10.0)
    assert read.meta.value_range == (-32768 * 0.5 + 10, 32767 * 0.5 + 10)

    out = write_image(read, tmp_path / "out.nii.gz")[0]
    with gzip.open(source) as a, gzip.open(out) as b:
        header_before, header_after = a.read(352), b.read(352)  # header + extension flag
    assert header_after == header_before
    assert nib.Nifti1Header.from_fileobj(io.BytesIO(header_after)).get_slope_inter() == (
        0.5, 10.0)
    before, after = nib.load(source), nib.load(out)
    assert after.get_data_dtype() == np.int16
    assert (after.dataobj.slope, after.dataobj.inter) == (0.5, 10.0)
    np.testing.assert_array_equal(after.affine, before.affine)
    np.testing.assert_array_equal(np.asanyarray(after.dataobj.get_unscaled()), stored)
    s_before, s_after = sitk.ReadImage(str(source)), sitk.ReadImage(str(out))
    assert s_after.GetOrigin() == s_before.GetOrigin()
    assert s_after.GetSpacing() == s_before.GetSpacing()
    assert s_after.GetDirection() == s_before.GetDirection()
    assert s_before.GetDirection() != (1, 0, 0, 0, 1, 0, 0, 0, 1)


def test_nifti_4d_and_2d_axis_convention(tmp_path):
    four = ramp((4, 3, 2, 5), 0, 1000, "float32")
    nib.save(nib.Nifti1Image(four, np.eye(4)), tmp_path / "t.nii")
    read = read_image(tmp_path / "t.nii")
    assert read.data.shape == (5, 2, 3, 4)  # (T, Z, Y, X)
    assert read.data[4, 1, 2, 3] == four[3, 2, 1, 4]
    write_image(read, tmp_path / "t_out.nii")
    np.testing.assert_array_equal(nib.load(tmp_path / "t_out.nii").get_fdata(), four)

    flat = ramp((6, 4), 0, 255, "uint8")
    nib.save(nib.Nifti1Image(flat, np.eye(4)), tmp_path / "f.nii")
    read = read_image(tmp_path / "f.nii")
    assert read.data.shape == (1, 4, 6)
    np.testing.assert_array_equal(read.data[0], flat.T)
    read.data[0, 0, 0] = 300.0  # beyond uint8: saturates
    write_image(read, tmp_path / "f_out.nii")
    back = np.asanyarray(nib.load(tmp_path / "f_out.nii").dataobj)
    assert back.shape == (6, 4) and back[0, 0] == 255
    np.testing.assert_array_equal(back[1:], flat[1:])


# --------------------------------------------------------------------------- rasters
def test_png_rgb_and_gray_round_trip_exactly(tmp_path):
    rgb = ramp((9, 7, 3), 0, 255, "uint8")
    gray = ramp((9, 7), 0, 255, "uint8")[::-1].copy()
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(gray).save(tmp_path / "gray.png")
    for name, expected in (("rgb.png", rgb.transpose(2, 0, 1)), ("gray.png", gray[None])):
        image = read_image(tmp_path / name)
        assert image.meta.format == "raster" and image.meta.original_dtype == np.uint8
        np.testing.assert_array_equal(image.data, expected)
        out = write_image(image, tmp_path / "out" / name)[0]
        written = Image.open(out)
        assert written.format == "PNG" and written.mode == Image.open(tmp_path / name).mode
        np.testing.assert_array_equal(read_image(out).data, expected)
    assert read_image(tmp_path / "rgb.png").meta.modality == "RGB"
    assert read_image(tmp_path / "gray.png").meta.modality is None


def test_tiff_16bit_gray_round_trip_and_clipping(tmp_path):
    gray = ramp((10, 12), 0, 65535, "uint16")
    tifffile.imwrite(tmp_path / "g.tif", gray, compression="zlib", resolution=(300, 300))
    image = read_image(tmp_path / "g.tif")
    assert image.data.shape == (1, 10, 12) and image.meta.original_dtype == np.uint16
    np.testing.assert_array_equal(image.data[0], gray)
    out = write_image(image, tmp_path / "o.tif")[0]
    with tifffile.TiffFile(out) as tif:
        page = tif.pages[0]
        assert page.dtype == np.uint16 and page.compression == 8 and page.resolution == (300, 300)
        np.testing.assert_array_equal(page.asarray(), gray)
    image.data[0, 0, :2] = [70000.0, -5.0]
    clipped = tifffile.imread(write_image(image, tmp_path / "c.tif")[0])
    assert clipped[0, :2].tolist() == [65535, 0]


def test_tiff_min_is_white_keeps_its_values_and_says_it_is_inverted(tmp_path):
    gray = ramp((10, 12), 0, 4095, "uint16")
    tifffile.imwrite(tmp_path / "w.tif", gray, photometric="miniswhite")
    image = read_image(tmp_path / "w.tif")
    assert image.meta.inverted
    np.testing.assert_array_equal(image.data[0], gray)
    with tifffile.TiffFile(write_image(image, tmp_path / "o.tif")[0]) as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISWHITE
        np.testing.assert_array_equal(tif.pages[0].asarray(), gray)
    tifffile.imwrite(tmp_path / "b.tif", gray, photometric="minisblack")
    assert not read_image(tmp_path / "b.tif").meta.inverted


def test_tiff_stack_and_planar_rgb_round_trip(tmp_path):
    stack = ramp((4, 6, 5), -1000, 1000, "int16")
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    image = read_image(tmp_path / "stack.tif")
    assert image.data.shape == (1, 4, 6, 5) and image.meta.original_dtype == np.int16
    out = tifffile.imread(write_image(image, tmp_path / "s.tif")[0])
    np.testing.assert_array_equal(out, stack)

    planar = ramp((3, 6, 5), 0, 255, "uint8")
    tifffile.imwrite(tmp_path / "rgb.tif", planar, photometric="rgb", planarconfig="separate")
    image = read_image(tmp_path / "rgb.tif")
    assert image.data.shape == (3, 6, 5) and image.meta.modality == "RGB"
    with tifffile.TiffFile(write_image(image, tmp_path / "r.tif")[0]) as tif:
        assert tif.pages[0].planarconfig == tifffile.PLANARCONFIG.SEPARATE
        np.testing.assert_array_equal(tif.asarray(), planar)


def test_png_16bit_alpha_and_palette(tmp_path):
    deep = ramp((5, 6), 0, 65535, "uint16")
    Image.fromarray(deep).save(tmp_path / "deep.png")
    image = read_image(tmp_path / "deep.png")
    assert image.meta.original_dtype == np.uint16
    np.testing.assert_array_equal(read_image(write_image(image, tmp_path / "d.png")[0]).data,
                                  deep[None])

    rgba = ramp((5, 6, 4), 0, 255, "uint8")
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    image = read_image(tmp_path / "rgba.png")
    assert image.data.shape == (3, 5, 6)  # alpha kept aside
    image.data[:] = 7.0
    out = np.asarray(Image.open(write_image(image, tmp_path / "a.png")[0]))
    assert (out[..., :3] == 7).all()
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])

    Image.fromarray(ramp((5, 6), 0, 200, "uint8")).convert("P").save(tmp_path / "pal.png")
    image = read_image(tmp_path / "pal.png")
    assert image.data.shape == (3, 5, 6) and image.meta.extra["converted_from"] == "P"
    assert Image.open(write_image(image, tmp_path / "p.png")[0]).mode == "RGB"


def test_16bit_colour_png_is_refused(tmp_path):
    chunk = b"IHDR" + struct.pack(">IIBBBBB", 3, 3, 16, 2, 0, 0, 0)  # 3x3, 16-bit RGB
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(
        ">I", zlib.crc32(chunk))
    (tmp_path / "deep_rgb.png").write_bytes(data)
    with pytest.raises(ValueError, match="16-bit colour"):
        read_image(tmp_path / "deep_rgb.png")


@pytest.mark.parametrize("quality", [5, 50, 75, 90, 100])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg_quality_is_estimated_from_the_quantisation_tables(tmp_path, quality, mode):
    pixels = ramp((16, 16, 3), 0, 255, "uint8")
    Image.fromarray(pixels).convert(mode).save(tmp_path / "q.jpg", quality=quality)
    assert estimate_jpeg_quality(Image.open(tmp_path / "q.jpg").quantization) == quality
    assert read_image(tmp_path / "q.jpg").meta.extra["save"]["quality"] == quality


def test_jpeg_quality_of_foreign_tables_is_the_nearest_and_none_without_tables():
    tables = ijg_tables(80)
    tables[0, :4] += 3  # another encoder's tables, close to quality 80
    assert estimate_jpeg_quality({0: list(tables[0]), 1: list(tables[1])}) == 80
    assert estimate_jpeg_quality({}) is None


def test_jpeg_stored_losslessly_as_png_or_tiff_keeps_values_and_metadata(tmp_path):
    pixels = ramp((12, 10, 3), 0, 255, "uint8")
    Image.fromarray(pixels).save(tmp_path / "a.jpg", quality=70, dpi=(150, 150))
    for name, written in (("a.png", "PNG"), ("a.tif", "TIFF (Deflate)")):
        image = read_image(tmp_path / "a.jpg")
        assert store_losslessly(image, tmp_path / "out" / name) == written
        out = read_image(write_image(image, tmp_path / "out" / name)[0])
        np.testing.assert_array_equal(out.data, image.data)
        assert "lossy_compression" not in out.meta.extra
        assert Image.open(tmp_path / "out" / name).info["dpi"] == pytest.approx((150, 150), abs=0.1)
    with pytest.raises(ValueError, match="lossy-compressed"):
        store_losslessly(read_image(tmp_path / "out" / "a.png"), tmp_path / "b.png")


def test_lossy_tiff_is_stored_with_deflate(tmp_path):
    pixels = ramp((3, 8, 9), 0, 255, "uint8")
    tifffile.imwrite(tmp_path / "a.tif", pixels.transpose(1, 2, 0), photometric="rgb")
    image = read_image(tmp_path / "a.tif")
    assert prepare_write(image, tmp_path / "o.tif", "png") is None  # stored without loss
    # as _read_tiff describes a JPEG-compressed TIFF (decoding one needs imagecodecs)
    image.meta.extra["save"]["compression"] = tifffile.COMPRESSION.JPEG
    image.meta.extra["lossy_compression"] = "TIFF JPEG"
    assert prepare_write(image, tmp_path / "o.tif", "png") == {
        "compression": "TIFF JPEG", "written_as": "TIFF (Deflate)", "lossless": True}
    write_image(image, tmp_path / "o.tif")
    with tifffile.TiffFile(tmp_path / "o.tif") as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        np.testing.assert_array_equal(tif.asarray(), pixels.transpose(1, 2, 0))


def test_jpeg_written_as_jpeg_close_to_input(tmp_path):
    yy, xx = np.mgrid[0:32, 0:32]
    smooth = np.stack([xx * 8, yy * 8, (xx + yy) * 4], axis=-1).astype(np.uint8)
    Image.fromarray(smooth).save(tmp_path / "s.jpg", quality=95)
    image = read_image(tmp_path / "s.jpg")
    out = write_image(image, tmp_path / "o.jpg")[0]
    assert Image.open(out).format == "JPEG"
    assert np.abs(read_image(out).data - image.data).mean() < 1.5


# --------------------------------------------------------------------------- scan / detect
def test_find_output_of_a_jpeg_is_its_lossless_copy(tmp_path):
    for folder, names in (("ref", ["a.jpg", "b.jpeg", "c.png"]),
                          ("test", ["a.png", "b.tif", "c.png"])):
        (tmp_path / folder).mkdir()
        for name in names:
            Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / folder / name)
    found = {i.key: i for i in scan(tmp_path / "test").items}
    pairs = {item.key: find_output(item, found) for item in scan(tmp_path / "ref").items}
    assert {key: item.key for key, item in pairs.items()} == {
        "a.jpg": "a.png", "b.jpeg": "b.tif", "c.png": "c.png"}
    assert find_output(scan(tmp_path / "ref").items[0], {}) is None


def test_scan_mixed_folder(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    single = make_dataset(ramp((4, 4), 0, 10, "int16"))
    save(single, root / "IMG0001")  # DICOM without extension
    series_paths, datasets = _write_series(root / "patient" / "series", [0.0, 1.0, 2.0])
    nib.save(nib.Nifti1Image(np.zeros((3, 3, 3), np.int16), np.eye(4)), root / "vol.nii.gz")
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / "photo.png")
    (root / "notes.txt").write_text("not an image\n")
    (root / ".hidden.dcm").write_bytes(b"ignored")
    broken = make_dataset(ramp((32, 32), 0, 10, "int16"))
    data = (save(broken, tmp_path / "full.dcm")).read_bytes()
    (root / "broken.dcm").write_bytes(data[: len(data) - 700])
    report = make_dataset(np.zeros((1, 1), np.int16))
    for keyword in ("Rows", "Columns", "PixelData"):
        delattr(report, keyword)
    save(report, root / "report.dcm")

    result = scan(root)
    kinds = {str(i.relpath): (i.kind, len(i.paths), i.series_uid) for i in result.items}
    assert kinds == {
        "IMG0001": ("dicom_series", 1, single.SeriesInstanceUID),
        "patient/series": ("dicom_series", 3, datasets[0].SeriesInstanceUID),
        "vol.nii.gz": ("nifti", 1, None),
        "photo.png": ("raster", 1, None),
    }
    skipped = {p.name: reason for p, reason in result.skipped}
    assert set(skipped) == {"notes.txt", "broken.dcm", "report.dcm"}
    assert "not a supported image" in skipped["notes.txt"]
    assert "truncated" in skipped["broken.dcm"]
    assert "without an image" in skipped["report.dcm"]
    json.dumps([[str(p), r] for p, r in result.skipped])  # reasons are plain strings

    series = next(i for i in result.items if i.kind == "dicom_series" and len(i.paths) == 3)
    assert read_dicom_series(series.paths).data.shape == (1, 3, 6, 5)
    with pytest.raises(ValueError, match="pixel data holds 1348 bytes"):
        read_image(root / "broken.dcm")

    assert [str(i.relpath) for i in scan(root / "photo.png").items] == ["photo.png"]


def test_detect_format_and_read_errors(tmp_path):
    (tmp_path / "a.txt").write_text("hello")
    (tmp_path / "b.NII.GZ").write_bytes(b"")
    assert detect_format(tmp_path / "a.txt") is None
    assert detect_format(tmp_path / "b.NII.GZ") == "nifti"
    assert detect_format(tmp_path) is None
    with pytest.raises(ValueError, match="not a supported image"):
        read_image(tmp_path / "a.txt")
    with pytest.raises(FileNotFoundError):
        scan(tmp_path / "missing")


# --------------------------------------------------------------------------- atomic writes
def _fail_midway(handle) -> None:
    handle.write(b"partial")
    raise OSError("disk full (simulated)")


def test_failed_writes_leave_no_partial_file(tmp_path, monkeypatch):
    dicom = read_image(save(make_dataset(np.zeros((4, 4), np.int16)), tmp_path / "a.dcm"))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "g.png")
    png = read_image(tmp_path / "g.png")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"previous content")

    monkeypatch.setattr(pydicom, "dcmwrite", lambda handle, ds, **kw: _fail_midway(handle))
    with pytest.raises(OSError, match="simulated"):
        write_image(dicom, out / "a.dcm")
    monkeypatch.setattr(Image.Image, "save", lambda self, handle, **kw: _fail_midway(handle))
    with pytest.raises(OSError, match="simulated"):
        write_image(png, out / "old.png")

    assert sorted(p.name for p in out.iterdir()) == ["old.png"]  # no temp file, no a.dcm
    assert (out / "old.png").read_bytes() == b"previous content"
    monkeypatch.undo()
    write_image(png, out / "old.png")
    assert sorted(p.name for p in out.iterdir()) == ["old.png"]
    np.testing.assert_array_equal(read_image(out / "old.png").data, png.data)
