"""Quality checks without ground truth: over-smoothing and identity 'denoisers' are flagged."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage
from skimage.restoration import denoise_tv_chambolle

from medden.cli import main
from medden.intensity import CT_MAP, IntensityMap
from medden.qc import noise_sigma, quality_checks, summarise

GREY = IntensityMap(0.0, 255.0)


def _phantom(size: int = 128) -> np.ndarray:
    """Piecewise smooth: a gradient, a disc and two bars."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = 0.3 + 0.3 * xx
    image[(yy - 0.5) ** 2 + (xx - 0.4) ** 2 < 0.06] = 0.8
    image[20:36, 60:120] = 0.1
    image[80:90, 10:50] = 0.6
    return image.astype(np.float32)


def _noisy(sigma: float, seed: int = 0) -> np.ndarray:
    clean = _phantom()
    return clean + np.random.default_rng(seed).normal(0, sigma / 255, clean.shape).astype(
        np.float32)


def _checks(noisy: np.ndarray, out: np.ndarray, mapping: IntensityMap = GREY) -> dict:
    return quality_checks(noisy[None], np.asarray(out, np.float32)[None], mapping)


@pytest.mark.parametrize("sigma", [5, 10, 25])
def test_good_denoisers_pass_and_bad_ones_are_flagged(sigma):
    noisy = _noisy(sigma)
    perfect = _checks(noisy, _phantom())
    assert perfect["flags"] == []
    assert perfect["noise_before"] == pytest.approx(sigma, rel=0.1)
    assert perfect["noise_after"] < 0.5 and perfect["residual_std"] == pytest.approx(sigma,
                                                                                    rel=0.1)
    assert abs(perfect["residual_autocorrelation"]) < 0.05
    assert _checks(noisy, denoise_tv_chambolle(noisy, weight=sigma / 255))["flags"] == []
    smoothed = _checks(noisy, ndimage.gaussian_filter(noisy, 3))  # anatomy in the residual
    assert smoothed["flags"] == ["structure"]
    assert smoothed["residual_edge_correlation"] > 0.9
    assert _checks(noisy, noisy)["flags"] == ["unchanged"]  # identity on a noisy image


def test_clean_input_left_alone_is_not_flagged():
    clean = _phantom()
    assert _checks(clean, clean)["flags"] == []


def test_noise_in_hounsfield_units_for_ct():
    noisy = _noisy(10)
    checks = _checks(noisy, _phantom(), CT_MAP)
    assert checks["units"] == "HU"
    assert checks["noise_before_units"] == pytest.approx(10 / 255 * 4095, rel=0.1)
    assert _checks(noisy, _phantom())["units"] == "stored value"


def test_noise_estimate_of_white_noise_and_volumes():
    noise = np.random.default_rng(1).normal(0, 0.1, (1, 40, 64, 64))
    assert noise_sigma(noise) == pytest.approx(0.1, rel=0.05)
    checks = quality_checks(noise.astype(np.float32), np.zeros_like(noise, np.float32), GREY)
    assert checks["flags"] == []  # the whole volume was noise, all of it removed


def test_summary_counts_flags():
    records = [{"flags": ["structure"]}, {"flags": []}, None, {"flags": ["unchanged"]},
               {"flags": ["structure"]}]
    assert summarise(records) == ("quality checks: 4 image(s) checked, 3 flagged "
                                  "(2 structure, 1 unchanged)")


def test_denoise_qc_records_checks_per_image_and_prints_the_summary(tmp_path, capsys):
    source = tmp_path / "in"
    source.mkdir()
    for name, sigma in (("noisy.png", 25), ("clean.png", 0)):
        image = np.clip(_noisy(sigma, seed=2), 0, 1)
        Image.fromarray((image * 255).round().astype(np.uint8)).save(source / name)
    assert main(["denoise", str(source), str(tmp_path / "out"), "--model", "identity",
                 "--qc"]) == 0
    printed = capsys.readouterr().out
    assert "quality checks: 2 image(s) checked, 1 flagged (1 unchanged)" in printed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    records = {entry["input"]: entry["qc"] for entry in report["files"]}
    assert records["noisy.png"]["flags"] == ["unchanged"]
    assert records["noisy.png"]["noise_before"] == pytest.approx(25, rel=0.15)
    assert records["clean.png"]["flags"] == []
    assert main(["denoise", str(source), str(tmp_path / "plain"), "--model", "identity",
                 "--quiet"]) == 0
    plain = json.loads((tmp_path / "plain" / "report.json").read_text())
    assert all(entry["qc"] is None for entry in plain["files"])  # only with --qc
