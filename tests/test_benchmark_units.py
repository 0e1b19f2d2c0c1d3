"""The pieces of ``medden benchmark``: entries, levels, tables, speed bar, usage errors."""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import shlex

import numpy as np
import pytest
import torch
from PIL import Image
from threadpoolctl import threadpool_info

from medden.bench.conditions import (
    NoiseSetting,
    ablation_conditions,
    ablation_level,
    curve_levels,
    parse_levels,
)
from medden.bench.config import BenchmarkConfig
from medden.bench.cost_table import cost_markdown, speed_bar
from medden.bench.methods import resolve_method, split_model_entries
from medden.bench.oracle import OracleTuner, grid_settings
from medden.bench.runner import _single_threaded_worker
from medden.bench.tables import (
    RECORD_COLUMNS,
    SUMMARY_COLUMNS,
    failed_outputs,
    quality_table,
    read_quality_rows,
    write_csv,
)
from medden.cli import build_parser, main
from medden.commands.benchmark import config_from_args
from medden.errors import UsageError
from medden.spec import Spec
from medden_classic.filters import MedianFilter


def test_model_entries_split_on_commas_between_specs():
    assert split_model_entries(["bilateral:sigma_color=40,sigma_spatial=2,median,bm3d"]) == [
        "bilateral:sigma_color=40,sigma_spatial=2", "median", "bm3d"]
    assert split_model_entries(["median:size=5", "identity,runs/x=1/best.pt"]) == [
        "median:size=5", "identity", "runs/x=1/best.pt"]


@pytest.mark.parametrize(("text", "parameter", "value"), [
    ("gaussian", "sigma", 25.0),
    ("speckle", "sigma", 25.0),
    ("poisson", "peak", (255 / 25) ** 2),
    ("masked:noise=speckle", "sigma", 25.0),
    ("gaussian:sigma=10", None, 10.0),
    ("salt_pepper", None, None),
    ("mri_coil:coils=8", "sigma", 25.0),
    ("mri_coil:coils=8,snr=20", None, None),  # snr sets the level: run once, not per level
])
def test_levels_reach_sigma_or_peak(text, parameter, value):
    setting = NoiseSetting.parse(text)
    assert setting.parameter == parameter
    condition = setting.at(25.0)
    assert condition.level == (25.0 if parameter else None)
    if value is not None and parameter is not None:
        assert condition.spec.params[parameter] == pytest.approx(value)
        condition.build()  # the substituted SPEC builds
    assert condition.noise == text


def test_level_options():
    assert parse_levels("50,15,25,15") == [15.0, 25.0, 50.0]
    with pytest.raises(UsageError, match="positive"):
        parse_levels("15,0")
    assert ablation_level([15.0, 25.0, 50.0]) == 25.0
    sigmas = [c.level for c in curve_levels(NoiseSetting.parse("gaussian"))]
    assert 20 * math.log10(255 / sigmas[0]) == pytest.approx(15.0)
    assert 20 * math.log10(255 / sigmas[-1]) == pytest.approx(50.0)


def test_ablation_combines_every_noise_in_order():
    settings = [NoiseSetting.parse(t) for t in ("poisson", "gaussian", "salt_pepper")]
    conditions = ablation_conditions(settings, 25.0)
    assert [c.noise for c in conditions] == ["none", "poisson", "gaussian", "salt_pepper",
                                             "all combined"]
    combined = conditions[-1].spec
    assert [s.name for s in combined.params["noises"]] == ["poisson", "gaussian",
                                                           "salt_pepper"]
    assert conditions[-1].build() is not None and conditions[0].build() is None


