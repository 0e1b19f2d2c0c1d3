"""Tests of medden.metrics: agreement with scikit-image and the properties of each metric."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.io import imread
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from medden import metrics


def textured(shape: tuple[int, ...], channels: int = 1, seed: int = 0) -> np.ndarray:
    """A synthetic image in [0, 1]: smooth shading, a sharp disc and fine texture."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    radius = np.sqrt(sum(g**2 for g in grids))
    planes = []
    for c in range(channels):
        shading = 0.3 + 0.2 * np.sin(3 * grids[-1] + c) * np.cos(2 * grids[-2])
        disc = 0.3 * (radius < 0.5 + 0.1 * c)
        planes.append(shading + disc + 0.05 * rng.random(shape))
    return np.clip(np.stack(planes), 0, 1)


def add_noise(image: np.ndarray, sigma: float, seed: int = 1) -> np.ndarray:
    """``image`` plus Gaussian noise of standard deviation ``sigma`` (0-255 scale)."""
    return image + np.random.default_rng(seed).normal(0, sigma / 255, image.shape)


@pytest.fixture
def xray() -> np.ndarray:
    """A real chest radiograph (the repository's sample, 512² 8-bit), ``(1, H, W)`` in
    [0, 1]."""
    path = Path(__file__).resolve().parents[1] / "samples" / "xray_chest_00026402_000.png"
    return (imread(path).astype(np.float64) / 255.0)[None]


def skimage_ssim(reference: np.ndarray, test: np.ndarray, data_range: float) -> float:
    return structural_similarity(
        reference, test, data_range=data_range, channel_axis=0, gaussian_weights=True,
        sigma=1.5, use_sample_covariance=False,
    )


def assert_matches_skimage(clean: np.ndarray, noisy: np.ndarray, data_range: float) -> None:
    expected_psnr = peak_signal_noise_ratio(clean, noisy, data_range=data_range)
    assert metrics.psnr(clean, noisy, data_range) == pytest.approx(expected_psnr, abs=1e-4)
    expected_ssim = skimage_ssim(clean, noisy, data_range)
    assert metrics.ssim(clean, noisy, data_range) == pytest.approx(expected_ssim, abs=1e-4)


def test_psnr_ssim_match_skimage_on_real_xray(xray):
    noisy = add_noise(xray, 25)
    assert_matches_skimage(xray, noisy, 1.0)
    # the same image on the 0-255 scale
    assert_matches_skimage(xray * 255, noisy * 255, 255.0)
    assert 20 < metrics.psnr(xray, noisy, 1.0) < 21  # sigma 25/255 -> 20.2 dB


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_ssim_match_skimage_on_synthetic(channels):
    clean = textured((72, 88), channels)
    assert_matches_skimage(clean, add_noise(clean, 15), 1.0)


def test_ssim_of_volume_matches_skimage_3d():
    clean = textured((14, 24, 28), channels=2)
    noisy = add_noise(clean, 20)
    assert metrics.ssim(clean, noisy, 1.0) == pytest.approx(
        skimage_ssim(clean, noisy, 1.0), abs=1e-4
    )


def test_ssim_of_a_short_volume_averages_its_slices():
    clean = textured((4, 24, 28), channels=2)
    noisy = add_noise(clean, 20)
    slices = [skimage_ssim(clean[:, z], noisy[:, z], 1.0) for z in range(4)]
    assert metrics.ssim(clean, noisy, 1.0) == pytest.approx(np.mean(slices), abs=1e-4)


def test_torch_tensors_give_the_numpy_results():
    clean = textured((48, 48), 3)
    noisy = add_noise(clean, 10)
    as_tensor = torch.from_numpy(clean).float(), torch.from_numpy(noisy).float()
    as_float32 = clean.astype(np.float32), noisy.astype(np.float32)
    for name, fn in [("psnr", lambda a, b: metrics.psnr(a, b, 1.0)),
                     ("ssim", lambda a, b: metrics.ssim(a, b, 1.0)),
                     ("vifp", metrics.vifp), ("delta_e", metrics.delta_e)]:
        value = fn(*as_tensor)
        assert isinstance(value, float), name
        assert value == pytest.approx(fn(*as_float32), rel=1e-9), name


def test_identical_images():
    image = textured((48, 56), 3)
    assert metrics.mse(image, image) == 0.0
    assert metrics.psnr(image, image, 1.0) == math.inf
    assert metrics.ssim(image, image, 1.0) == pytest.approx(1.0, abs=1e-12)
    assert metrics.vifp(image, image) == pytest.approx(1.0, abs=1e-9)
    assert metrics.delta_e(image, image) == 0.0


def test_mse_and_psnr_values():
    reference = np.zeros((1, 4, 4))
    test = np.full((1, 4, 4), 0.1)
    assert metrics.mse(reference, test) == pytest.approx(0.01)
    assert metrics.psnr(reference, test, 1.0) == pytest.approx(20.0)
    assert metrics.psnr(reference, test, 2.0) == pytest.approx(20.0 + 20 * math.log10(2))


