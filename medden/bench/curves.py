"""Validity-range curves (the Noise2Noise X-ray/CT paper's Figs. 2 and 4).

The same clean images get one noise at levels whose nominal input PSNR runs from 15 to
50 dB; the curves plot each model's output PSNR, and its gain (output minus input PSNR),
against the measured input PSNR, averaged over a few images.  A model denoises where the
gain is positive; where the curve crosses zero it starts to degrade the image.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from medden.bench.conditions import NoiseSetting, curve_levels
from medden.bench.data import BenchImage
from medden.bench.methods import Method
from medden.bench.runner import noisy_image
from medden.metrics import psnr

__all__ = ["validity_curves", "plot_curves", "curve_file_name"]


def _psnr(clean: np.ndarray, batch: torch.Tensor) -> float:
    return float(psnr(clean, np.clip(batch[0].numpy(), 0.0, 1.0), data_range=1.0))


def validity_curves(
    images: Sequence[BenchImage],
    setting: NoiseSetting,
    methods: Sequence[Method],
    seed: int,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Mean input and output PSNR per level and model over ``images`` (one modality).

    Returns
    -------
    list of dict
        ``modality``, ``noise``, ``level``, ``model``, ``input_psnr``, ``output_psnr``,
        ``gain`` (dB), one row per level and scored model.
    """
    scored = [m for m in methods if m.scored]
    conditions = curve_levels(setting)
    inputs = np.zeros((len(conditions), len(images)))
    outputs = np.zeros((len(conditions), len(scored), len(images)))
    steps = tqdm(total=len(conditions) * len(images), unit="image", disable=not progress,
                 desc=f"curves {setting.label} ({images[0].modality})")
    with steps, torch.inference_mode():
        for c, condition in enumerate(conditions):
            noise = condition.build()
            for i, image in enumerate(images):
                clean = image.clean.numpy()
                noisy = noisy_image(image, condition, noise, seed)
                inputs[c, i] = _psnr(clean, noisy)
                for m, method in enumerate(scored):
                    outputs[c, m, i] = _psnr(clean, method.denoise(noisy))
                steps.update()
    rows = []
    for c, condition in enumerate(conditions):
        for m, method in enumerate(scored):
            mean_in, mean_out = inputs[c].mean(), outputs[c, m].mean()
            rows.append({"modality": images[0].modality, "noise": setting.label,
                         "level": condition.level, "model": method.label,
                         "input_psnr": mean_in, "output_psnr": mean_out,
                         "gain": mean_out - mean_in})
    return rows


def curve_file_name(modality: str, noise: str) -> str:
    """``curves_<modality>_<noise>.png`` with the noise SPEC made file-name safe."""
    return f"curves_{modality}_{re.sub(r'[^A-Za-z0-9_.=-]+', '_', noise)}.png"


def plot_curves(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Draw (a) output PSNR and (b) PSNR gain against input PSNR, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4))
    for model in models:
        mine = sorted((r for r in rows if r["model"] == model), key=lambda r: r["input_psnr"])
        x = [r["input_psnr"] for r in mine]
        left.plot(x, [r["output_psnr"] for r in mine], marker="o", markersize=3, label=model)
        right.plot(x, [r["gain"] for r in mine], marker="o", markersize=3, label=model)
    span = [min(r["input_psnr"] for r in rows), max(r["input_psnr"] for r in rows)]
    left.plot(span, span, color="gray", linestyle=":", linewidth=1, label="output = input")
    right.axhline(0.0, color="gray", linestyle=":", linewidth=1)
    first = rows[0]
    for axis, title, ylabel in (
        (left, "(a) output PSNR", "output PSNR [dB]"),
        (right, "(b) PSNR gain", "output − input PSNR [dB]"),
    ):
        axis.set_xlabel("input PSNR [dB]")
        axis.set_ylabel(ylabel)
        axis.set_title(f"{title}: {first['noise']}, {first['modality']}", fontsize=10)
        axis.grid(True, alpha=0.3)
    left.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
