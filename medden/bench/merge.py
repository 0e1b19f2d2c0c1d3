"""Merge ``medden benchmark`` runs made on parts of one image set, or with different models.

A validation split too long to benchmark in one sitting is run in parts: shards of one
folder (``--shard I/N``), or the same command on different folders; a new model is scored
on the images of a published run without running the classical filters again.  Since each
image's noise is seeded by the seed, the image's path in its folder and the condition, the
parts' numbers are exactly those of one run over all of them.  :func:`merge` checks that
the parts agree (a cell found in two runs holds the same numbers in both) and that together
they cover every image, condition and model; :func:`write_merged` writes the quality tables
over every image (``medden report benchmark``).  Only the quality tables are merged:
ablation, curves, cost and figures stay in the runs that made them.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from medden.bench.data import image_order
from medden.bench.runner import METRICS
from medden.bench.tables import (
    RECORD_COLUMNS,
    SUMMARY_COLUMNS,
    metric_groups,
    quality_table,
    read_quality_rows,
    summarise,
    write_csv,
)
from medden.errors import UsageError

__all__ = ["RECORDS_NAME", "write_records", "run_records", "merge", "markdown", "write_merged"]

#: A shard's quality records at full precision (JSON; NaN written as null).
RECORDS_NAME = "records.json"


def write_records(records: Iterable[dict[str, Any]], path: Path) -> None:
    """Write quality records exactly (:data:`RECORDS_NAME`), for :func:`run_records`."""
    exact = [{**r, **{m: None if math.isnan(r[m]) else r[m] for m in METRICS}}
             for r in records]
    path.write_text(json.dumps(exact))


def _level(text: str) -> float | None:
    return float(text) if text else None


def _record(row: dict[str, str], renames: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "modality": renames.get(row["modality"], row["modality"]), "image": row["image"],
        "noise": row["noise"], "level": _level(row["level"]), "model": row["model"],
        "setting": row["setting"]}
    # a run made before a metric existed has no column for it: None (not measured), which
    # another run's value fills; an empty cell is NaN (a NaN output, or ΔE of a gray image)
    record.update({m: None if m not in row else float(row[m]) if row[m] else math.nan
                   for m in METRICS})
    return record


def run_records(folder: Path, renames: dict[str, str]) -> list[dict[str, Any]]:
    """The per-image records of one run's quality tables (ablation conditions left out):
    exact from its :data:`RECORDS_NAME` (a shard's), else from ``per_image.csv`` (6 digits).

    Parameters
    ----------
    folder : Path
        ``medden benchmark`` output folder.
    renames : dict of str to str
        Modality labels to replace (a flat folder's label is its name).
    """
    exact = folder / RECORDS_NAME
    if exact.is_file():
        records = json.loads(exact.read_text())
        return [{**r, "modality": renames.get(r["modality"], r["modality"]),
                 **{m: math.nan if r[m] is None else r[m] for m in METRICS}} for r in records]
    try:
        rows = read_quality_rows(folder)
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    return [_record(row, renames) for row in rows]


def _cell(record: dict[str, Any]) -> tuple[str, str, str, float | None, str]:
    return (record["modality"], record["image"], record["noise"], record["level"],
            record["model"])


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two records of one cell hold the same numbers (NaN equal to NaN; a metric one
    of them did not measure, None, is not compared)."""
    return a["setting"] == b["setting"] and all(
        a[m] is None or b[m] is None or a[m] == b[m] or (math.isnan(a[m]) and math.isnan(b[m]))
        for m in METRICS)


def _fill(record: dict[str, Any], other: dict[str, Any] | None) -> dict[str, Any]:
    """``record`` with the metrics it did not measure (None) taken from ``other``."""
    return {**record, **{m: (other or {}).get(m) if record[m] is None else record[m]
                         for m in METRICS}}


def _measured(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the metrics no run measured as NaN."""
    return {**record, **{m: math.nan if record[m] is None else record[m] for m in METRICS}}


def merge(runs: list[list[dict[str, Any]]], names: list[str],
          replace: bool = False) -> list[dict[str, Any]]:
    """The union of the runs' records, checked to be the full grid of one run.

    Runs may split the images (parts of a folder) or the models (a new model scored on the
    images of a published run).  A cell (image, noise, level, model) found in two runs must
    hold the same numbers there, as the noise is seeded (the noisy input's ``identity`` row
    checks it), unless ``replace``; every image must end up with every condition and model.
    The records come out in the order of one run over all the images, so the means of
    exact records (:data:`RECORDS_NAME`) are those of that run, number for number.

    Parameters
    ----------
    runs : list of list of dict
        Each run's records (:func:`run_records`).
    names : list of str
        The runs' names, for messages.
    replace : bool
        A later run's record replaces an earlier, different one (reported on stderr): images
        rerun after a fix.

    Raises
    ------
    UsageError
        When a cell differs between runs without ``replace``, or the grid is incomplete.
    """
    merged: dict[tuple[str, str, str, float | None, str], dict[str, Any]] = {}
    owner: dict[tuple[str, str, str, float | None, str], str] = {}
    for records, name in zip(runs, names, strict=True):
        replaced = 0
        for record in records:
            cell = _cell(record)
            if cell in merged and not _same(merged[cell], record):
                if not replace:
                    raise UsageError(
                        f"{name} and {owner[cell]} differ on {cell[1]} ({cell[0]}), "
                        f"{cell[2]} {cell[3] if cell[3] is not None else ''} {cell[4]}: "
                        "not the same seed or data? (--replace keeps the later run's)")
                replaced += 1
            merged[cell], owner[cell] = _fill(record, merged.get(cell)), name
        if replaced:
            print(f"{name}: {replaced} records replace earlier runs'", file=sys.stderr)
    images = dict.fromkeys(cell[:2] for cell in merged)
    conditions = dict.fromkeys(cell[2:] for cell in merged)
    missing = [(*i, *c) for i in images for c in conditions if (*i, *c) not in merged]
    if missing:
        shown = "; ".join(f"{m[1]} {m[2]} {m[3] if m[3] is not None else ''} {m[4]}"
                          for m in missing[:3])
        raise UsageError(f"the runs do not cover every image, condition and model: "
                         f"{len(missing)} missing ({shown}...)")
    return sorted((_measured(r) for r in merged.values()),
                  key=lambda record: image_order(record["image"]))


def markdown(records: list[dict[str, Any]], names: list[str]) -> str:
    """The merged quality tables, one per modality, in the two-stage paper's format."""
    summary = summarise(records)
    models = list(dict.fromkeys(r["model"] for r in records))
    noises = list(dict.fromkeys(r["noise"] for r in records))
    levelled = [n for n in noises if any(r["level"] is not None and r["noise"] == n
                                         for r in records)]
    fixed = [n for n in noises if n not in levelled]
    levels = sorted({r["level"] for r in records if r["level"] is not None})
    parts = ["# medden benchmark: merged runs", "",
             "Quality tables over every image of: " + ", ".join(f"`{n}`" for n in names)
             + " (each run's `benchmark.md` has its command). Mean over images; MSE on the "
             "0–255 scale, ΔE for RGB only.", ""]
    for modality in dict.fromkeys(r["modality"] for r in records):
        images = {r["image"] for r in records if r["modality"] == modality}
        groups = metric_groups(summary, modality)
        parts += [f"## {modality} ({len(images)} images)", ""]
        if levelled:
            parts += [quality_table(summary, modality, levelled, levels, models, **groups), ""]
        if fixed:
            parts += ["Noises at a fixed setting:", "",
                      quality_table(summary, modality, fixed, [None], models, **groups), ""]
    return "\n".join(parts)


def write_merged(runs: list[Path], out: Path, renames: dict[str, str] | None = None,
                 replace: bool = False) -> list[dict[str, Any]]:
    """Merge the quality tables of the benchmark folders ``runs`` into the new folder
    ``out``: ``per_image.csv``, ``quality.csv`` (the benchmark's columns) and ``quality.md``
    (the two-stage paper's table format).

    Raises
    ------
    UsageError
        When ``out`` exists, a run is not a benchmark folder, or :func:`merge` refuses.
    """
    names = [str(run) for run in runs]
    records = merge([run_records(run, renames or {}) for run in runs], names, replace)
    try:
        out.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise UsageError(f"--out '{out}' exists; choose a new folder") from None
    write_csv(records, RECORD_COLUMNS, out / "per_image.csv")
    write_csv(summarise(records).values(), SUMMARY_COLUMNS, out / "quality.csv")
    (out / "quality.md").write_text(markdown(records, names) + "\n")
    return records