def test_oracle_candidates_are_the_grid_plus_the_given_setting():
    assert grid_settings({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    sizes = MedianFilter.tuning_grid["size"]
    tuner = OracleTuner(Spec("median", {"size": "4"}))  # 4 is not in the grid
    settings = [setting for setting, _ in tuner.candidates]
    assert settings == ["size=4"] + [f"size={s}" for s in sizes]
    assert len(OracleTuner(Spec("median", {"size": str(sizes[0])}))) == len(sizes)



def test_oracle_ranks_a_nan_output_below_every_setting():
    tuner = OracleTuner(Spec("median", {"size": "3"}))
    clean = np.full((1, 16, 16), 0.5, dtype=np.float32)
    noisy = torch.from_numpy(clean[None] + 0.1 * np.random.default_rng(0).standard_normal(
        (1, 1, 16, 16)).astype(np.float32))
    first = tuner.candidates[0][0]
    tuner.candidates[0] = (first, lambda image: torch.full_like(image, float("nan")))
    output, setting = tuner.best(noisy, clean)
    assert setting != first and torch.isfinite(output).all()
    assert setting == tuner.best(noisy, clean)[1]  # deterministic choice


def test_failed_outputs_names_the_nan_cells():
    def record(model: str, level: float | None, value: float) -> dict:
        return {"model": model, "noise": "gaussian" if level else "mixture", "level": level,
                "psnr": value}
    records = [record("bm3d", 25.0, math.nan), record("bm3d", 25.0, math.nan),
               record("bm3d", 25.0, 30.0), record("tv", None, math.nan),
               record("tv", 25.0, 31.0)]
    failed = failed_outputs(records)
    assert [tuple(cell) for cell in failed] == [("bm3d", "gaussian", 25.0, 2),
                                                ("tv", "mixture", None, 1)]
    assert [cell.describe() for cell in failed] == ["bm3d under gaussian at 25: 2 image(s)",
                                                    "tv under mixture: 1 image(s)"]
    assert failed[0].describe("`bm3d`") == "`bm3d` under gaussian at 25: 2 image(s)"
    assert failed_outputs(records[2:3]) == []

def test_read_quality_rows_keeps_the_quality_conditions_only(tmp_path):
    with pytest.raises(FileNotFoundError, match="a medden benchmark folder"):
        read_quality_rows(tmp_path)
    base = {"modality": "xray", "image": "a.png", "model": "tv", "setting": "",
            "psnr": 30.5, "ssim": 0.9, "delta_e": math.nan, "vifp": 0.5, "mse": 1e-3}
    records = [{**base, "noise": "gaussian", "level": 25.0},
               {**base, "noise": "ablation:poisson", "level": None}]
    write_csv(records, RECORD_COLUMNS, tmp_path / "per_image.csv")
    write_csv([{**records[0], "images": 1}], SUMMARY_COLUMNS, tmp_path / "quality.csv")
    rows = read_quality_rows(tmp_path)
    assert [(r["noise"], r["level"], r["psnr"], r["delta_e"]) for r in rows] == [
        ("gaussian", "25", "30.5", "")]


TINY_NETWORK = '''
from torch import nn

from medden.models import Denoiser


class Tiny(Denoiser):
    """One 3x3 convolution added to the input (a learned model for tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return x + self.conv(x)
'''


@pytest.fixture
def tiny(request):
    """A learned model plugin ``tiny`` (10 parameters) installed for one test."""
    site = request.getfixturevalue("medden_site")
    site.add("tiny-net", {"medden.models": {"tiny": "tiny_net:Tiny"}},
             modules={"tiny_net.py": TINY_NETWORK})
    return "tiny"


def test_learned_models_need_weights(tiny):
    with pytest.raises(UsageError, match="--allow-untrained"):
        resolve_method(tiny)
    method = resolve_method(tiny, allow_untrained=True)
    assert method.learned and not method.scored and not method.tunable
    assert resolve_method("median").tunable and not resolve_method("identity").tunable
    with pytest.raises(UsageError, match="not a registered model or pipeline"):
        resolve_method("no_such_model")


def _flat_image_benchmark(tmp_path, models: str, *options: str):
    """Run a benchmark of ``models`` on one flat 48x48 image, Gaussian noise 25 only."""
    data = tmp_path / "scans"
    data.mkdir()
    Image.fromarray(np.full((48, 48), 120, np.uint8)).save(data / "flat.png")
    out = tmp_path / "out"
    assert main(["benchmark", "--data", str(data), "--models", models, "--noise", "gaussian",
                 "--levels", "25", "--out", str(out), "--quiet", *options]) == 0
    return out


def test_untrained_networks_enter_the_cost_table_only(tiny, tmp_path):
    out = _flat_image_benchmark(tmp_path, f"identity,{tiny}", "--skip",
                                "oracle,ablation,curves,figures", "--cost-repeats", "1",
                                "--allow-untrained")
    with (out / "cost.csv").open() as handle:
        costs = {row["name"]: row for row in csv.DictReader(handle)}
    assert costs[tiny]["params"] == "10" and costs[tiny]["macs"] == str(9 * 512 * 512)
    assert costs["identity"]["macs"] == "0"
    with (out / "quality.csv").open() as handle:
        assert {row["model"] for row in csv.DictReader(handle)} == {"identity"}
    report = (out / "benchmark.md").read_text()
    assert f"| {tiny} (untrained) | 10 | 0.00 |" in report
    assert f"Untrained (cost table only): {tiny}." in report


def test_trained_bundles_are_scored_beside_the_filters(tiny, tmp_path):
    from tiny_net import Tiny  # the module of the fixture's plugin

    bundle = tmp_path / "tiny_bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    (bundle / "configs" / "inference.json").write_text(
        json.dumps({"network_def": {"_target_": "tiny_net.Tiny"}}))
    (bundle / "configs" / "metadata.json").write_text(
        json.dumps({"name": "tiny", "version": "0.1"}))
    network = Tiny()
    torch.nn.init.zeros_(network.conv.weight)
    torch.nn.init.zeros_(network.conv.bias)  # trained to be the identity
    torch.save(network.state_dict(), bundle / "models" / "model.pt")
    out = _flat_image_benchmark(tmp_path, f"identity,{bundle}", "--skip",
                                "oracle,ablation,curves,figures,cost", "--trust-bundle")
    with (out / "quality.csv").open() as handle:
        psnr = {row["model"]: row["psnr"] for row in csv.DictReader(handle)}
    assert set(psnr) == {"identity", "bundle tiny 0.1"}
    assert psnr["bundle tiny 0.1"] == psnr["identity"]


def test_true_sigma_rows_give_the_filter_the_level_of_gaussian_noise_only(tmp_path, capsys):
    data, out = tmp_path / "scans", tmp_path / "out"
    data.mkdir()
    ramp = np.add.outer(np.arange(48), np.arange(48)).astype(np.uint8) * 2
    Image.fromarray(ramp).save(data / "ramp.png")
    assert main(["benchmark", "--data", str(data), "--models", "identity,wavelet",
                 "wavelet:sigma=25,wavelet:sigma=5", "--noise", "gaussian", "salt_pepper",
                 "clipped:noise=gaussian", "clipped:noise=speckle", "--levels", "25",
                 "--true-sigma", "wavelet", "--out", str(out), "--quiet", "--skip",
                 "oracle,ablation,curves,figures,cost"]) == 0
    with (out / "per_image.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    informed = [r for r in rows if r["model"] == "wavelet (true σ)"]
    # Gaussian noise, clipped or not, has a true sigma; salt-and-pepper and speckle have none
    assert [(r["noise"], r["setting"]) for r in informed] == [
        ("gaussian", "sigma=25"), ("clipped:noise=gaussian", "sigma=25")]
    given = next(r for r in rows if r["model"] == "wavelet:sigma=25" and r["noise"] == "gaussian")
    wrong = next(r for r in rows if r["model"] == "wavelet:sigma=5" and r["noise"] == "gaussian")
    assert informed[0]["psnr"] == given["psnr"] != wrong["psnr"]
    assert "wavelet (true σ)" in (out / "benchmark.md").read_text()
    argv = ["benchmark", "--data", str(data), "--noise", "gaussian", "--quiet",
            "--out", str(tmp_path / "again")]
    assert main(argv + ["--models", "median", "--true-sigma", "median"]) == 2
    assert "'median' is not a classical filter that takes the noise sigma" in \
        capsys.readouterr().err


def test_oracle_noise_tunes_under_the_chosen_noises_only(tmp_path, capsys):
    data, out = tmp_path / "scans", tmp_path / "out"
    data.mkdir()
    ramp = np.add.outer(np.arange(48), np.arange(48)).astype(np.uint8) * 2
    Image.fromarray(ramp).save(data / "ramp.png")
    assert main(["benchmark", "--data", str(data), "--models", "median", "--noise", "gaussian",
                 "salt_pepper", "--levels", "15,25", "--oracle-noise", "salt_pepper",
                 "--out", str(out), "--quiet", "--skip", "ablation,curves,figures,cost"]) == 0
    with (out / "per_image.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    tuned = [r["noise"] for r in rows if r["model"] == "median (oracle)"]
    assert tuned == ["salt_pepper"]
    assert len([r for r in rows if r["model"] == "median"]) == 3  # 2 Gaussian levels + 1
    assert "under `salt_pepper` only" in (out / "benchmark.md").read_text()
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert notes == ["note: --noise salt_pepper runs once, as written: --levels reaches a "
                     "noise only through a 'sigma' or 'peak' parameter its SPEC leaves unset"]


def test_usage_errors_exit_2(tiny, tmp_path, capsys):
    argv = ["benchmark", "--data", str(tmp_path), "--noise", "gaussian", "--quiet"]
    assert main(argv + ["--models", tiny]) == 2
    assert "allow-untrained" in capsys.readouterr().err
    assert main(argv + ["--models", "median", "--noise", "nosuch"]) == 2
    assert main(argv + ["--models", "median,identity", "--oracle-models", "identity"]) == 2
    assert "'identity' is not a classical filter with a tuning grid" in capsys.readouterr().err
    assert main(argv + ["--models", "median", "--noise", "salt_pepper", "--curve-noise",
                        "salt_pepper"]) == 2
    assert "has no level to vary" in capsys.readouterr().err
    assert main(argv + ["--models", "median"]) == 2  # no image in the folder
    assert "no usable image" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(argv + ["--models", "median", "--skip", "tables"])


def test_command_line_round_trips():
    args = build_parser().parse_args(shlex.split(
        "benchmark --data d --models 'bilateral:sigma_color=40,sigma_spatial=2,median' "
        "--noise gaussian salt_pepper --levels 25,15 --crop 64 --skip cost "
        "--oracle-models median --oracle-noise salt_pepper --curve-noise gaussian --workers 2 "
        "--true-sigma 'bilateral:sigma_color=40,sigma_spatial=2'"))
    config = config_from_args(args)
    assert config.models == ["bilateral:sigma_color=40,sigma_spatial=2", "median"]
    assert config.oracle_models == ["median"] and config.curve_noises == ["gaussian"]
    assert config.oracle_noises == ["salt_pepper"]
    assert config.true_sigma == ["bilateral:sigma_color=40,sigma_spatial=2"]
    again = config_from_args(build_parser().parse_args(shlex.split(config.command_line())[1:]))
    assert again == config
    with pytest.raises(UsageError, match="--crop"):
        BenchmarkConfig(data=config.data, models=["median"], noises=["gaussian"],
                        levels=[25.0], out=config.out, crop=0)
    with pytest.raises(UsageError, match="--workers must be at least 1, got 0"):
        BenchmarkConfig(data=config.data, models=["median"], noises=["gaussian"],
                        levels=[25.0], out=config.out, workers=0)
    with pytest.raises(UsageError, match="--oracle-models: 'tv' is not one of median"):
        BenchmarkConfig(data=config.data, models=["median"], noises=["gaussian"],
                        levels=[25.0], out=config.out, oracle_models=["tv"])
    with pytest.raises(UsageError, match="--oracle-noise: 'speckle' is not one of gaussian"):
        BenchmarkConfig(data=config.data, models=["median"], noises=["gaussian"],
                        levels=[25.0], out=config.out, oracle_noises=["speckle"])


def _summary_row(model, noise, level, psnr, mse=0.001):
    return {"modality": "xray", "noise": noise, "level": level, "model": model, "images": 2,
            "psnr": psnr, "ssim": 0.9, "delta_e": math.nan, "vifp": 0.5, "mse": mse}


def test_quality_table_layout():
    summary = {("xray", n, lv, m): _summary_row(m, n, lv, p)
               for n, lv, m, p in [("gaussian", 25.0, "a", 30.0), ("speckle", 25.0, "a", 32.0),
                                   ("gaussian", 25.0, "b", 28.0), ("speckle", 25.0, "b", 29.0)]}
    lines = quality_table(summary, "xray", ["gaussian", "speckle"], [25.0], ["a", "b"]
                          ).splitlines()
    assert lines[0] == ("| Model | σ | gaussian |  |  |  | speckle |  |  |  | Average "
                        "|  |  |  |")
    # MSE 0.001 on [0, 1] is 65.03 on the 0-255 scale; Average PSNR of a = 31
    assert lines[3] == ("| a | 25 | 30.00 | 0.9000 | 0.5000 | 65.03 | 32.00 | 0.9000 | "
                        "0.5000 | 65.03 | 31.00 | 0.9000 | 0.5000 | 65.03 |")
    assert lines[4].startswith("| b |  | 28.00 |")


def test_speed_bar_ratio_and_verdict():
    costs = [{"name": "bm3d", "median_ms": 4000.0, "learned": False, "trained": False,
              "params": 0, "macs": 0, "peak_memory_mb": 50.0},
             {"name": "net", "median_ms": 100.0, "learned": True, "trained": True,
              "params": 1000, "macs": 2e9, "peak_memory_mb": 80.0},
             {"name": "slow", "median_ms": 1000.0, "learned": True, "trained": True,
              "params": 1000, "macs": 2e9, "peak_memory_mb": 80.0}]
    cells = [("xray", "gaussian", 25.0), ("xray", "gaussian", 50.0)]
    psnrs = {"bm3d": (30.0, 26.0), "net": (31.0, 25.5), "slow": (32.0, 28.0)}
    summary = {("xray", n, lv, m): _summary_row(m, n, lv, psnrs[m][i])
               for m in psnrs for i, (_, n, lv) in enumerate(cells)}
    bar = {r["model"]: r for r in speed_bar(costs, summary, "bm3d", cells)}
    assert bar["net"]["speedup"] == 40.0 and bar["net"]["delta_psnr"] == pytest.approx(0.25)
    assert bar["net"]["wins"] == 1 and bar["net"]["meets_bar"]
    assert bar["slow"]["speedup"] == 4.0 and not bar["slow"]["meets_bar"]
    table = cost_markdown(costs, "bm3d")
    assert "| net | 1,000 | 2.00 | 80.0 | 100.0 | 40.0 |" in table
    assert "| bm3d | 0 | — | 50.0 | 4000.0 | 1.0 |" in table


def test_markdown_table_escapes_pipes_inside_cells():
    from medden.bench.tables import markdown_table

    table = markdown_table(["model", "psnr"], [["single:model=(u:features=[8|16])", "30.0"]])
    assert table.splitlines()[-1] == "| single:model=(u:features=[8\\|16]) | 30.0 |"


def _thread_counts() -> tuple[int, list[int]]:
    return torch.get_num_threads(), [pool["num_threads"] for pool in threadpool_info()]


def test_benchmark_workers_run_single_threaded():
    with multiprocessing.get_context("fork").Pool(1, initializer=_single_threaded_worker) as pool:
        torch_threads, blas_threads = pool.apply(_thread_counts)
    assert torch_threads == 1 and blas_threads and set(blas_threads) == {1}
