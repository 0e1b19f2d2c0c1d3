"""The default denoiser chooses a bundle per file (issue 25, item 13), and a bundle's own
intensity convention applies however it is invoked (item 15)."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from monai.bundle import run as monai_run
from PIL import Image

from medden.cli import main
from medden.default_bundle import in_hounsfield_units

REPO = Path(__file__).resolve().parents[1]


def _ct_volume(seed: int = 0) -> np.ndarray:
    """A 48x48x2 CT in HU: air around a soft-tissue disc with a bone spot, with noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:48, :48]
    slice_ = np.where((y - 24) ** 2 + (x - 24) ** 2 < 18 ** 2, 40.0, -1000.0)
    slice_[20:26, 20:26] = 900.0
    volume = np.stack([slice_, slice_], axis=-1) + rng.normal(0, 30, (48, 48, 2))
    return volume.astype(np.int16)


def _nifti(path: Path, data: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)


def _report(out: Path) -> dict[str, dict]:
    return {f["input"]: f for f in json.loads((out / "report.json").read_text())["files"]}


def test_hounsfield_rule():
    assert in_hounsfield_units(_ct_volume())
    rng = np.random.default_rng(0)
    assert not in_hounsfield_units(rng.uniform(0, 800, (32, 32)))  # MR magnitude
    assert not in_hounsfield_units(rng.uniform(-4096, 4095, (64, 64)))  # MR phase
    assert not in_hounsfield_units(np.full((4, 4), np.nan))


def test_each_file_gets_a_bundle_by_the_stated_rules(tmp_path, capsys):
    rng = np.random.default_rng(1)
    folder = tmp_path / "in"
    _nifti(folder / "ct.nii.gz", _ct_volume())
    _nifti(folder / "brain.nii.gz", rng.uniform(0, 600, (32, 32, 2)).astype(np.float32))
    folder.mkdir(exist_ok=True)
    # gray fluorescence microscopy: dark background, a few bright nuclei, Poisson noise
    cells = np.full((48, 48), 4.0)
    cells[10:18, 10:18] = cells[30:40, 25:33] = 120.0
    Image.fromarray(rng.poisson(cells).clip(0, 255).astype(np.uint8)).save(folder / "fluo.png")
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / "rgb.png")

    assert main(["denoise", str(folder), str(tmp_path / "out")]) == 0
    table = capsys.readouterr().out
    files = _report(tmp_path / "out")
    expected = {"ct.nii.gz": ("ct", "NIfTI in HU"), "brain.nii.gz": ("mri", "NIfTI not in HU"),
                "fluo.png": ("xray", "gray image"), "rgb.png": ("multimodal", "colour image")}
    for name, (bundle, reason) in expected.items():
        assert files[name]["status"] == "ok", files[name]
        assert files[name]["model"].startswith(f"bundle {bundle}_denoise"), files[name]
        assert f"default bundle {bundle}: {reason}" in files[name]["notes"]
        assert f"bundle {bundle}_denoise" in table  # the table names each file's bundle


def test_ct_nifti_with_bundle_ct_matches_the_bundles_own_inference(tmp_path):
    volume = _ct_volume()
    _nifti(tmp_path / "in" / "ct.nii.gz", volume)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "cli"), "--bundle", "ct",
                 "--quiet"]) == 0
    bundle = REPO / "bundles" / "ct_denoise"
    monai_run(config_file=str(bundle / "configs" / "inference.json"), bundle_root=str(bundle),
              dataset_dir=str(tmp_path / "in"), output_dir=str(tmp_path / "monai"))
    cli = np.asarray(nib.load(tmp_path / "cli" / "ct.nii.gz").dataobj, dtype=np.float32)
    own = np.asarray(nib.load(tmp_path / "monai" / "ct.nii.gz").dataobj, dtype=np.float32)
    # percentile normalisation (the old --bundle ct) differs by tens of HU
    np.testing.assert_allclose(cli, own, atol=1.0)
    assert np.abs(cli - volume).mean() > 1.0  # it did denoise
