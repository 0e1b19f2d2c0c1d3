"""The magnitude_switch pipeline: magnitude (chi) noise to one branch, the rest to the other."""

from __future__ import annotations

import pytest
import torch

from medden.registry import noise_registry, pipeline_registry
from medden.spec import SpecError
from medden_pipelines.magnitude_switch import share_at_or_below_zero

SWITCH = ("magnitude_switch:zero_mean=(single:model=identity),"
          "magnitude=(single:model=(gaussian_filter:sigma=2))")


def _slice_with_background(seed: int = 0) -> torch.Tensor:
    """A 64x64 'head': a bright textured disc on a zero background (about half the image)."""
    generator = torch.Generator().manual_seed(seed)
    rows, cols = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    disc = ((rows - 32) ** 2 + (cols - 32) ** 2 < 25**2).float()
    texture = 0.4 + 0.2 * torch.rand(64, 64, generator=generator)
    return (disc * texture)[None, None]


@pytest.mark.parametrize("spec", ["mri_coil:coils=1,snr=20", "mri_coil:coils=8,snr=10",
                                  "mri_coil:coils=32,snr=40", "rician:sigma=5"])
def test_magnitude_noise_puts_no_pixel_at_or_below_zero(spec):
    noisy = noise_registry.create(spec)(_slice_with_background(), torch.Generator().manual_seed(1))
    assert float(share_at_or_below_zero(noisy)[0]) == 0.0


@pytest.mark.parametrize("spec", ["gaussian:sigma=5", "gaussian:sigma=25", "poisson:peak=30",
                                  "salt_pepper:amount=0.05", "clipped:noise=gaussian,sigma=25"])
def test_zero_mean_noise_on_a_black_background_puts_many_pixels_at_zero(spec):
    noisy = noise_registry.create(spec)(_slice_with_background(), torch.Generator().manual_seed(1))
    assert float(share_at_or_below_zero(noisy)[0]) > 0.1


def test_each_image_goes_to_the_branch_its_zeros_pick():
    switch = pipeline_registry.create(SWITCH).eval()
    clean = _slice_with_background()
    gaussian = noise_registry.create("gaussian:sigma=10")(clean, torch.Generator().manual_seed(2))
    chi = noise_registry.create("mri_coil:coils=8,sigma=10")(clean,
                                                            torch.Generator().manual_seed(2))
    smoothed = switch.stages["magnitude"](chi)
    assert not torch.equal(smoothed, chi)
    with torch.no_grad():
        assert torch.equal(switch(gaussian), gaussian)          # zero_mean: identity
        assert torch.equal(switch(chi), smoothed)                # magnitude: smoothing
        both = switch(torch.cat([gaussian, chi]))
    assert torch.equal(both[0], gaussian[0])
    assert torch.allclose(both[1], smoothed[0], atol=1e-6)


def test_the_share_is_a_parameter_and_the_switch_scripts():
    tiny = "(single:model=(noise_aware_unet:features=[8|16],blocks=1))"
    torch.manual_seed(0)
    strict = pipeline_registry.create(
        f"magnitude_switch:zero_mean={tiny},magnitude={tiny},share=0.6").eval()
    x = _slice_with_background()                 # 53 % zeros: below a share of 0.6
    scripted = torch.jit.script(strict)
    with torch.no_grad():
        assert float(strict.decide(x)[0, 0]) == 0.0  # magnitude
        expected = strict(x)
        assert not torch.allclose(expected, strict.stages["zero_mean"](x))
        assert torch.equal(expected[x == 0], x[x == 0])  # its zero background stays zero
        assert torch.allclose(scripted(x), expected, atol=1e-6)
    with pytest.raises(SpecError, match="share"):
        pipeline_registry.create(SWITCH + ",share=0")


def _framed(image: torch.Tensor, width: int = 6) -> torch.Tensor:
    """``image`` with a zero-filled border ``width`` pixels wide (distortion correction, a
    resampled volume's outside)."""
    framed = image.clone()
    framed[..., :width, :] = 0
    framed[..., -width:, :] = 0
    framed[..., :, :width] = 0
    framed[..., :, -width:] = 0
    return framed


GATED = ("magnitude_switch:zero_mean=(prefiltered:model=identity,clean_sigma=1.5,"
         "noisy_sigma=2.0),magnitude=(single:model=(gaussian_filter:sigma=2))")


def _lit_slice() -> torch.Tensor:
    """A 'head' on a dim background: no pixel at zero."""
    return 0.05 + _slice_with_background()


@pytest.mark.parametrize("spec", ["mri_coil:coils=8,snr=10", "mri_coil:coils=32,snr=40"])
def test_a_magnitude_image_with_a_zero_filled_border_goes_to_magnitude_filled(spec):
    """Its zeros are solid runs and the rest sits on the coil floor: magnitude, although
    more than ``share`` of its pixels are zero; that branch sees the runs at the floor's
    level (not true black, next to which its network keeps the floor) and they come back
    zero."""
    switch = pipeline_registry.create(GATED).eval()
    noisy = _framed(noise_registry.create(spec)(_lit_slice(), torch.Generator().manual_seed(3)))
    assert float(share_at_or_below_zero(noisy)[0]) > 0.2
    frame = noisy == 0
    floor = noisy[~frame].sort().values[: int((~frame).sum()) // 10].median()
    filled = torch.where(frame, floor, noisy)
    with torch.no_grad():
        out = switch(noisy)
        assert float(switch.decide(noisy)[0, 0]) == 0.0
        assert torch.equal(out[frame], noisy[frame])
        assert torch.allclose(out[~frame], switch.stages["magnitude"](filled)[~frame], atol=1e-6)
    torch.manual_seed(0)
    learned = pipeline_registry.create(GATED.replace(
        "(gaussian_filter:sigma=2)", "(noise_aware_unet:features=[8|16],blocks=1)")).eval()
    scripted = torch.jit.script(learned)
    with torch.no_grad():
        assert torch.allclose(scripted(noisy), learned(noisy), atol=1e-6)
        assert float(scripted.decide(noisy)[0, 0]) == 0.0


@pytest.mark.parametrize("spec", ["gaussian:sigma=10", "clipped:noise=gaussian,sigma=10",
                                  "poisson:peak=30"])
def test_zero_mean_noise_with_a_zero_filled_border_stays_zero_mean(spec):
    switch = pipeline_registry.create(GATED).eval()
    noisy = _framed(noise_registry.create(spec)(_slice_with_background(),
                                                torch.Generator().manual_seed(3)))
    with torch.no_grad():
        assert float(switch.decide(noisy)[0, 0]) == 1.0


def test_a_clean_image_on_a_black_background_stays_with_the_gate():
    """Its zeros are a solid run too and its rest is bright, but zero_mean's gate holds it
    clean: it comes back unchanged instead of through the magnitude branch."""
    switch = pipeline_registry.create(GATED).eval()
    clean = _framed(_lit_slice())
    with torch.no_grad():
        assert float(switch.decide(clean)[0, 0]) == 1.0
        assert torch.equal(switch(clean), clean)