@pytest.mark.parametrize(
    "metric",
    [
        metrics.mse,
        lambda a, b: metrics.psnr(a, b, 1.0),
        lambda a, b: metrics.ssim(a, b, 1.0),
        metrics.vifp,
        metrics.delta_e,
        lambda a, b: metrics.compute_all(a, b, 1.0),
    ],
)
def test_mismatched_shapes_raise(metric):
    with pytest.raises(ValueError, match=r"same shape.*\(3, 48, 48\).*\(3, 48, 40\)"):
        metric(np.zeros((3, 48, 48)), np.zeros((3, 48, 40)))


def test_bad_inputs_raise_clear_errors():
    image = textured((48, 48))
    with pytest.raises(ValueError, match="data_range must be positive"):
        metrics.psnr(image, image, 0)
    with pytest.raises(ValueError, match=r"spatial size >= 11"):
        metrics.ssim(np.zeros((1, 8, 48, 8)), np.zeros((1, 8, 48, 8)), 1.0)
    with pytest.raises(ValueError, match="height and width >= 41"):
        metrics.vifp(np.zeros((1, 40, 64)), np.zeros((1, 40, 64)))
    with pytest.raises(ValueError, match="RGB"):
        metrics.delta_e(image, image)
    with pytest.raises(ValueError, match=r"\(C, H, W\) or \(C, D, H, W\)"):
        metrics.ssim(image[0], image[0], 1.0)


def test_vifp_decreases_as_noise_grows():
    clean = textured((96, 112))
    scores = [metrics.vifp(clean, add_noise(clean, sigma)) for sigma in (2, 5, 10, 20, 40)]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores
    assert scores[0] < 1.0 and scores[-1] > 0.0


def test_vifp_on_real_xray(xray):
    image = xray[:, 128:384, 128:384]
    assert metrics.vifp(image, image) == pytest.approx(1.0, abs=1e-9)
    scores = [metrics.vifp(image, add_noise(image, sigma)) for sigma in (5, 15, 25, 50)]
    assert all(a > b for a, b in zip(scores, scores[1:], strict=False)), scores


def test_vifp_model_properties():
    clean = textured((64, 64))
    # contrast stretching adds visual information: VIF above 1
    stretched = clean.mean() + 1.3 * (clean - clean.mean())
    assert metrics.vifp(clean, stretched) > 1.0
    # the noise model is on the 0-255 scale whatever the data range
    noisy = add_noise(clean, 10)
    assert metrics.vifp(clean * 255, noisy * 255, data_range=255) == pytest.approx(
        metrics.vifp(clean, noisy), rel=1e-9
    )
    # a flat reference carries no information
    flat = np.full((1, 48, 48), 0.5)
    assert math.isnan(metrics.vifp(flat, flat))


def test_vifp_averages_channels_and_sums_slices():
    clean = textured((48, 48), channels=2)
    noisy = clean.copy()
    noisy[1] = add_noise(clean[1], 20)
    per_channel = [metrics.vifp(clean[c : c + 1], noisy[c : c + 1]) for c in range(2)]
    assert per_channel[0] == pytest.approx(1.0)
    assert metrics.vifp(clean, noisy) == pytest.approx(np.mean(per_channel))
    volume = textured((3, 48, 48))
    noisy_volume = add_noise(volume, 20)
    score = metrics.vifp(volume, noisy_volume)
    slices = [metrics.vifp(volume[:, d], noisy_volume[:, d]) for d in range(3)]
    assert min(slices) <= score <= max(slices)


def test_delta_e_values():
    black, white = np.zeros((3, 8, 8)), np.ones((3, 8, 8))
    # CIEDE2000 of a pure lightness difference L*=0 -> L*=100 around L*=50 is 100
    assert metrics.delta_e(black, white) == pytest.approx(100.0, abs=1e-3)
    clean = textured((48, 48), 3)
    scores = [metrics.delta_e(clean, np.clip(add_noise(clean, s), 0, 1)) for s in (2, 10, 30)]
    assert 0 < scores[0] < scores[1] < scores[2], scores


def test_compute_all():
    gray = textured((48, 56))
    noisy_gray = add_noise(gray, 15)
    scores = metrics.compute_all(gray, noisy_gray, 1.0)
    assert set(scores) == {"mse", "psnr", "ssim", "vifp"}
    assert scores["psnr"] == pytest.approx(metrics.psnr(gray, noisy_gray, 1.0))
    assert scores["vifp"] == pytest.approx(metrics.vifp(gray, noisy_gray))

    rgb = textured((48, 56), 3)
    noisy_rgb = np.clip(add_noise(rgb, 15), 0, 1)
    unit = metrics.compute_all(rgb, noisy_rgb, 1.0)
    assert set(unit) == {"mse", "psnr", "ssim", "vifp", "delta_e"}
    assert unit["delta_e"] == pytest.approx(metrics.delta_e(rgb, noisy_rgb))
    byte = metrics.compute_all(torch.from_numpy(rgb * 255), torch.from_numpy(noisy_rgb * 255),
                               255.0)
    for key in ("psnr", "ssim", "vifp", "delta_e"):
        assert byte[key] == pytest.approx(unit[key], rel=1e-6), key
    assert byte["mse"] == pytest.approx(unit["mse"] * 255**2)
