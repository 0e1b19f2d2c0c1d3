"""The example third-party plugin (docs/examples/medden-plugin-example) works end to end.

CI installs it (``pip install -e docs/examples/medden-plugin-example``) and these tests use
its real entry points; without the install they register it install-free (its ``src`` on
``sys.path`` and a dist-info written from its ``pyproject.toml``), so they run either way.
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from medden.cli import main
from medden.noise import make_generator
from medden.registry import model_registry, noise_registry, pipeline_registry
from medden.testing import check_model, check_noise, check_pipeline, plugin_entries
from medden.train import read_checkpoint

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "medden-plugin-example"
DISTRIBUTION = "medden-plugin-example"
ENTRIES = {"noise": ["stripe"], "models": ["tiny_resnet"], "pipelines": ["median_then_tiny"]}
#: Narrow networks keep the checks fast; the architecture is the same at any width.
SMALL = "features=8,blocks=2"


def declared_entry_points() -> dict[str, dict[str, str]]:
    """Entry points in the example's pyproject.toml, by group."""
    return tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["entry-points"]


def installed() -> bool:
    """True when the example distribution is pip-installed in this environment."""
    try:
        importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def write_pngs(folder: Path, count: int, size: int = 48) -> None:
    """8-bit gradients (values 100-230: no clipping at the noise levels used here)."""
    rows, cols = np.mgrid[0:size, 0:size]
    folder.mkdir(parents=True)
    for index in range(count):
        image = 100 + rows + cols + 10 * np.sin(cols / (3 + index))
        Image.fromarray(image.astype(np.uint8)).save(folder / f"img{index}.png")


@pytest.fixture
def example(medden_site, monkeypatch) -> str:
    """The example registered: its real install if present, else install-free."""
    if not installed():
        monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
        medden_site.add(DISTRIBUTION, declared_entry_points())
    return DISTRIBUTION


@pytest.mark.skipif(not installed(), reason="example not pip-installed; run "
                    "'pip install -e docs/examples/medden-plugin-example' (as CI does)")
def test_installed_distribution_registers_its_pyproject_entry_points():
    points = importlib.metadata.distribution(DISTRIBUTION).entry_points
    registered = {group: {ep.name: ep.value for ep in points if ep.group == group}
                  for group in {ep.group for ep in points}}
    assert registered == declared_entry_points()


def test_entries_are_listed_with_their_distribution(example, capsys):
    for kind, names in ENTRIES.items():
        assert plugin_entries(example, kind) == names
    assert main(["list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
             if line.startswith("  ")}
    for names in ENTRIES.values():
        for name in names:
            assert DISTRIBUTION in lines[name] and "[" not in lines[name], lines[name]
    assert "Detector stripe noise" in lines["stripe"]
    assert main(["list", "models", "tiny_resnet"]) == 0
    out = capsys.readouterr().out
    for parameter in ("in_channels: int = 1", "spatial_dims: int = 2", "features: int = 32",
                      "blocks: int = 4"):
        assert parameter in out


def test_entries_pass_the_first_party_conformance_checks(example):
    noise = check_noise("stripe")
    assert (noise.sigma, noise.density, noise.orientation) == (10.0, 0.3, "vertical")
    check_model(f"tiny_resnet:{SMALL}")
    pipeline = check_pipeline(f"median_then_tiny:{SMALL}")
    assert pipeline.stage_names == ["median", "net"]
    assert type(pipeline.stages["median"]) is model_registry.load("median")


def test_names_do_not_collide_with_first_party_plugins(example):
    for registry, names in zip((noise_registry, model_registry, pipeline_registry),
                               ENTRIES.values(), strict=True):
        for name in names:
            assert registry.entry(name).conflicts == []
            assert registry.entry(name).distribution == DISTRIBUTION


def test_medden_noise_writes_stripes(example, tmp_path):
    pytest.importorskip("medden.commands.noise", reason="needs the 'medden noise' command")
    write_pngs(tmp_path / "in", count=1)
    args = ["noise", str(tmp_path / "in"), str(tmp_path / "out"),
            "--noise", "stripe:sigma=12,density=1", "--seed", "4", "--quiet"]
    assert main(args) == 0
    clean = np.asarray(Image.open(tmp_path / "in" / "img0.png")).astype(float)
    noisy = np.asarray(Image.open(tmp_path / "out" / "img0.png")).astype(float)
    residual = noisy - clean  # 8-bit images are normalised by /255: levels are grey levels
    # one offset per column (up to 8-bit rounding), columns differ with std ~ sigma
    assert residual.std(axis=0).max() <= 0.6
    assert residual.mean(axis=0).std() == pytest.approx(12, rel=0.35)
    assert main(args[:2] + [str(tmp_path / "again")] + args[3:]) == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "again" / "img0.png")), noisy)


