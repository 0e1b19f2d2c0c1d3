"""Tests of medden.cost: parameter and MAC counts, timing, peak memory, cost rows."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from medden import cost
from medden.cost import cost_row, count_macs, count_parameters, peak_memory_mb, time_inference
from medden.models import ClassicalDenoiser


class _Blur(ClassicalDenoiser):
    """A classical filter stand-in (returns its input)."""

    def filter_image(self, image):
        return image


def test_count_parameters_of_a_conv_layer_is_exact():
    conv = nn.Conv2d(3, 8, kernel_size=3)
    assert count_parameters(conv) == 3 * 8 * 3 * 3 + 8


def test_count_parameters_skips_frozen_parameters():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Conv2d(4, 2, 1))
    model[0].requires_grad_(False)
    assert count_parameters(model) == 4 * 2 + 2


def test_count_macs_of_a_conv_layer_is_exact():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1)
    # one multiply-accumulate per output element, input channel and kernel tap
    assert count_macs(conv, (2, 3, 10, 12)) == 2 * 8 * 10 * 12 * 3 * 3 * 3


def test_count_macs_of_a_transposed_conv_and_a_linear_layer():
    deconv = nn.ConvTranspose2d(4, 2, kernel_size=5)
    # every input element is multiplied into out_channels x kernel taps outputs
    assert count_macs(deconv, (1, 4, 6, 7)) == 6 * 7 * 4 * 2 * 5 * 5
    assert count_macs(nn.Linear(4, 5), (3, 4)) == 3 * 4 * 5


def test_count_macs_is_zero_for_classical_filters_and_restores_training_mode():
    assert count_macs(_Blur(), (1, 1, 8, 8)) == 0
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1))
    model.train()
    count_macs(model, (1, 1, 8, 8))
    assert model.training


def test_time_inference_returns_positive_times_and_restores_state():
    model = nn.Conv2d(1, 4, 3, padding=1)
    threads = torch.get_num_threads()
    result = time_inference(model, (1, 1, 32, 32), repeats=3, warmup=1, threads=1)
    assert set(result) == {"median_ms", "min_ms"}
    assert 0 < result["min_ms"] <= result["median_ms"]
    assert torch.get_num_threads() == threads
    assert model.training


@pytest.mark.parametrize("high_water_reset", [True, False], ids=["vmhwm", "sampling"])
def test_peak_memory_sees_a_64_mib_allocation(monkeypatch, high_water_reset):
    if not high_water_reset:  # the fallback used where /proc/self/clear_refs is not writable
        monkeypatch.setattr(cost, "_reset_high_water", lambda: False)

    def allocate() -> None:
        block = torch.ones(16 * 2**20)  # 64 MiB of float32, touched by the fill
        assert block[-1] == 1

    measured = peak_memory_mb(allocate)
    assert 60 <= measured <= 100
    assert peak_memory_mb(lambda: None) < 8


def test_cost_row_combines_the_measures():
    model = nn.Conv2d(1, 2, 3, padding=1)
    row = cost_row("conv", model, (1, 1, 16, 16), repeats=2, warmup=1, threads=1)
    assert row["name"] == "conv"
    assert row["shape"] == (1, 1, 16, 16)
    assert row["params"] == 20
    assert row["macs"] == 16 * 16 * 2 * 9
    assert row["peak_memory_mb"] >= 0
    assert 0 < row["min_ms"] <= row["median_ms"]
