"""Merge ``medden benchmark`` runs made on parts of one image set, or with different models.

A validation split too long to benchmark in one sitting is run in parts (the same command on
different folders, e.g. ``heldout_split.py --first 6`` then ``--skip 6``); a new model is
scored on the images of a published run without running the classical filters again.
Since each image's noise is seeded by the seed, the image's path in its folder and the
condition, the parts' numbers are exactly those of one run over all of them.  This script
checks that the parts agree (a cell found in two runs holds the same numbers in both) and
that together they cover every image, condition and model, then writes the quality tables
over every image:

    python docs/examples/merge_benchmarks.py docs/benchmarks/mri_denoise \\
        docs/benchmarks/mri_denoise_part2 --out docs/benchmarks/mri_denoise_split \\
        --rename val_mri_rest=val_mri15

``--replace`` lets a later run's records replace different earlier ones (images rerun after
a fix); without it they are refused.

``--out`` receives ``per_image.csv`` and ``quality.csv`` (the benchmark's columns) and
``quality.md`` (the two-stage paper's table format); ``quality_bar.py`` reads the folder
like a single run.  Only the quality tables are merged: ablation, curves, cost and
figures stay in the runs that made them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from medden.bench.runner import METRICS
from medden.bench.tables import (
    RECORD_COLUMNS,
    SUMMARY_COLUMNS,
    quality_table,
    read_quality_rows,
    summarise,
    write_csv,
)


def _level(text: str) -> float | None:
    return float(text) if text else None


def _record(row: dict[str, str], renames: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "modality": renames.get(row["modality"], row["modality"]), "image": row["image"],
        "noise": row["noise"], "level": _level(row["level"]), "model": row["model"],
        "setting": row["setting"]}
    # runs made before the CT metrics existed have no column for them: NaN
    record.update({m: float(row[m]) if row.get(m) else math.nan for m in METRICS})
    return record


def run_records(folder: Path, renames: dict[str, str]) -> list[dict[str, Any]]:
    """The per-image records of one run's quality tables (ablation conditions left out).

    Parameters
    ----------
    folder : Path
        ``medden benchmark`` output folder.
    renames : dict of str to str
        Modality labels to replace (a flat folder's label is its name).
    """
    try:
        rows = read_quality_rows(folder)
    except FileNotFoundError as error:
        raise SystemExit(str(error)) from None
    return [_record(row, renames) for row in rows]


def _cell(record: dict[str, Any]) -> tuple[str, str, str, float | None, str]:
    return (record["modality"], record["image"], record["noise"], record["level"],
            record["model"])


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two records of one cell hold the same numbers (NaN equal to NaN)."""
    return a["setting"] == b["setting"] and all(
        a[m] == b[m] or (math.isnan(a[m]) and math.isnan(b[m])) for m in METRICS)


def merge(runs: list[list[dict[str, Any]]], names: list[str],
          replace: bool = False) -> list[dict[str, Any]]:
    """The union of the runs' records, checked to be the full grid of one run.

    Runs may split the images (parts of a folder) or the models (a new model scored on the
    images of a published run).  A cell (image, noise, level, model) found in two runs must
    hold the same numbers there, as the noise is seeded (the noisy input's ``identity`` row
    checks it), unless ``replace``; every image must end up with every condition and model.

    Parameters
    ----------
    runs : list of list of dict
        Each run's records (:func:`run_records`).
    names : list of str
        The runs' names, for messages.
    replace : bool
        A later run's record replaces an earlier, different one (reported on stdout): images
        rerun after a fix.

    Raises
    ------
    SystemExit
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
                    raise SystemExit(
                        f"{name} and {owner[cell]} differ on {cell[1]} ({cell[0]}), "
                        f"{cell[2]} {cell[3] if cell[3] is not None else ''} {cell[4]}: "
                        "not the same seed or data? (--replace keeps the later run's)")
                replaced += 1
            merged[cell], owner[cell] = record, name
        if replaced:
            print(f"{name}: {replaced} records replace earlier runs'")
    images = dict.fromkeys(cell[:2] for cell in merged)
    conditions = dict.fromkeys(cell[2:] for cell in merged)
    missing = [(*i, *c) for i in images for c in conditions if (*i, *c) not in merged]
    if missing:
        shown = "; ".join(f"{m[1]} {m[2]} {m[3] if m[3] is not None else ''} {m[4]}"
                          for m in missing[:3])
        raise SystemExit(f"the runs do not cover every image, condition and model: "
                         f"{len(missing)} missing ({shown}...)")
    return list(merged.values())


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
        rgb = any(not math.isnan(r["delta_e"]) for r in records if r["modality"] == modality)
        parts += [f"## {modality} ({len(images)} images)", ""]
        if levelled:
            parts += [quality_table(summary, modality, levelled, levels, models, rgb), ""]
        if fixed:
            parts += ["Noises at a fixed setting:", "",
                      quality_table(summary, modality, fixed, [None], models, rgb), ""]
    return "\n".join(parts)


def _rename(text: str) -> tuple[str, str]:
    old, sep, new = text.partition("=")
    if not sep or not old or not new:
        raise argparse.ArgumentTypeError(f"expected OLD=NEW, got '{text}'")
    return old, new


def main() -> None:
    """Write the merged quality tables of several benchmark runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="medden benchmark output folders")
    parser.add_argument("--out", type=Path, required=True, help="new folder for the tables")
    parser.add_argument("--rename", type=_rename, action="append", default=[],
                        metavar="OLD=NEW", help="rename a modality label (repeatable)")
    parser.add_argument("--replace", action="store_true",
                        help="a later run's records replace different earlier ones")
    args = parser.parse_args()
    names = [str(run) for run in args.runs]
    records = merge([run_records(run, dict(args.rename)) for run in args.runs], names,
                    args.replace)
    args.out.mkdir(parents=True, exist_ok=False)
    write_csv(records, RECORD_COLUMNS, args.out / "per_image.csv")
    write_csv(summarise(records).values(), SUMMARY_COLUMNS, args.out / "quality.csv")
    (args.out / "quality.md").write_text(markdown(records, names) + "\n")
    print(f"{len(records)} records of {len({(r['modality'], r['image']) for r in records})} "
          f"images -> {args.out}")


if __name__ == "__main__":
    main()
