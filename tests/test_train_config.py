"""Training configs: YAML files, --set overrides, clear errors; the shipped paper configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from medden.cli import main
from medden.train.config import (
    DEFAULT_EPOCHS,
    UNTIL_TIME_LIMIT,
    ConfigError,
    config_to_dict,
    load_config,
)
from medden.train.losses import build_loss
from medden.train.recipes import build_phases, recipe_of

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({
        "pipeline": "single:model=cae", "data": {"train": "images", "patch_size": 32},
        "optimizer": {"name": "adam", "lr": 1e-3, "betas": [0.9, 0.99]},
    }))
    config = load_config(path, ["optimizer.lr=5e-4", "data.augment.zoom=[0.8, 1.2]",
                                "stage_epochs={skidnet: 3}", "noise=speckle:sigma=20"])
    assert config.optimizer.lr == 5e-4
    assert config.optimizer.betas == (0.9, 0.99)
    assert config.data.train == ["images"]  # one folder given as a string
    assert config.data.augment.zoom == (0.8, 1.2)
    assert config.stage_epochs == {"skidnet": 3}
    assert config.noise == "speckle:sigma=20"
    plain = config_to_dict(config)
    assert plain["optimizer"]["betas"] == [0.9, 0.99]
    assert load_config(None, [f"{k}={v}" for k, v in [("data.train", "[images]")]]).data.train \
        == ["images"]


@pytest.mark.parametrize("overrides, message", [
    (["optimizer.lrr=1"], "unknown config key 'optimizer.lrr' (did you mean 'lr'?)"),
    (["epoch=3"], "did you mean 'epochs'?"),
    (["epochs=many"], "'epochs' must be int, got 'many'"),
    (["epochs=0"], "'epochs' must be > 0"),
    (["data.split_by=site"], "'data.split_by' must be one of ['patient', 'file']"),
    (["noise=Gauss"], "'noise': bad plugin name 'Gauss'"),
    (["data.val_fraction=1.5"], "'data.val_fraction' must be in [0, 1)"),
    (["data.augment.zoom=[1.2, 0.8]"], "'data.augment.zoom' must be [min, max]"),
    (["data.augment.intensity=[0.5, 1.5]"], "'data.augment.intensity' must be [min, max]"),
    (["data.pairs=[other]"], "'data.pairs' (paired noisy acquisitions) needs recipe: noise2noise"),
    (["recipe=noise2self"], "'recipe' must be one of"),
    (["init.freeze=[decoder]"], "'init.freeze' accepts 'encoder' and 'stage1'"),
    (["optimizer=adam"], "'optimizer' must be a mapping"),
    (["epochs"], "--set expects key=value"),
    (["minutes=5", "schedule.name=cosine"], "'schedule.name: cosine' anneals over a phase's "
                                            "epochs: set 'epochs'"),
])
def test_config_errors_are_clear(overrides, message):
    with pytest.raises(ConfigError) as info:
        load_config(None, ["data.train=[images]", *overrides])
    assert message in str(info.value)


def test_missing_data_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="'data.train' is required"):
        load_config(None, [])
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_cli_reports_config_errors_with_status_2(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("data: {train: [x]}\nbatch: 3\n")
    assert main(["train", str(path)]) == 2
    assert "unknown config key 'batch' (did you mean 'batch_size'?)" in capsys.readouterr().err
    path.write_text(f"data: {{train: [{tmp_path / 'nowhere'}]}}\noutput: {tmp_path / 'run'}\n")
    assert main(["train", str(path)]) == 2
    assert "nowhere' does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--resume" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["xray_attention", "xray_mse_ssim", "noise2noise",
                                  "two_stage"])
def test_paper_configs_are_valid(name):
    from medden.registry import noise_registry, pipeline_registry

    config = load_config(CONFIGS / f"{name}.yaml")
    pipeline = pipeline_registry.create(config.pipeline)
    noise_registry.create(config.noise)
    phases = build_phases(config, pipeline, recipe_of(config, pipeline))
    assert phases and all(p.epochs >= 1 for p in phases)


def test_paper_configs_reproduce_the_papers():
    attention = load_config(CONFIGS / "xray_attention.yaml")
    assert attention.pipeline.startswith("skidnet_deep_attention")
    assert attention.stage_epochs == {"skidnet": 30, "deep_attention": 25}
    assert (attention.optimizer.name, attention.optimizer.lr) == ("adam", 1e-3)
    assert attention.data.resize == 256 and attention.data.patch_size is None
    mse_ssim = load_config(CONFIGS / "xray_mse_ssim.yaml")
    assert (mse_ssim.batch_size, mse_ssim.epochs, mse_ssim.early_stopping) == (16, 50, 10)
    assert (mse_ssim.schedule.name, mse_ssim.schedule.factor) == ("plateau", 0.1)
    assert mse_ssim.data.augment.zoom == (0.8, 1.2) and mse_ssim.data.augment.rotate == 15
    assert build_loss(mse_ssim.loss).__class__.__name__ == "MSESSIMLoss"
    n2n = load_config(CONFIGS / "noise2noise.yaml")
    assert n2n.recipe == "noise2noise" and n2n.schedule.factor == 0.5
    two = load_config(CONFIGS / "two_stage.yaml")
    assert two.optimizer.betas == (0.9, 0.99) and two.optimizer.lr == 5e-4


@pytest.mark.parametrize(("overrides", "epochs"), [
    ([], DEFAULT_EPOCHS),
    (["epochs=3"], 3),
    (["minutes=1"], UNTIL_TIME_LIMIT),  # minutes alone: train for that long
    (["minutes=1", "epochs=3"], 3),  # both: whichever ends first
    (["minutes=1", "schedule.name=step"], UNTIL_TIME_LIMIT),
])
def test_the_epoch_budget_of_a_phase(overrides, epochs):
    from medden.registry import pipeline_registry

    config = load_config(None, ["data.train=[images]", *overrides])
    assert config.phase_epochs == epochs
    staged = load_config(None, ["data.train=[images]", "stage_epochs={skidnet: 2}",
                                *overrides])
    pipeline = pipeline_registry.create("skidnet_deep_attention")
    assert [p.epochs for p in build_phases(staged, pipeline, "staged")] == [2, epochs]
    assert config_to_dict(config)["epochs"] == config.epochs  # unset stays unset


def test_shipped_configs_keep_their_epoch_budget():
    """Configs written before 'minutes' alone meant "train this long" set 'epochs' whenever
    they set 'minutes', so their budget is the same."""
    files = [*CONFIGS.rglob("*.yaml"), *REPO.glob("bundles/*/docs/training_config*.yaml")]
    assert len(files) > 10
    for path in files:
        data = yaml.safe_load(path.read_text()) or {}
        assert "epochs" in data or not data.get("minutes"), path