def test_medden_benchmark_scores_stripe_noise(example, tmp_path):
    pytest.importorskip("medden.commands.benchmark", reason="needs the 'medden benchmark' command")
    write_pngs(tmp_path / "data", count=2, size=64)
    args = ["benchmark", "--data", str(tmp_path / "data"), "--models", "identity",
            "--noise", "stripe:density=1", "--levels", "10", "--out", str(tmp_path / "out"),
            "--skip", "oracle,ablation,curves,cost,figures", "--quiet"]
    assert main(args) == 0
    with open(tmp_path / "out" / "quality.csv") as table:
        (row,) = list(csv.DictReader(table))
    assert (row["noise"], row["level"], row["model"]) == ("stripe:density=1", "10", "identity")
    # the noisy input's MSE is the variance of the column offsets: sigma^2 on the 0-255 scale
    assert float(row["mse"]) * 255**2 == pytest.approx(10**2, rel=0.35)


def test_trained_example_pipeline_denoises_and_is_benchmarked(example, tmp_path):
    write_pngs(tmp_path / "data", count=4)
    overrides = {  # the example's own config, made small and short
        "pipeline": f"median_then_tiny:{SMALL}", "noise": "stripe:sigma=15",
        "output": str(tmp_path / "run"), "iterations": 5, "batch_size": 2,
        "data.train": [str(tmp_path / "data")], "data.patch_size": 32,
        "data.patches_per_image": 1, "data.val_fraction": 0.25,
        "log": {"progress": False, "tensorboard": False},
    }
    sets = [arg for key, value in overrides.items()
            for arg in ("--set", f"{key}={json.dumps(value)}")]  # JSON is YAML
    assert main(["train", str(EXAMPLE / "configs" / "median_then_tiny.yaml"), *sets]) == 0
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert (result["recipe"], result["iterations"]) == ("noise2clean", 5)
    losses = [float(row["train_loss"]) for row in result["history"]]
    assert losses[-1] < 0.5 * losses[0]
    plugins = read_checkpoint(tmp_path / "run")["run"]["plugins"]
    assert list(plugins) == [DISTRIBUTION]  # what opening the checkpoint elsewhere needs

    assert main(["noise", str(tmp_path / "data"), str(tmp_path / "noisy"),
                 "--noise", "stripe:sigma=15", "--quiet"]) == 0
    assert main(["denoise", str(tmp_path / "noisy"), str(tmp_path / "denoised"),
                 "--checkpoint", str(tmp_path / "run"), "--quiet"]) == 0
    for index in range(4):
        noisy = np.asarray(Image.open(tmp_path / "noisy" / f"img{index}.png"))
        denoised = np.asarray(Image.open(tmp_path / "denoised" / f"img{index}.png"))
        assert denoised.shape == noisy.shape and denoised.dtype == np.uint8
        assert not np.array_equal(denoised, noisy)

    assert main(["benchmark", "--data", str(tmp_path / "data"),
                 "--models", "identity", str(tmp_path / "run"), "--noise", "stripe",
                 "--levels", "15", "--out", str(tmp_path / "bench"),
                 "--skip", "oracle,ablation,curves,cost,figures", "--quiet"]) == 0
    with open(tmp_path / "bench" / "quality.csv") as table:
        psnr = {row["model"]: float(row["psnr"]) for row in csv.DictReader(table)}
    (trained,) = set(psnr) - {"identity"}  # the run folder, labelled after its name
    assert "run" in trained and "identity" in psnr
    assert np.isfinite(psnr[trained]) and psnr[trained] != psnr["identity"]


def test_pipeline_denoises_through_the_core_inference(example):
    from medden.infer import Denoising

    pipeline = pipeline_registry.create(f"median_then_tiny:{SMALL}")
    image = torch.rand(1, 40, 36, generator=make_generator(0))
    out = Denoising(pipeline, tile=16)(image)  # larger than a tile: sliding window
    assert out.shape == image.shape and torch.isfinite(out).all()
    with torch.no_grad():
        direct = pipeline(image.unsqueeze(0))[0]
    assert not torch.equal(out, image)
    assert (out - direct).abs().mean() < 0.05  # tiles blend to nearly the whole-image result
