"""Multi-coil MRI (``mri_coil``) and camera (``camera``) noise: their statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from medden.noise import make_generator
from medden.registry import noise_registry
from medden_noise.camera import CameraNoise
from medden_noise.mri_coil import MRICoilNoise, chi_background_mean, coil_sensitivities


def flat(level: float, size: int = 256, batch: int = 1) -> torch.Tensor:
    return torch.full((batch, 1, size, size), level)


@pytest.mark.parametrize("coils", [1, 4, 8, 32])
def test_sensitivities_combine_to_one(coils):
    maps = coil_sensitivities(coils, 40, 56)
    assert maps.shape == (coils, 40, 56) and maps.is_complex()
    torch.testing.assert_close(maps.abs().pow(2).sum(dim=0), torch.ones(40, 56,
                                                                       dtype=torch.float64))


def test_one_coil_is_rician():
    for level in (0.0, 0.05, 0.3):
        clean = flat(level)
        coil = MRICoilNoise(coils=1, sigma=25)(clean, make_generator(0))
        rician = noise_registry.create("rician:sigma=25")(clean, make_generator(1))
        assert coil.mean().item() == pytest.approx(rician.mean().item(), rel=0.02)
        assert coil.std().item() == pytest.approx(rician.std().item(), rel=0.03)
        quantiles = torch.tensor([0.1, 0.5, 0.9])
        torch.testing.assert_close(coil.flatten().quantile(quantiles),
                                   rician.flatten().quantile(quantiles), rtol=0.03, atol=1e-3)


@pytest.mark.parametrize("coils", [1, 8, 32])
def test_background_mean_is_the_chi_mean(coils):
    sigma = 10.0
    background = MRICoilNoise(coils=coils, sigma=sigma)(flat(0.0), make_generator(2))
    expected = chi_background_mean(sigma / 255, coils)
    assert background.mean().item() == pytest.approx(expected, rel=0.01)
    if coils == 1:
        assert expected == pytest.approx(sigma / 255 * np.sqrt(np.pi / 2))


def test_noise_in_bright_tissue_is_about_sigma_and_unbiased():
    clean = flat(0.8)
    out = MRICoilNoise(coils=8, sigma=5)(clean, make_generator(3))
    assert out.std().item() == pytest.approx(5 / 255, rel=0.05)
    assert out.mean().item() == pytest.approx(0.8, abs=0.25 * 5 / 255)


def test_snr_sets_sigma_from_the_foreground():
    clean = torch.zeros(1, 1, 128, 128)
    clean[..., 32:96, 32:96] = 0.6
    out = MRICoilNoise(coils=8, snr=20)(clean, make_generator(4))
    tissue = (out - clean)[..., 40:88, 40:88]
    assert tissue.std().item() == pytest.approx(0.6 / 20, rel=0.05)


@pytest.mark.parametrize("gain,read_noise", [(2.0, 3.0), (0.5, 1.5)])
def test_photon_transfer_line(gain, read_noise):
    """Variance against mean in ADU: slope = gain, intercept = read noise^2 (+1/12 rounding)."""
    noise = CameraNoise(photons=400, gain=gain, offset=100, read_noise=read_noise, bits=12)
    levels = torch.linspace(0.05, 0.95, 7)
    means, variances = [], []
    for index, level in enumerate(levels):
        adu, _ = noise.adu(flat(float(level)), make_generator(index))
        means.append(adu.mean().item() - 100)
        variances.append(adu.var().item())
    slope, intercept = np.polyfit(means, variances, 1)
    assert slope == pytest.approx(gain, rel=0.03)
    assert intercept == pytest.approx(read_noise ** 2 + 1 / 12, abs=0.1 * read_noise ** 2 + 0.3)


def test_camera_returns_whole_adu_on_the_input_scale():
    clean = flat(0.5, size=64)
    out = CameraNoise(photons=50, gain=2, offset=10, read_noise=0)(clean, make_generator(5))
    adu = out * 2 * 50 + 10
    torch.testing.assert_close(adu, adu.round(), rtol=0, atol=1e-4)
    assert out.mean().item() == pytest.approx(0.5, rel=0.02)
    assert out.var().item() == pytest.approx(0.5 / 50, rel=0.05)  # shot noise: I / photons


def test_camera_quantises_to_its_bit_depth_and_hot_pixels_saturate():
    bright = CameraNoise(photons=1000, gain=1, offset=0, read_noise=0, bits=8)(
        flat(1.0, size=64), make_generator(6)) * 1000
    assert bright.max().item() == 255 and bright.min().item() > 200  # clipped at full scale
    dim = CameraNoise(photons=1000, gain=1, offset=0, read_noise=0, bits=8, hot_pixels=0.01)(
        flat(0.1, size=128), make_generator(6)) * 1000
    hot = (dim == 255).float().mean().item()
    assert 0.007 < hot < 0.013


def test_camera_photon_range_is_drawn_per_image():
    clean = flat(0.5, size=64, batch=40)
    out = noise_registry.create("camera:photons=5,photons_max=1000,read_noise=0")(
        clean, make_generator(7))
    photons = 0.5 / out.flatten(1).var(dim=1)
    assert photons.min() < 30 and photons.max() > 200


def test_monochrome_camera_adds_one_draw_to_every_channel():
    gray = torch.rand((2, 1, 32, 32), generator=make_generator(8)).expand(2, 3, 32, 32)
    out = CameraNoise(photons=20, monochrome=True)(gray, make_generator(9))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    colour = CameraNoise(photons=20)(gray, make_generator(9))
    assert not torch.equal(colour[:, 0], colour[:, 1])
