"""Tiled inference takes a pipeline's per-image decisions (noise gate, branch) on the whole image.

Images larger than a tile (full-size radiographs, photographs) are denoised tile by tile.  A
noise gate or a magnitude switch deciding on each tile alone would denoise some tiles and leave
others as they were, with seams between them; :meth:`medden.pipeline.Pipeline.decide` takes the
decision once per image.  The pipelines here have classical models, declared learned so that
``Denoising`` tiles them; a Gaussian filter is local, so tiling alone changes little.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medden.cli import main
from medden.infer import Capabilities, Denoising
from medden.registry import noise_registry, pipeline_registry

BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
TILED = Capabilities(spatial_dims=(2,), channels=None, learned=True)
GATED = "prefiltered:model=(gaussian_filter:sigma=1.5),clean_sigma=1.5,noisy_sigma=2"
ZERO_MEAN = "single:model=(gaussian_filter:sigma=0.7)"
MAGNITUDE = "single:model=(gaussian_filter:sigma=2)"
SWITCH = f"magnitude_switch:zero_mean=({ZERO_MEAN}),magnitude=({MAGNITUDE})"


def _half_noisy() -> torch.Tensor:
    """``(1, 128, 256)``: vertical stripes (a sine of period 12 pixels across the columns,
    which a Gaussian filter flattens but which has no diagonal detail, so that the gate reads
    no noise on it), with Gaussian noise (σ 25) on the left half only."""
    stripes = (0.5 + 0.1 * torch.sin(torch.arange(256.0) * 2 * torch.pi / 12)).expand(128, 256)
    image = stripes.clone()
    noisy = noise_registry.create("gaussian:sigma=25")(stripes[None, None],
                                                       torch.Generator().manual_seed(0))
    image[:, :128] = noisy[0, 0, :, :128].clamp(0, 1)
    return image[None]


def _with_black_border(image: torch.Tensor) -> torch.Tensor:
    """``image`` ``(1, 128, 256)`` with a black border 40 columns wide that carries the noise,
    clipped: half its pixels at zero, scattered among positive ones as zero-mean noise leaves
    them (8 % of the image; the magnitude switch sends it to ``zero_mean``)."""
    border = noise_registry.create("gaussian:sigma=25")(torch.zeros(1, 1, 128, 40),
                                                        torch.Generator().manual_seed(1))
    image = image.clone()
    image[:, :, :40] = border[0].clamp(0, 1)
    return image


def _denoise(spec: str, image: torch.Tensor, tile: int, per_tile: bool = False,
             self_ensemble: bool = False) -> torch.Tensor:
    denoising = Denoising(pipeline_registry.create(spec), tile=tile, capabilities=TILED,
                          self_ensemble=self_ensemble)
    if per_tile:  # as a TorchScript export made before ``decide`` existed
        denoising.decides_per_image = False
    return denoising(image.clone())


@pytest.mark.parametrize("self_ensemble", [False, True])
def test_the_gate_decides_on_the_whole_image_not_on_each_tile(self_ensemble):
    image = _half_noisy()
    right = (..., slice(8, -8), slice(136, 248))   # the clean half, off the image's edges
    whole = _denoise(GATED, image, tile=1024, self_ensemble=self_ensemble)
    tiled = _denoise(GATED, image, tile=64, self_ensemble=self_ensemble)
    # half of the 32x32 tiles are noisy: the upper quartile is, so the whole image is denoised
    change = (whole - image)[right].abs().mean()
    assert change > 1e-4
    assert (tiled - whole)[right].abs().mean() < 0.05 * change
    # deciding tile by tile leaves the clean tiles as they were (up to the rounding of the
    # tiles' blending; columns from 160 on are in tiles of the clean half only: 64-pixel tiles
    # start every 48 columns)
    far_right = (..., slice(8, -8), slice(160, 248))
    assert torch.allclose(_denoise(GATED, image, tile=64, per_tile=True)[far_right],
                          image[far_right], atol=1e-6)
    assert (tiled - image)[far_right].abs().mean() > 0.5 * change


def test_the_magnitude_switch_picks_one_branch_for_the_whole_image():
    image = _with_black_border(_half_noisy())  # zeros in the left tiles only
    right = (..., slice(8, -8), slice(160, 248))  # in tiles without zeros (see above)
    zero_mean = _denoise(ZERO_MEAN, image, tile=1024)[right]
    magnitude = _denoise(MAGNITUDE, image, tile=1024)[right]
    gap = (zero_mean - magnitude).abs().mean()
    assert gap > 1e-3
    for tile in (1024, 64):  # zero_mean everywhere, tiled or not
        assert (_denoise(SWITCH, image, tile=tile)[right] - zero_mean).abs().mean() < 0.05 * gap
    per_tile = _denoise(SWITCH, image, tile=64, per_tile=True)[right]
    assert (per_tile - magnitude).abs().mean() < 0.05 * gap    # tile by tile: magnitude there


def test_forward_is_forward_decided_with_the_images_own_decisions():
    torch.manual_seed(0)
    gated = ("prefiltered:model=(noise_aware_unet:features=[8|16],blocks=1),"
             "clean_sigma=1.5,noisy_sigma=2")
    switch = pipeline_registry.create(f"magnitude_switch:zero_mean=({gated}),magnitude=({gated})")
    batch = torch.cat([_with_black_border(_half_noisy())[None], _half_noisy()[None]])
    decisions = switch.decide(batch)
    assert decisions.shape == (2, 3) and switch.decision_width == 3
    assert decisions[:, 0].tolist() == [1.0, 0.0]
    assert torch.equal(switch.forward_decided(batch, decisions), switch(batch))
    scripted = torch.jit.script(switch.eval())
    assert torch.equal(scripted.decide(batch), decisions)
    assert torch.allclose(scripted.forward_decided(batch, decisions), switch(batch), atol=1e-6)


@pytest.mark.parametrize("name, width", [("xray_denoise", 1), ("ct_denoise", 0),
                                         ("mri_denoise", 2), ("multimodal_denoise", 1)])
def test_the_shipped_torchscript_exports_take_whole_image_decisions(name, width):
    exported = torch.jit.load(str(BUNDLES / name / "models" / "model.ts"))
    channels = 3 if name == "multimodal_denoise" else 1
    assert exported.decision_width == width
    assert exported.decide(torch.rand(2, channels, 32, 32)).shape == (2, width)


def test_denoise_command_with_the_xray_bundle_decides_on_the_whole_image(tmp_path):
    """Through ``medden denoise`` (the bundle's TorchScript export, tiles of 64): the clean
    half of a half-noisy image is denoised like the rest, as the whole image's gate decides;
    its own tiles, judged alone, are clean and would come back unchanged."""
    (tmp_path / "in").mkdir()
    pixels = np.rint(_half_noisy()[0].numpy() * 255).astype(np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in" / "half.png")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--bundle", "xray",
                 "--tile", "64", "--quiet"]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "half.png")).astype(int)
    far_right = (slice(8, -8), slice(160, 248))  # in tiles of the clean half only
    # the network keeps clean stripes within a grey level or so, but moves many pixels (0.8.0:
    # 15 %); a tile-by-tile gate would keep every one of them (weight 0, no impulses)
    assert (out[far_right] != pixels[far_right]).mean() > 0.05
