"""``medden denoise`` on DICOM: derived series, UIDs, preserved tags, HU and geometry.

Inputs are pydicom's bundled test files (a real 128×128 CT slice, MR slices compressed with
RLE), and a short series made from the CT slice at several positions.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from _examples import load_example
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from scipy import ndimage

from medden.cli import main
from medden.io.dicom_derived import DERIVED_KEYWORDS

CT_SMALL = Path(get_testdata_file("CT_small.dcm"))
MR_RLE = Path(get_testdata_file("MR_small_RLE.dcm"))
MR_SMALL = Path(get_testdata_file("MR_small.dcm"))


def _hu(ds: Dataset) -> np.ndarray:
    return ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)


def _write_series(folder: Path, count: int = 4, prefix: str = "slice") -> list[Dataset]:
    """The CT slice at ``count`` positions 2.5 mm apart, one new series, files without
    extension, written in an order that is neither position nor instance order."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    source = pydicom.dcmread(CT_SMALL)
    datasets = []
    for index in range(count):
        ds = copy.deepcopy(source)
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = count - index
        x, y, z = (float(v) for v in source.ImagePositionPatient)
        ds.ImagePositionPatient = [x, y, z + 2.5 * index]
        ds.SliceLocation = z + 2.5 * index
        ds.PixelData = (source.pixel_array + 7 * index).astype(np.int16).tobytes()
        ds.save_as(folder / f"{prefix}{(index * 3) % count}", enforce_file_format=True)
        datasets.append(ds)
    return datasets


def _kept(ds: Dataset) -> dict:
    """Every element except Pixel Data, group lengths and those a derived instance changes."""
    changed = {ds.data_element(k).tag for k in DERIVED_KEYWORDS if k in ds}
    return {e.tag: e.value for e in ds
            if e.tag not in changed and e.tag != 0x7FE00010 and e.tag.element != 0}


def _assert_derived_from(out: Dataset, source: Dataset, label: str) -> None:
    assert out.SOPInstanceUID != source.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.SeriesInstanceUID != source.SeriesInstanceUID
    assert list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert out.SeriesDescription.endswith(f"{label} denoised")
    assert label in out.DerivationDescription
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    referenced = out.ReferencedSeriesSequence[0]
    assert referenced.SeriesInstanceUID == source.SeriesInstanceUID
    assert referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID == (
        source.SOPInstanceUID
    )
    assert _kept(out) == _kept(source)


def _geometry(image: sitk.Image) -> tuple:
    return image.GetSize(), image.GetOrigin(), image.GetSpacing(), image.GetDirection()


def _sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def _dciodvfy_errors(path: Path) -> set[str]:
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return {line for line in (result.stdout + result.stderr).splitlines()
            if line.startswith("Error")}


