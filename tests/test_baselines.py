"""Tests of the baseline networks: CAE, DAE, DnCNN, RED-CNN, ResCNN."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medden.cost import count_parameters
from medden.registry import model_registry
from medden_baselines.cae import CAE
from medden_baselines.dae import DAE
from medden_baselines.dncnn import DnCNN
from medden_baselines.red_cnn import REDCNN
from medden_baselines.rescnn import ResCNN

#: Narrow versions of every baseline, fast enough for shape checks.
SMALL = {
    "cae": "cae:features=4,levels=2",
    "dae": "dae:channels=[4|8]",
    "dncnn": "dncnn:depth=4,features=4",
    "red_cnn": "red_cnn:features=4",
    "rescnn": "rescnn:depth=3,features=4",
}


def _zero(module: nn.Module) -> None:
    for parameter in module.parameters():
        nn.init.zeros_(parameter)


@pytest.mark.parametrize(("cls", "gray", "rgb"), [
    (DnCNN, 556_097, 558_403),     # 17 layers of 64 3x3 filters, BN
    (ResCNN, 556_097, 558_403),
    (REDCNN, 1_848_865, 1_858_467),  # 5 + 5 layers of 96 5x5 filters
    (CAE, 38_145, 40_451),          # one 64-filter encoder and decoder layer
    (DAE, 185_857, 187_011),
])
def test_default_parameter_counts(cls, gray, rgb):
    assert count_parameters(cls()) == gray
    assert count_parameters(cls(in_channels=3)) == rgb


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("shape", [(2, 1, 67, 93), (1, 3, 13, 18), (1, 3, 5, 13, 18)])
def test_any_size_and_dimensionality_keeps_the_shape(name, shape):
    spec = f"{SMALL[name]},in_channels={shape[1]},spatial_dims={len(shape) - 2}"
    model = model_registry.create(spec).eval()
    out = model(torch.rand(shape))
    assert out.shape == shape
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("cls", [DnCNN, ResCNN, REDCNN, CAE, DAE])
def test_unsupported_dimensionality_is_refused(cls):
    with pytest.raises(ValueError, match="spatial_dims"):
        cls(spatial_dims=1)


def test_dncnn_subtracts_the_predicted_residual():
    model = DnCNN(depth=5, features=8).eval()
    x = torch.rand(1, 1, 12, 12)
    torch.testing.assert_close(model(x), x - model.estimate_noise(x))
    _zero(model.body[-1])
    assert torch.equal(model(x), x)


def test_dncnn_layer_recipe():
    model = DnCNN(depth=17)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == 17 and len(norms) == 15
    assert {c.out_channels for c in convs[:-1]} == {64}


def test_red_cnn_input_shortcut_survives_a_silent_decoder():
    model = REDCNN(features=6)
    _zero(model.decoder)
    x = torch.rand(1, 1, 30, 33)
    # every deconvolution outputs 0, so only the shortcuts reach the output: the input
    assert torch.equal(model(x), x)


def test_red_cnn_uses_valid_convolutions():
    model = REDCNN(features=4)
    h = torch.rand(1, 1, 40, 41)
    for conv in model.encoder:
        h = conv(h)
    assert h.shape[2:] == (40 - 20, 41 - 20)
    assert model.min_size == 21


@pytest.mark.parametrize(("cls", "params", "multiple"), [
    (CAE, {}, 2), (CAE, {"levels": 3}, 8), (DAE, {}, 8), (DAE, {"channels": (4, 8)}, 4),
])
def test_autoencoders_pad_to_their_pooling_factor_and_output_in_unit_range(cls, params,
                                                                           multiple):
    model = cls(**params).eval()
    assert model.size_multiple == multiple
    x = 2 * torch.rand(1, 1, 19, 23) - 0.5  # noisy values outside [0, 1]
    out = model(x)
    assert out.shape == x.shape
    assert 0 <= out.min() and out.max() <= 1


def test_cae_has_one_pooling_encoder_layer_by_default():
    model = CAE()
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.modules()) == 1
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 3


def test_red_cnn_is_scriptable():
    model = model_registry.create(SMALL["red_cnn"]).eval()
    for shape in [(1, 1, 24, 26), (1, 1, 9, 30)]:  # with and without padding
        x = torch.rand(shape)
        torch.testing.assert_close(torch.jit.script(model)(x), model(x))
