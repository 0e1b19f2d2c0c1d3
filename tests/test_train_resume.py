"""Checkpoints: atomic writes, resume after SIGKILL mid-epoch, two-process training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import torch
import yaml
from _train_support import tiny_config, write_images

from medden.errors import UsageError
from medden.registry import pipeline_registry
from medden.train import TrainResult, config_from_dict, load_checkpoint, train
from medden.train.checkpoint import RunInfo, save_checkpoint

RESUMABLE = {"epochs": 3, "checkpoint_every": 3,
             "schedule": {"name": "plateau", "factor": 0.5, "patience": 0},
             "data__augment": {"rotate": 15, "flip": True}}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("resume_images"))


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_resume_after_sigkill_mid_epoch_matches_an_uninterrupted_run(images, tmp_path):
    reference = train(config_from_dict(tiny_config(images, tmp_path / "a", **RESUMABLE)))
    config = tiny_config(images, tmp_path / "b", **RESUMABLE)
    config_file = tmp_path / "b.yaml"
    config_file.write_text(yaml.safe_dump(config))
    last = tmp_path / "b" / "last.pt"
    process = subprocess.Popen([sys.executable, "-m", "medden.cli", "train", str(config_file)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(process.pid, 9)  # SIGKILL right after the first (mid-epoch) checkpoint
    process.wait()
    state = torch.load(last, weights_only=True)
    iteration, epoch_length = state["trainer"]["iteration"], state["trainer"]["epoch_length"]
    assert iteration % epoch_length != 0, "the kill should interrupt an epoch"
    with pytest.raises(UsageError, match="already holds a training run"):
        train(config_from_dict(config))
    resumed = train(config_from_dict(config), resume=True)
    a, b = _weights(reference.last), _weights(resumed.last)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(x, y) for x, y in zip(_weights(reference.best).values(),
                                                  _weights(resumed.best).values(), strict=True))
    psnr = [(r["epoch"], r["psnr"], r["lr"]) for r in reference.history]
    assert [(r["epoch"], r["psnr"], r["lr"]) for r in resumed.history] == psnr


def test_resume_needs_a_checkpoint_and_the_same_setup(images, tmp_path):
    config = tiny_config(images, tmp_path / "run", epochs=1)
    with pytest.raises(UsageError, match="no checkpoint"):
        train(config_from_dict(config), resume=True)
    train(config_from_dict(config))
    changed = tiny_config(images, tmp_path / "run", epochs=2, noise="gaussian:sigma=10")
    with pytest.raises(UsageError, match="differs from the checkpoint's in noise"):
        train(config_from_dict(changed), resume=True)
    again = train(config_from_dict(tiny_config(images, tmp_path / "run", epochs=2)),
                  resume=True)  # every phase is done: nothing left to train
    assert [int(r["epoch"]) for r in again.history] == [1]


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    pipeline = pipeline_registry.create("single:model=(cae:features=4)")
    info = RunInfo(pipeline.spec.to_dict(), "noise2clean", {"seed": 0})
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"model": pipeline, "run": info})
    before = path.read_bytes()

    def broken_save(obj, handle, **kwargs):
        handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with torch.no_grad():
        next(pipeline.parameters()).add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"model": pipeline, "run": info})
    assert path.read_bytes() == before  # the old checkpoint is intact ...
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # ... and no debris
    monkeypatch.undo()
    loaded, meta = load_checkpoint(path)
    assert meta["recipe"] == "noise2clean"
    assert not torch.equal(next(loaded.parameters()), next(pipeline.parameters()))


def _torchrun(config: dict, tmp_path) -> TrainResult:
    """Train ``config`` under ``torchrun --nproc_per_node=2`` (gloo), as a user would."""
    config_file = tmp_path / "torchrun.yaml"
    config_file.write_text(yaml.safe_dump({**config, "distributed": {"backend": "gloo"}}))
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                    "--nproc_per_node=2", "-m", "medden.cli", "train", str(config_file)],
                   check=True, capture_output=True, timeout=600)
    return TrainResult(**json.loads((tmp_path / "two" / "result.json").read_text()))


@pytest.mark.parametrize("launcher", ["spawn", "torchrun"])
def test_two_processes_train_like_one(images, tmp_path, launcher):
    one = train(config_from_dict(tiny_config(images, tmp_path / "one", epochs=1)))
    if launcher == "spawn":
        two = train(config_from_dict(tiny_config(images, tmp_path / "two", epochs=1,
                                                 distributed={"nproc": 2, "backend": "gloo"})))
    else:
        two = _torchrun(tiny_config(images, tmp_path / "two", epochs=1), tmp_path)
    # the global batch is split over 2 gloo processes; DDP averages the gradients
    assert two.iterations == one.iterations
    assert float(two.history[0]["psnr"]) == pytest.approx(float(one.history[0]["psnr"]),
                                                          abs=1e-3)
    a, b = _weights(one.last), _weights(two.last)
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
