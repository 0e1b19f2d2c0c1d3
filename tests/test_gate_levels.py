"""docs/examples/gate_levels.py: gate settings compared on one bundle's outputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
from _examples import load_example
from _train_support import write_images

BUNDLE = Path(__file__).resolve().parents[1] / "bundles" / "xray_denoise"


@pytest.fixture(scope="module")
def gate_levels():
    return load_example("gate_levels")


def test_gate_setting_syntax(gate_levels):
    assert gate_levels.parse_gate("1:1.5:2") == (1.0, 1.5, 2.0)
    for bad in ("1:2", "0.5:3:2", "1.5:1:2", "a:b:c"):
        with pytest.raises(argparse.ArgumentTypeError):
            gate_levels.parse_gate(bad)


def test_gates_change_impulse_noise_only(gate_levels, tmp_path, monkeypatch, capsys):
    data = write_images(tmp_path / "clean", count=2, size=64)
    monkeypatch.setattr(sys, "argv", [
        "gate_levels.py", str(data), str(BUNDLE), "--gates", "0.75:1.5:2", "1:1.5:2",
        "--noise", "gaussian", "salt_pepper:amount=0.05", "--levels", "25", "--crop", "0"])
    gate_levels.main()
    cells = [[c.strip() for c in line.strip().strip("|").split("|")]
             for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    rows = {row[0]: row[1:] for row in cells}
    assert rows["condition"] == ["no gate", "0.75:1.5:2", "1:1.5:2"]
    noisy_rows = rows["gaussian σ 25"]
    assert float(noisy_rows[0]) > 25 and noisy_rows[1:] == ["+0.00", "+0.00"]
    gains = [float(v) for v in rows["salt_pepper:amount=0.05"][1:]]
    assert min(gains) > 1.0  # smooth images judged clean: only the impulses are denoised


def test_refuses_a_network_without_a_gate(gate_levels, tmp_path, monkeypatch):
    data = write_images(tmp_path / "clean", count=1, size=32)
    monkeypatch.setattr(sys, "argv", ["gate_levels.py", str(data), "median", "--gates", "1:1:2"])
    with pytest.raises(SystemExit, match="not a prefiltered pipeline"):
        gate_levels.main()
