"""Score images against references: pairing by relative path and per-pair metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from medden.intensity import CT_MAP, fit_intensity
from medden.io import scan
from medden.io.lossy import find_output
from medden.metrics import compute_all, ct_metrics
from medden.process import read_item

__all__ = ["evaluate_folders", "mean_row", "metric_columns"]


def metric_columns(rows: list[dict]) -> list[str]:
    """The metrics of any of ``rows``, in order of appearance (``delta_e`` only for RGB)."""
    return [k for k in dict.fromkeys(k for r in rows for k in r) if k != "file"]


def mean_row(rows: list[dict]) -> dict:
    """The column-wise mean of metric rows (``file`` = ``"mean"``) over the rows that have
    each metric (ΔE: the RGB rows); infinities kept."""
    return {"file": "mean", **{k: float(np.mean([r[k] for r in rows if k in r]))
                               for k in metric_columns(rows)}}


def evaluate_folders(
    reference: Path, test: Path, modality: str | None = None
) -> tuple[list[dict], list[tuple[str, str]]]:
    """Metrics for every reference image that has a test image at the same relative path.

    The test image of a JPEG reference may also be its lossless copy (``a.jpg`` ->
    ``a.png`` or ``a.tif``, as ``medden noise`` and ``medden denoise`` write it).  Both
    images are normalised with the reference's intensity mapping and scored with a data
    range of 1.

    Returns
    -------
    rows : list of dict
        One row per pair (``file``: :attr:`~medden.io.ScanItem.label`, ``mse``, ``psnr``,
        ``ssim``, ``vifp``, ``delta_e`` for RGB only, and for CT in HU ``rmse_hu``,
        ``psnr_w400`` and ``ssim_w400`` of :func:`medden.metrics.ct_metrics`) followed by a
        ``mean`` row.
    problems : list of (str, str)
        Reference images that could not be scored, with the reason.
    """
    ref_items = {i.key: i for i in scan(reference).items}
    test_items = {i.key: i for i in scan(test).items}
    rows: list[dict] = []
    problems: list[tuple[str, str]] = []
    for key, ref_item in sorted(ref_items.items()):
        test_item = find_output(ref_item, test_items)
        if test_item is None:
            problems.append((key, "no test image at this relative path"))
            continue
        try:
            ref = read_item(ref_item)
            out = read_item(test_item)
            if ref.data.shape != out.data.shape:
                raise ValueError(f"shapes differ: {ref.data.shape} vs {out.data.shape}")
            mapping = fit_intensity(ref, modality)
            scores = compute_all(mapping.normalise(ref.data), mapping.normalise(out.data),
                                 data_range=1.0)
            if mapping == CT_MAP:  # CT in HU: also in HU, in the body and a clinical window
                scores.update(ct_metrics(ref.data, out.data))
        except Exception as exc:  # noqa: BLE001 - report and go on with the other pairs
            problems.append((key, f"{type(exc).__name__}: {exc}"))
            continue
        rows.append({"file": ref_item.label, **scores})
    if rows:
        rows.append(mean_row(rows))
    return rows, problems
