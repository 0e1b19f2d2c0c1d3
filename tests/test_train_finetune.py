"""Transfer learning: 1 <-> 3 channel adaptation, frozen encoder, ``medden finetune``."""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from _train_support import tiny_config, write_images

from medden.cli import main
from medden.errors import UsageError
from medden.registry import pipeline_registry
from medden.train import ConfigError, config_from_dict, load_checkpoint, read_checkpoint, train
from medden.train.finetune import (
    adapt_state_dict,
    encoder_parameters,
    finetune_config,
    initialise_from,
)

TWO_STAGE = "two_stage:nen=(nen:features=8,blocks=1),rn=(rn:features=8,blocks=1)"


#: folds 2x2 pixel blocks into channels and appends a noise map (4 + 1 <-> 12 + 1 inputs)
FOLDED = "single:model=(noise_aware_unet:features=[8|16],blocks=1,estimator_width=8)"


@pytest.mark.parametrize("spec", ["single:model=(cae:features=8)", TWO_STAGE, FOLDED])
def test_grey_weights_adapted_to_rgb_treat_grey_content_alike(spec):
    torch.manual_seed(0)
    grey = pipeline_registry.create(f"{spec},in_channels=1").eval()
    rgb = pipeline_registry.create(f"{spec},in_channels=3").eval()
    state, adapted = adapt_state_dict(grey.state_dict(), rgb.state_dict())
    rgb.load_state_dict(state)
    assert adapted and all(name.endswith(("weight", "bias")) for name in adapted)
    x = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        assert torch.allclose(rgb(x.repeat(1, 3, 1, 1)), grey(x).repeat(1, 3, 1, 1), atol=1e-5)
    back, _ = adapt_state_dict(rgb.state_dict(), grey.state_dict())  # and 3 -> 1 again
    grey.load_state_dict(back)
    with torch.no_grad():
        assert torch.allclose(grey(x), rgb(x.repeat(1, 3, 1, 1))[:, :1], atol=1e-5)


def test_only_channel_dimensions_can_be_adapted():
    small = pipeline_registry.create("single:model=(cae:features=8)")
    wide = pipeline_registry.create("single:model=(cae:features=16)")
    with pytest.raises(UsageError, match="only grey <-> RGB image channels can be adapted"):
        adapt_state_dict(small.state_dict(), wide.state_dict())


def test_finetune_grey_checkpoint_on_rgb_images(tmp_path, capsys):
    grey = write_images(tmp_path / "grey")
    rgb = write_images(tmp_path / "rgb", rgb=True, seed=5)
    source = train(config_from_dict(tiny_config(grey, tmp_path / "grey_run", epochs=1)))
    source_state = read_checkpoint(source.best)["model"]
    status = main(["finetune", "--from", source.best, "--data", str(rgb), "--output",
                   str(tmp_path / "rgb_run"), "--epochs", "2", "--freeze", "encoder",
                   "--set", "log.progress=false"])
    assert status == 0
    assert "recipe noise2clean" in capsys.readouterr().out
    pipeline, info = load_checkpoint(tmp_path / "rgb_run")
    assert info["pipeline"]["params"]["model"]["params"]["in_channels"] == 3
    assert info["config"]["optimizer"]["lr"] == pytest.approx(0.1 * 3e-3)
    assert info["config"]["init"] == {"weights": source.best, "freeze": ["encoder"],
                                      "grow": False}
    state = pipeline.state_dict()
    encoder = encoder_parameters(pipeline.stages["model"], 3)
    names = {id(p): n for n, p in pipeline.named_parameters()}
    frozen = sorted(names[i] for i in encoder)
    assert frozen == ["stages.model.body.0.conv.bias", "stages.model.body.0.conv.weight"]
    adapted = source_state["stages.model.body.0.conv.weight"].repeat(1, 3, 1, 1) / 3
    assert torch.equal(state["stages.model.body.0.conv.weight"], adapted)  # frozen, adapted
    assert not torch.equal(state["stages.model.body.4.conv.bias"],
                           source_state["stages.model.body.4.conv.bias"].repeat(3))  # trained


