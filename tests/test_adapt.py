"""``medden adapt``: a bundle fine-tuned on noisy-only images, never worse than its base."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _train_support import tiny_config, write_images
from monai.bundle import run, verify_metadata
from PIL import Image

from medden.cli import main
from medden.commands import adapt as adapt_command
from medden.denoisers import find_bundle, load_bundle
from medden.errors import UsageError
from medden.train import config_from_dict, train
from medden.train.adapt import ADAPT_RECIPES, adapt_config, bump_version

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "tests" / "data" / "monai_meta_schema_20240725.json"
INFO = REPO / "configs" / "bundles" / "xray_denoise.info.yaml"
SIGMA = 25


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A weak base bundle (one epoch of noise2clean at sigma 10 on smooth images) and a
    site's noisy-only images at sigma 25, with their clean versions to score against."""
    root = tmp_path_factory.mktemp("adapt")
    data = write_images(root / "base_data", count=4, size=64)
    result = train(config_from_dict(tiny_config(
        data, root / "run", epochs=1, noise="gaussian:sigma=10",
        pipeline="prefiltered:model=(cae:features=16)")))  # the shipped bundles' pipeline
    base = root / "base_denoise"
    assert main(["bundle", str(result.best), str(base), "--info", str(INFO)]) == 0
    clean = write_images(root / "clean", count=6, size=64, seed=7)
    noisy = root / "noisy"
    noisy.mkdir()
    rng = np.random.default_rng(1)
    for path in sorted(clean.iterdir()):
        value = np.asarray(Image.open(path), dtype=np.float64) + rng.normal(0, SIGMA, (64, 64))
        Image.fromarray(np.clip(value, 0, 255).round().astype(np.uint8)).save(noisy / path.name)
    return root, base, clean, noisy


def _psnr(bundle: Path, clean: Path, noisy: Path) -> float:
    network = load_bundle(bundle).network
    scores = []
    for path in sorted(clean.iterdir()):
        x = torch.from_numpy(np.asarray(Image.open(noisy / path.name), np.float32) / 255)
        with torch.no_grad():
            out = network(x[None, None]).clamp(0, 1)[0, 0].numpy()
        reference = np.asarray(Image.open(path), np.float32) / 255
        scores.append(10 * np.log10(1 / np.mean((out - reference) ** 2)))
    return float(np.mean(scores))


def test_adapted_bundle_is_better_on_the_noisy_images_and_complete(site, tmp_path, capsys):
    root, base, clean, noisy = site
    out = tmp_path / "site_denoise"
    status = main(["adapt", "--from", str(base), "--data", str(noisy), "--out", str(out),
                   "--minutes", "1", "--lr", "1e-3", "--quiet", "--set", "epochs=8",
                   "--set", "data.patch_size=32", "--set", "batch_size=4"])
    assert status == 0
    base_version = json.loads((base / "configs" / "metadata.json").read_text())["version"]
    major, minor, patch = base_version.split(".")
    adapted = f"{major}.{minor}.{int(patch) + 1}"  # a patch release of the base
    printed = capsys.readouterr().out
    assert "adapted weights" in printed and f"version {adapted}" in printed
    assert _psnr(out, clean, noisy) > _psnr(base, clean, noisy) + 1.0
    meta = json.loads((out / "configs" / "metadata.json").read_text())
    assert meta["version"] == adapted and meta["name"] == "site_denoise"
    assert base_version in meta["changelog"]
    assert "neighbor2neighbor" in meta["changelog"][adapted]
    provenance = meta["adaptation"]
    assert provenance["base_bundle"] == "xray_denoise"
    assert provenance["base_version"] == base_version
    assert provenance["recipe"] == "neighbor2neighbor" and provenance["images"] == 6
    assert provenance["weights"] == "adapted" and len(provenance["data_sha256"]) == 64
    assert provenance["best_loss"] < provenance["start_loss"]
    text = "".join(p.read_text() for p in out.rglob("*") if p.suffix in (".json", ".md"))
    assert str(noisy) not in text and "p00_im" not in text  # no site paths or names
    verify_metadata(meta_file=str(out / "configs" / "metadata.json"), filepath=str(SCHEMA))
    training = json.loads((out / "configs" / "train.json").read_text())["training"]
    assert training["recipe"] == "neighbor2neighbor" and training["data"]["noisy"] is True
    assert training["data"]["modality"] == "xray"  # the base bundle's intensity convention
    run(config_file=str(out / "configs" / "inference.json"), bundle_root=str(out),
        dataset_dir=str(noisy), output_dir=str(tmp_path / "monai_out"))
    assert json.loads((tmp_path / "monai_out" / "report.json").read_text())["counts"]["ok"] == 6
    assert main(["denoise", str(noisy), str(tmp_path / "den"), "--bundle", str(out),
                 "--quiet"]) == 0


def test_training_that_does_not_help_keeps_the_base_weights(site, tmp_path):
    root, base, clean, noisy = site
    out = tmp_path / "diverged"
    # a learning rate far too high: the self-supervised validation loss only gets worse
    assert main(["adapt", "--from", str(base), "--data", str(noisy), "--out", str(out),
                 "--lr", "1.0", "--quiet", "--set", "epochs=2", "--set", "data.patch_size=32",
                 "--run", str(tmp_path / "run")]) == 0
    meta = json.loads((out / "configs" / "metadata.json").read_text())
    assert meta["adaptation"]["weights"] == "base"
    assert "did not improve" in meta["changelog"][meta["version"]]
    kept = torch.load(out / "models" / "model.pt", weights_only=True)
    original = torch.load(base / "models" / "model.pt", weights_only=True)
    assert all(torch.equal(kept[k], original[k]) for k in original)
    assert (tmp_path / "run" / "log.csv").is_file()  # --run keeps the run


def test_one_image_validates_on_itself_and_noise2noise_needs_pairs(site, tmp_path):
    root, base, clean, noisy = site
    config = adapt_config(base, [str(noisy)], tmp_path / "run", "n2v2",
                          validate_on_train=True)
    assert config.data.val == [str(noisy)] and config.data.noisy and config.monitor == "loss"
    assert config.schedule.name == "plateau" and config.early_stopping
    assert config.optimizer.lr == pytest.approx(0.1 * 3e-3)  # 0.1 x the base's rate
    with pytest.raises(UsageError, match="--pairs"):
        adapt_config(base, [str(noisy)], tmp_path / "run", "noise2noise")
    paired = adapt_config(base, [str(noisy)], tmp_path / "run", "noise2noise",
                          pairs=[str(clean)])
    assert paired.data.pairs == [str(clean)] and not paired.data.noisy
    shipped = adapt_config(find_bundle("ct"), [str(noisy)], tmp_path / "run")  # a NAME
    assert shipped.data.modality == "ct" and shipped.recipe == "neighbor2neighbor"


def test_adapt_refuses_to_write_into_a_used_folder(site, tmp_path):
    root, base, clean, noisy = site
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    assert main(["adapt", "--from", str(base), "--data", str(noisy), "--out",
                 str(tmp_path / "used")]) == 2


def test_versions_and_recipe_names():
    assert bump_version("0.5.0") == "0.5.1" and bump_version("1.2") == "1.3"
    assert bump_version("beta") == "beta.1"
    assert adapt_command._RECIPES == ADAPT_RECIPES