def test_single_slice_identity_keeps_hu_and_tags(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(CT_SMALL, tmp_path / "in" / "ct.dcm")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--model", "identity", "--quiet"]) == 0
    source = pydicom.dcmread(CT_SMALL)
    out_path = tmp_path / "out" / "ct.dcm"
    out = pydicom.dcmread(out_path)
    _assert_derived_from(out, source, "identity")
    np.testing.assert_array_equal(_hu(out), _hu(source))
    assert out.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
    assert _geometry(sitk.ReadImage(str(out_path))) == _geometry(sitk.ReadImage(str(CT_SMALL)))
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["files"] == [{
        "input": "ct.dcm", "status": "ok", "model": "identity",
        "seconds": report["files"][0]["seconds"], "outputs": ["ct.dcm"], "reason": None,
        "notes": [], "files": [], "lossy_input": None, "qc": None,
    }]


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dicom3tools not installed")
def test_written_dicom_passes_dciodvfy(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(CT_SMALL, tmp_path / "in" / "ct.dcm")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--model", "median:size=3", "--quiet"]) == 0
    assert _dciodvfy_errors(CT_SMALL) == set()
    assert _dciodvfy_errors(tmp_path / "out" / "ct.dcm") == set()


def test_series_gets_one_new_series_and_slicewise_filtering(tmp_path):
    sources = _write_series(tmp_path / "in" / "series")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--model", "median:size=3", "--quiet"]) == 0
    by_uid = {ds.SOPInstanceUID: ds for ds in sources}
    outputs = [pydicom.dcmread(p) for p in sorted((tmp_path / "out" / "series").iterdir())]
    assert len(outputs) == len(sources)
    assert len({o.SeriesInstanceUID for o in outputs}) == 1
    assert len({o.SOPInstanceUID for o in outputs} | set(by_uid)) == 2 * len(sources)
    for out in outputs:
        source = by_uid[out.SourceImageSequence[0].ReferencedSOPInstanceUID]
        _assert_derived_from(out, source, "median:size=3")
        # CT normalisation is linear, so the median commutes with it: 2-D median per slice
        expected = ndimage.median_filter(_hu(source), size=3, mode="reflect")
        np.testing.assert_allclose(_hu(out), expected, atol=1)
    before, after = _sitk_series(tmp_path / "in" / "series"), _sitk_series(
        tmp_path / "out" / "series")
    assert _geometry(after) == _geometry(before)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    (entry,) = report["files"]
    assert entry["input"] == "series" and len(entry["files"]) == len(sources)


def test_compressed_input_is_written_uncompressed_and_reported(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(MR_RLE, tmp_path / "in" / "mr_rle.dcm")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--model", "identity", "--quiet"]) == 0
    out = pydicom.dcmread(tmp_path / "out" / "mr_rle.dcm")
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(out.pixel_array, pydicom.dcmread(MR_RLE).pixel_array)
    np.testing.assert_array_equal(out.pixel_array, pydicom.dcmread(MR_SMALL).pixel_array)
    (entry,) = json.loads((tmp_path / "out" / "report.json").read_text())["files"]
    assert entry["notes"] == ["decoded from RLE Lossless, written uncompressed"]


def test_filtered_values_stay_in_the_stored_range(tmp_path):
    source = pydicom.dcmread(CT_SMALL)
    (tmp_path / "in").mkdir()
    bright = copy.deepcopy(source)
    bright.BitsStored, bright.HighBit = 12, 11  # stored range -2048..2047
    pixels = source.pixel_array.astype(np.int16).clip(-2048, 2047)
    pixels[:64] = 2047  # half the slice at the top of the stored range
    bright.PixelData = pixels.tobytes()
    bright.save_as(tmp_path / "in" / "bright.dcm", enforce_file_format=True)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"),
                 "--model", "gaussian_filter:sigma=2", "--quiet"]) == 0
    out = pydicom.dcmread(tmp_path / "out" / "bright.dcm")
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation", "RescaleSlope", "RescaleIntercept"):
        assert out[keyword].value == bright[keyword].value
    stored = out.pixel_array
    assert stored.dtype == np.int16 and stored.min() >= -2048 and stored.max() == 2047
    assert not np.array_equal(stored, pixels)  # it was filtered


def test_ct_padding_outside_the_field_of_view_is_kept_and_does_not_leak_in(tmp_path):
    """Scanners pad outside the reconstructed circle with -3024 HU (no tissue); the denoiser
    works in the HU window, so the padding comes back as it was and the image inside is
    what the same slice padded with air (-1024 HU) gives."""
    source = pydicom.dcmread(CT_SMALL)
    rows, cols = np.mgrid[:128, :128]
    outside = (rows - 63.5) ** 2 + (cols - 63.5) ** 2 > 60 ** 2
    results = {}
    for padding in (-3024, -1024):
        ds = copy.deepcopy(source)
        pixels = source.pixel_array.astype(np.int16)
        pixels[outside] = padding + 1024  # RescaleIntercept -1024
        ds.PixelData = pixels.tobytes()
        folder = tmp_path / str(padding)
        (folder / "in").mkdir(parents=True)
        ds.save_as(folder / "in" / "slice.dcm", enforce_file_format=True)
        assert main(["denoise", str(folder / "in"), str(folder / "out"),
                     "--model", "gaussian_filter:sigma=2", "--quiet"]) == 0
        results[padding] = _hu(pydicom.dcmread(folder / "out" / "slice.dcm"))
    assert (results[-3024][outside] == -3024).all()
    np.testing.assert_allclose(results[-3024][~outside], results[-1024][~outside], atol=1)


def test_resume_redoes_a_partly_written_series_as_one_series(tmp_path):
    _write_series(tmp_path / "in" / "series")
    args = ["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--model", "identity",
            "--quiet"]
    assert main(args) == 0
    outputs = sorted((tmp_path / "out" / "series").iterdir())
    first_uid = pydicom.dcmread(outputs[0]).SeriesInstanceUID
    outputs[1].unlink()  # as if the run had been killed before writing this instance
    assert main([*args, "--resume"]) == 0
    uids = {pydicom.dcmread(p).SeriesInstanceUID for p in outputs}
    assert uids == {first_uid}  # derived from the source UIDs and the run's settings
    (entry,) = json.loads((tmp_path / "out" / "report.json").read_text())["files"]
    assert entry["status"] == "ok"


def test_two_series_in_one_folder_are_scored_apart(tmp_path):
    from medden.evaluation import evaluate_folders

    _write_series(tmp_path / "in" / "study", prefix="a")
    _write_series(tmp_path / "in" / "study", count=3, prefix="b")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--model",
                 "median:size=3", "--quiet"]) == 0
    rows, problems = evaluate_folders(tmp_path / "in", tmp_path / "out")
    assert problems == []
    assert [r["file"] for r in rows] == ["study (series of 4 files, first a0)", "study/b0",
                                         "mean"]
    assert all(30 < r["psnr"] < 80 for r in rows)


SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SAMPLE_XRAY = SAMPLES / "xray_chest_00026402_000.png"


#: builds DICOM files as scanners write them (also used by docs/examples/noisy_files_check.py)
write_dicom = load_example("noisy_files_check").write_dicom


