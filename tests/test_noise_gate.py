"""The noise estimate and the prefiltered pipeline's noise gate (clean images pass through)."""

from __future__ import annotations

import pytest
import torch

from medden.metrics import psnr
from medden.registry import noise_registry, pipeline_registry
from medden_pipelines.noise_gate import gate_weight, limit_change, noise_sigma_map, tile_noise_sigma

MODEL = "model=(gaussian_filter:sigma=1.5)"


def _smooth(size: int = 128) -> torch.Tensor:
    """A clean ``(1, 1, size, size)`` image: a diagonal ramp through mid-grey."""
    ramp = torch.linspace(0.2, 0.8, size)
    return ((ramp[:, None] + ramp[None, :]) / 2)[None, None]


def _noisy(clean: torch.Tensor, spec: str) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return noise_registry.create(spec)(clean, generator).clamp(0, 1)


def test_tile_noise_sigma_measures_white_noise():
    clean = _smooth(256)
    assert float(tile_noise_sigma(clean)) < 0.2 / 255
    for sigma in (5.0, 25.0):
        estimate = float(tile_noise_sigma(_noisy(clean, f"gaussian:sigma={sigma}"))) * 255
        assert estimate == pytest.approx(sigma, rel=0.1)


def test_tile_noise_sigma_sees_noise_confined_to_the_centre():
    clean = _smooth(256)
    noisy = clean.clone()
    noisy[..., 64:224, 64:224] = _noisy(clean, "gaussian:sigma=20")[..., 64:224, 64:224]
    # 25 of 64 tiles are noisy: the median tile is clean, the upper quartile is not
    assert float(tile_noise_sigma(noisy, quantile=0.5)) * 255 < 1.0
    assert float(tile_noise_sigma(noisy)) * 255 == pytest.approx(20.0, rel=0.15)


def test_tile_noise_sigma_on_small_images():
    small = _noisy(_smooth(20), "gaussian:sigma=25")  # smaller than a tile: one tile
    assert 10.0 < float(tile_noise_sigma(small)) * 255 < 40.0
    assert torch.equal(tile_noise_sigma(torch.rand(3, 1, 1, 1)), torch.zeros(3))


