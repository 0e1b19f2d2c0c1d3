"""Qualitative figures, one per modality, as in the papers' visual comparisons.

For the first image of each modality: one row per noise (at the ablation level), with
centre crops of the clean image, the noisy image and every model's output, each titled
with its PSNR.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from medden.bench.conditions import Condition
from medden.bench.data import BenchImage, centre_crop
from medden.bench.tables import format_level
from medden.figures import side_by_side
from medden.metrics import psnr

__all__ = ["figure_images", "qualitative_figure"]


def figure_images(images: Sequence[BenchImage]) -> dict[str, BenchImage]:
    """The first image of each modality, by modality."""
    chosen: dict[str, BenchImage] = {}
    for image in images:
        chosen.setdefault(image.modality, image)
    return chosen


def _row_title(condition: Condition) -> str:
    if condition.level is None:
        return condition.noise
    return f"{condition.noise} σ={format_level(condition.level)}"


def qualitative_figure(
    image: BenchImage,
    conditions: Sequence[Condition],
    kept: dict[tuple[str, str], dict[str, Any]],
    records: Sequence[dict[str, Any]],
    models: Sequence[str],
    crop: int,
    path: Path,
) -> Path:
    """Draw the clean / noisy / per-model crops of ``image`` under each condition.

    Parameters
    ----------
    image : the image shown
    conditions : one figure row each
    kept : outputs kept by :func:`medden.bench.runner.run_quality`
    records : per-image records (for the PSNR in the panel titles)
    models : model labels, one column each
    crop : centre crop edge in pixels
    path : PNG file written
    """
    scores = {(r["condition"], r["model"]): r["psnr"] for r in records
              if r["image"] == image.key}
    clean = image.clean.numpy()
    rows = []
    for condition in conditions:
        outputs = kept[image.key, condition.key]
        noisy = outputs["noisy"]
        panels = [("clean", centre_crop(clean, crop)),
                  (f"noisy {psnr(clean, noisy, data_range=1.0):.2f} dB",
                   centre_crop(noisy, crop))]
        panels += [(f"{m} {scores[condition.key, m]:.2f} dB", centre_crop(outputs[m], crop))
                   for m in models if m in outputs and m != "identity"]
        rows.append((_row_title(condition), panels))
    return side_by_side(rows, path, panel_size=2.0)
