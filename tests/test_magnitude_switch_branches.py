"""docs/examples/magnitude_switch_branches.py and magnitude_switch_checkpoint.py: the MRI
bundle taken apart into its two branches and joined again gives the same network."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from medden.train import load_checkpoint
from tests._examples import load_example

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "mri_denoise"

branches = load_example("magnitude_switch_branches")
joining = load_example("magnitude_switch_checkpoint")


def run_main(module, monkeypatch, *argv: str) -> None:
    monkeypatch.setattr(sys, "argv", [module.__name__, *argv])
    module.main()


def test_split_and_join_give_the_shipped_network(tmp_path, monkeypatch):
    run_main(branches, monkeypatch, str(BUNDLE), str(tmp_path / "branches"))
    shipped, shipped_info = load_checkpoint(BUNDLE)
    image = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for name in branches.BRANCHES:
            branch, info = load_checkpoint(tmp_path / "branches" / name)
            assert "clean_sigma" not in info["pipeline"]  # the gate is left to the joining
            torch.testing.assert_close(branch.stages["model"](image),
                                       shipped.stages[name].stages["model"](image))
    run_main(joining, monkeypatch, "--zero-mean", str(tmp_path / "branches" / "zero_mean"),
             "--zero-mean-params", "clean_sigma=1.5,noisy_sigma=2.0",
             "--magnitude", str(tmp_path / "branches" / "magnitude"),
             "--out", str(tmp_path / "joined"))
    joined, info = load_checkpoint(tmp_path / "joined")
    assert info["pipeline"] == shipped_info["pipeline"]
    noisy = (image * 0.6 + 0.2 + 0.05 * torch.randn(1, 1, 64, 64,
                                                      generator=torch.Generator().manual_seed(1)))
    with torch.inference_mode():
        for x in (image, noisy.clamp(0, 1), torch.zeros(1, 1, 64, 64)):
            torch.testing.assert_close(joined(x), shipped(x))


def test_split_refuses_another_pipeline(tmp_path, monkeypatch):
    xray = BUNDLE.parent / "xray_denoise"
    with pytest.raises(SystemExit):
        run_main(branches, monkeypatch, str(xray), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
