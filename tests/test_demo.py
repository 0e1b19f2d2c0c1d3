"""``medden demo`` shows medden's default bundles next to a classical filter, with progress,
and its output stays out of git (issue 25, item 19)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from medden.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_demo_table_has_the_bundles_beside_the_filter(tmp_path, capsys):
    rng = np.random.default_rng(0)
    samples = tmp_path / "samples"
    samples.mkdir()
    Image.fromarray(rng.integers(60, 200, (64, 64), dtype=np.uint8)).save(samples / "gray.png")
    Image.fromarray(rng.integers(60, 200, (64, 64, 3), dtype=np.uint8)).save(samples / "rgb.jpg")
    out = tmp_path / "demo"
    assert main(["demo", str(samples), "--out", str(out), "--model", "median:size=3"]) == 0
    text = capsys.readouterr().out
    for step in ("[1/3] adding", "[2/3] denoising with medden's default bundles",
                 "[3/3] denoising with median:size=3"):
        assert step in text
    table = text[text.index("PSNR (dB)"):].splitlines()
    assert table[1].split() == ["image", "medden", "bundle", "noisy", "medden", "median:size=3"]
    rows = {line.split()[0]: line.split() for line in table[2:]}
    assert rows["gray.png"][1].startswith("xray_denoise")
    assert rows["rgb.jpg"][1].startswith("multimodal_denoise")
    assert len(rows["seconds"]) == 3  # the time of each denoiser
    assert (out / "side_by_side.png").is_file()
    assert {p.name for p in out.iterdir()} >= {"noisy", "medden", "classical", "metrics.csv"}


def test_demo_output_is_ignored_by_git():
    ignored = subprocess.run(["git", "check-ignore", "-q", "demo-output/side_by_side.png"],
                             cwd=REPO, check=False)
    assert ignored.returncode == 0
