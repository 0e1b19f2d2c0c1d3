"""Lossy inputs (JPEG, lossy DICOM): ``medden noise`` / ``denoise`` write them without loss.

A noisy copy written as JPEG again is not the noise asked for (JPEG lowers its standard
deviation and correlates it across channels and neighbouring pixels), so JPEG inputs are
written as PNG (or TIFF) unless ``--format keep``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian

from medden.cli import main
from medden.io.jpeg_quality import estimate_jpeg_quality

SIGMA = 25.0
SIZE = 256
#: A lossy JPEG DICOM with LossyImageCompression 01 and a ratio, but no method.
LOSSY_DICOM = Path(get_testdata_file("SC_rgb_jpeg_lossy_gdcm.dcm"))


def _smooth_rgb() -> np.ndarray:
    """Mid-grey smooth colours (no clipping of σ=25 noise), ``(SIZE, SIZE, 3)`` uint8."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    channels = [128 + 40 * np.sin(xx / 20), 128 + 40 * np.cos(yy / 25),
                110 + 30 * np.sin((xx + yy) / 30)]
    return np.stack(channels, axis=-1).astype(np.uint8)


def _write_jpegs(folder: Path) -> Path:
    """``rgb.jpg`` (quality 90) and ``gray.jpeg`` (quality 80)."""
    folder.mkdir(parents=True)
    rgb = _smooth_rgb()
    Image.fromarray(rgb).save(folder / "rgb.jpg", quality=90)
    Image.fromarray(rgb[..., 0]).save(folder / "gray.jpeg", quality=80)
    return folder


def _pixels(path: Path) -> np.ndarray:
    """Stored values ``(H, W, C)`` as float."""
    array = np.asarray(Image.open(path), dtype=np.float64)
    return array[..., None] if array.ndim == 2 else array


def _noise_statistics(clean: Path, noisy: Path) -> dict[str, np.ndarray | float]:
    """Per-channel std / σ, the largest |r| between channels and between neighbours."""
    noise = _pixels(noisy) - _pixels(clean)
    channels = noise.reshape(-1, noise.shape[-1]).T
    across = np.atleast_2d(np.corrcoef(channels))[np.triu_indices(len(channels), 1)]
    neighbours = [np.corrcoef(noise[:, :-1, c].ravel(), noise[:, 1:, c].ravel())[0, 1]
                  for c in range(noise.shape[-1])]
    return {"std_ratio": noise.std(axis=(0, 1)) / SIGMA,
            "channels_r": float(np.abs(across).max(initial=0.0)),
            "neighbours_r": float(np.abs(neighbours).max())}


def _noise(source: Path, out: Path, *options: str) -> int:
    return main(["noise", str(source), str(out), "--noise", f"gaussian:sigma={SIGMA:g}",
                 "--seed", "1", "--quiet", *options])


