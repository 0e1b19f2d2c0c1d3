"""``benchmark.md``: every table and figure of a run, with the command and the machine."""

from __future__ import annotations

import os
import platform
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from medden import __version__
from medden.bench.conditions import Condition, NoiseSetting, level_value
from medden.bench.config import BenchmarkConfig
from medden.bench.cost_table import COST_SIZE, cost_markdown, speed_bar_markdown
from medden.bench.data import BenchImage
from medden.bench.methods import Method
from medden.bench.oracle import OracleTuner
from medden.bench.runner import ORACLE_SUFFIX
from medden.bench.tables import (
    FailedCell,
    Summary,
    ablation_table,
    format_level,
    markdown_table,
    metric_groups,
    quality_table,
)

__all__ = ["render"]


def _cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else the platform's processor name."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        match = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        if match:
            return match.group(1).strip()
    return platform.processor() or platform.machine()


def _machine() -> str:
    cpu = _cpu_name()
    return (f"medden {__version__}, PyTorch {torch.__version__}, Python "
            f"{platform.python_version()}, {platform.system()} {cpu}, "
            f"{os.cpu_count()} CPU cores, {torch.get_num_threads()} torch threads")


def _noise_rows(settings: Sequence[NoiseSetting], levels: Sequence[float]) -> list[list[str]]:
    rows = []
    for s in settings:
        if s.parameter is None:
            rows.append([s.label, "fixed (run once, as written)"])
        elif s.parameter == "sigma":
            rows.append([s.label, "σ = " + ", ".join(format_level(v) for v in levels)])
        else:
            values = ", ".join(f"{level_value('peak', v):.0f}" for v in levels)
            rows.append([s.label, f"peak = (255/σ)² = {values}"])
    return rows


def _oracle_table(records: Sequence[dict[str, Any]], label: str) -> str:
    """Setting chosen most often per condition for one oracle-tuned filter."""
    chosen: dict[tuple[str, Any], Counter] = {}
    for r in records:
        if r["model"] == label + ORACLE_SUFFIX:
            chosen.setdefault((r["noise"], r["level"]), Counter())[r["setting"]] += 1
    rows = []
    for (noise, level), counts in chosen.items():
        setting, count = counts.most_common(1)[0]
        rows.append([noise, format_level(level), f"`{setting}`",
                     f"{count}/{sum(counts.values())}", str(len(counts))])
    return markdown_table(["Noise", "σ", "Most chosen setting", "Images", "Settings used"],
                          rows)


def _section(title: str, *parts: str) -> str:
    return "\n\n".join([f"## {title}", *[p for p in parts if p]])