def _twins(folder: Path) -> np.ndarray:
    """The sample radiograph at 256², 12-bit, as ``m2/dx.dcm`` (MONOCHROME2) and as its
    twin ``m1/dx.dcm`` stored turned round (MONOCHROME1): the same picture on a viewer.
    Returns the MONOCHROME2 values."""
    from PIL import Image

    shown = np.asarray(Image.open(SAMPLE_XRAY).convert("L").resize((256, 256)), np.float64)
    stored = np.rint(shown / 255 * 4095)
    write_dicom(folder / "m2" / "dx.dcm", stored, "DX", "MONOCHROME2", 12)
    write_dicom(folder / "m1" / "dx.dcm", 4095 - stored, "DX", "MONOCHROME1", 12)
    return stored


def test_photon_noise_on_a_monochrome1_radiograph_follows_the_display(tmp_path):
    """Many CR/DX systems store MONOCHROME1 (white at the lowest value). Photon noise is
    strongest where the display is white: the twins get the same draws, turned round."""
    _twins(tmp_path)
    noisy = {}
    for name in ("m1", "m2"):
        assert main(["noise", str(tmp_path / name), str(tmp_path / f"{name}_noisy"),
                     "--noise", "poisson:peak=3000", "--quiet"]) == 0
        noisy[name] = pydicom.dcmread(tmp_path / f"{name}_noisy" / "dx.dcm").pixel_array
    assert not np.array_equal(noisy["m2"], pydicom.dcmread(tmp_path / "m2" / "dx.dcm").pixel_array)
    np.testing.assert_allclose(noisy["m1"].astype(np.int32), 4095 - noisy["m2"], atol=1)


def test_a_monochrome1_radiograph_is_denoised_as_displayed(tmp_path):
    """A network trained on radiographs as displayed denoises a MONOCHROME1 file as its
    MONOCHROME2 twin, not as a negative, and writes it back as MONOCHROME1."""
    stored = _twins(tmp_path)
    assert main(["noise", str(tmp_path / "m2"), str(tmp_path / "m2_noisy"),
                 "--noise", "poisson:peak=3000", "--quiet"]) == 0
    noisy = pydicom.dcmread(tmp_path / "m2_noisy" / "dx.dcm")
    write_dicom(tmp_path / "m1_noisy" / "dx.dcm", 4095 - noisy.pixel_array.astype(np.float64),
                "DX", "MONOCHROME1", 12)
    denoised = {}
    for name in ("m1", "m2"):
        assert main(["denoise", str(tmp_path / f"{name}_noisy"), str(tmp_path / f"{name}_out"),
                     "--bundle", "xray", "--quiet"]) == 0
        out = pydicom.dcmread(tmp_path / f"{name}_out" / "dx.dcm")
        assert out.PhotometricInterpretation == ("MONOCHROME1" if name == "m1" else "MONOCHROME2")
        denoised[name] = out.pixel_array.astype(np.int32)
    difference = np.abs(denoised["m1"] - (4095 - denoised["m2"]))
    assert difference.max() <= 2, difference.max()  # float rounding only
    error = np.abs(denoised["m2"] - stored).mean()
    assert error < 0.8 * np.abs(noisy.pixel_array - stored).mean()  # and it was denoised


def _psnr(test: np.ndarray, reference: np.ndarray, peak: float) -> float:
    return float(10 * np.log10(peak ** 2 / np.mean((test - reference) ** 2)))


def test_a_noisy_magnitude_mr_scan_keeps_its_coil_noise_floor(tmp_path):
    """A 16-bit MR magnitude scan with 8-coil noise: its background is a χ floor well
    above zero. Normalised by its own 0.5th percentile, the floor was pulled down to 0 and
    the bundle left most of the noise (+3.6 dB on the sample slice); zero kept at zero, it
    removes it as in training."""
    from PIL import Image

    clean = np.asarray(Image.open(SAMPLES / "mri_brain_t1ce_0_1000.jpg").convert("L"), np.float64)
    stored = np.rint(clean * 16)  # 12-bit data in a 16-bit container
    write_dicom(tmp_path / "in" / "mr.dcm", stored, "MR", "MONOCHROME2", 16)
    assert main(["noise", str(tmp_path / "in"), str(tmp_path / "noisy"),
                 "--noise", "mri_coil:coils=8,snr=10", "--quiet"]) == 0
    assert main(["denoise", str(tmp_path / "noisy"), str(tmp_path / "out"),
                 "--bundle", "mri", "--quiet"]) == 0
    noisy = pydicom.dcmread(tmp_path / "noisy" / "mr.dcm").pixel_array.astype(np.float64)
    out = pydicom.dcmread(tmp_path / "out" / "mr.dcm").pixel_array.astype(np.float64)
    assert noisy[:16, :16].mean() > 0.05 * stored.max()  # the floor: background well above 0
    peak = float(np.percentile(stored, 99.5))
    gain = _psnr(out, stored, peak) - _psnr(noisy, stored, peak)
    assert gain > 8.0, gain
