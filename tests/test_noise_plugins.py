"""First-party noise plugins: statistics, determinism, shapes, SPEC building."""

from __future__ import annotations

import math

import pytest
import torch

from medden.bench.conditions import NoiseSetting
from medden.noise import make_generator
from medden.registry import noise_registry
from medden.spec import Spec
from medden_noise.additive import GaussianNoise, SpeckleNoise
from medden_noise.impulse import SaltPepperNoise
from medden_noise.masked import centred_gaussian
from medden_noise.photon import PoissonNoise

FIRST_PARTY = [n for n in noise_registry if noise_registry.entry(n).distribution == "medden"]


def flat(level: float, size: int = 256, channels: int = 1, batch: int = 1) -> torch.Tensor:
    """A constant batch ``(batch, channels, size, size)``."""
    return torch.full((batch, channels, size, size), level)


def noisy(spec: str, clean: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return noise_registry.create(spec)(clean, make_generator(seed))


def test_first_party_noises_are_all_registered():
    assert set(FIRST_PARTY) >= {
        "gaussian",
        "speckle",
        "poisson",
        "poisson_gaussian",
        "salt_pepper",
        "rician",
        "masked",
        "clipped",
        "multipattern",
        "random_choice",
        "mixture",
        "ct_lowdose",
        "ct_texture",
        "mri_coil",
        "camera",
    }


# --- registry ---
@pytest.mark.parametrize("name", FIRST_PARTY)
def test_loads_and_declares_documented_parameters(name):
    state, summary = noise_registry.status(name)
    assert state == "ok", summary
    assert summary and "\n" not in summary
    params = noise_registry.parameters(name)
    assert params
    for param in params:
        assert param.help, f"{name}.{param.name} has no help text"
        assert not param.required


# --- shapes, dtypes, determinism ---
@pytest.mark.parametrize("name", FIRST_PARTY)
@pytest.mark.parametrize("spatial", [(12, 16), (4, 12, 16)], ids=["2d", "3d"])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("batched", [False, True], ids=["single", "batch"])
def test_keeps_shape_and_dtype(name, spatial, channels, batched):
    shape = ((3,) if batched else ()) + (channels, *spatial)
    clean = torch.rand(shape, generator=make_generator(1))
    out = noisy(name, clean)
    assert out.shape == clean.shape
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert not torch.equal(out, clean)


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_float64_in_float64_out(name):
    clean = torch.rand((2, 1, 16, 16), generator=make_generator(1), dtype=torch.float64)
    assert noisy(name, clean).dtype == torch.float64


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_same_seed_same_noise_other_seed_other_noise(name):
    clean = torch.rand((4, 3, 24, 24), generator=make_generator(2))
    noise = noise_registry.create(name)
    first = noise(clean, make_generator(7))
    assert torch.equal(first, noise(clean, make_generator(7)))
    assert not torch.equal(first, noise(clean, make_generator(8)))


# --- Gaussian and speckle ---
@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_gaussian_residual_std_matches_sigma(sigma):
    clean = flat(0.5)
    residual = noisy(f"gaussian:sigma={sigma}", clean) - clean
    assert residual.std().item() == pytest.approx(sigma / 255, rel=0.03)
    assert abs(residual.mean().item()) < 0.02 * sigma / 255


def test_gaussian_sigma_range_is_drawn_per_image():
    clean = flat(0.5, size=48, batch=64)
    residual = noisy("gaussian:sigma=10,sigma_max=50", clean) - clean
    stds = residual.flatten(1).std(dim=1) * 255
    assert stds.min() > 10 * 0.9 and stds.max() < 50 * 1.1
    assert stds.max() - stds.min() > 25  # levels spread over the range, not one level


def test_speckle_std_is_proportional_to_intensity():
    levels = torch.tensor([0.1, 0.4, 0.8])
    clean = levels.view(3, 1, 1, 1).expand(3, 1, 256, 256).contiguous()
    residual = noisy("speckle:sigma=30", clean) - clean
    stds = residual.flatten(1).std(dim=1)
    torch.testing.assert_close(stds, levels * 30 / 255, rtol=0.03, atol=0)


def test_speckle_leaves_black_untouched():
    clean = flat(0.0, size=32)
    assert torch.equal(noisy("speckle:sigma=50", clean), clean)


def test_level_validation():
    with pytest.raises(ValueError, match="sigma_max"):
        GaussianNoise(sigma=30, sigma_max=10)
    with pytest.raises(ValueError, match=">= 0"):
        SpeckleNoise(sigma=-1)
    with pytest.raises(ValueError, match="peak"):
        PoissonNoise(peak=0)
    with pytest.raises(ValueError, match="amount"):
        SaltPepperNoise(amount=1.5)


# --- photon noise ---
@pytest.mark.parametrize("level", [0.1, 0.4, 0.9])
def test_poisson_variance_is_mean_over_peak(level):
    peak = 40.0
    out = noisy(f"poisson:peak={peak}", flat(level))
    assert out.mean().item() == pytest.approx(level, rel=0.01)
    assert out.var().item() == pytest.approx(level / peak, rel=0.05)
    counts = out * peak
    assert torch.equal(counts, counts.round())  # whole photon counts


def test_poisson_gaussian_variance_adds_read_noise():
    peak, sigma, level = 60.0, 8.0, 0.5
    out = noisy(f"poisson_gaussian:peak={peak},sigma={sigma}", flat(level))
    expected = level / peak + (sigma / 255) ** 2
    assert out.mean().item() == pytest.approx(level, rel=0.01)
    assert out.var().item() == pytest.approx(expected, rel=0.05)


# --- impulse noise ---
@pytest.mark.parametrize(("amount", "salt_ratio"), [(0.05, 0.5), (0.2, 0.3), (0.1, 1.0)])
def test_salt_pepper_fraction_and_ratio(amount, salt_ratio):
    clean = flat(0.5, channels=3)
    out = noisy(f"salt_pepper:amount={amount},salt_ratio={salt_ratio}", clean)
    changed = out != clean
    # all channels of a pixel change together
    assert torch.equal(changed.all(dim=1), changed.any(dim=1))
    hit = changed[:, 0]
    assert hit.float().mean().item() == pytest.approx(amount, abs=0.01)
    salt = (out[:, 0] == 1.0) & hit
    assert salt.sum().item() / hit.sum().item() == pytest.approx(salt_ratio, abs=0.02)
    assert set(out[changed].unique().tolist()) <= {0.0, 1.0}


# --- Rician noise ---
def test_rician_on_zero_is_rayleigh():
    sigma = 20.0
    out = noisy(f"rician:sigma={sigma}", flat(0.0))
    s = sigma / 255
    assert (out >= 0).all()
    assert out.mean().item() == pytest.approx(s * math.sqrt(math.pi / 2), rel=0.02)
    assert (out**2).mean().item() == pytest.approx(2 * s**2, rel=0.03)  # Rayleigh E[X^2]


def test_rician_on_bright_signal_is_near_gaussian():
    sigma, level = 10.0, 0.8
    out = noisy(f"rician:sigma={sigma}", flat(level))
    assert out.std().item() == pytest.approx(sigma / 255, rel=0.03)
    expected_mean = math.sqrt(level**2 + (sigma / 255) ** 2)  # high-SNR Rician mean
    assert out.mean().item() == pytest.approx(expected_mean, rel=0.002)


# --- masked noise ---
def test_mask_gaussian_follows_the_paper_on_224_images():
    mask = centred_gaussian((224, 224), 0.25)
    assert mask.argmax().item() == 112 * 224 + 112
    assert mask[112, 112].item() == pytest.approx(1.0)
    assert mask[112, 112 + 56].item() == pytest.approx(math.exp(-0.5))
    assert mask[112 - 56, 112].item() == pytest.approx(math.exp(-0.5))


def changed_fractions(changed: torch.Tensor) -> tuple[float, float]:
    """Changed fraction in the central quarter (by area) and in the rest of the image."""
    h, w = changed.shape[-2:]
    centre = torch.zeros(h, w, dtype=torch.bool)
    centre[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = True
    changed = changed.float()
    return changed[..., centre].mean().item(), changed[..., ~centre].mean().item()


def test_masked_noise_is_concentrated_at_the_centre():
    clean = flat(0.5, size=224, channels=3, batch=2)
    out = noisy("masked", clean)
    changed = out != clean
    assert torch.equal(changed.all(dim=1), changed.any(dim=1))  # one mask for all channels
    centre, border = changed_fractions(changed[:, 0])
    # expected (means of the mask): 0.732 in the centre (within one mask sigma) and 0.233
    # in the border; the very centre nearly always changes, the corners rarely
    assert centre == pytest.approx(0.732, abs=0.02)
    assert border == pytest.approx(0.233, abs=0.02)
    assert centre > 3 * border
    assert changed[..., 102:122, 102:122].float().mean() > 0.95
    assert changed[..., :20, :20].float().mean() < 0.1


def test_masked_noise_on_volumes_uses_the_in_plane_mask_on_every_slice():
    clean = flat(0.5, size=64, batch=2).unsqueeze(2).expand(2, 1, 6, 64, 64).contiguous()
    changed = noisy("masked:mask_sigma=0.2", clean) != clean
    for depth in range(6):
        centre, border = changed_fractions(changed[:, 0, depth])
        assert centre > 3 * border
    assert not torch.equal(changed[:, :, 0], changed[:, :, 1])  # random values per voxel


def test_masked_forwards_unknown_parameters_to_the_inner_noise():
    noise = noise_registry.create("masked:noise=speckle,sigma=25")
    assert isinstance(noise.inner, SpeckleNoise) and noise.inner.sigma == 25.0
    nested = noise_registry.create("masked:noise=(salt_pepper:amount=0.3),mask_sigma=0.5")
    assert isinstance(nested.inner, SaltPepperNoise) and nested.inner.amount == 0.3
    assert nested.mask_sigma == 0.5
    with pytest.raises(ValueError, match="no parameter 'bogus'"):
        noise_registry.create("masked:bogus=1")


def test_masked_keeps_inner_values_inside_the_mask():
    clean = flat(0.5, size=64)
    generator_seed = 3
    masked = noise_registry.create("masked:noise=(salt_pepper:amount=1,salt_ratio=1)")
    out = masked(clean, make_generator(generator_seed))
    assert set(out.unique().tolist()) == {0.5, 1.0}


# --- multi-pattern noise (two-stage paper, Algorithm 1) ---
def test_multipattern_follows_algorithm_1():
    # left half black, right half white: speckle leaves black alone, Gaussian does not
    clean = torch.zeros(400, 1, 32, 32)
    clean[..., 16:] = 1.0
    residual = noisy("multipattern", clean) - clean
    dark = residual[..., :16].flatten(1).std(dim=1) * 255
    bright = residual[..., 16:].flatten(1).std(dim=1) * 255
    speckle = dark == 0
    # both patterns, each about half of the time
    assert speckle.float().mean().item() == pytest.approx(0.5, abs=0.08)
    # the level at intensity 1 lies in [0, 75]; spread over the whole range
    assert bright.max() < 75 * 1.15 and bright.max() > 65
    assert bright.min() < 5
    assert bright.mean().item() == pytest.approx(37.5, rel=0.1)
    # Gaussian images: the same level on black and white
    gaussian = ~speckle & (bright > 5)
    torch.testing.assert_close(dark[gaussian], bright[gaussian], rtol=0.2, atol=0)


def test_multipattern_range_is_configurable():
    clean = flat(1.0, size=64, batch=32)
    stds = (noisy("multipattern:sigma_min=30,sigma_max=30", clean) - clean).flatten(1).std(1)
    torch.testing.assert_close(stds * 255, torch.full((32,), 30.0), rtol=0.05, atol=0)


# --- random choice and mixture ---
def test_random_choice_spec_with_list_and_nesting():
    spec = "random_choice:noises=[gaussian:sigma=25|(speckle:sigma=20)|salt_pepper]"
    noise = noise_registry.create(spec)
    assert [type(n).__name__ for n in noise.noises] == [
        "GaussianNoise",
        "SpeckleNoise",
        "SaltPepperNoise",
    ]
    assert noise.noises[0].sigma == 25.0 and noise.noises[1].sigma == 20.0
    # per image: classify each output by its residual
    clean = flat(0.5, size=32, batch=300)
    residual = (noise(clean, make_generator(0)) - clean).flatten(1)
    impulse = (residual.abs() == 0.5).any(dim=1)
    std = residual.std(dim=1) * 255
    gaussian = ~impulse & (std > 20)  # 25 at any intensity
    speckle = ~impulse & (std < 15)  # 20 * 0.5 = 10 at mid-grey
    assert (impulse | gaussian | speckle).all()
    for picked in (impulse, gaussian, speckle):
        assert picked.float().mean().item() == pytest.approx(1 / 3, abs=0.08)


def test_random_choice_weights():
    noise = noise_registry.create("random_choice:noises=[gaussian|salt_pepper],weights=[0|1]")
    clean = flat(0.5, size=16, batch=8)
    out = noise(clean, make_generator(0))
    assert set(out.unique().tolist()) <= {0.0, 0.5, 1.0}
    with pytest.raises(ValueError, match="weights"):
        noise_registry.create("random_choice:noises=[gaussian|salt_pepper],weights=[1]")


def test_composite_defaults_are_the_xray_papers_four_noises():
    expected = {"gaussian", "poisson", "salt_pepper", "speckle"}
    for name in ("random_choice", "mixture"):
        noise = noise_registry.create(name)
        assert {n.spec.name for n in noise.noises} == expected


def test_mixture_applies_noises_in_order():
    clean = flat(0.5, size=64)
    impulses_last = noisy("mixture:noises=[gaussian:sigma=10|salt_pepper:amount=1]", clean)
    assert set(impulses_last.unique().tolist()) <= {0.0, 1.0}
    impulses_first = noisy("mixture:noises=[salt_pepper:amount=1|gaussian:sigma=10]", clean)
    assert not set(impulses_first.unique().tolist()) <= {0.0, 1.0}


def test_mixture_variances_add():
    peak, sigma, level = 50.0, 10.0, 0.5
    out = noisy(f"mixture:noises=[poisson:peak={peak}|gaussian:sigma={sigma}]", flat(level))
    assert out.var().item() == pytest.approx(level / peak + (sigma / 255) ** 2, rel=0.05)


def test_spec_round_trip_rebuilds_the_same_noise():
    noise = noise_registry.create(Spec("masked", {"noise": "speckle", "sigma": "30"}))
    again = noise_registry.create(str(noise.spec))
    clean = flat(0.5, size=32)
    assert torch.equal(noise(clean, make_generator(4)), again(clean, make_generator(4)))


def test_a_single_volume_is_one_batch_item_with_channels_first():
    """(1, C, D, H, W): channels of a voxel change together, slices independently."""
    clean = torch.full((1, 3, 6, 32, 32), 0.5)
    out = noise_registry.create("salt_pepper:amount=0.3")(clean, make_generator(5))
    hit = out != clean
    assert torch.equal(hit[:, 0], hit[:, 1]) and torch.equal(hit[:, 0], hit[:, 2])
    assert not torch.equal(hit[:, :, 0], hit[:, :, 1])


def test_a_four_dimensional_tensor_is_a_batch_of_2d_images():
    clean = torch.full((2, 3, 32, 32), 0.5)
    out = noise_registry.create("salt_pepper:amount=0.3")(clean, make_generator(5))
    hit = out != clean
    assert torch.equal(hit[:, 0], hit[:, 2])  # dim 1 is the channel axis


# --- clipped noise ---
def test_clipped_is_the_inner_noise_clipped_to_the_image_range():
    clean = torch.linspace(0.0, 1.0, 64 * 64).reshape(1, 1, 64, 64)
    raw = noisy("gaussian:sigma=50", clean, seed=4)
    out = noisy("clipped:noise=gaussian,sigma=50", clean, seed=4)
    assert raw.min() < 0 and raw.max() > 1  # the inner noise leaves [0, 1] ...
    assert torch.equal(out, raw.clamp(0, 1))  # ... the wrapper clips exactly that draw
    nested = noise_registry.create("clipped:noise=(masked:noise=speckle),sigma=30")
    assert nested.inner.inner.sigma == 30.0


def test_benchmark_levels_reach_the_noise_inside_clipped():
    setting = NoiseSetting.parse("clipped:noise=gaussian")
    assert setting.parameter == "sigma"
    assert setting.at(25.0).build().inner.sigma == 25.0
    assert NoiseSetting.parse("clipped:noise=gaussian,sigma=5").parameter is None


@pytest.mark.parametrize("spec, gaussian", [
    ("gaussian", True), ("clipped:noise=gaussian", True), ("speckle", False),
    ("clipped:noise=speckle", False), ("masked:noise=gaussian", False), ("poisson", False)])
def test_only_plain_or_clipped_gaussian_noise_is_additive_gaussian(spec, gaussian):
    assert noise_registry.create(spec).additive_gaussian is gaussian