def _tiny_bundle(bundle: Path, data: Path, **training: Any) -> torch.nn.Module:
    """Write a bundle of a small grey ``cae`` (random weights) whose train.json trains on
    ``data`` (``tiny_config`` with ``training`` overrides); returns its pipeline."""
    spec = "single:model=(cae:features=8,in_channels=1)"
    pipeline = pipeline_registry.create(spec)
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    (bundle / "configs" / "inference.json").write_text(json.dumps(
        {"network_def": {"_target_": "medden.bundle.network", "spec": spec}}))
    config = tiny_config(data, "@output_dir", pipeline=spec, **training)
    (bundle / "configs" / "train.json").write_text(json.dumps({"training": config}))
    torch.save(pipeline.state_dict(), bundle / "models" / "model.pt")
    return pipeline


def test_bundle_folders_read_as_checkpoints(tmp_path):
    bundle = tmp_path / "xray_bundle"
    pipeline = _tiny_bundle(bundle, tmp_path / "train_data")
    loaded, info = load_checkpoint(bundle)
    assert info["recipe"] == "noise2clean" and info["phase_name"] == "bundle"
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(),
                                                  pipeline.state_dict().values(), strict=True))
    config = finetune_config(bundle, [str(tmp_path / "skin")], str(tmp_path / "out"))
    assert config.data.train == [str(tmp_path / "skin")] and config.output == str(tmp_path / "out")
    assert config.optimizer.lr == pytest.approx(3e-4) and config.init.weights == str(bundle)


def test_single_weights_initialise_a_prefiltered_pipeline(tmp_path):
    model = "(cae:features=8,in_channels=1)"
    single = pipeline_registry.create(f"single:model={model}")
    bundle = tmp_path / "bundle"
    (bundle / "configs").mkdir(parents=True)
    (bundle / "models").mkdir()
    (bundle / "configs" / "inference.json").write_text(json.dumps(
        {"network_def": {"_target_": "medden.bundle.network", "spec": f"single:model={model}"}}))
    torch.save(single.state_dict(), bundle / "models" / "model.pt")
    torch.manual_seed(1)
    prefiltered = pipeline_registry.create(f"prefiltered:model={model}")
    assert initialise_from(prefiltered, bundle) == []
    assert all(torch.equal(a, b) for a, b in zip(prefiltered.state_dict().values(),
                                                  single.state_dict().values(), strict=True))
    impulses = torch.full((1, 1, 16, 16), 0.5)
    impulses[0, 0, 5, 7] = 1.0
    assert torch.equal(prefiltered(impulses), single(torch.full((1, 1, 16, 16), 0.5)))
    other = pipeline_registry.create("prefiltered:model=(cae:features=4,in_channels=1)")
    with pytest.raises(UsageError, match="cannot adapt 'stages.model.body.0.conv.weight'"):
        initialise_from(other, bundle)


NARROW = "single:model=(noise_aware_unet:in_channels=1,features=[8|16],blocks=1)"
WIDE = "single:model=(noise_aware_unet:in_channels=1,features=[12|24],blocks=1)"


def test_grown_network_starts_out_computing_what_the_trained_one_did(tmp_path):
    data = write_images(tmp_path / "grey")
    narrow = train(config_from_dict(tiny_config(data, tmp_path / "narrow", pipeline=NARROW,
                                                epochs=1)))
    torch.manual_seed(3)
    wide = pipeline_registry.create(WIDE).eval()
    fresh = {k: v.clone() for k, v in wide.state_dict().items()}
    adapted = initialise_from(wide, narrow.best, grow=True)
    trained, _ = load_checkpoint(narrow.best)
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        assert torch.allclose(wide(x), trained(x), atol=1e-5)
    state, source = wide.state_dict(), trained.state_dict()
    head = "stages.model.head.conv.weight"  # (12, 5, 3, 3): 4 new output channels
    assert head in adapted and torch.equal(state[head][:8], source[head])
    assert torch.equal(state[head][8:], fresh[head][8:])  # new channels keep their init
    up = "stages.model.ups.0.0.conv.weight"  # transposed: (in 24, out 12, 2, 2)
    assert torch.equal(state[up][:16, :8], source[up])
    assert not state[up][16:, :8].any() and state[up][:16, 8:].any()
    grown = train(config_from_dict(tiny_config(
        data, tmp_path / "wide", pipeline=WIDE, epochs=1,
        init={"weights": narrow.best, "grow": True})))
    assert read_checkpoint(grown.best)["run"]["config"]["init"]["grow"] is True


