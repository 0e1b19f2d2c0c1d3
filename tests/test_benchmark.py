"""``medden benchmark`` end to end on a tiny synthetic folder, classical models only."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medden.bench.conditions import Condition
from medden.bench.data import BenchImage, load_images
from medden.bench.runner import noisy_image
from medden.cli import main
from medden.metrics import psnr
from medden.registry import noise_registry
from medden.spec import Spec

MODELS = "identity,median,gaussian_filter:sigma=1"
NOISES = ["gaussian", "speckle", "salt_pepper:amount=0.05"]


def _write_phantoms(folder: Path, count: int = 3, size: int = 48) -> Path:
    folder.mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size]
    for i in range(count):
        image = 128 + 60 * np.sin(xx / (4 + i)) * np.cos(yy / 7) + 20 * (xx > size // 2)
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def _benchmark(data: Path, out: Path, seed: int = 3, skip: str | None = None,
               workers: int = 1) -> int:
    argv = ["benchmark", "--data", str(data), "--models", MODELS, "--noise", *NOISES,
            "--levels", "15,50", "--seed", str(seed), "--out", str(out), "--curve-images",
            "1", "--cost-repeats", "2", "--figure-crop", "32", "--quiet",
            "--workers", str(workers)]
    return main(argv + (["--skip", skip] if skip else []))


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bench")
    data = _write_phantoms(root / "phantom")
    assert _benchmark(data, root / "out") == 0
    return data, root / "out"


def test_quality_table_has_every_condition_and_model(run):
    _, out = run
    rows = _rows(out / "quality.csv")
    models = ["identity", "median", "median (oracle)", "gaussian_filter:sigma=1",
              "gaussian_filter:sigma=1 (oracle)"]
    expected = {(noise, level, model) for noise in ("gaussian", "speckle")
                for level in ("15", "50") for model in models}
    expected |= {("salt_pepper:amount=0.05", "", model) for model in models}
    assert {(r["noise"], r["level"], r["model"]) for r in rows} == expected
    assert all(r["modality"] == "phantom" and r["images"] == "3" for r in rows)
    assert all(r["delta_e"] == "" for r in rows)  # gray images: no ΔE
    report = (out / "benchmark.md").read_text()
    assert "| Model | σ | gaussian |" in report and "| speckle |" in report
    assert "| Average |" in report
    assert "|  |  | **PSNR** | **SSIM** | **VIFP** | **MSE** | **PSNR** |" in report
    assert "ΔE" not in report.split("## Image quality")[1].split("## Ablation")[0].replace(
        "ΔE (CIEDE2000) for RGB", "")
    assert "MSE on the 0–255 scale" in report


def test_identity_scores_the_noisy_input(run):
    data, out = run
    per_image = [r for r in _rows(out / "per_image.csv") if r["model"] == "identity"]
    images, _ = load_images(data)
    clean = {image.key: image for image in images}
    for row in per_image:
        if row["noise"] != "gaussian":
            continue
        level = float(row["level"])
        spec = Spec("gaussian", {"sigma": level})
        image: BenchImage = clean[row["image"]]
        noisy = noisy_image(image, Condition("gaussian", level, spec),
                            noise_registry.create(spec), seed=3)
        expected = psnr(image.clean.numpy(), np.clip(noisy[0].numpy(), 0, 1), data_range=1.0)
        assert float(row["psnr"]) == pytest.approx(expected, abs=1e-4)
        # additive Gaussian noise: PSNR = 20 log10(255 / sigma), nearly no clipping here
        assert float(row["psnr"]) == pytest.approx(20 * math.log10(255 / level), abs=0.6)


def test_noisy_images_are_drawn_in_memory_never_through_a_lossy_file(tmp_path,
                                                                     jpeg_encodings):
    """On JPEG photographs, identity scores the Gaussian noise exactly as drawn in memory
    (a noisy image that passed through a JPEG file would score about 2 dB higher)."""
    data = tmp_path / "skin"
    data.mkdir()
    yy, xx = np.mgrid[0:64, 0:64]
    photo = np.stack([128 + 40 * np.sin(xx / 9), 128 + 40 * np.cos(yy / 7), 120 + xx // 4], -1)
    Image.fromarray(photo.astype(np.uint8)).save(data / "lesion.jpg", quality=75)
    jpeg_encodings.clear()  # the input itself
    assert main(["benchmark", "--data", str(data), "--models", "identity", "--noise",
                 "gaussian", "--levels", "25", "--seed", "3", "--out", str(tmp_path / "out"),
                 "--quiet", "--skip", "oracle,ablation,curves,figures,cost"]) == 0
    assert jpeg_encodings == []
    (row,) = _rows(tmp_path / "out" / "per_image.csv")
    (image,), _ = load_images(data)
    spec = Spec("gaussian", {"sigma": 25.0})
    noisy = noisy_image(image, Condition("gaussian", 25.0, spec), noise_registry.create(spec),
                        seed=3)
    expected = psnr(image.clean.numpy(), np.clip(noisy[0].numpy(), 0, 1), data_range=1.0)
    assert float(row["psnr"]) == pytest.approx(expected, abs=1e-4)
    assert float(row["psnr"]) == pytest.approx(20 * math.log10(255 / 25), abs=0.3)


def test_oracle_is_at_least_the_given_setting_on_every_image(run):
    _, out = run
    rows = _rows(out / "per_image.csv")
    given = {(r["image"], r["noise"], r["level"], r["model"]): float(r["psnr"]) for r in rows}
    oracle_rows = [r for r in rows if r["model"].endswith(" (oracle)")]
    assert len(oracle_rows) == 2 * 3 * 7  # 2 filters, 3 images, 7 conditions
    for r in oracle_rows:
        base = r["model"].removesuffix(" (oracle)")
        assert float(r["psnr"]) >= given[r["image"], r["noise"], r["level"], base] - 1e-9
        assert r["setting"]  # the chosen setting is recorded
    # salt-and-pepper is what a median filter removes: the oracle picks a small window
    median = [r for r in oracle_rows
              if r["model"] == "median (oracle)" and r["noise"].startswith("salt_pepper")]
    assert {r["setting"] for r in median} <= {"size=3", "size=5"}


def test_ablation_has_none_each_noise_and_all_combined(run):
    _, out = run
    rows = _rows(out / "ablation.csv")
    identity = {(r["noise"], r["level"]): r for r in rows if r["model"] == "identity"}
    assert set(identity) == {("none", ""), ("gaussian", "15"), ("speckle", "15"),
                             ("salt_pepper:amount=0.05", ""), ("all combined", "15")}
    assert identity["none", ""]["psnr"] == "inf"
    combined = float(identity["all combined", "15"]["psnr"])
    alone = [float(r["psnr"]) for k, r in identity.items() if k[0] not in ("none", "all combined")]
    assert combined < min(alone)
    assert "Ablation by noise" in (out / "benchmark.md").read_text()


def test_curves_cover_15_to_50_db(run):
    _, out = run
    rows = _rows(out / "curves.csv")
    assert (out / "curves_phantom_gaussian.png").stat().st_size > 10_000
    assert (out / "curves_phantom_speckle.png").is_file()
    gaussian = [r for r in rows if r["noise"] == "gaussian"]
    assert len(gaussian) == 15 * 3
    inputs = sorted(float(r["input_psnr"]) for r in gaussian if r["model"] == "identity")
    assert inputs[0] == pytest.approx(15, abs=1.5) and inputs[-1] == pytest.approx(50, abs=1)
    assert all(abs(float(r["gain"])) < 1e-9 for r in gaussian if r["model"] == "identity")
    median = [r for r in gaussian if r["model"] == "median"]
    noisiest = min(median, key=lambda r: float(r["input_psnr"]))
    cleanest = max(median, key=lambda r: float(r["input_psnr"]))
    assert float(noisiest["gain"]) > 0 > float(cleanest["gain"])  # a validity range


def test_cost_table_and_figure(run):
    _, out = run
    costs = _rows(out / "cost.csv")
    assert [c["name"] for c in costs] == MODELS.split(",")
    assert all(float(c["median_ms"]) > 0 and c["params"] == "0" for c in costs)
    assert all(c["shape"] == "(1, 1, 512, 512)" for c in costs)
    assert (out / "figure_phantom.png").stat().st_size > 5_000
    assert "![figure_phantom](figure_phantom.png)" in (out / "benchmark.md").read_text()


def test_same_seed_same_numbers(run, tmp_path):
    data, out = run
    # Two worker processes: the same records, in the same order.
    assert _benchmark(data, tmp_path / "again", skip="curves,cost,figures", workers=2) == 0
    assert "--workers 2" in (tmp_path / "again" / "benchmark.md").read_text()
    for name in ("quality.csv", "ablation.csv", "per_image.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes()
    assert _benchmark(data, tmp_path / "other", seed=4, skip="curves,cost,figures,oracle") == 0
    other = {(r["noise"], r["level"], r["model"]): r["psnr"]
             for r in _rows(tmp_path / "other" / "quality.csv")}
    first = {(r["noise"], r["level"], r["model"]): r["psnr"] for r in _rows(out / "quality.csv")}
    assert other["gaussian", "15", "median"] != first["gaussian", "15", "median"]


def test_trained_networks_get_other_channel_counts_as_denoise_gives_them(tmp_path):
    """Gray images for the colour bundle (the gray value in three channels) and colour images
    for a gray bundle (channel by channel): scored, as ``medden denoise`` runs them, not a
    traceback."""
    gray = _write_phantoms(tmp_path / "gray", count=2, size=64)
    colour = tmp_path / "colour"
    colour.mkdir()
    for path in sorted(gray.glob("*.png")):
        Image.open(path).convert("RGB").save(colour / path.name)
    for data, bundle in ((gray, "multimodal"), (colour, "xray")):
        out = tmp_path / f"out_{bundle}"
        assert main(["benchmark", "--data", str(data), "--models", f"identity,{bundle}",
                     "--noise", "gaussian", "--levels", "25", "--seed", "0", "--out", str(out),
                     "--skip", "oracle,ablation,curves,cost,figures", "--quiet"]) == 0
        scores = {row["model"]: float(row["psnr"]) for row in _rows(out / "quality.csv")}
        network = next(label for label in scores if label.startswith("bundle"))
        assert scores[network] > scores["identity"] + 3.0, scores
