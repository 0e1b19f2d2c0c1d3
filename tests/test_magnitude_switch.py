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
        expected = strict.stages["magnitude"](x)
        assert not torch.allclose(expected, strict.stages["zero_mean"](x))
        assert torch.allclose(scripted(x), expected, atol=1e-6)
    with pytest.raises(SpecError, match="share"):
        pipeline_registry.create(SWITCH + ",share=0")
