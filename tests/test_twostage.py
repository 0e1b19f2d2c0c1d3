"""Tests of the two-stage plugin: NEN, RN, their blocks and the two_stage pipeline."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medden.cost import count_macs, count_parameters
from medden.registry import model_registry, pipeline_registry
from medden_twostage.blocks import NoiseAttention, NoiseGated, ResidualDenseBlock
from medden_twostage.nets import NoiseEstimationNet, ReconstructionNet
from medden_twostage.pipeline import TwoStagePipeline

#: Table VII of the paper: trainable parameters of NEN + RN for RGB images.
PAPER_PARAMETERS = 586_242
#: Table VII: MACs (G) of NEN, RN and both for a 256x256x3 image.
PAPER_GMACS = {"nen": 18.56, "rn": 19.78, "two_stage": 38.34}


def _small(cls, **params):
    """A narrow network, fast enough for shape and wiring checks."""
    return cls(features=8, growth=4, dense_blocks=1, blocks=2, **params)


def _zero(module: nn.Module) -> None:
    for parameter in module.parameters():
        nn.init.zeros_(parameter)


@pytest.mark.parametrize(("channels", "nen", "rn"), [(3, 284_387, 303_878),
                                                     (1, 283_233, 302_148)])
def test_parameter_counts_are_the_documented_ones(channels, nen, rn):
    assert count_parameters(NoiseEstimationNet(in_channels=channels)) == nen
    assert count_parameters(ReconstructionNet(in_channels=channels)) == rn


def test_rgb_parameter_count_is_within_half_a_percent_of_table_vii():
    pipeline = TwoStagePipeline(in_channels=3)
    total = count_parameters(pipeline)
    assert total == 588_265
    assert abs(total - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.005


def test_macs_match_table_vii():
    # all convolutions keep the size, so MACs scale with the pixel count: 256² = 16² * 256
    pipeline = TwoStagePipeline(in_channels=3)
    measured = {
        "nen": count_macs(pipeline.stages["nen"], (1, 3, 16, 16)) * 256 / 1e9,
        "two_stage": count_macs(pipeline, (1, 3, 16, 16)) * 256 / 1e9,
    }
    measured["rn"] = measured["two_stage"] - measured["nen"]
    assert round(measured["nen"], 2) == 18.59 and round(measured["rn"], 2) == 19.86
    for name, gmacs in PAPER_GMACS.items():
        assert abs(measured[name] - gmacs) / gmacs < 0.005, name


def test_trunk_has_noise_gates_between_consecutive_rrdbs():
    trunk = NoiseEstimationNet().trunk
    gates = [stage.gate for stage in trunk if isinstance(stage, NoiseGated)]
    assert len(trunk) == 3 and len(gates) == 2
    assert all(gate.conv.kernel_size == (1, 1) for gate in gates)


def test_residual_dense_block_is_identity_when_its_fusion_is_zero():
    block = ResidualDenseBlock(2, features=6, growth=3)
    _zero(block.fuse)
    x = torch.randn(1, 6, 9, 11)
    assert torch.equal(block(x), x)
    # 4 dense layers each add `growth` channels before the fusing convolution
    assert block.fuse.conv.in_channels == 6 + 4 * 3


def test_noise_attention_weights_image_features_by_a_pixel_map():
    attention = NoiseAttention(2, features=4, attention_features=5, kernel_size=1)
    image, noise = torch.randn(2, 4, 6, 7), torch.randn(2, 4, 6, 7)
    # Z_S reading only the channel-max map: A_C = sigmoid(max over the 10 channels of X_C)
    with torch.no_grad():
        attention.spatial.conv.weight.copy_(torch.tensor([0.0, 1.0]).view(1, 2, 1, 1))
        attention.spatial.conv.bias.zero_()
    x_c = torch.cat([attention.noise_conv(noise), attention.image_conv(image)], 1)
    expected = torch.sigmoid(x_c.amax(dim=1, keepdim=True)) * image
    torch.testing.assert_close(attention(image, noise), expected)
    # the map depends on the noise features too
    assert not torch.allclose(attention(image, noise), attention(image, torch.zeros_like(noise)))


def test_rn_with_zero_output_returns_the_stage_one_estimate():
    rn = _small(ReconstructionNet)
    _zero(rn.tail)
    x, noise = torch.rand(1, 1, 10, 12), 0.1 * torch.randn(1, 1, 10, 12)
    torch.testing.assert_close(rn(x, noise), x - noise)
    direct = _small(ReconstructionNet, residual=False)
    _zero(direct.tail)
    assert torch.count_nonzero(direct(x, noise)) == 0


def test_rn_without_noise_uses_a_zero_estimate():
    rn = _small(ReconstructionNet).eval()
    x = torch.rand(2, 1, 9, 14)
    torch.testing.assert_close(rn(x), rn(x, torch.zeros_like(x)))


@pytest.mark.parametrize("shape", [(2, 3, 67, 93), (1, 3, 5, 13, 18)])
def test_networks_keep_the_shape(shape):
    dims = len(shape) - 2
    nen = _small(NoiseEstimationNet, in_channels=3, spatial_dims=dims)
    rn = _small(ReconstructionNet, in_channels=3, spatial_dims=dims)
    x = torch.rand(shape)
    noise = nen(x)
    assert noise.shape == shape
    assert rn(x, noise).shape == shape


def test_unsupported_dimensionality_is_refused():
    with pytest.raises(ValueError, match="spatial_dims"):
        NoiseEstimationNet(spatial_dims=1)


def test_pipeline_runs_rn_on_nen_output():
    pipeline = pipeline_registry.create(
        "two_stage:nen=(nen:features=8,blocks=1),rn=(rn:features=8,blocks=1)").eval()
    x = torch.rand(2, 1, 12, 15)
    nen, rn = pipeline.stages["nen"], pipeline.stages["rn"]
    assert torch.equal(pipeline(x), rn(x, nen(x)))
    assert torch.equal(pipeline.estimate_noise(x), nen(x))
    assert pipeline.estimate_noise(x).shape == x.shape
    assert torch.equal(pipeline.reconstruct(x, nen(x)), pipeline(x))


def test_pipeline_declares_recipe_and_stage_losses():
    assert TwoStagePipeline.recipe == "two_stage"
    assert dict(TwoStagePipeline.stage_losses) == {"nen": "mse", "rn": "l1"}
    pipeline = TwoStagePipeline()
    assert pipeline.stage_names == ["nen", "rn"]
    assert pipeline.loss_for("nen") == "mse" and pipeline.loss_for("rn") == "l1"


def test_pipeline_gives_channels_to_both_stages_and_checks_their_types():
    pipeline = pipeline_registry.create("two_stage:in_channels=3,nen=(nen:in_channels=1)")
    assert pipeline.stages["nen"].head.conv.in_channels == 3
    assert pipeline.stages["rn"].tail.conv.out_channels == 3
    with pytest.raises(TypeError, match="stage 'nen'"):
        TwoStagePipeline(nen=model_registry.create("rn").spec)


def test_networks_are_scriptable():
    x = torch.rand(1, 1, 8, 10)
    nen, rn = _small(NoiseEstimationNet).eval(), _small(ReconstructionNet).eval()
    torch.testing.assert_close(torch.jit.script(nen)(x), nen(x))
    scripted = torch.jit.script(rn)
    torch.testing.assert_close(scripted(x, nen(x)), rn(x, nen(x)))
    torch.testing.assert_close(scripted(x), rn(x))
