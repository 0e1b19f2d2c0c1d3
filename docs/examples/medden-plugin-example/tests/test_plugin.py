"""The example plugin meets medden's contracts and does what it says."""

from __future__ import annotations

import pytest
import torch

from medden.noise import make_generator
from medden.registry import model_registry
from medden.testing import check_model, check_noise, check_pipeline, plugin_entries

DISTRIBUTION = "medden-plugin-example"
#: Narrow networks keep the checks fast; the architecture is the same at any width.
SMALL = "features=8,blocks=2"


def test_registers_one_noise_one_model_one_pipeline():
    assert plugin_entries(DISTRIBUTION, "noise") == ["stripe"]
    assert plugin_entries(DISTRIBUTION, "models") == ["tiny_resnet"]
    assert plugin_entries(DISTRIBUTION, "pipelines") == ["median_then_tiny"]


def vertical_stripes(clean: torch.Tensor, noisy: torch.Tensor) -> None:
    """Statistics hook: defaults give column offsets, ~30 % of columns, sigma 10/255."""
    residual = noisy - clean
    torch.testing.assert_close(residual, residual[..., :1, :].expand_as(residual))
    offsets = residual[..., 0, :]
    striped = offsets != 0
    assert striped.float().mean().item() == pytest.approx(0.3, abs=0.05)
    assert offsets[striped].std().item() * 255 == pytest.approx(10, rel=0.15)


def test_stripe_noise_conforms():
    check_noise("stripe", statistics=vertical_stripes)


def test_horizontal_stripes_are_constant_along_rows():
    def every_row(clean: torch.Tensor, noisy: torch.Tensor) -> None:
        residual = noisy - clean
        torch.testing.assert_close(residual, residual[..., :1].expand_as(residual))
        assert (residual[..., 0] != 0).all()  # density 1: every row striped

    check_noise("stripe:orientation=horizontal,density=1,sigma=5", statistics=every_row)


def test_tiny_resnet_conforms():
    check_model(f"tiny_resnet:{SMALL}")


def test_median_then_tiny_conforms():
    pipeline = check_pipeline(f"median_then_tiny:size=5,{SMALL}")
    assert pipeline.stage_names == ["median", "net"]
    assert pipeline.stages["median"].size == 5


def test_tiny_resnet_learns_to_remove_stripes():
    torch.manual_seed(0)
    model = model_registry.create(f"tiny_resnet:{SMALL}")
    noise = check_noise("stripe:density=1,sigma=20")
    generator = make_generator(0)
    clean = torch.rand(8, 1, 24, 24, generator=generator) * 0.5 + 0.25
    noisy = noise(clean, generator)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.mse_loss(model(noisy), clean)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    start = torch.nn.functional.mse_loss(noisy, clean).item()
    assert losses[-1] < 0.5 * start

