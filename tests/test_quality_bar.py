"""docs/examples/quality_bar.py: the bundles' quality-bar verdicts from benchmark CSVs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from _examples import load_example

MODEL = "bundle demo 1.0"


@pytest.fixture(scope="module")
def quality_bar():
    return load_example("quality_bar")


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture()
def run(tmp_path):
    """A benchmark folder: two images of modality m; PSNR per image, SSIM per model."""
    table = {  # (noise, level): {model: (psnr image a, psnr image b, ssim)}
        ("gaussian", "2"): {"identity": (42, 42, 0.95), MODEL: (44, 45, 0.97),
                            "bm3d": (46, 46, 0.98), "bm3d (true σ)": (46, 46, 0.98)},
        ("gaussian", "25"): {"identity": (20, 20, 0.2), MODEL: (36, 36.2, 0.90),
                             "bm3d": (35.4, 35.4, 0.89), "bm3d (true σ)": (35.5, 35.5, 0.89)},
        ("poisson:peak=30", ""): {"identity": (18, 18, 0.1), MODEL: (35, 35, 0.90),
                                  "median (oracle)": (32, 32.5, 0.8),
                                  "bilateral (oracle)": (32.9, 32.9, 0.85),
                                  "bm3d (oracle)": (34, 34.4, 0.88), "bm3d": (32, 32, 0.78),
                                  # Another trained network: never a classical reference.
                                  "checkpoint runs/x.pt": (40, 40, 0.99)},
    }
    per_image, means = [], []
    for (noise, level), models in table.items():
        for model, (a, b, ssim) in models.items():
            for image, value in (("a", a), ("b", b)):
                per_image.append({"modality": "m", "image": image, "noise": noise,
                                  "level": level, "model": model, "psnr": value,
                                  "ssim": ssim})
                # Another modality, and an ablation condition, both left out below.
                per_image.append({"modality": "other", "image": "c", "noise": noise,
                                  "level": level, "model": model, "psnr": 0, "ssim": 0})
                per_image.append({"modality": "m", "image": image, "noise": "none",
                                  "level": "", "model": model, "psnr": 99, "ssim": 1})
            means.append({"modality": "m", "noise": noise, "level": level, "model": model})
    _write(tmp_path / "quality.csv", means)
    _write(tmp_path / "per_image.csv", per_image)
    return tmp_path


def test_verdicts_margins_and_images_won(quality_bar, run):
    text = quality_bar.report(quality_bar.BarCheck(run, "bundle", modality="m"))
    assert "means over 2 images" in text and "none" not in text
    assert "| gaussian σ 25 | 36.10 | bm3d (true σ) | 35.50 | +0.60 | 2/2 | yes |" in text
    assert ("| poisson:peak=30 | N2N paper's filters | 35.00 | bilateral (oracle) | 32.90 "
            "| +2.10 | 2/2 | yes |") in text
    assert ("| poisson:peak=30 | every classical filter | 35.00 | bm3d (oracle) | 34.20 "
            "| +0.80 | 2/2 | no (1.20 short) |") in text
    assert "input 42.00 dB, output 44.50 dB (+2.50; images improved 2/2): met" in text
    assert "| gaussian σ 2 | 0.9700 | bm3d | 0.9800 | no |" in text
    assert "| poisson:peak=30 | 0.9000 | bm3d (oracle) | 0.8800 | yes |" in text


def test_summary_and_all_modalities(quality_bar, run):
    text = quality_bar.summary(quality_bar.BarCheck(run, "bundle", modality="m"))
    assert ("| poisson:peak=30 | 18.00 | **35.00** |  | 32.90 (bilateral (oracle)) "
            "| 34.20 (bm3d (oracle)) |") in text
    assert "| gaussian σ 25 | 20.00 | **36.10** | 35.50 | " in text
    # Where a classical row beats the model, the bold marks that row instead.
    assert "| gaussian σ 2 | 42.00 | 44.50 | 46.00 |  | **46.00** (bm3d" in text
    both = quality_bar.BarCheck(run, "bundle")
    assert both.images == 3
    assert both.psnr(("gaussian", "25"), MODEL) == pytest.approx((36 + 36.2) / 3)


def test_model_must_match_one_label(quality_bar, run):
    with pytest.raises(SystemExit, match="matches no model"):
        quality_bar.BarCheck(run, "nothing")
    with pytest.raises(SystemExit, match="matches"):
        quality_bar.BarCheck(run, "bm3d (")
    # A full label picks its row although it is part of two others.
    assert quality_bar.BarCheck(run, "bm3d").model == "bm3d"
    with pytest.raises(SystemExit, match="no image of modality 'ct'"):
        quality_bar.BarCheck(run, "bundle", modality="ct")


def test_heldout_split_links_by_source_folder(tmp_path, monkeypatch):
    import sys

    import yaml
    from _train_support import tiny_config, write_images

    skin = write_images(tmp_path / "data" / "skin", count=6, rgb=True)
    micro = write_images(tmp_path / "data" / "microscopy", count=6, rgb=True, seed=1)
    for image in micro.iterdir():  # distinct names: the flat folder holds both
        image.rename(micro / ("m" + image.name))
    config = tiny_config(skin, tmp_path / "out", data__train=[str(skin), str(micro)],
                         data__val_fraction=0.5)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    module = load_example("heldout_split")
    for args, folder in (([], "flat"), (["--group", "folder", "--first", "1"], "grouped"),
                         (["--group", "prefix", "--first", "1"], "prefix"),
                         (["--group", "folder", "--skip", "1"], "rest")):
        monkeypatch.setattr(sys, "argv", ["heldout_split.py", str(tmp_path / "config.yaml"),
                                          str(tmp_path / folder), *args])
        module.main()
    flat = sorted(p.name for p in (tmp_path / "flat").iterdir())
    assert len(flat) == 6 and all((tmp_path / "flat" / n).is_symlink() for n in flat)
    grouped = {p.name: sorted(q.name for q in p.iterdir())
               for p in (tmp_path / "grouped").iterdir()}
    assert set(grouped) == {"skin", "microscopy"} and all(len(v) == 1 for v in grouped.values())
    assert all(names[0] == min(n for n in flat if (n[0] == "m") == (group == "microscopy"))
               for group, names in grouped.items())
    rest = {p.name: sorted(q.name for q in p.iterdir()) for p in (tmp_path / "rest").iterdir()}
    assert sorted(n for names in [*grouped.values(), *rest.values()] for n in names) == flat
    assert all(set(rest[g]).isdisjoint(grouped[g]) for g in rest)
    # Prefixes "p00", "mp00", ...: one image each, in one folder.
    prefixed = sorted(p.name for p in (tmp_path / "prefix").iterdir())
    assert prefixed == sorted(set(prefixed)) and len(prefixed) == len({n.split("_")[0]
                                                                       for n in flat})


def test_margins_one_column_per_run(quality_bar, run):
    check = quality_bar.BarCheck(run, "bundle", modality="m")
    text = quality_bar.margins([check, check])
    assert "| bar (margin in dB) | demo 1.0 (2) | demo 1.0 (2) |" in text
    assert "| Gaussian σ 25 vs BM3D (true σ), bar +0.5 | +0.60 | +0.60 |" in text
    assert "| Gaussian σ 15 vs BM3D (true σ), bar +0.5 | — | — |" in text
    assert ("| poisson:peak=30 vs best oracle-tuned every classical filter, bar +2 "
            "| +0.80 (bm3d (oracle)) |") in text
    assert "| σ 2: input → output PSNR (bar: not lower) | 42.00 → 44.50 |" in text
    assert "rows won | 2/3 (not: gaussian σ 2) |" in text
