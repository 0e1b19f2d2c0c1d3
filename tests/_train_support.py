"""Tiny synthetic training data and configs shared by the ``test_train_*`` modules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

#: A small, fast learned model (a 16-filter convolutional autoencoder).
SMALL_PIPELINE = "single:model=(cae:features=16)"


def write_images(folder: Path, count: int = 6, size: int = 48, rgb: bool = False,
                 seed: int = 0) -> Path:
    """Write ``count`` smooth synthetic 8-bit PNGs (grey, or RGB) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    for i in range(count):
        a, b, c = rng.uniform(0.5, 3.0, 3)
        grey = 0.5 + 0.3 * np.sin(a * np.pi * xx + b) * np.cos(c * np.pi * yy)
        image = np.stack([grey, grey[::-1], grey.T], axis=-1) if rgb else grey
        Image.fromarray((image * 255).round().astype(np.uint8)).save(folder / f"p{i:02d}_im.png")
    return folder


def tiny_config(data: Path, output: Path, **overrides: Any) -> dict[str, Any]:
    """A config mapping for a few-second run on ``data`` (values overridable)."""
    config: dict[str, Any] = {
        "pipeline": SMALL_PIPELINE,
        "noise": "gaussian:sigma=50",
        "output": str(output),
        "data": {"train": [str(data)], "patch_size": 32, "patches_per_image": 4,
                 "val_fraction": 0.34},
        "batch_size": 4,
        "epochs": 2,
        "optimizer": {"lr": 3e-3},
        "log": {"progress": False, "tensorboard": False},
        "performance": {"threads": 1},
    }
    for key, value in overrides.items():
        section, _, sub = key.partition("__")
        if sub:
            config.setdefault(section, {})[sub] = value
        else:
            config[key] = value
    return config


def tiny_checkpoint(path: Path, config: dict | None = None):
    """Save a seeded 2-layer DnCNN ``single`` pipeline as a training checkpoint at ``path``
    (``.../best.pt``, with the training ``config`` given) and return the pipeline (random
    weights: a learned, non-equivariant net)."""
    import torch

    from medden.registry import pipeline_registry
    from medden.train.checkpoint import RunInfo, save_checkpoint

    spec = {"name": "single",
            "params": {"model": {"name": "dncnn", "params": {"depth": 2, "features": 4}}}}
    torch.manual_seed(0)
    pipeline = pipeline_registry.create(spec)
    save_checkpoint(path, {"model": pipeline, "run": RunInfo(spec, "noise2clean", config or {})})
    return pipeline
