"""``medden report benchmark`` (:mod:`medden.bench.merge`): benchmark runs on parts of a
folder, shards of it, or under torchrun, merged into the tables of one run."""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from medden.bench import merge as merge_benchmarks
from medden.cli import main
from medden.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def _phantom(path: Path, i: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:48, 0:48]
    image = 128 + 60 * np.sin(xx / (3 + i)) * np.cos(yy / 5) + 30 * (yy > 24)
    Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(path)


_ARGS = ["--models", "identity,median", "--noise", "gaussian", "salt_pepper:amount=0.05",
         "--levels", "15,50", "--seed", "4", "--quiet", "--skip", "ablation,curves,cost,figures"]


def _benchmark(data: Path, out: Path, *extra: str) -> None:
    assert main(["benchmark", "--data", str(data), *_ARGS, "--out", str(out), *extra]) == 0


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run over four images in two subfolders, and two runs over two parts of them."""
    root = tmp_path_factory.mktemp("merge")
    names = ["skin/a.png", "skin/b.png", "micro/c.png", "micro/d.png"]
    for i, name in enumerate(names):
        _phantom(root / "whole" / name, i)
        _phantom(root / ("part1" if i % 2 == 0 else "part2") / name, i)
    for folder in ("whole", "part1", "part2"):
        _benchmark(root / folder, root / f"out_{folder}")
    return root


def test_merged_parts_equal_one_run(runs):
    out = runs / "merged"
    assert main(["report", "benchmark", str(runs / "out_part1"), str(runs / "out_part2"),
                 "--out", str(out)]) == 0
    key = ("modality", "noise", "level", "model")
    whole = {tuple(r[k] for k in key): r for r in _rows(runs / "out_whole" / "quality.csv")}
    merged = {tuple(r[k] for k in key): r for r in _rows(out / "quality.csv")}
    assert merged.keys() == whole.keys()
    assert {r["images"] for r in merged.values()} == {"2"}  # 2 images per modality
    for cell, row in merged.items():
        for metric in ("psnr", "ssim", "vifp", "mse"):
            assert float(row[metric]) == pytest.approx(float(whole[cell][metric]), rel=1e-5)
    assert len(_rows(out / "per_image.csv")) == len(_rows(runs / "out_whole" / "per_image.csv"))
    text = (out / "quality.md").read_text()
    assert "## skin (2 images)" in text and "## micro (2 images)" in text
    assert "median" in text and "salt_pepper:amount=0.05" in text


def test_models_merge_and_shared_cells_must_agree(runs):
    part1 = merge_benchmarks.run_records(runs / "out_part1", {})
    whole = merge_benchmarks.run_records(runs / "out_whole", {})
    # Shared cells hold the same numbers (seeded noise): merged once each.
    assert len(merge_benchmarks.merge([whole, part1], ["whole", "part1"])) == len(whole)
    # A new model scored on the same images joins the published rows.
    median = [r for r in whole if r["model"] != "identity"]
    rest = [r for r in whole if r["model"] != "median"]
    def scores(records):
        return {merge_benchmarks._cell(r): r["psnr"] for r in records}
    assert scores(merge_benchmarks.merge([rest, median], ["rest", "median"])) == scores(whole)
    rerun = [{**r, "psnr": -1.0} for r in part1]  # part1's images, rerun after a fix
    with pytest.raises(UsageError, match="differ on"):
        merge_benchmarks.merge([whole, rerun], ["whole", "rerun"])
    replaced = merge_benchmarks.merge([whole, rerun], ["whole", "rerun"], replace=True)
    assert len(replaced) == len(whole)
    assert sum(r["psnr"] == -1.0 for r in replaced) == len(part1)
    with pytest.raises(UsageError, match="missing"):
        merge_benchmarks.merge([part1, rest], ["part1", "rest"])  # no median on part2


def test_rename_relabels_a_modality(runs):
    records = merge_benchmarks.run_records(runs / "out_part1", {"skin": "dermoscopy"})
    assert {r["modality"] for r in records} == {"dermoscopy", "micro"}


def test_the_example_script_is_the_command(runs):
    out = runs / "by_example"
    subprocess.run([sys.executable, str(ROOT / "docs/examples/merge_benchmarks.py"),
                    str(runs / "out_part1"), str(runs / "out_part2"), "--out", str(out)],
                   check=True, capture_output=True)
    assert (out / "quality.csv").read_bytes() == (runs / "merged" / "quality.csv").read_bytes()


def test_shards_merge_into_one_run_number_for_number(runs):
    for index in range(3):
        _benchmark(runs / "whole", runs / f"shard{index}", "--shard", f"{index}/3")
    out = runs / "shards_merged"
    assert main(["report", "benchmark", *(str(runs / f"shard{i}") for i in range(3)),
                 "--out", str(out)]) == 0
    for table in ("quality.csv", "per_image.csv"):
        assert (out / table).read_text() == (runs / "out_whole" / table).read_text()


def test_torchrun_benchmark_equals_one_run(runs):
    out = runs / "torchrun"
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc_per_node=2", "-m", "medden.cli", "benchmark", "--data",
                    str(runs / "whole"), *_ARGS, "--out", str(out)], check=True,
                   capture_output=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    for table in ("quality.csv", "per_image.csv"):
        assert (out / table).read_text() == (runs / "out_whole" / table).read_text()


def test_a_run_made_before_a_metric_existed_merges_with_a_newer_one():
    """An older run's records lack a metric (None): not compared, filled from the newer run,
    NaN where no run measured it; a metric both runs measured must still agree."""
    from medden.bench.merge import merge
    from medden.bench.runner import METRICS

    def record(model: str, **metrics: float | None) -> dict:
        base = {"modality": "ct", "image": "a.dcm", "noise": "gaussian", "level": 25.0,
                "model": model, "setting": ""}
        return {**base, **{m: metrics.get(m, 1.0) for m in METRICS}}

    old = [record("identity", rmse_hu=None, psnr_fg=None), record("bm3d", rmse_hu=None)]
    new = [record("identity", rmse_hu=40.0, psnr_fg=None), record("net", rmse_hu=10.0)]
    merged = {r["model"]: r for r in merge([old, new], ["old", "new"])}
    assert merged["identity"]["rmse_hu"] == 40.0 and math.isnan(merged["identity"]["psnr_fg"])
    assert math.isnan(merged["bm3d"]["rmse_hu"]) and merged["net"]["rmse_hu"] == 10.0
    with pytest.raises(UsageError, match="differ"):
        merge([old, [record("identity", psnr=2.0)]], ["old", "other"])
