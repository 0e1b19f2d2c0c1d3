"""Every recipe trains a few iterations and logs validation PSNR; noise2clean learns."""

from __future__ import annotations

import json

import pytest
import torch
from _train_support import tiny_config, write_images
from PIL import Image

from medden.noise import make_generator
from medden.registry import noise_registry, pipeline_registry
from medden.train import config_from_dict, load_checkpoint, train
from medden.train.losses import build_loss
from medden.train.recipes import TwoStageLoss, TwoStageObjective, build_phases

SMALL_STAGED = "skidnet_deep_attention:skidnet_filters=[8|16],attention_features=[4|8]"
SMALL_TWO_STAGE = "two_stage:nen=(nen:features=8,blocks=1),rn=(rn:features=8,blocks=1)"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("train_images"))


def test_noise2clean_improves_validation_psnr(images, tmp_path):
    config = tiny_config(images, tmp_path / "run", epochs=5,
                         log={"progress": False, "tensorboard": True})
    result = train(config_from_dict(config))
    noisy = result.input_metrics["psnr"]
    assert 13.0 < noisy < 16.0  # sigma 50 on [0, 1] images
    assert result.final_metrics["psnr"] > noisy + 3.0
    assert result.best_score >= result.final_metrics["psnr"] - 1e-9
    assert [int(r["epoch"]) for r in result.history] == [1, 2, 3, 4, 5]
    assert all(float(r["psnr"]) > 0 for r in result.history)
    assert (tmp_path / "run" / "tb").is_dir() and (tmp_path / "run" / "log.csv").is_file()
    assert json.loads((tmp_path / "run" / "result.json").read_text())["recipe"] == "noise2clean"
    raw = torch.load(result.best, weights_only=True)  # self-describing, plain data
    assert raw["run"]["pipeline"]["name"] == "single" and "config" in raw["run"]
    pipeline, info = load_checkpoint(tmp_path / "run")
    assert info["metrics"]["psnr"] == pytest.approx(result.best_score)
    clean = torch.from_numpy(_first_image(images))[None]
    noisy_image = noise_registry.create("gaussian:sigma=50")(clean, make_generator(3))
    with torch.no_grad():
        denoised = pipeline(noisy_image).clamp(0, 1)
    assert torch.mean((denoised - clean) ** 2) < torch.mean((noisy_image - clean) ** 2) / 2


def _first_image(folder):
    from medden.train.config import DataConfig
    from medden.train.data import load_records

    return load_records([str(folder)], DataConfig())[0]["image"]


@pytest.mark.parametrize("overrides, phases", [
    ({"pipeline": SMALL_STAGED, "joint_epochs": 1, "epochs": 1},
     ["stage:skidnet", "stage:deep_attention", "joint"]),
    ({"pipeline": SMALL_TWO_STAGE, "epochs": 1}, ["two_stage"]),
    ({"recipe": "noise2noise", "loss": "l1", "epochs": 1,
      "schedule": {"name": "plateau", "factor": 0.5, "patience": 0}, "early_stopping": 3},
     ["noise2noise"]),
])
def test_every_recipe_runs_and_logs_validation(images, tmp_path, overrides, phases):
    result = train(config_from_dict(tiny_config(images, tmp_path / "run", **overrides)))
    assert result.phases == phases
    assert [r["phase_name"] for r in result.history] == phases
    assert all(float(r["psnr"]) > 5.0 for r in result.history)
    assert result.iterations == 4 * len(phases)  # 4 training images x 4 patches / batch 4
    pipeline, info = load_checkpoint(result.best)
    assert info["recipe"] == result.recipe and info["phase_name"] == phases[-1]


def test_minutes_alone_train_for_that_long(images, tmp_path):
    config = tiny_config(images, tmp_path / "run", minutes=0.05)  # 3 s
    del config["epochs"]
    result = train(config_from_dict(config))
    # not stopped by the 10 epochs an unset 'epochs' means without 'minutes' (about 2 s
    # here); the phase budget itself is tested in test_train_config
    assert result.seconds >= 3


def test_noise2noise_from_paired_acquisitions(tmp_path):
    first = write_images(tmp_path / "a", count=4)
    second = tmp_path / "b"
    second.mkdir()
    for path in sorted(first.iterdir()):  # the same scene, acquired again (shifted grey)
        Image.eval(Image.open(path), lambda v: min(255, v + 3)).save(second / path.name)
    config = tiny_config(first, tmp_path / "run", recipe="noise2noise", epochs=1,
                         data__pairs=[str(second)], data__val_fraction=0.25)
    result = train(config_from_dict(config))
    # validation compares the inputs with the second acquisition: about 3/255 apart
    assert result.input_metrics["psnr"] == pytest.approx(20 * torch.log10(
        torch.tensor(255 / 3)).item(), abs=1.0)
    assert len(result.history) == 1


def test_two_stage_objectives_do_not_mix():
    pipeline = pipeline_registry.create(SMALL_TWO_STAGE)
    objective = TwoStageObjective(pipeline)
    x = torch.rand(2, 1, 16, 16)
    clean = x * 0.9
    noise, image = objective(x)
    TwoStageLoss(build_loss("mse"), build_loss("l1"))((noise, image), (x - clean, clean))
    build_loss("l1")(image, clean).backward()  # the reconstruction objective alone
    assert all(p.grad is None for p in pipeline.stages["nen"].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in pipeline.stages["rn"].parameters())


def test_staged_phase_trains_on_frozen_stage_outputs(images, tmp_path):
    config = config_from_dict(tiny_config(images, tmp_path / "run", pipeline=SMALL_STAGED,
                                          stage_epochs={"skidnet": 2}, joint_epochs=1))
    pipeline = pipeline_registry.create(config.pipeline)
    phases = build_phases(config, pipeline, "staged")
    assert [p.epochs for p in phases] == [2, 2, 1]
    assert phases[1].network is pipeline.stages["deep_attention"]
    x = torch.rand(2, 1, 32, 32)
    inputs, target = phases[1].prepare({"input": x, "target": x}, None, False)
    assert inputs.grad_fn is None
    assert torch.allclose(inputs, pipeline.stages["skidnet"].eval()(x))
    assert torch.equal(target, x)
