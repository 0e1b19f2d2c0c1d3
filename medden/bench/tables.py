"""Benchmark tables: per-image records averaged, written as CSV and as Markdown.

The quality tables follow the two-stage multi-modal paper's Tables I-V: one table per
modality, a block of rows per noise level with one row per model, and for each noise type
(then their average) the columns PSNR, SSIM, ΔE (RGB only), VIFP and MSE.  As in the paper,
MSE is given on the 0-255 scale there (the CSV files keep it on the [0, 1] scale).  The
ablation table follows the X-ray attention paper's Table 2 (MSE on [0, 1], PSNR, SSIM).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from medden.bench.runner import CT_METRICS, METRICS
from medden.intensity import CT_MAP

__all__ = [
    "Summary",
    "summarise",
    "write_csv",
    "format_level",
    "markdown_table",
    "quality_table",
    "metric_groups",
    "ablation_table",
    "failed_outputs",
    "FailedCell",
    "read_quality_rows",
    "RECORD_COLUMNS",
    "SUMMARY_COLUMNS",
]

#: Columns of ``per_image.csv`` (one record per image, condition and model).
RECORD_COLUMNS = ["modality", "image", "noise", "level", "model", "setting", *METRICS]
#: Columns of ``quality.csv`` / ``ablation.csv`` (the means of :func:`summarise`).
SUMMARY_COLUMNS = ["modality", "noise", "level", "model", "images", *METRICS]

#: Key of a summary row: (modality, noise label, level, model label).
SummaryKey = tuple[str, str, float | None, str]
Summary = dict[SummaryKey, dict[str, Any]]

_HEADERS = {"psnr": "PSNR", "ssim": "SSIM", "delta_e": "ΔE", "vifp": "VIFP", "mse": "MSE",
            "psnr_fg": "PSNR fg", "rmse_hu": "RMSE HU (body)", "psnr_w400": "PSNR W400",
            "ssim_w400": "SSIM W400"}
#: Digits of each metric in the paper-style tables (MSE there on the 0-255 scale).
_DIGITS = {"psnr": 2, "ssim": 4, "delta_e": 2, "vifp": 4, "mse": 2, "psnr_fg": 2, "rmse_hu": 1,
           "psnr_w400": 2, "ssim_w400": 4}


def _mean(values: Iterable[float]) -> float:
    finite_or_inf = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite_or_inf)) if finite_or_inf else math.nan


def summarise(records: Sequence[dict[str, Any]]) -> Summary:
    """Mean metrics over images per (modality, noise, level, model), in first-seen order.

    Each summary row holds ``modality``, ``noise``, ``level``, ``model``, ``images`` and the
    metric means (NaN for ΔE of gray images).
    """
    groups: dict[SummaryKey, list[dict[str, Any]]] = {}
    for record in records:
        key = (record["modality"], record["noise"], record["level"], record["model"])
        groups.setdefault(key, []).append(record)
    return {
        key: {"modality": key[0], "noise": key[1], "level": key[2], "model": key[3],
              "images": len(rows), **{m: _mean(r[m] for r in rows) for m in METRICS}}
        for key, rows in groups.items()
    }


class FailedCell(NamedTuple):
    """A table cell (model, noise, level) where ``images`` outputs scored NaN."""

    model: str
    noise: str
    level: float | None
    images: int

    def describe(self, model_name: str | None = None) -> str:
        """One line of text: ``"<model> under <noise> at <level>: <n> image(s)"``.

        ``model_name`` replaces the model label (e.g. formatted as Markdown code).
        """
        where = f" at {format_level(self.level)}" if self.level is not None else ""
        return f"{model_name or self.model} under {self.noise}{where}: {self.images} image(s)"


def failed_outputs(records: Sequence[dict[str, Any]]) -> list[FailedCell]:
    """The cells where a model's output scored NaN (e.g. a filter returned NaN), first seen first.

    The means leave such images out (as they leave out ΔE of gray images), so a model may be
    averaged over fewer images than the others; the report and the console say where.
    """
    counts: dict[tuple[str, str, float | None], int] = {}
    for record in records:
        if math.isnan(record["psnr"]):
            key = (record["model"], record["noise"], record["level"])
            counts[key] = counts.get(key, 0) + 1
    return [FailedCell(*key, count) for key, count in counts.items()]


def read_quality_rows(folder: Path) -> list[dict[str, str]]:
    """The ``per_image.csv`` rows of a benchmark folder's quality tables, as text.

    The rows of the ablation's conditions (not in ``quality.csv``) are left out.  An empty
    metric is a NaN output (or ΔE of a gray image).

    Raises
    ------
    FileNotFoundError
        If ``folder`` lacks ``per_image.csv`` or ``quality.csv``.
    """
    tables = {(r["noise"], r["level"]) for r in _read_csv(folder / "quality.csv")}
    return [row for row in _read_csv(folder / "per_image.csv")
            if (row["noise"], row["level"]) in tables]


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: is {path.parent} a medden benchmark folder?")
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else format(value, ".6g")
    return str(value)


def write_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str], path: Path) -> Path:
    """Write ``rows`` (only ``columns``, in order) as CSV; floats with 6 significant digits."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([_csv_value(row.get(c)) for c in columns] for row in rows)
    return path