def render(
    *,
    config: BenchmarkConfig,
    settings: Sequence[NoiseSetting],
    methods: Sequence[Method],
    images: Sequence[BenchImage],
    problems: Sequence[tuple[str, str]],
    main: Sequence[Condition],
    ablation: Sequence[Condition],
    ablation_at: float,
    summary: Summary,
    models: Sequence[str],
    records: Sequence[dict[str, Any]],
    tuners: dict[str, OracleTuner],
    curve_files: Sequence[Path],
    figures: Sequence[Path],
    costs: Sequence[dict[str, Any]],
    reference: str | None,
    bar: Sequence[dict[str, Any]],
    channels: int,
    failed: Sequence[FailedCell],
    seconds: float,
) -> str:
    """The Markdown report of one run (see :func:`medden.bench.suite.run_benchmark`)."""
    modalities = Counter(image.modality for image in images)
    sizes = sorted({tuple(image.clean.shape) for image in images})
    size_text = ", ".join("×".join(map(str, s)) for s in sizes[:4]) + (
        ", ..." if len(sizes) > 4 else "")
    untrained = [m.label for m in methods if not m.scored]
    parts = [
        "# medden benchmark",
        f"Command:\n\n```\n{config.command_line()}\n```",
        f"Machine: {_machine()}. Run time {seconds / 60:.1f} min.",
        _section(
            "Data and protocol",
            f"{len(images)} images from `{config.data}` ("
            + ", ".join(f"{m}: {n}" for m, n in modalities.items())
            + f"), sizes (C×H×W) {size_text}; intensities normalised to [0, 1] per modality."
            + (f" Centre crops of {config.crop}×{config.crop} px." if config.crop else "")
            + " Volumes contribute evenly spaced axial slices"
            + f" ({config.slices} each).",
            f"Noise seed {config.seed}: each image's noise is drawn from a generator seeded "
            "by the seed, the image and the condition, so the same command gives the same "
            "numbers. Outputs (and noisy inputs) are clipped to [0, 1] before scoring; "
            "PSNR with a data range of 1. Networks see whole images.",
            markdown_table(["Noise", "Levels"], _noise_rows(settings, config.levels)),
            "Models: " + ", ".join(f"`{m.label}`" for m in methods) + "."
            + (f" Untrained (cost table only): {', '.join(untrained)}." if untrained else "")
            + (" Rows marked *(oracle)*: the filter's best setting chosen image by image "
               "against the clean reference, among its tuning grid and the given setting "
               "(the Noise2Noise X-ray/CT paper's protocol)"
               + (", under " + ", ".join(f"`{n}`" for n in config.oracle_noises) + " only"
                  if config.oracle_noises is not None else "") + "." if tuners else "")
            + (" Rows marked *(true σ)*: the filter given the true standard deviation of "
               "the Gaussian noise (for CT, multi-coil MRI and camera noise: of the drawn noise) "
               "instead of its own estimate; *(true PSD)*: given the drawn noise's power "
               "spectrum." if config.true_sigma else ""),
        ),
    ]
    level_noises = [s.label for s in settings if s.parameter]
    fixed = [s.label for s in settings if s.parameter is None]
    tables = []
    for modality in modalities:
        groups = metric_groups(summary, modality)
        tables.append(f"### {modality}")
        if level_noises:
            tables.append(quality_table(summary, modality, level_noises, config.levels,
                                        models, **groups))
        if fixed:
            tables.append("Noises at a fixed setting:")
            tables.append(quality_table(summary, modality, fixed, [None], models, **groups))
    parts.append(_section(
        "Image quality (format of the two-stage paper's Tables I–V)",
        "Mean over images. MSE on the 0–255 scale, as in the paper; ΔE (CIEDE2000) for RGB "
        "only; for CT in HU also the RMSE in HU inside the body (reference above −500 HU) and "
        "PSNR/SSIM in the soft-tissue window W400/L40; where a modality's images are at least "
        "20 % background (normalised intensity at most 0.1), PSNR fg over the rest. "
        "`quality.csv` has the same means (MSE "
        "on the [0, 1] scale), `per_image.csv` every image.", *tables))
    if ablation:
        conditions = [(c.noise, c.level) for c in ablation]
        parts.append(_section(
            "Ablation by noise (format of the X-ray attention paper's Table 2)",
            f"Each noise alone at σ={format_level(ablation_at)} (fixed noises as written), "
            "then all of them applied one after another in the order given. MSE on the "
            "[0, 1] scale, as in that paper.",
            *[f"### {m}\n\n" + ablation_table(summary, m, conditions, models)
              for m in modalities]))
    if tuners:
        parts.append(_section(
            "Oracle-tuned settings",
            *[f"### {label}\n\n" + _oracle_table(records, label) for label in tuners]))
    if curve_files:
        parts.append(_section(
            "Validity range (format of the Noise2Noise paper's Figs. 2 and 4)",
            f"Output PSNR and gain against the measured input PSNR, levels giving nominal "
            f"input PSNRs of 15–50 dB, mean over {config.curve_images} image(s) per "
            "modality; data in `curves.csv`.",
            *[f"![{p.stem}]({p.name})" for p in curve_files]))
    if costs:
        channel_text = "gray" if channels == 1 else "RGB"
        parts.append(_section(
            "Cost (quantities of the two-stage paper's Table VII)",
            f"One {COST_SIZE}×{COST_SIZE} {channel_text} image on this machine: median of "
            f"{config.cost_repeats} runs after one warm-up run; peak memory is the rise of "
            "the process's resident memory during one run. Oracle tuning multiplies a "
            "filter's time by the number of settings tried.",
            cost_markdown(costs, reference)))
    if bar:
        parts.append(_section(
            f"Speed bar (each model against {reference}, same run)",
            f"Time ratio on the {COST_SIZE}×{COST_SIZE} {channel_text} image above; PSNR "
            "averaged over the quality-table cells of "
            f"{'gray' if channels == 1 else 'RGB'} images (default settings, no oracle).",
            speed_bar_markdown(bar, reference or "")))
    if figures:
        parts.append(_section(
            "Qualitative comparison",
            f"Centre crops (at most {config.figure_crop} px) of the first image of each "
            "modality; PSNR of the whole image in each title.",
            *[f"![{p.stem}]({p.name})" for p in figures]))
    if failed:
        parts.append(_section(
            "Outputs left out of the means",
            "These outputs scored NaN, so the means of their cells are over fewer images:",
            "\n".join(f"- {cell.describe(f'`{cell.model}`')}" for cell in failed)))
    if problems:
        parts.append(_section("Files not used",
                              "\n".join(f"- `{p}`: {reason}" for p, reason in problems)))
    return "\n\n".join(parts) + "\n"
