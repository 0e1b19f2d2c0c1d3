"""Geometric self-ensemble: the 8 transforms are undone exactly, and the CLIs use it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from _train_support import tiny_checkpoint
from PIL import Image
from torch import nn

from medden.cli import main
from medden.ensemble import DihedralEnsemble, dihedral_average
from medden.infer import Denoising


class _Convolution(nn.Module):
    """A fixed 3x3 convolution with zero padding (not rotation equivariant)."""

    def __init__(self, kernel: torch.Tensor) -> None:
        super().__init__()
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.kernel, padding=1)


def test_an_equivariant_network_is_unchanged_on_non_square_images():
    image = torch.rand(2, 3, 12, 20)
    torch.testing.assert_close(dihedral_average(nn.Identity(), image), image)
    shift = dihedral_average(lambda x: x * 2 + 1, image)
    torch.testing.assert_close(shift, image * 2 + 1)


def test_a_convolution_becomes_the_convolution_with_the_symmetrised_kernel():
    kernel = torch.arange(9, dtype=torch.float32).reshape(1, 1, 3, 3)
    symmetrised = torch.stack([torch.rot90(k, turns, (-2, -1))
                               for k in (kernel, torch.flip(kernel, (-1,)))
                               for turns in range(4)]).mean(0)
    image = torch.rand(1, 1, 9, 14)
    expected = F.conv2d(image, symmetrised, padding=1)
    got = DihedralEnsemble(_Convolution(kernel))(image)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, _Convolution(kernel)(image))


def test_denoising_tiles_and_volumes_with_the_ensemble():
    kernel = torch.rand(1, 1, 3, 3)
    plain = Denoising(_Convolution(kernel), tile=16, slice_batch=2)
    ensembled = Denoising(_Convolution(kernel), tile=16, slice_batch=2, self_ensemble=True)
    volume = torch.rand(1, 3, 24, 40)  # tiled slices: 24x40 > 16x16
    out = ensembled(volume)
    assert out.shape == volume.shape
    assert not torch.allclose(out, plain(volume))
    assert ensembled.spatial_dims == plain.spatial_dims


def _checkpoint(root: Path) -> Path:
    tiny_checkpoint(root / "run" / "best.pt")
    return root / "run"


def _png(path: Path, size: int = 24) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:size, 0:size]
    image = 128 + 80 * np.sin(xx / 3.0) * np.cos(yy / 5.0)
    Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(path)
    return path


def test_denoise_self_ensemble_is_recorded_and_refused_for_filters(tmp_path, capsys):
    run = _checkpoint(tmp_path)
    _png(tmp_path / "in" / "x.png")
    for name, extra in (("plain", []), ("ensembled", ["--self-ensemble"])):
        assert main(["denoise", str(tmp_path / "in"), str(tmp_path / name), "--checkpoint",
                     str(run), "--quiet", *extra]) == 0
    report = json.loads((tmp_path / "ensembled" / "report.json").read_text())
    assert report["options"]["self_ensemble"] is True
    assert report["files"][0]["model"].endswith("(self-ensemble x8)")
    plain, ensembled = (np.asarray(Image.open(tmp_path / n / "x.png"))
                        for n in ("plain", "ensembled"))
    assert not np.array_equal(plain, ensembled)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "median"), "--model",
                 "median", "--self-ensemble", "--quiet"]) == 2
    assert "--self-ensemble is for trained networks" in capsys.readouterr().err


def test_benchmark_adds_an_ensembled_row_per_trained_network(tmp_path, capsys):
    run = _checkpoint(tmp_path)
    for i in range(2):
        _png(tmp_path / "data" / f"im{i}.png", size=48)
    assert main(["benchmark", "--data", str(tmp_path / "data"), "--models", f"identity,{run}",
                 "--noise", "gaussian", "--levels", "25", "--out", str(tmp_path / "out"),
                 "--skip", "oracle,ablation,curves,cost,figures", "--self-ensemble",
                 "--quiet"]) == 0
    with (tmp_path / "out" / "quality.csv").open() as handle:
        psnr = {row["model"]: float(row["psnr"]) for row in csv.DictReader(handle)}
    (trained,) = [label for label in psnr
                  if label.startswith("checkpoint") and not label.endswith("x8)")]
    assert set(psnr) == {"identity", trained, f"{trained} (self-ensemble x8)"}
    assert psnr[f"{trained} (self-ensemble x8)"] != pytest.approx(psnr[trained], abs=1e-3)
    assert main(["benchmark", "--data", str(tmp_path / "data"), "--models", "identity,median",
                 "--noise", "gaussian", "--out", str(tmp_path / "classical"),
                 "--self-ensemble", "--quiet"]) == 2
    assert "--self-ensemble: no trained network" in capsys.readouterr().err
