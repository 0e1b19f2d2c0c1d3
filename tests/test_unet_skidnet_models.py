"""Behaviour of the medden_skidnet and medden_unet networks beyond the generic conformance."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from medden.registry import model_registry, pipeline_registry
from medden_unet.noise_aware import depth_to_space, space_to_depth


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def test_space_to_depth_matches_pixel_unshuffle_and_inverts() -> None:
    image = _rand(2, 3, 8, 6)
    torch.testing.assert_close(space_to_depth(image, 2), F.pixel_unshuffle(image, 2))
    volume = _rand(2, 3, 4, 6, 8, seed=1)
    folded = space_to_depth(volume, 2)
    assert folded.shape == (2, 24, 2, 3, 4)
    # channel block of image channel 1 at folded voxel (1, 2, 3) is the 2x2x2 block there
    block = volume[0, 1, 2:4, 4:6, 6:8].reshape(-1)
    torch.testing.assert_close(folded[0, 8:16, 1, 2, 3], block)
    torch.testing.assert_close(depth_to_space(folded, 2), volume)


def test_noise_aware_unet_learns_the_residual() -> None:
    torch.manual_seed(0)
    model = model_registry.create("noise_aware_unet").eval()
    nn.init.zeros_(model.tail.conv.weight)
    nn.init.zeros_(model.tail.conv.bias)
    x = _rand(1, 1, 37, 45)
    with torch.no_grad():
        torch.testing.assert_close(model(x), x, rtol=0.0, atol=0.0)


def test_noise_aware_unet_uses_given_or_estimated_noise_map() -> None:
    torch.manual_seed(0)
    model = model_registry.create("noise_aware_unet").eval()
    x = _rand(2, 1, 64, 80)  # a multiple of size_multiple: no padding anywhere
    with torch.no_grad():
        estimate = model.estimate_noise_map(x)
        assert estimate.shape == (2, 1, 64, 80)
        assert (estimate >= 0).all()
        torch.testing.assert_close(model(x, estimate), model(x), rtol=1e-5, atol=1e-6)
        level = torch.full((2, 1, 1, 1), 25 / 255)
        torch.testing.assert_close(model(x, level), model(x, level.expand(2, 1, 64, 80)))
        low, high = model(x, level / 5), model(x, level * 2)
    assert (low - high).abs().max() > 1e-4


def test_estimator_map_is_trainable_against_a_true_map() -> None:
    torch.manual_seed(0)
    model = model_registry.create("noise_aware_unet")
    x = _rand(2, 1, 33, 47)
    loss = F.mse_loss(model.estimate_noise_map(x), torch.full((2, 1, 33, 47), 0.1))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.estimator.parameters())
    assert all(p.grad is None for p in model.head.parameters())


def test_shallow_pair_differs_only_by_the_merge() -> None:
    fcn, unet = model_registry.create("fcn_sum"), model_registry.create("unet_concat")
    fcn_shapes = [c.weight.shape for c in _convs(fcn)]
    unet_shapes = [c.weight.shape for c in _convs(unet)]
    assert len(fcn_shapes) == len(unet_shapes)
    differing = [(a, b) for a, b in zip(fcn_shapes, unet_shapes, strict=True) if a != b]
    # first convolution of each decoder level takes the doubled, concatenated width
    assert differing == [((64, 64, 3, 3), (64, 128, 3, 3)), ((32, 32, 3, 3), (32, 64, 3, 3))]


def test_skidnet_encoder_has_five_alternating_convolutions() -> None:
    model = model_registry.create("skidnet")
    encoder = [model.stem.conv, *[c for block in model.encoders for c in _convs(block)]]
    assert [c.out_channels for c in encoder] == [32, 64, 32, 64, 32]
    assert all(c.kernel_size == (3, 3) for c in encoder)
    assert model.size_multiple == 4  # two 2x2 poolings: 16x fewer pixels
    assert model.head.conv.kernel_size == (7, 7)


def test_noise2noise_unet_widths_and_levels() -> None:
    model = model_registry.create("n2n_unet")
    assert model.size_multiple == 32  # five poolings: six levels
    encoder = _convs(model.first) + [c for e in model.encoders for c in _convs(e)]
    assert {c.out_channels for c in encoder} | {model.bottom.conv.out_channels} == {48}
    assert {c.out_channels for d in model.decoders for c in _convs(d)} == {96}
    slopes = {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.1}


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_skidnet_deep_attention_pipeline_runs_stages_in_order(spatial_dims: int) -> None:
    torch.manual_seed(0)
    pipeline = pipeline_registry.create("skidnet_deep_attention",
                                        spatial_dims=spatial_dims).eval()
    assert pipeline.stage_names == ["skidnet", "deep_attention"]
    assert pipeline.recipe == "staged"
    x = _rand(1, 1, *([20, 28] if spatial_dims == 2 else [16, 20, 24]))
    with torch.no_grad():
        expected = pipeline.stages["deep_attention"](pipeline.stages["skidnet"](x))
        torch.testing.assert_close(pipeline(x), expected)