def test_gate_weight_ramps_between_the_two_levels():
    weight = gate_weight(torch.tensor([0.5, 1.5, 1.75, 2.0, 9.0]), 1.5, 2.0)
    assert torch.allclose(weight, torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def _pipelines() -> tuple[torch.nn.Module, torch.nn.Module]:
    plain = pipeline_registry.create(f"prefiltered:{MODEL}")
    gated = pipeline_registry.create(f"prefiltered:{MODEL},clean_sigma=1.5,noisy_sigma=2")
    return plain.eval(), gated.eval()


def test_gate_passes_clean_images_through():
    plain, gated = _pipelines()
    clean = _smooth()
    assert torch.equal(gated(clean), clean)
    assert not torch.equal(plain(clean), clean)


def test_gate_denoises_only_the_impulses_of_an_impulse_noisy_image():
    plain, gated = _pipelines()
    clean = _smooth()
    noisy = _noisy(clean, "salt_pepper:amount=0.05")
    out = gated(noisy)
    impulse = (noisy == 0) | (noisy == 1)
    assert torch.equal(out[~impulse], noisy[~impulse])
    assert (out[impulse] - clean[impulse]).abs().max() < 0.05
    gain = psnr(clean.numpy(), out.numpy(), 1.0) - psnr(clean.numpy(), plain(noisy).numpy(), 1.0)
    assert gain > 3


def test_gate_leaves_noisy_images_to_the_model():
    plain, gated = _pipelines()
    noisy = _noisy(_smooth(), "gaussian:sigma=25")
    assert torch.equal(gated(noisy), plain(noisy))


def test_gate_on_the_noisiest_tile_sees_speckle_on_a_dark_image():
    # one bright tile of 16 on a dark image: speckle (noise proportional to intensity) is
    # strong there and almost nil elsewhere, so the upper-quartile tile looks clean
    clean = torch.full((1, 1, 128, 128), 0.02)
    clean[..., 32:64, 32:64] = 0.6
    noisy = _noisy(clean, "speckle:sigma=25")
    plain, quartile = _pipelines()
    noisiest = pipeline_registry.create(
        f"prefiltered:{MODEL},clean_sigma=1.5,noisy_sigma=2,gate_quantile=1").eval()
    assert torch.equal(quartile(noisy), noisy)
    assert torch.equal(noisiest(noisy), plain(noisy))
    block = (..., slice(36, 60), slice(36, 60))  # inside the bright tile, off its edges
    gain = (psnr(clean[block].numpy(), noisiest(noisy)[block].numpy(), 1.0)
            - psnr(clean[block].numpy(), noisy[block].numpy(), 1.0))
    assert gain > 3


@pytest.mark.parametrize("params, message", [
    ("clean_sigma=1.5", "both"),
    ("clean_sigma=2,noisy_sigma=1", "clean_sigma < noisy_sigma"),
    ("clean_sigma=1,noisy_sigma=2,gate_quantile=1.5", "gate_quantile"),
])
def test_gate_refuses_bad_levels(params, message):
    with pytest.raises(ValueError, match=message):
        pipeline_registry.create(f"prefiltered:{MODEL},{params}")


def test_noise_sigma_map_follows_noise_that_differs_across_the_image():
    clean = torch.full((1, 1, 128, 128), 0.5)
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(clean.shape, generator=generator)
    noise[..., :, :64] *= 5 / 255
    noise[..., :, 64:] *= 30 / 255
    sigma = noise_sigma_map(clean + noise) * 255
    assert sigma.shape == (1, 1, 128, 128)
    assert float(sigma[..., 8:120, 4:28].mean()) == pytest.approx(5, rel=0.2)
    assert float(sigma[..., 8:120, 100:124].mean()) == pytest.approx(30, rel=0.2)
    volume = (clean + noise).unsqueeze(2).expand(1, 1, 3, 128, 128)
    torch.testing.assert_close(noise_sigma_map(volume)[:, :, 1], noise_sigma_map(clean + noise))


def test_limit_change_keeps_an_edge_an_oversmoothing_denoiser_blurs():
    """A thin bright line (the CT table, a rib) under mild noise: a heavy blur removes the
    noise and the line; the change limit keeps most of the line and most of the gain."""
    clean = torch.full((1, 1, 128, 128), 0.3)
    clean[..., 60:62, :] = 0.9
    noisy = _noisy(clean, "gaussian:sigma=5")
    blurred = pipeline_registry.create("single:model=(gaussian_filter:sigma=3)")(noisy)
    limited = limit_change(noisy, blurred, 3.0)
    line = (..., slice(60, 62), slice(None))
    assert (limited - noisy).abs().max() <= 3.0 * noise_sigma_map(noisy).max() + 1e-6
    assert float((limited - clean)[line].abs().mean()) < 0.5 * float(
        (blurred - clean)[line].abs().mean())
    scores = {name: psnr(clean, image, 1.0)
              for name, image in {"limited": limited, "blurred": blurred, "noisy": noisy}.items()}
    assert scores["limited"] > scores["blurred"] and scores["limited"] > scores["noisy"] + 1


def test_prefiltered_change_limit_bounds_the_models_change():
    clean = _smooth()
    noisy = _noisy(clean, "gaussian:sigma=10")
    free = pipeline_registry.create("prefiltered:model=(gaussian_filter:sigma=4)")(noisy)
    limited = pipeline_registry.create(
        "prefiltered:model=(gaussian_filter:sigma=4),change_limit=1")(noisy)
    bound = noise_sigma_map(noisy)
    assert bool(((limited - noisy).abs() <= bound + 1e-6).all())
    assert float((free - noisy).abs().max()) > 1.5 * float(bound.max())
    with pytest.raises(ValueError, match="change_limit"):
        pipeline_registry.create("prefiltered:model=identity,change_limit=0")