def _report(out: Path) -> dict[str, dict]:
    return {entry["input"]: entry for entry in
            json.loads((out / "report.json").read_text())["files"]}


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A folder of JPEGs and its noisy copy made with the default format."""
    root = tmp_path_factory.mktemp("lossy")
    source = _write_jpegs(root / "in")
    assert _noise(source, root / "noisy") == 0
    return source, root / "noisy"


@pytest.mark.parametrize(("name", "written"), [("rgb.jpg", "rgb.png"),
                                               ("gray.jpeg", "gray.png")])
def test_noisy_copy_of_a_jpeg_holds_the_gaussian_noise_asked_for(jpegs, name, written):
    source, noisy = jpegs
    assert Image.open(noisy / written).format == "PNG"
    assert not (noisy / name).exists()
    stats = _noise_statistics(source / name, noisy / written)
    print(f"{name}: std/σ {np.round(stats['std_ratio'], 4)}, max |r| across channels "
          f"{stats['channels_r']:.4f}, between neighbours {stats['neighbours_r']:.4f}")
    np.testing.assert_allclose(stats["std_ratio"], 1.0, atol=0.03)
    assert stats["channels_r"] < 0.05 and stats["neighbours_r"] < 0.05


def test_report_and_summary_name_each_lossy_input(jpegs, tmp_path, capsys):
    _, noisy = jpegs
    entry = _report(noisy)["rgb.jpg"]
    assert entry["outputs"] == ["rgb.png"]
    assert entry["lossy_input"] == {"compression": "JPEG", "written_as": "PNG",
                                    "lossless": True}
    assert entry["notes"] == ["decoded from lossy JPEG, written without further loss as PNG"]
    assert json.loads((noisy / "report.json").read_text())["options"]["format"] == "png"
    assert main(["noise", str(jpegs[0]), str(tmp_path / "again"), "--noise", "gaussian"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("decoded from lossy JPEG") == 1
    assert "2 input(s) decoded from lossy JPEG, written without further loss as PNG" in printed


def test_format_keep_writes_jpeg_at_the_inputs_quality(jpegs, tmp_path, jpeg_encodings):
    source, _ = jpegs
    assert _noise(source, tmp_path / "keep", "--format", "keep") == 0
    assert len(jpeg_encodings) == 2  # what the benchmark tests' spy sees
    report = _report(tmp_path / "keep")
    for name, quality in (("rgb.jpg", 90), ("gray.jpeg", 80)):
        written = Image.open(tmp_path / "keep" / name)
        assert written.format == "JPEG"
        assert estimate_jpeg_quality(written.quantization) == quality
        assert report[name]["outputs"] == [name]
        assert report[name]["lossy_input"] == {
            "compression": "JPEG", "written_as": "JPEG", "lossless": False,
            "quality": quality,
            "quality_source": "estimated from the input's quantisation tables"}
    # what the lossless default avoids: JPEG shrinks the noise and couples the channels
    stats = _noise_statistics(source / "rgb.jpg", tmp_path / "keep" / "rgb.jpg")
    assert stats["std_ratio"].max() < 0.9 and stats["channels_r"] > 0.3


def test_format_tiff_holds_the_same_noise_as_png(jpegs, tmp_path):
    source, noisy = jpegs
    assert _noise(source, tmp_path / "tiff", "--format", "tiff") == 0
    assert _report(tmp_path / "tiff")["rgb.jpg"]["lossy_input"]["written_as"] == \
        "TIFF (Deflate)"
    for stem in ("rgb", "gray"):
        np.testing.assert_array_equal(_pixels(tmp_path / "tiff" / f"{stem}.tif"),
                                      _pixels(noisy / f"{stem}.png"))


def test_resume_finds_the_renamed_outputs(jpegs, tmp_path):
    source = jpegs[0]
    noisy = Path(shutil.copytree(jpegs[1], tmp_path / "noisy"))
    before = (noisy / "rgb.png").read_bytes()
    assert _noise(source, noisy) == 2  # existing outputs are an error without --resume
    assert _noise(source, noisy, "--resume") == 0
    entry = _report(noisy)["rgb.jpg"]
    assert entry["status"] == "skipped" and entry["outputs"] == ["rgb.png"]
    assert (noisy / "rgb.png").read_bytes() == before


def test_a_jpeg_never_overwrites_the_png_of_its_name(tmp_path):
    source = tmp_path / "in"
    source.mkdir()
    rgb = _smooth_rgb()[:32, :32]
    Image.fromarray(rgb).save(source / "a.jpg", quality=90)
    Image.fromarray(255 - rgb).save(source / "a.png")
    assert main(["denoise", str(source), str(tmp_path / "out"), "--model", "identity",
                 "--quiet"]) == 1
    report = _report(tmp_path / "out")
    assert report["a.png"]["status"] == "ok" and report["a.png"]["outputs"] == ["a.png"]
    assert report["a.jpg"]["status"] == "failed"
    assert "its output path is also the output of a.png" in report["a.jpg"]["reason"]
    assert "--format" in report["a.jpg"]["reason"]
    np.testing.assert_array_equal(_pixels(tmp_path / "out" / "a.png"), 255.0 - rgb)
    assert main(["denoise", str(source), str(tmp_path / "kept"), "--model", "identity",
                 "--quiet", "--format", "keep"]) == 0
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == \
        ["a.jpg", "a.png", "report.json"]


def test_denoise_writes_jpeg_inputs_without_loss_unless_keep(tmp_path):
    source = _write_jpegs(tmp_path / "in")
    assert main(["denoise", str(source), str(tmp_path / "out"), "--model", "median:size=3",
                 "--quiet"]) == 0
    assert Image.open(tmp_path / "out" / "rgb.png").format == "PNG"
    assert _report(tmp_path / "out")["rgb.jpg"]["lossy_input"]["written_as"] == "PNG"
    assert main(["denoise", str(source), str(tmp_path / "keep"), "--model", "median:size=3",
                 "--quiet", "--format", "keep"]) == 0
    assert Image.open(tmp_path / "keep" / "rgb.jpg").format == "JPEG"
    assert _report(tmp_path / "keep")["gray.jpeg"]["lossy_input"]["quality"] == 80
    lossless = _pixels(tmp_path / "out" / "rgb.png")
    assert np.abs(_pixels(tmp_path / "keep" / "rgb.jpg") - lossless).max() > 0


def test_evaluate_pairs_a_jpeg_reference_with_its_lossless_copy(jpegs, tmp_path):
    source, noisy = jpegs
    table = tmp_path / "metrics.json"
    assert main(["evaluate", "--reference", str(source), "--test", str(noisy),
                 "--json", str(table)]) == 0
    rows = {row["file"]: row for row in json.loads(table.read_text())["rows"]}
    assert set(rows) == {"rgb.jpg", "gray.jpeg", "mean"}
    expected = 20 * np.log10(255 / SIGMA)  # PSNR of additive Gaussian noise
    assert rows["rgb.jpg"]["psnr"] == pytest.approx(expected, abs=0.3)


@pytest.mark.parametrize("output_format", ["png", "keep"])
def test_lossy_dicom_is_written_uncompressed_and_still_says_lossy(tmp_path, output_format):
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(LOSSY_DICOM, source / "given.dcm")
    bare = pydicom.dcmread(LOSSY_DICOM)
    for keyword in ("LossyImageCompression", "LossyImageCompressionRatio"):
        delattr(bare, keyword)  # a writer that did not say it compressed with loss
    bare.save_as(source / "bare.dcm")
    assert _noise(source, tmp_path / "out", "--format", output_format) == 0
    report = _report(tmp_path / "out")
    for name, ratio in (("given.dcm", "9.05250452625226"), ("bare.dcm", None)):
        out = pydicom.dcmread(tmp_path / "out" / name)
        assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
        assert out.LossyImageCompression == "01"
        assert out.LossyImageCompressionMethod == "ISO_10918_1"
        assert float(out.LossyImageCompressionRatio) > 1
        if ratio is not None:
            assert str(out.LossyImageCompressionRatio) == ratio  # kept as given
        assert report[name]["lossy_input"] == {
            "compression": "JPEG Baseline (Process 1)", "lossless": True,
            "written_as": "DICOM Explicit VR Little Endian (uncompressed)"}
