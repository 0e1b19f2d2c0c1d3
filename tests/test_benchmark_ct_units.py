"""CT in physical units in ``medden benchmark``: HU metrics, levels in HU, true σ and true
noise power spectrum rows for correlated noise; :func:`medden.metrics.ct_metrics`."""

from __future__ import annotations

import csv
import json
import math

import nibabel as nib
import numpy as np
import pytest
import torch

from medden.bench.runner import true_psd
from medden.cli import main
from medden.metrics import ct_metrics
from medden.noise import make_generator
from medden_noise.ct import CTTextureNoise


def body_phantom(size: int = 64) -> np.ndarray:
    """A soft-tissue disk (40 HU) with a brighter insert (200 HU) in air, in HU."""
    rows, cols = np.ogrid[:size, :size]
    radius = (rows - size / 2) ** 2 + (cols - size / 2) ** 2
    hu = np.where(radius <= (0.4 * size) ** 2, 40.0, -1000.0)
    hu[radius <= (0.12 * size) ** 2] = 200.0
    return hu


def test_ct_metrics_in_hu_inside_the_body_and_in_the_soft_tissue_window():
    reference = body_phantom()[None]
    shifted = reference + np.where(reference > -500, 10.0, 300.0)  # air errors do not count
    scores = ct_metrics(reference, shifted)
    assert scores["rmse_hu"] == pytest.approx(10.0)
    # W400/L40 maps [-160, 240] HU to [0, 1]: 10 HU is 0.025; air stays clipped at 0
    body = (reference > -500).mean()
    assert scores["psnr_w400"] == pytest.approx(-10 * math.log10(body * 0.025 ** 2), rel=1e-6)
    same = ct_metrics(reference, reference)
    assert same["rmse_hu"] == 0.0 and math.isinf(same["psnr_w400"]) and same["ssim_w400"] == 1


def test_true_psd_is_the_smoothed_periodogram_of_the_drawn_noise():
    clean = torch.full((1, 64, 64), 0.3)
    noisy = clean[None] + 0.01 * torch.randn((1, 1, 64, 64), generator=make_generator(0))
    psd = true_psd(noisy, clean)
    assert psd.shape == (1, 64, 64)
    # Parseval: the mean of |FFT|^2 over the spectrum is the sum of squares of the noise
    assert psd.mean() == pytest.approx(float(((noisy[0] - clean) ** 2).sum()), rel=1e-6)


def test_bm3d_told_the_spectrum_of_correlated_noise_beats_bm3d_told_sigma():
    pytest.importorskip("bm3d")
    from medden_classic.bm3d_filter import BM3DFilter

    hu = body_phantom(96)
    clean = torch.from_numpy(((hu + 1024) / 4095).astype(np.float32))[None]
    noisy = CTTextureNoise(hu=60, kernel="hann")(clean[None], make_generator(1))
    sigma = float((noisy[0] - clean).std() * 255)
    white = BM3DFilter(sigma=sigma)(noisy)
    told = BM3DFilter(sigma=sigma).with_psd(true_psd(noisy, clean))(noisy)

    def rmse(out):
        return float(((out[0] - clean) * 4095).pow(2).mean().sqrt())

    assert rmse(told) < 0.8 * rmse(white) < 0.8 * rmse(noisy)


def test_benchmark_scores_ct_in_hu_with_true_sigma_and_psd_rows(tmp_path):
    pytest.importorskip("bm3d")
    data, out = tmp_path / "scans", tmp_path / "out"
    data.mkdir()
    volume = np.stack([body_phantom()] * 3, axis=-1).astype(np.int16)
    nib.save(nib.Nifti1Image(volume, np.diag([0.7, 0.7, 2.0, 1.0])), data / "phantom.nii.gz")
    assert main(["benchmark", "--data", str(data), "--modality", "ct", "--models",
                 "identity,bm3d", "--true-sigma", "bm3d", "--noise", "ct_texture:hu=40",
                 "gaussian", "camera:photons=50", "--levels", "2", "--out", str(out), "--quiet",
                 "--skip", "oracle,ablation,curves,figures,cost"]) == 0
    with (out / "per_image.csv").open() as handle:
        rows = {(r["noise"], r["model"]): r for r in csv.DictReader(handle)}
    noisy = rows["ct_texture:hu=40", "identity"]
    assert float(noisy["rmse_hu"]) == pytest.approx(40, rel=0.15)  # the input noise in HU
    assert float(rows["gaussian", "identity"]["rmse_hu"]) == pytest.approx(2 / 255 * 4095,
                                                                            rel=0.15)
    told = rows["ct_texture:hu=40", "bm3d (true σ)"]
    assert float(told["setting"].removeprefix("sigma=")) == pytest.approx(40 / 4095 * 255,
                                                                          rel=0.15)
    assert rows["ct_texture:hu=40", "bm3d (true PSD)"]["setting"] == "noise power spectrum"
    assert ("gaussian", "bm3d (true PSD)") not in rows  # white noise: σ says it all
    assert ("camera:photons=50", "bm3d (true PSD)") not in rows  # uncorrelated too
    camera = rows["camera:photons=50", "bm3d (true σ)"]
    # the noisy input's RMSE, clipped to [0, 1] in the dark air (hence not exactly)
    drawn = float(rows["camera:photons=50", "identity"]["mse"]) ** 0.5 * 255
    assert float(camera["setting"].removeprefix("sigma=")) == pytest.approx(drawn, rel=0.1)
    for key in [("ct_texture:hu=40", "bm3d (true PSD)"), ("ct_texture:hu=40", "bm3d")]:
        assert float(rows[key]["rmse_hu"]) < float(noisy["rmse_hu"])
    report = (out / "benchmark.md").read_text()
    assert "RMSE HU (body)" in report and "PSNR W400" in report and "2 (32 HU)" in report


def test_evaluate_scores_ct_in_hu(tmp_path):
    reference, test = tmp_path / "ref", tmp_path / "test"
    reference.mkdir()
    test.mkdir()
    clean = np.stack([body_phantom()] * 2, axis=-1)
    affine = np.diag([0.7, 0.7, 2.0, 1.0])
    nib.save(nib.Nifti1Image(clean.astype(np.int16), affine), reference / "scan.nii.gz")
    off = clean + np.where(clean > -500, 10, 0)
    nib.save(nib.Nifti1Image(off.astype(np.int16), affine), test / "scan.nii.gz")
    report = tmp_path / "scores.json"
    assert main(["evaluate", "--reference", str(reference), "--test", str(test), "--modality",
                 "ct", "--json", str(report)]) == 0
    row = json.loads(report.read_text())["rows"][0]
    assert row["rmse_hu"] == pytest.approx(10.0)
    assert row["psnr_w400"] < row["psnr"]  # the window magnifies the soft-tissue error


def test_foreground_psnr_scores_the_tissue_only():
    from medden.metrics import foreground_psnr

    reference = np.zeros((1, 32, 32))
    reference[:, 8:24, 8:24] = 0.5
    background_only = reference.copy()
    background_only[:, :4] += 0.2  # errors outside the tissue do not count
    assert math.isinf(foreground_psnr(reference, background_only))
    tissue = reference + np.where(reference > 0, 0.01, 0.0)
    assert foreground_psnr(reference, tissue) == pytest.approx(40.0)
    assert math.isnan(foreground_psnr(np.zeros((1, 8, 8)), np.ones((1, 8, 8))))
