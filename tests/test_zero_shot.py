"""``zero_shot`` (ZS-N2N): fitted to the one image it denoises, run like a classical filter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from medden.bench.methods import resolve_method
from medden.cli import main
from medden.registry import model_registry
from medden_zeroshot.zs_n2n import ZeroShotN2N, _loss, _NoisePredictor, pair_downsample

SIGMA = 25 / 255


@pytest.fixture(autouse=True)
def one_thread():
    """Fitting small crops is dominated by per-operation overhead, which more threads only
    add to on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _scene(size: int = 64) -> np.ndarray:
    """A piecewise-smooth image: a gradient, a bright disc and a dark bar."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    image = 0.3 + 0.3 * xx
    image[(yy - 0.5) ** 2 + (xx - 0.4) ** 2 < 0.06] = 0.8
    image[10:18, 30:60] = 0.1
    return image.astype(np.float32)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((np.clip(a, 0, 1) - b) ** 2)))


def test_fitting_lowers_the_loss_and_raises_psnr():
    clean = _scene()
    noisy = clean + np.random.default_rng(0).normal(0, SIGMA, clean.shape).astype(np.float32)
    x = torch.from_numpy(noisy)[None, None]
    model = ZeroShotN2N(steps=80, features=16, crop=32)
    torch.manual_seed(model.seed)
    untrained = _NoisePredictor(1, model.features)
    with torch.inference_mode():  # as medden denoise and benchmark run it
        out = model(x)[0, 0].numpy()
    fitted = model._fit(x, torch.Generator().manual_seed(model.seed))  # x: (1, C, H, W)
    with torch.no_grad():
        assert _loss(fitted, x) < 0.7 * _loss(untrained, x)
        assert np.array_equal(out, (x - fitted(x))[0, 0].numpy())  # seeded: the same fit
    assert _psnr(out, clean) > _psnr(noisy, clean) + 4.0


def test_pair_downsampler_averages_the_diagonals_of_each_cell():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    anti, main_diagonal = pair_downsample(x)
    assert anti[0, 0, 0, 0] == (1 + 4) / 2 and main_diagonal[0, 0, 0, 0] == (0 + 5) / 2
    assert anti.shape == (1, 1, 2, 2)


def test_volumes_and_rgb_images():
    model = ZeroShotN2N(steps=2, crop=8)
    volume = np.random.default_rng(1).random((1, 3, 16, 16)).astype(np.float32)
    assert model.filter_image(volume).shape == volume.shape
    rgb = np.random.default_rng(2).random((3, 16, 16)).astype(np.float32)
    assert model.filter_image(rgb).shape == rgb.shape


def test_denoise_and_benchmark_accept_it_as_a_weightless_model(tmp_path):
    assert model_registry.load("zero_shot").learned is False
    assert resolve_method("zero_shot:steps=5").learned is False
    source = tmp_path / "in"
    source.mkdir()
    noisy = np.clip(_scene(48) + np.random.default_rng(3).normal(0, SIGMA, (48, 48)), 0, 1)
    Image.fromarray((noisy * 255).round().astype(np.uint8)).save(source / "a.png")
    assert main(["denoise", str(source), str(tmp_path / "out"), "--model",
                 "zero_shot:steps=20,crop=16", "--quiet"]) == 0
    assert Image.open(tmp_path / "out" / "a.png").size == (48, 48)
