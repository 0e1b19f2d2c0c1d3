"""Cost table (the two-stage paper's Table VII, one row per model) and the speed bar.

Every model is measured on the same input, a 512 x 512 image (one channel unless the data
are all RGB), on this machine: trainable parameters, multiply-accumulates, peak memory and
the median time of several runs after warm-up.  The speed bar compares each model with a
reference (BM3D) measured side by side in the same run: the time ratio and the PSNR
difference over the same images and conditions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from medden.bench.methods import Method
from medden.bench.runner import score
from medden.bench.tables import Summary, markdown_table
from medden.cost import cost_row

__all__ = ["COST_SIZE", "SPEED_BAR_RATIO", "measure_costs", "cost_markdown",
           "speed_bar", "speed_bar_markdown", "metric_seconds", "estimate_seconds"]

#: Edge of the square image the cost table is measured on.
COST_SIZE = 512
#: How many times faster than the reference a model must be to meet the speed bar.
SPEED_BAR_RATIO = 20.0


def measure_costs(methods: Sequence[Method], channels: int = 1, repeats: int = 5,
                  warmup: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """One :func:`medden.cost.cost_row` per method on a ``(1, channels, 512, 512)`` input.

    Rows also hold ``learned`` and ``trained``.
    """
    shape = (1, channels, COST_SIZE, COST_SIZE)
    rows = []
    for method in tqdm(methods, desc="cost", unit="model", disable=not progress):
        row = cost_row(method.label, method.network, shape, repeats=repeats, warmup=warmup)
        rows.append({**row, "learned": method.learned, "trained": method.trained})
    return rows


def reference_label(methods: Sequence[Method], name: str = "bm3d") -> str | None:
    """Label of the first method built from the registered model ``name``, if any."""
    return next((m.label for m in methods if m.spec is not None and m.spec.name == name), None)


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.3f}"


def _times(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(numerator: float, denominator: float) -> str:
    return _times(numerator / denominator) if denominator > 0 else "∞"


def cost_markdown(rows: Sequence[dict[str, Any]], reference: str | None) -> str:
    """Table VII quantities, one row per model, with the speed ratio to ``reference``."""
    ref_ms = next((r["median_ms"] for r in rows if r["name"] == reference), None)
    header = ["Model", "Trainable parameters", "MACs (G)", "Peak memory (MB)",
              "Time (ms, median)"]
    if ref_ms is not None:
        header.append(f"× faster than {reference}")
    body = []
    for r in rows:
        name = r["name"] if r["trained"] or not r["learned"] else f"{r['name']} (untrained)"
        cells = [name, f"{r['params']:,}", f"{r['macs'] / 1e9:.2f}" if r["learned"] else "—",
                 f"{r['peak_memory_mb']:.1f}", _ms(r["median_ms"])]
        if ref_ms is not None:
            cells.append(_ratio(ref_ms, r["median_ms"]))
        body.append(cells)
    return markdown_table(header, body)


def speed_bar(rows: Sequence[dict[str, Any]], summary: Summary, reference: str,
              cells: Sequence[tuple[str, str, float | None]]) -> list[dict[str, Any]]:
    """Each scored model against ``reference``: time ratio and PSNR difference.

    Parameters
    ----------
    rows : cost rows (:func:`measure_costs`)
    summary : quality summary (:func:`medden.bench.tables.summarise`)
    reference : label of the reference model
    cells : (modality, noise, level) of the quality cells compared

    Returns
    -------
    list of dict
        ``model``, ``ms``, ``reference_ms``, ``speedup`` (reference time / model time),
        ``psnr``, ``reference_psnr`` (means over ``cells``), ``delta_psnr``, ``wins``
        (cells where the model's PSNR is higher), ``cells``, ``meets_bar`` (at least
        :data:`SPEED_BAR_RATIO` times faster and a higher mean PSNR).
    """
    times = {r["name"]: r["median_ms"] for r in rows}
    results = []
    for model in times:
        if model == reference:
            continue
        pairs = [(summary.get((m, n, lv, model)), summary.get((m, n, lv, reference)))
                 for m, n, lv in cells]
        pairs = [(a["psnr"], b["psnr"]) for a, b in pairs if a and b]
        if not pairs:
            continue
        mine, theirs = (float(np.mean(v)) for v in zip(*pairs, strict=True))
        speedup = times[reference] / max(times[model], 1e-9)
        results.append({
            "model": model, "ms": times[model], "reference_ms": times[reference],
            "speedup": speedup, "psnr": mine, "reference_psnr": theirs,
            "delta_psnr": mine - theirs, "wins": sum(a > b for a, b in pairs),
            "cells": len(pairs), "meets_bar": speedup >= SPEED_BAR_RATIO and mine > theirs,
        })
    return results


def speed_bar_markdown(results: Sequence[dict[str, Any]], reference: str) -> str:
    """The speed-bar comparison as a Markdown table."""
    header = ["Model", "ms", f"{reference} ms", f"× faster than {reference}", "mean PSNR",
              f"{reference} PSNR", "ΔPSNR", "cells won",
              f"≥ {SPEED_BAR_RATIO:g}× faster and higher PSNR"]
    body = [[r["model"], _ms(r["ms"]), _ms(r["reference_ms"]), _times(r["speedup"]),
             f"{r['psnr']:.2f}", f"{r['reference_psnr']:.2f}", f"{r['delta_psnr']:+.2f}",
             f"{r['wins']}/{r['cells']}", "yes" if r["meets_bar"] else "no"]
            for r in results]
    return markdown_table(header, body)


def metric_seconds(channels: int = 1, size: int = 128) -> float:
    """Seconds to score one 512 x 512 image (all metrics), from one ``size``² image."""
    rng = np.random.default_rng(0)
    clean = rng.random((channels, size, size), dtype=np.float32)
    start = time.perf_counter()
    score(clean, clean + 0.05)
    return (time.perf_counter() - start) * (COST_SIZE / size) ** 2


def estimate_seconds(rows: Sequence[dict[str, Any]], candidates: dict[str, int],
                     pixels: int, conditions: int, per_score: float) -> float:
    """Rough run time of the quality loop from the measured costs.

    Parameters
    ----------
    rows : cost rows of the scored methods
    candidates : runs per image of each method (1, or 1 + the oracle candidates)
    pixels : total pixels of all images
    conditions : number of conditions
    per_score : seconds to score one 512 x 512 image
    """
    scale = pixels / COST_SIZE**2 * conditions
    denoise = sum(r["median_ms"] / 1000.0 * candidates.get(r["name"], 1) for r in rows)
    scores = per_score * sum(2 if n > 1 else 1 for n in candidates.values())
    return scale * (denoise + scores)
