"""Tests of the classical denoisers (plugins/medden_classic) built through the model registry."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import numpy as np
import pytest
import torch
from scipy import ndimage

from medden.metrics import psnr
from medden.models import ClassicalDenoiser
from medden.registry import model_registry, noise_registry

HAS_BM3D = importlib.util.find_spec("bm3d") is not None
needs_bm3d = pytest.mark.skipif(not HAS_BM3D, reason="the optional bm3d package is missing")

#: Smallest PSNR gain (dB) with default parameters on the smooth 2D test image at sigma 25
#: (measured: gaussian 14.4, median 11.3, bilateral 14.0, wavelet 6.1, nl_means 15.9,
#: tv 14.6, bm3d 17.1 for one channel).
GAIN_2D = {
    "gaussian_filter": 12.0,
    "median": 9.5,
    "bilateral": 12.0,
    "wavelet": 5.0,
    "nl_means": 13.5,
    "tv": 12.5,
    "bm3d": 15.0,
}
FILTERS = [
    pytest.param(name, marks=[needs_bm3d, pytest.mark.slow]) if name == "bm3d" else name
    for name in GAIN_2D
]
#: Cheaper settings for the volume tests (3D non-local means is slow with the defaults).
SPEC_3D = {"nl_means": "nl_means:patch_size=3,patch_distance=2"}


def smooth_image(shape: tuple[int, ...], channels: int) -> np.ndarray:
    """A smooth non-square test image ``(C, *shape)`` in [0.25, 0.9]."""
    grids = np.meshgrid(*[np.linspace(0, 1, n) for n in shape], indexing="ij")
    r2 = sum((g - 0.5) ** 2 for g in grids)
    planes = [0.25 + 0.5 * np.exp(-r2 / (0.08 + 0.03 * c)) + 0.15 * grids[-1] * grids[-2]
              for c in range(channels)]
    return np.stack(planes).astype(np.float32)


def denoise(spec: str, clean: np.ndarray, seed: int = 0) -> tuple[float, float, torch.Tensor]:
    """PSNR of the noisy (sigma 25) and denoised image, and the denoised batch."""
    generator = torch.Generator().manual_seed(seed)
    batch = torch.from_numpy(clean)[None]
    noisy = batch + torch.randn(batch.shape, generator=generator) * 25 / 255
    model = model_registry.create(spec)
    assert isinstance(model, ClassicalDenoiser)
    out = model(noisy)
    assert out.shape == batch.shape and out.dtype == torch.float32
    return psnr(batch[0], noisy[0], 1.0), psnr(batch[0], out[0], 1.0), out


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", FILTERS)
def test_denoises_2d(name, channels):
    before, after, _ = denoise(name, smooth_image((48, 60), channels))
    assert after - before > GAIN_2D[name], (before, after)


#: Volume cases; BM3D (slice by slice, seconds per call) only on a 2-slice grey volume.
CASES_3D = [(name, channels) for name in GAIN_2D if name != "bm3d" for channels in (1, 3)]
CASES_3D.append(pytest.param("bm3d", 1, marks=[needs_bm3d, pytest.mark.slow]))


@pytest.mark.parametrize(("name", "channels"), CASES_3D)
@pytest.mark.filterwarnings("ignore:Level value of .* is too high:UserWarning")
def test_denoises_3d(name, channels):
    depth = 2 if name == "bm3d" else 6
    before, after, out = denoise(SPEC_3D.get(name, name), smooth_image((depth, 20, 24), channels))
    assert out.shape == (1, channels, depth, 20, 24)
    assert after - before > 4.0, (before, after)


def test_batches_are_filtered_image_by_image():
    model = model_registry.create("gaussian_filter:sigma=1.0")
    image = smooth_image((16, 20), 1)
    batch = torch.from_numpy(np.stack([image, image[:, ::-1]]))
    out = model(batch)
    assert torch.allclose(out[1], model(batch[1:])[0])
    assert not torch.allclose(out[0], out[1])


def test_filters_keep_values_of_a_constant_image():
    image = np.full((2, 24, 28), 0.4, dtype=np.float32)
    for name in ("gaussian_filter", "median", "bilateral", "tv"):
        out = model_registry.create(name).filter_image(image)
        np.testing.assert_allclose(out, image, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("spatial", [(40, 50), (5, 30, 36)])
def test_bilateral_with_wide_range_kernel_is_a_gaussian(spatial):
    """With a huge range sigma the bilateral filter is a Gaussian of sigma_spatial.

    (scikit-image 0.26's ``denoise_bilateral`` fails this: its spatial kernel is skewed.)
    """
    image = np.random.default_rng(0).random((1, *spatial)).astype(np.float32)
    out = model_registry.create("bilateral:sigma_color=1e6,sigma_spatial=1.5").filter_image(image)
    expected = ndimage.gaussian_filter(image[0].astype(np.float64), 1.5, truncate=2.5)
    inner = tuple(slice(4, -4) for _ in spatial)
    np.testing.assert_allclose(out[0][inner], expected[inner], atol=2e-3)


@pytest.mark.parametrize("name", list(GAIN_2D))
def test_declared_parameters_and_tuning_grid(name):
    cls = model_registry.load(name)
    assert issubclass(cls, ClassicalDenoiser)
    params = {p.name: p for p in model_registry.parameters(name)}
    assert params, name
    for param in params.values():
        assert param.help, f"{name}.{param.name} is undocumented"
        assert not param.required
    grid = cls.tuning_grid
    assert grid and set(grid) <= set(params), (name, set(grid) - set(params))
    assert max(len(values) for values in grid.values()) >= 5
    if name == "bm3d" and not HAS_BM3D:
        return
    for key, values in grid.items():
        for value in values:  # every candidate builds, also from a SPEC string
            assert getattr(model_registry.create(name, **{key: value}), key) == value
            spec_value = "none" if value is None else value
            assert getattr(model_registry.create(f"{name}:{key}={spec_value}"), key) == value


def test_invalid_parameters_are_rejected():
    with pytest.raises(ValueError, match="sigma must be positive"):
        model_registry.create("gaussian_filter:sigma=0")
    with pytest.raises(ValueError, match="size must be positive"):
        model_registry.create("median:size=-3")


def test_nl_means_strength_follows_h():
    clean = smooth_image((32, 40), 1)
    _, weak, _ = denoise("nl_means:h=1", clean)
    _, default, _ = denoise("nl_means", clean)  # h = 0.6 x estimated sigma (about 25)
    assert default > weak + 4


def test_bm3d_reports_missing_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "bm3d", None)  # makes `import bm3d` fail
    monkeypatch.delitem(sys.modules, "medden_classic.bm3d_filter", raising=False)
    module = importlib.import_module("medden_classic.bm3d_filter")  # imports without bm3d
    with pytest.raises(ImportError, match=r"pip install medden\[bm3d\]"):
        module.BM3DFilter()
    with pytest.raises(ImportError, match=r"pip install medden\[bm3d\]"):
        model_registry.create("bm3d")


@needs_bm3d
@pytest.mark.slow
def test_bm3d_uses_given_sigma():
    before, after, _ = denoise("bm3d:sigma=1", smooth_image((48, 60), 1))
    assert after - before < 3  # a noise level far too low hardly filters


@needs_bm3d
@pytest.mark.parametrize("channels", [1, 3])
def test_bm3d_handles_images_smaller_than_its_blocks(channels):
    clean = torch.full((1, channels, 7, 9), 0.5)
    noisy = clean + 0.1 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    out = model_registry.create("bm3d:sigma=25")(noisy)
    assert out.shape == clean.shape
    assert (out - clean).abs().mean() < (noisy - clean).abs().mean()


def test_switching_median_replaces_impulses_only():
    clean = smooth_image((60, 70), 1)
    clean[:, :12] = 0.0  # a black band: its pepper-valued pixels are not impulses
    batch = torch.from_numpy(clean)[None]
    noise = noise_registry.create("salt_pepper:amount=0.05")
    noisy = noise(batch, generator=torch.Generator().manual_seed(0))
    hit = noisy != batch
    out = model_registry.create("switching_median")(noisy)
    assert torch.equal(out[~hit], batch[~hit])  # every other pixel passes through exactly
    assert torch.equal(out[:, :, :12], batch[:, :, :12])
    median = model_registry.create("median:size=3")(noisy)
    assert psnr(batch[0], out[0], 1.0) > psnr(batch[0], median[0], 1.0) + 8.0
    assert psnr(batch[0], out[0], 1.0) > 45.0
    gaussian = batch + 0.1 * torch.randn(batch.shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(model_registry.create("switching_median")(gaussian), gaussian)
    volume = noisy[:, :, None].expand(1, 1, 3, 60, 70)
    assert torch.equal(model_registry.create("switching_median")(volume)[:, :, 1], out)


def _switching_median_reference(x: torch.Tensor, threshold: float = 0.1,
                                max_window: int = 7) -> torch.Tensor:
    """The switching median's definition on every pixel (the filter takes medians at the
    extreme pixels only)."""
    planes = x.reshape(-1, *x.shape[-2:])

    def windows(p: torch.Tensor, size: int) -> torch.Tensor:
        pad = size // 2
        mode = "reflect" if min(p.shape[-2:]) > pad else "replicate"
        padded = torch.nn.functional.pad(p.unsqueeze(1), (pad,) * 4, mode=mode)
        return torch.nn.functional.unfold(padded, size).reshape(p.shape[0], size * size,
                                                                *p.shape[-2:])

    median = windows(planes, 3).median(dim=1).values
    pending = ((planes == 0) | (planes == 1)) & ((planes - median).abs() > threshold)
    clean = torch.where(pending, torch.full_like(planes, float("nan")), planes)
    out = planes
    for size in range(3, max_window + 1, 2):
        local = windows(clean, size).nanmedian(dim=1).values
        found = pending & ~torch.isnan(local)
        out, pending = torch.where(found, local, out), pending & ~found
    return torch.where(pending, median, out).reshape(x.shape)


@pytest.mark.parametrize("shape", [(1, 1, 40, 50), (2, 3, 9, 17), (1, 1, 2, 3), (1, 2, 3, 8, 8)])
@pytest.mark.parametrize("amount", [0.0, 0.02, 0.4, 0.95])
def test_switching_median_matches_its_definition_exactly(shape, amount):
    generator = torch.Generator().manual_seed(len(shape) + int(100 * amount))
    x = torch.rand(shape, generator=generator)
    draw = torch.rand(shape, generator=generator)
    x[draw < amount / 2] = 0.0
    x[(draw >= amount / 2) & (draw < amount)] = 1.0
    x[..., :2, :3] = 1.0  # a white block: its pixels are not impulses
    for params in ({}, {"threshold": 0.3, "max_window": 3}, {"max_window": 9}):
        spec = ",".join(f"{k}={v}" for k, v in params.items())
        out = model_registry.create(f"switching_median:{spec}" if spec else "switching_median")
        assert torch.equal(out(x), _switching_median_reference(x, **params))


@needs_bm3d
@pytest.mark.parametrize("channels", [1, 3])
def test_bm3d_passes_through_an_image_without_measurable_noise(channels):
    # Dark background with a few flat bright nuclei (like fluorescence microscopy): the
    # wavelet noise estimate is ~1e-17, with which BM3D returned NaN (RGB) or changed pixels.
    image = torch.zeros(1, channels, 48, 48)
    image[..., 10:20, 12:22] = 0.8
    image[..., 30:40, 25:37] = 0.5
    out = model_registry.create("bm3d")(image)
    assert torch.isfinite(out).all() and torch.equal(out, image)


@needs_bm3d
def test_bm3d_filters_gray_stored_as_rgb_as_gray():
    # Microscopy: gray images stored as RGB, noise equal in the three channels.  bm3d_rgb
    # divided by the zero range of its colour-difference channels and returned NaN.
    yy, xx = np.mgrid[0:48, 0:48]
    clean = torch.from_numpy((0.1 + 0.05 * np.sin(xx / 4.0) * (yy > 20)).astype(np.float32))
    noisy = (clean + 0.04 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0)))
    rgb = noisy.expand(1, 3, 48, 48).clone()
    model = model_registry.create("bm3d:sigma=10")
    out = model(rgb)
    gray = model(noisy[None, None])
    assert torch.isfinite(out).all()
    assert torch.allclose(out, gray.expand(1, 3, 48, 48), atol=1e-6)
    assert psnr(clean[None].numpy(), out[0, :1].numpy(), 1.0) > psnr(
        clean[None].numpy(), noisy[None].numpy(), 1.0) + 3.0