def format_level(level: float | None) -> str:
    """``25`` for a level, ``—`` for none."""
    return "—" if level is None else f"{level:g}"


def metric_groups(summary: Summary, modality: str) -> dict[str, bool]:
    """Which optional columns a modality's quality table shows (:func:`quality_table`'s
    ``rgb``, ``ct`` and ``foreground``): those with a value for one of its images."""
    rows = [row for key, row in summary.items() if key[0] == modality]

    def scored(metric: str) -> bool:
        return any(not math.isnan(row[metric]) for row in rows)

    return {"rgb": scored("delta_e"), "ct": scored("rmse_hu"), "foreground": scored("psnr_fg")}


def _level_cell(level: float | None, ct: bool) -> str:
    """The level, and for CT beside it in HU (the 0-255 scale of the CT window)."""
    if ct and level is not None:
        return f"{level:g} ({level / 255.0 * CT_MAP.scale:.0f} HU)"
    return format_level(level)


def _metric(name: str, value: float, scale_mse: bool) -> str:
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞"
    if name == "mse" and scale_mse:
        value *= 255.0**2
    return f"{value:.{_DIGITS[name]}f}"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table; the first column left-aligned, the rest right."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
              for row in rows]
    return "\n".join(lines)


def quality_table(
    summary: Summary,
    modality: str,
    noises: Sequence[str],
    levels: Sequence[float | None],
    models: Sequence[str],
    rgb: bool = False,
    ct: bool = False,
    foreground: bool = False,
) -> str:
    """One paper-style table (Tables I-V) of ``modality``.

    A group of columns per noise (and ``Average`` over them when there are several); a block
    of rows per level (``σ`` shown on its first row), one row per model.  ΔE columns appear
    only when ``rgb``; with ``ct`` the CT metrics in HU and each level in HU too (the
    identity row's RMSE in HU is the input's noise in the body, the level of a fixed noise);
    with ``foreground`` the PSNR over the foreground (where background is a large share).
    """
    shown = {"delta_e": rgb, "psnr_fg": foreground and not ct, **dict.fromkeys(CT_METRICS, ct)}
    metrics = [m for m in METRICS if shown.get(m, True)]
    groups = [*noises, "Average"] if len(noises) > 1 else list(noises)
    header = ["Model", "σ"] + [
        g if i == 0 else "" for g in groups for i in range(len(metrics))]
    rows = [["", ""] + [f"**{_HEADERS[m]}**" for _ in groups for m in metrics]]
    for level in levels:
        first = True
        for model in models:
            found = [summary.get((modality, n, level, model)) for n in noises]
            if all(f is None for f in found):
                continue
            cells = [model, _level_cell(level, ct) if first else ""]
            first = False
            for noise_row in found:
                cells += [_metric(m, noise_row[m] if noise_row else math.nan, True)
                          for m in metrics]
            if len(noises) > 1:
                cells += [_metric(m, _mean(f[m] for f in found if f) if all(found)
                                  else math.nan, True) for m in metrics]
            rows.append(cells)
    return markdown_table(header, rows)


def _condition_label(noise: str, level: float | None) -> str:
    if noise == "none":
        return "No noise"
    suffix = f" (σ={format_level(level)})" if level is not None else ""
    if noise == "all combined":
        return "All noises combined" + suffix
    return f"Only {noise}{suffix}"


def ablation_table(
    summary: Summary,
    modality: str,
    conditions: Sequence[tuple[str, float | None]],
    models: Sequence[str],
) -> str:
    """The X-ray attention paper's ablation (Table 2) of ``modality``: MSE, PSNR, SSIM.

    One block of rows per condition (no noise, each noise alone, all combined), one row per
    model; MSE on the [0, 1] scale as in that paper.
    """
    rows = []
    for noise, level in conditions:
        first = True
        for model in models:
            row = summary.get((modality, noise, level, model))
            if row is None:
                continue
            label = _condition_label(noise, level) if first else ""
            first = False
            mse = "∞" if math.isinf(row["mse"]) else f"{row['mse']:.3e}"
            rows.append([label, model, mse, _metric("psnr", row["psnr"], False),
                         _metric("ssim", row["ssim"], False)])
    return markdown_table(["Condition", "Model", "MSE", "PSNR", "SSIM"], rows)