def test_growing_refuses_what_would_change_the_output(tmp_path):
    data = write_images(tmp_path / "grey")
    narrow = train(config_from_dict(tiny_config(data, tmp_path / "narrow", pipeline=NARROW,
                                                epochs=1)))
    rgb = pipeline_registry.create(WIDE.replace("in_channels=1", "in_channels=3"))
    with pytest.raises(UsageError, match="changes its output|cannot grow"):
        initialise_from(rgb, narrow.best, grow=True, channels=3)
    deeper = pipeline_registry.create(NARROW.replace("[8|16]", "[8|16|32]"))
    with pytest.raises(UsageError, match="do not match the pipeline"):
        initialise_from(deeper, narrow.best, grow=True)
    smaller = pipeline_registry.create(NARROW.replace("[8|16]", "[4|16]"))
    with pytest.raises(UsageError, match="only the number of channels can grow"):
        initialise_from(smaller, narrow.best, grow=True)
    with pytest.raises(ConfigError, match="'init.grow' needs trained weights"):
        config_from_dict(tiny_config(data, tmp_path / "x", init={"grow": True}))


def test_finetune_from_a_bundle_name_lowers_the_rate_and_reports_the_start(
        tmp_path, monkeypatch, capsys):
    data = write_images(tmp_path / "data")
    _tiny_bundle(tmp_path / "bundles" / "tiny_denoise", data,
                 schedule={"name": "cosine", "min_lr": 1e-3})  # the rate is 3e-3
    monkeypatch.setenv("MEDDEN_BUNDLES", str(tmp_path / "bundles"))
    assert main(["finetune", "--from", "tiny", "--data", str(data), "--output",
                 str(tmp_path / "run"), "--epochs", "3"]) == 0
    printed = capsys.readouterr()
    assert re.search(r"noisy input [\d.]+ dB, start [\d.]+ dB, last [\d.]+ dB", printed.out)
    assert "ignite" not in printed.out + printed.err and "Warning" not in printed.err
    assert logging.getLogger("ignite.distributed.launcher.Parallel").level == logging.WARNING
    _, info = load_checkpoint(tmp_path / "run")
    assert info["config"]["init"]["weights"] == str(tmp_path / "bundles" / "tiny_denoise")
    schedule, lr = info["config"]["schedule"], info["config"]["optimizer"]["lr"]
    assert lr == pytest.approx(3e-4) and schedule["min_lr"] == pytest.approx(1e-4)
    with (tmp_path / "run" / "log.csv").open() as handle:
        rates = [float(row["lr"]) for row in csv.DictReader(handle)]
    assert len(rates) >= 3 and all(b <= a for a, b in zip([lr, *rates], rates, strict=False))
    assert main(["finetune", "--from", "nothing", "--data", str(data), "--output",
                 str(tmp_path / "run2")]) == 2
    assert "no bundle 'nothing'" in capsys.readouterr().err


def test_finetune_config_errors(tmp_path):
    with pytest.raises(UsageError, match="no checkpoint at"):
        finetune_config(tmp_path / "nothing", [str(tmp_path)], str(tmp_path / "out"))


def test_prefiltered_pipeline_refuses_a_prefilter_with_weights():
    with pytest.raises(ValueError, match="prefilter '.*cae.*' has learned weights"):
        pipeline_registry.create("prefiltered:model=(cae:features=4,in_channels=1),"
                                 "prefilter=(cae:features=4,in_channels=1)")
    assert pipeline_registry.create("prefiltered:model=(cae:features=4,in_channels=1),"
                                    "prefilter=median") is not None
